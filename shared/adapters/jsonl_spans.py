"""A span exporter that appends one JSON object a line to a file (TRACE_EXPORTER=jsonl, local).

Every function of the local stack appends to the same file: each span is one `os.write` on a
descriptor opened with O_APPEND, so lines from different processes do not interleave.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["JsonLinesSpanExporter"]


class JsonLinesSpanExporter(SpanExporter):
    """Writes each span as `ReadableSpan.to_json` on one line."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append the spans; a failed write is reported, never raised into the caller."""
        try:
            # Opened per batch: gunicorn forks after the app is loaded, and a descriptor
            # opened before the fork would be shared by master and worker.
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                for item in spans:
                    line = str(item.to_json(indent=None))
                    os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS
