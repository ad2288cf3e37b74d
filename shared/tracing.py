"""OpenTelemetry traces: one TracerProvider per process, the context carried in Pub/Sub attributes.

One customer message is one trace: webhook → publish inbound → intake → publish agent-turns →
agent_turn → publish outbound → outbound → graph_api.send. Each publish writes the W3C
`traceparent` (and `tracestate`, when there is one) into the message's attributes; each push
delivery continues the trace from them.

Only the OpenTelemetry API is imported here (the webhook loads this module on every cold
start); the SDK and the exporters are imported by `configure_tracing` when the settings ask for
them. Span attributes never hold phone numbers, names or message text: ids and pseudonyms only,
and a failure records its exception type, not its message.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from shared.handlers.pubsub_event import PubSubMessage
    from shared.ports import Publisher
    from shared.settings import Settings

__all__ = [
    "TRACE_ATTRIBUTES",
    "SpanKind",
    "TracedPublisher",
    "annotate",
    "build_tracer_provider",
    "configure_tracing",
    "consume",
    "extract",
    "flush",
    "inject",
    "span",
]

# The message attributes the trace context travels in (2 of Pub/Sub's 100 per message).
TRACE_ATTRIBUTES = ("traceparent", "tracestate")
# W3C trace context only: the global propagator may add baggage, which would grow every message.
_PROPAGATOR = TraceContextTextMapPropagator()
# A ProxyTracer: it follows the provider configure_tracing installs, even when created before.
_tracer = trace.get_tracer("atende")
_configured = False
_lock = threading.Lock()


def build_tracer_provider(settings: Settings) -> TracerProvider:
    """A provider with the sampler and exporter the settings choose (not installed globally)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    # Only the webhook starts traces; every later hop follows the caller's decision, so a
    # trace is kept whole or not at all.
    sampler = ParentBased(root=TraceIdRatioBased(settings.trace_sample_ratio))
    # K_SERVICE is Cloud Run's service name (webhook, intake, agent-turn, ...).
    resource = Resource.create({"service.name": os.environ.get("K_SERVICE") or "atende"})
    provider = TracerProvider(sampler=sampler, resource=resource)
    if settings.trace_exporter == "gcp":
        from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter

        # The exporter package ships no type hints.
        exporter = CloudTraceSpanExporter(  # type: ignore[no-untyped-call]
            project_id=settings.google_cloud_project
        )
        provider.add_span_processor(BatchSpanProcessor(exporter))
    elif settings.trace_exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif settings.trace_exporter == "jsonl":
        from shared.adapters.jsonl_spans import JsonLinesSpanExporter

        if not settings.trace_file:
            raise ValueError("TRACE_EXPORTER=jsonl needs TRACE_FILE")
        # Synchronous: a local file append is cheap, and the spans are there when read.
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(settings.trace_file)))
    return provider


def configure_tracing(settings: Settings) -> None:
    """Install the process's TracerProvider once; TRACE_EXPORTER=none leaves tracing off."""
    global _configured
    if _configured or settings.trace_exporter == "none":
        return
    with _lock:
        if not _configured:
            trace.set_tracer_provider(build_tracer_provider(settings))
            _configured = True


def flush(timeout_millis: int = 2000) -> None:
    """Export the ended spans now, waiting at most `timeout_millis`."""
    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if force_flush is not None:
        force_flush(timeout_millis)


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
    context: Context | None = None,
) -> Iterator[Span]:
    """A span made current for the block; a failure records its type only (no message)."""
    with _tracer.start_as_current_span(
        name,
        context=context,
        kind=kind,
        attributes=attributes,
        # An exception's message and traceback can quote what a customer wrote.
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except Exception as error:
            current.set_attribute("error.type", type(error).__qualname__)
            current.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
            raise


def annotate(attributes: Mapping[str, AttributeValue]) -> None:
    """Add attributes to the current span (nothing when there is none)."""
    trace.get_current_span().set_attributes(attributes)


def inject(attributes: Mapping[str, str] | None) -> dict[str, str]:
    """The attributes with the current trace context in place of any they carried."""
    carrier = {k: v for k, v in (attributes or {}).items() if k not in TRACE_ATTRIBUTES}
    _PROPAGATOR.inject(carrier)
    return carrier


def extract(attributes: Mapping[str, str]) -> Context:
    """The trace context a message carries; an empty context (a new trace) when none."""
    return _PROPAGATOR.extract(attributes)


@contextmanager
def consume(name: str, message: PubSubMessage) -> Iterator[Span]:
    """The span of one push delivery, continuing the publisher's trace; exported as it ends."""
    try:
        with span(
            name,
            kind=SpanKind.CONSUMER,
            # Explicit: a delivery is its own request, whatever was current before it.
            context=extract(message.attributes),
            attributes={
                "messaging.system": "gcp_pubsub",
                "messaging.operation.type": "process",
                "messaging.message.id": message.message_id,
            },
        ) as current:
            yield current
    finally:
        # Once the delivery is answered the instance's CPU may be throttled, and the batch
        # processor's thread would wait for the next request: export the spans now.
        flush()


class TracedPublisher:
    """A Publisher that wraps each publish in a span and writes its context into the attributes.

    Ordering keys and data pass through untouched; the ordering key is never a span attribute
    (it holds the customer's number).
    """

    def __init__(self, inner: Publisher) -> None:
        self._inner = inner

    def publish(
        self,
        topic: str,
        data: bytes,
        *,
        ordering_key: str = "",
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        """Publish one message under a `publish <topic>` span."""
        with _publish_span(topic, 1) as current:
            message_id = self._inner.publish(
                topic, data, ordering_key=ordering_key, attributes=inject(attributes)
            )
            current.set_attribute("messaging.message.id", message_id)
            return message_id

    def publish_many(
        self, topic: str, items: Sequence[tuple[bytes, str, Mapping[str, str]]]
    ) -> list[str]:
        """Publish every message under one `publish <topic>` span."""
        with _publish_span(topic, len(items)):
            return self._inner.publish_many(
                topic, [(data, key, inject(attrs)) for data, key, attrs in items]
            )


def _publish_span(topic: str, count: int) -> AbstractContextManager[Span]:
    return span(
        f"publish {topic}",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "gcp_pubsub",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
            "messaging.batch.message_count": count,
        },
    )
