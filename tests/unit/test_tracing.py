"""Traces: the context crosses Pub/Sub in the attributes, logs point at it, no personal data.

Spans go to an in-memory exporter installed once as the process's provider (OpenTelemetry lets
a process set its provider only once); each test starts with it empty.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from shared import tracing
from shared.adapters.graph_api import GraphApiSender
from shared.clock import ManualClock
from shared.domain.models import (
    AgentTurnRequest,
    BrainReply,
    BrainRequest,
    Conversation,
    InboundMessage,
    OutboundMessage,
    Recorded,
    SendClaim,
    SendResult,
    TicketStatus,
    Turn,
)
from shared.domain.signature import sign
from shared.handlers.agent_turn import AgentTurnService
from shared.handlers.dead_letter import DeadLetterService
from shared.handlers.delivery import deliver
from shared.handlers.intake import IntakeService
from shared.handlers.outbound import OutboundService
from shared.handlers.pubsub_event import PoisonMessage, PubSubMessage
from shared.handlers.webhook import WebhookConfig, handle_update
from shared.observability import _CloudJsonFormatter
from shared.settings import Settings
from shared.tracing import TracedPublisher

PROJECT = "atende-test"
PHONE = "5511988887777"
NAME = "Maria Aparecida"
TEXT = "Vocês aceitam pix no cartão da Maria?"
ANSWER = "Aceitamos PIX, Maria Aparecida."
PHONE_NUMBER_ID = "100000000000001"
APP_SECRET = "unit-app-secret"
WAMID = "wamid.HBgNNTUxMTk4ODg4Nzc3NxUCABIYFjNFQjA"


@cache
def _exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans ended during the test."""
    exporter = _exporter()
    exporter.clear()
    yield exporter
    exporter.clear()


def _by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    found = {s.name: s for s in exporter.get_finished_spans()}
    assert len(found) == len(exporter.get_finished_spans()), "span names repeat"
    return found


def _push(published: Any, message_id: str = "m-1") -> dict[str, Any]:
    """The push request body Pub/Sub would send for a recorded publish."""
    return {
        "message": {
            "data": base64.b64encode(published.data).decode(),
            "messageId": message_id,
            "attributes": published.attributes,
            "orderingKey": published.ordering_key,
        },
        "subscription": f"projects/{PROJECT}/subscriptions/test",
    }


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


def _parent_of(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.parent is not None and parent.context is not None
    return bool(
        child.parent.span_id == parent.context.span_id
        and child.parent.trace_id == parent.context.trace_id
    )


# ------------------------------------------------------------------------------ propagation


def test_a_push_handler_span_is_a_child_of_the_publish_span(
    spans: InMemorySpanExporter, publisher: Any
) -> None:
    traced = TracedPublisher(publisher)
    with tracing.span("webhook"):
        traced.publish("inbound", b"{}", ordering_key=PHONE, attributes={"kind": "message"})
    (published,) = publisher.published
    seen: list[str] = []

    def handle(message: PubSubMessage) -> str:
        seen.append(trace.format_trace_id(trace.get_current_span().get_span_context().trace_id))
        return "ok"

    outcome = deliver(
        _push(published),
        source="intake",
        handle=handle,
        publisher=lambda: publisher,
        dead_letter_topic="dead-letter",
    )
    assert outcome == "ok"
    found = _by_name(spans)
    webhook, publish, intake = found["webhook"], found["publish inbound"], found["intake"]
    assert _parent_of(publish, webhook)
    assert _parent_of(intake, publish)
    assert intake.parent is not None and intake.parent.is_remote
    assert intake.kind is trace.SpanKind.CONSUMER and publish.kind is trace.SpanKind.PRODUCER
    assert seen == [trace.format_trace_id(_trace_id(webhook))]
    assert _attrs(intake)["atende.outcome"] == "ok"
    assert _attrs(intake)["messaging.message.id"] == "m-1"


def test_publishing_keeps_data_ordering_key_and_attributes_and_adds_only_the_context(
    spans: InMemorySpanExporter, publisher: Any
) -> None:
    traced = TracedPublisher(publisher)
    attributes = {"kind": "message", "event_id": WAMID}
    with tracing.span("agent_turn"):
        traced.publish_many(
            "outbound", [(b"a", "conv-1", attributes), (b"b", "conv-1", {"turn_id": "t"})]
        )
    first, second = publisher.published
    assert (first.data, first.ordering_key, second.data, second.ordering_key) == (
        b"a",
        "conv-1",
        b"b",
        "conv-1",
    )
    assert set(first.attributes) == {"kind", "event_id", "traceparent"}
    assert {k: first.attributes[k] for k in attributes} == attributes
    assert set(second.attributes) == {"turn_id", "traceparent"}
    publish = _by_name(spans)["publish outbound"]
    context = publish.get_span_context()
    assert context is not None and context.trace_flags.sampled
    expected = (
        f"00-{trace.format_trace_id(context.trace_id)}"
        f"-{trace.format_span_id(context.span_id)}-{context.trace_flags:02x}"
    )
    assert first.attributes["traceparent"] == second.attributes["traceparent"] == expected
    # Well inside Pub/Sub's limits (100 attributes, 1,024 bytes a value).
    assert len(expected.encode()) == 55
    assert attributes == {"kind": "message", "event_id": WAMID}, "caller's mapping mutated"


def test_a_stale_context_is_replaced_and_none_is_written_outside_a_trace() -> None:
    stale = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=old",
        "atende_reason": "x",
    }
    # No span current: the stale context is dropped rather than passed on.
    assert tracing.inject(stale) == {"atende_reason": "x"}
    assert tracing.inject(None) == {}


def test_a_message_without_a_context_starts_a_new_trace(spans: InMemorySpanExporter) -> None:
    message = PubSubMessage(data=b"{}", message_id="m-9", attributes={"kind": "status"})
    with tracing.span("unrelated"), tracing.consume("intake", message):
        pass
    intake = _by_name(spans)["intake"]
    assert intake.parent is None


def test_a_malformed_traceparent_starts_a_new_trace(spans: InMemorySpanExporter) -> None:
    message = PubSubMessage(data=b"{}", message_id="m-9", attributes={"traceparent": "garbage"})
    with tracing.consume("outbound", message):
        pass
    assert _by_name(spans)["outbound"].parent is None


def test_a_dead_letter_continues_the_trace_of_the_function_that_parked_it(
    spans: InMemorySpanExporter, publisher: Any
) -> None:
    traced = TracedPublisher(publisher)
    with tracing.span("webhook"):
        traced.publish("inbound", b"not json", ordering_key=PHONE)
    (published,) = publisher.published

    def poison(message: PubSubMessage) -> str:
        raise PoisonMessage("payload is not JSON")

    deliver(
        _push(published),
        source="intake",
        handle=poison,
        publisher=lambda: traced,
        dead_letter_topic="dead-letter",
    )
    parked = publisher.published[-1]
    DeadLetterService(store=_DeadLetters()).handle(  # type: ignore[arg-type]
        PubSubMessage(data=parked.data, message_id="dl-1", attributes=parked.attributes)
    )
    found = _by_name(spans)
    assert _parent_of(found["publish dead-letter"], found["intake"])
    assert _parent_of(found["dead_letter"], found["publish dead-letter"])
    assert _attrs(found["intake"])["atende.outcome"] == "dead-lettered"
    assert _attrs(found["dead_letter"])["atende.dead_letter.source"] == "intake"
    # The reason can quote an API's error message: it stays out of the span.
    assert all("not JSON" not in str(v) for s in found.values() for v in _attrs(s).values())


@dataclass
class _DeadLetters:
    recorded: list[str] = field(default_factory=list)

    def record_dead_letter(self, message_id: str, payload: Any, reason: str, source: str) -> None:
        self.recorded.append(message_id)


def test_a_failure_records_its_type_but_not_its_message(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), tracing.span("brain.answer"):
        raise ValueError(f"input_value='{TEXT}' from {PHONE}")
    (failed,) = spans.get_finished_spans()
    assert failed.status.status_code is trace.StatusCode.ERROR
    assert failed.attributes == {"error.type": "ValueError"}
    assert failed.events == ()
    assert PHONE not in str(failed.status.description)


# ------------------------------------------------------------------------------ log lines


def _log_line(message: str = "turn %s answered") -> dict[str, Any]:
    record = logging.LogRecord(
        "shared.handlers.agent_turn", logging.INFO, __file__, 1, message, ("t-1",), None
    )
    return dict(json.loads(_CloudJsonFormatter(PROJECT).format(record)))


def test_a_log_line_in_a_span_names_its_trace_span_and_sampling(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.span("agent_turn") as current:
        line = _log_line()
    context = current.get_span_context()
    assert line["logging.googleapis.com/trace"] == (
        f"projects/{PROJECT}/traces/{trace.format_trace_id(context.trace_id)}"
    )
    assert line["logging.googleapis.com/spanId"] == trace.format_span_id(context.span_id)
    assert line["logging.googleapis.com/trace_sampled"] is True
    assert line["severity"] == "INFO" and line["message"] == "turn t-1 answered"


def test_a_log_line_of_an_unsampled_trace_still_names_it() -> None:
    context = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.DEFAULT),
    )
    with trace.use_span(NonRecordingSpan(context)):
        line = _log_line()
    assert line["logging.googleapis.com/trace"] == (
        f"projects/{PROJECT}/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    )
    assert line["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"
    assert line["logging.googleapis.com/trace_sampled"] is False


def test_a_log_line_outside_a_span_has_no_trace_fields() -> None:
    line = _log_line()
    assert not [key for key in line if key.startswith("logging.googleapis.com/")]


# ------------------------------------------------------------------------------ the provider


def test_jsonl_writes_one_span_a_line(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "spans.jsonl"
    provider = tracing.build_tracer_provider(Settings(trace_exporter="jsonl", trace_file=str(path)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("webhook"), tracer.start_as_current_span("publish inbound"):
        pass
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["name"] for line in lines] == ["publish inbound", "webhook"]
    assert lines[0]["context"]["trace_id"] == lines[1]["context"]["trace_id"]
    assert lines[0]["parent_id"] == lines[1]["context"]["span_id"]


def test_jsonl_without_a_file_is_refused() -> None:
    with pytest.raises(ValueError, match="TRACE_FILE"):
        tracing.build_tracer_provider(Settings(trace_exporter="jsonl"))


def test_the_ratio_samples_new_traces_and_deliveries_follow_their_caller() -> None:
    provider = tracing.build_tracer_provider(
        Settings(trace_exporter="console", trace_sample_ratio=0.0)
    )
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("webhook") as root:
        assert not root.get_span_context().trace_flags.sampled
    sampled_caller = tracing.extract(
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    )
    with tracer.start_as_current_span("intake", context=sampled_caller) as child:
        assert child.get_span_context().trace_flags.sampled
    with tracer.start_as_current_span("intake", context=tracing.extract({})) as fresh:
        assert not fresh.get_span_context().trace_flags.sampled


# The exporter warns that Google now recommends OTLP to telemetry.googleapis.com
# (docs/operations.md, "Traces").
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_gcp_exports_in_batches_to_cloud_trace_of_the_project(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry.exporter import cloud_trace

    requests: list[Any] = []

    class FakeTraceClient:
        def batch_write_spans(self, request: Any) -> None:
            requests.append(request)

    monkeypatch.setattr(cloud_trace, "_create_default_client", FakeTraceClient)
    provider = tracing.build_tracer_provider(
        Settings(trace_exporter="gcp", google_cloud_project="atende-prod")
    )
    with provider.get_tracer("test").start_as_current_span("outbound"):
        pass
    assert requests == [], "exported at once: not batched"
    assert provider.force_flush(5000)
    (request,) = requests
    assert request.name == "projects/atende-prod"
    assert [s.display_name.value for s in request.spans] == ["outbound"]
    provider.shutdown()


def test_none_installs_no_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[object] = []
    monkeypatch.setattr(trace, "set_tracer_provider", installed.append)
    monkeypatch.setattr(tracing, "_configured", False)
    tracing.configure_tracing(Settings(trace_exporter="none"))
    assert installed == []
    tracing.configure_tracing(Settings(trace_exporter="console"))
    tracing.configure_tracing(Settings(trace_exporter="console"))
    assert len(installed) == 1, "configured more than once"


def test_the_sample_ratio_is_a_share() -> None:
    with pytest.raises(ValueError):
        Settings(trace_sample_ratio=1.5)


# ------------------------------------------------------------------------------ one message


NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@dataclass
class _Store:
    """What intake, agent_turn and outbound ask of the store, for one customer message."""

    pending: list[InboundMessage] = field(default_factory=list)
    conversation: Conversation | None = None

    def record_inbound(self, message: InboundMessage, *, assistant: str) -> Recorded:
        self.pending.append(message)
        self.conversation = Conversation(
            conversation_id=message.conversation_id,
            wa_id=message.wa_id,
            phone_number_id=message.phone_number_id,
            assistant=assistant,
            contact_name=message.contact_name,
            open_ticket_id="ticket-1",
            last_customer_message_at=NOW - timedelta(minutes=1),
            last_inbound_at=NOW - timedelta(minutes=1),
        )
        return Recorded(new=True, pending=True)

    def acquire_lease(self, cid: str, owner: str, *, now: datetime, seconds: float) -> bool:
        return True

    def release_lease(self, cid: str, owner: str) -> None:
        pass

    def unpublished_turns(self, cid: str) -> list[Turn]:
        return []

    def get_conversation(self, cid: str) -> Conversation | None:
        return self.conversation

    def pending_messages(self, cid: str) -> list[InboundMessage]:
        return list(self.pending)

    def history(self, cid: str, *, limit: int = 20) -> list[tuple[str, str]]:
        return []

    def claim_turn(self, turn: Turn, *, now: datetime) -> bool:
        self.pending.clear()
        return True

    def mark_turn_published(self, turn: Turn) -> None:
        pass

    def claim_send(
        self, message: OutboundMessage, *, now: datetime, claim_seconds: float
    ) -> SendClaim:
        return SendClaim.SEND

    def record_send_result(self, message: OutboundMessage, result: SendResult) -> None:
        pass


class _Brain:
    def answer(self, request: BrainRequest) -> BrainReply:
        return BrainReply(
            texts=[ANSWER],
            route="sac",
            ticket_status=TicketStatus.AI_REPLIED,
            question=request.pending[0].text,
            model="offline/use-v3",
        )

    def warm_up(self) -> None:
        pass


def _update() -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "5511400000000", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": NAME}, "wa_id": PHONE}],
        "messages": [
            {
                "from": PHONE,
                "id": WAMID,
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": TEXT},
            }
        ],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def _graph_api() -> GraphApiSender:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"messages": [{"id": "wamid.SENT1"}]})

    return GraphApiSender(
        base_url="https://graph.example.com",
        version="v23.0",
        access_token="token",
        client=httpx.Client(transport=httpx.MockTransport(reply)),
    )


def test_one_customer_message_is_one_trace_without_personal_data(
    spans: InMemorySpanExporter, publisher: Any
) -> None:
    traced = TracedPublisher(publisher)
    store = _Store()
    settings = Settings(max_wait_seconds=0.0)
    raw = _update()
    config = WebhookConfig(
        app_secret=APP_SECRET, verify_token="v", inbound_topic="inbound", max_body_bytes=1 << 20
    )
    assert handle_update(raw, sign(raw, APP_SECRET), config, traced).status == 200

    def hop(topic: str, source: str, handle: Any) -> None:
        (message,) = [p for p in publisher.published if p.topic == topic]
        deliver(
            _push(message, f"{source}-1"),
            source=source,
            handle=handle,
            publisher=lambda: traced,
            dead_letter_topic="dead-letter",
        )

    intake = IntakeService(store=store, publisher=traced, settings=settings)  # type: ignore[arg-type]
    hop("inbound", "intake", intake.handle)
    agent = AgentTurnService(
        store=store,  # type: ignore[arg-type]
        publisher=traced,
        brain=_Brain(),
        clock=ManualClock(NOW),
        settings=settings,
    )
    hop(
        "agent-turns",
        "agent_turn",
        lambda m: agent.handle(AgentTurnRequest.model_validate_json(m.data)),
    )
    outbound = OutboundService(
        store=store,  # type: ignore[arg-type]
        sender=_graph_api(),
        clock=ManualClock(NOW),
        settings=settings,
    )
    hop("outbound", "outbound", outbound.handle)

    found = _by_name(spans)
    chain = [
        "webhook",
        "publish inbound",
        "intake",
        "publish agent-turns",
        "agent_turn",
        "publish outbound",
        "outbound",
    ]
    assert set(found) == {*chain, "brain.answer", "graph_api.send"}
    for parent, child in itertools.pairwise(chain):
        assert _parent_of(found[child], found[parent]), f"{child} is not a child of {parent}"
    assert _parent_of(found["brain.answer"], found["agent_turn"])
    assert _parent_of(found["graph_api.send"], found["outbound"])
    assert len({_trace_id(s) for s in found.values()}) == 1
    assert _attrs(found["intake"])["whatsapp.message.id"] == WAMID
    assert _attrs(found["outbound"])["atende.outcome"] == "sent"
    assert _attrs(found["graph_api.send"])["http.response.status_code"] == 200

    personal = [PHONE, PHONE[-8:], NAME, "Maria", TEXT, "pix", ANSWER]
    for span in found.values():
        shown = json.dumps({"name": span.name, "attributes": _attrs(span)}, ensure_ascii=False)
        leaks = [value for value in personal if value.lower() in shown.lower()]
        assert leaks == [], f"{span.name} carries {leaks}: {shown}"
        assert span.events == ()
