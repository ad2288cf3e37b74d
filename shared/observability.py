"""Logging set-up and pseudonyms, so that no phone number or name reaches a log in clear."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sys

from opentelemetry import trace

__all__ = ["configure_logging", "pseudonym", "set_pseudonym_key"]

_key = b"unset"


def set_pseudonym_key(key: str) -> None:
    """Key the pseudonyms (a secret, so that a log reader cannot hash phone numbers back)."""
    global _key
    _key = key.encode()


def pseudonym(value: str | None) -> str:
    """A stable, non-reversible tag for a phone number or name: `c-1a2b3c4d5e`."""
    if not value:
        return "c-none"
    return "c-" + hmac.new(_key, value.encode(), hashlib.sha256).hexdigest()[:10]


class _CloudJsonFormatter(logging.Formatter):
    """One JSON object a line, with the fields Cloud Logging reads: severity and the trace."""

    def __init__(self, project: str, labels: dict[str, str] | None = None) -> None:
        super().__init__()
        self._project = project
        # Entry labels: filterable in Logs Explorer and across services (labels.environment).
        self._labels = {k: v for k, v in (labels or {}).items() if v}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        if self._labels:
            entry["logging.googleapis.com/labels"] = self._labels
        # The span current in the logging thread: Cloud Logging files the line under its
        # trace (Trace explorer shows it beside the span; "View trace" from the line).
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            trace_id = trace.format_trace_id(context.trace_id)
            entry["logging.googleapis.com/trace"] = f"projects/{self._project}/traces/{trace_id}"
            entry["logging.googleapis.com/spanId"] = trace.format_span_id(context.span_id)
            entry["logging.googleapis.com/trace_sampled"] = context.trace_flags.sampled
        # Structured fields (`extra={"fields": {...}}`) feed the log-based metrics.
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str | None = None, *, project: str = "") -> None:
    """JSON lines (traces under `project`) on Cloud Run, plain lines locally; idempotent."""
    root = logging.getLogger()
    if getattr(root, "_atende_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("K_SERVICE"):
        labels = {
            "environment": os.environ.get("ATENDE_ENV", ""),
            "function": os.environ.get("FUNCTION_TARGET") or os.environ.get("K_SERVICE", ""),
        }
        handler.setFormatter(_CloudJsonFormatter(project, labels))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("LOG_LEVEL", "INFO"))
    # Chatty client libraries would drown the pipeline's own lines.
    # mcp logs a line per streamable HTTP request (the tools hub and its client).
    for noisy in ("urllib3", "httpx", "httpx2", "httpcore", "google.auth", "grpc", "mcp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    root._atende_configured = True  # type: ignore[attr-defined]
