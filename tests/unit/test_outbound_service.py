"""Outbound: exactly-once sends, transient retries, the 24-hour customer-service window."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.clock import ManualClock
from shared.domain.models import OutboundMessage, SendClaim, SendOutcome, SendResult
from shared.handlers.delivery import deliver
from shared.handlers.outbound import OutboundService, TransientSendError
from shared.handlers.pubsub_event import PoisonMessage, PubSubMessage
from shared.settings import Settings

NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
MAX_ATTEMPTS = 3
TRANSIENT = SendResult(
    outcome=SendOutcome.TRANSIENT_FAILURE,
    http_status=503,
    error_code=131000,
    error_message="Something went wrong",
)


@dataclass
class FakeStore:
    """Only the outbound methods, recording every call."""

    claim: SendClaim = SendClaim.SEND
    claims: list[tuple[str, datetime, float]] = field(default_factory=list)
    results: list[tuple[OutboundMessage, SendResult]] = field(default_factory=list)
    released: list[tuple[str, str]] = field(default_factory=list)
    given_up: list[tuple[str, str]] = field(default_factory=list)
    # Like the Firestore store: every granted claim counts as an attempt.
    attempts: dict[str, int] = field(default_factory=dict)

    def claim_send(
        self, message: OutboundMessage, *, now: datetime, claim_seconds: float
    ) -> SendClaim:
        self.claims.append((message.idempotency_key, now, claim_seconds))
        if self.claim is SendClaim.SEND:
            key = message.idempotency_key
            self.attempts[key] = self.attempts.get(key, 0) + 1
        return self.claim

    def record_send_result(self, message: OutboundMessage, result: SendResult) -> None:
        self.results.append((message, result))

    def release_send_claim(self, key: str, error: str) -> int:
        self.released.append((key, error))
        return self.attempts.get(key, 1)

    def give_up_send(self, key: str, reason: str) -> None:
        self.given_up.append((key, reason))


@dataclass
class FakeSender:
    result: SendResult = field(
        default_factory=lambda: SendResult(
            outcome=SendOutcome.SENT, wamid="wamid.OK", http_status=200
        )
    )
    sent: list[OutboundMessage] = field(default_factory=list)

    def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return self.result


def _outbound(**overrides: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "idempotency_key": "turn-7:0",
        "conversation_id": "100000000000001:5511988887777",
        "phone_number_id": "100000000000001",
        "to": "5511988887777",
        "text": "Aceitamos PIX.",
        "last_customer_message_at": NOW - timedelta(minutes=5),
    }
    values.update(overrides)
    return OutboundMessage(**values)


def _message(outbound: OutboundMessage) -> PubSubMessage:
    return PubSubMessage(data=outbound.model_dump_json().encode(), message_id="m-1")


def _service(
    store: FakeStore, sender: FakeSender, clock: ManualClock | None = None
) -> OutboundService:
    return OutboundService(
        store=store,  # type: ignore[arg-type]
        sender=sender,
        clock=clock or ManualClock(NOW),
        settings=Settings(send_claim_seconds=42.0, max_send_attempts=MAX_ATTEMPTS),
    )


@pytest.mark.parametrize("claim", [SendClaim.DONE, SendClaim.BUSY])
def test_claimed_elsewhere_is_not_sent(claim: SendClaim) -> None:
    store, sender = FakeStore(claim=claim), FakeSender()
    assert _service(store, sender).handle(_message(_outbound())) == claim.value
    assert sender.sent == []
    assert store.results == []
    assert store.released == []
    assert store.claims == [("turn-7:0", NOW, 42.0)]


def test_sent_is_recorded() -> None:
    store, sender = FakeStore(), FakeSender()
    outbound = _outbound()
    assert _service(store, sender).handle(_message(outbound)) == "sent"
    assert sender.sent == [outbound]
    assert len(store.results) == 1
    recorded, result = store.results[0]
    assert recorded == outbound
    assert result.outcome is SendOutcome.SENT and result.wamid == "wamid.OK"
    assert store.released == []


def test_transient_failure_releases_the_claim_and_raises() -> None:
    store, sender = FakeStore(), FakeSender(TRANSIENT)
    with pytest.raises(TransientSendError, match="131000"):
        _service(store, sender).handle(_message(_outbound()))
    ((key, error),) = store.released
    assert key == "turn-7:0"
    assert "HTTP 503" in error and "131000" in error and "Something went wrong" in error
    assert store.results == []
    assert store.given_up == []


def test_transient_failures_retry_until_the_attempt_limit_then_park() -> None:
    store, sender = FakeStore(), FakeSender(TRANSIENT)
    service = _service(store, sender)
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(TransientSendError):
            service.handle(_message(_outbound()))
    assert store.given_up == []
    with pytest.raises(PoisonMessage, match=f"gave up after {MAX_ATTEMPTS} attempts") as raised:
        service.handle(_message(_outbound()))
    assert "131000" in str(raised.value)
    ((key, reason),) = store.given_up
    assert key == "turn-7:0"
    assert reason == str(raised.value)
    assert len(sender.sent) == MAX_ATTEMPTS
    assert store.results == []


def test_last_attempt_through_deliver_is_dead_lettered_with_its_reason(publisher: Any) -> None:
    store, sender = FakeStore(), FakeSender(TRANSIENT)
    store.attempts["turn-7:0"] = MAX_ATTEMPTS - 1
    data = _outbound().model_dump_json().encode()
    event = {"message": {"data": base64.b64encode(data).decode(), "messageId": "p-1"}}
    outcome = deliver(
        event,
        source="outbound",
        handle=_service(store, sender).handle,
        publisher=lambda: publisher,
        dead_letter_topic="dead-letter",
    )
    assert outcome == "dead-lettered"
    (parked,) = publisher.published
    assert parked.topic == "dead-letter"
    assert parked.data == data
    assert parked.attributes["atende_source"] == "outbound"
    assert parked.attributes["atende_reason"].startswith(f"gave up after {MAX_ATTEMPTS}")
    assert parked.attributes["atende_original_message_id"] == "p-1"


def test_transient_send_error_is_not_poison() -> None:
    # deliver() dead-letters PoisonMessage; a transient failure must propagate instead.
    assert not issubclass(TransientSendError, PoisonMessage)


def test_permanent_failure_is_recorded_without_raising() -> None:
    store = FakeStore()
    failure = SendResult(
        outcome=SendOutcome.PERMANENT_FAILURE,
        http_status=400,
        error_code=131026,
        error_message="(#131026) Message undeliverable",
    )
    sender = FakeSender(failure)
    assert _service(store, sender).handle(_message(_outbound())) == "failed"
    assert [r for _, r in store.results] == [failure]
    assert store.released == []


def test_text_outside_the_24h_window_is_a_permanent_failure_without_sending() -> None:
    store, sender = FakeStore(), FakeSender()
    outbound = _outbound(last_customer_message_at=NOW - timedelta(hours=25))
    assert _service(store, sender).handle(_message(outbound)) == "failed"
    assert sender.sent == []
    ((_, result),) = store.results
    assert result.outcome is SendOutcome.PERMANENT_FAILURE
    assert result.error_message and "24-hour" in result.error_message


def test_text_just_inside_the_window_is_sent() -> None:
    store, sender = FakeStore(), FakeSender()
    outbound = _outbound(last_customer_message_at=NOW - timedelta(hours=23, minutes=59))
    assert _service(store, sender).handle(_message(outbound)) == "sent"
    assert sender.sent == [outbound]


def test_template_outside_the_window_is_sent() -> None:
    store, sender = FakeStore(), FakeSender()
    outbound = _outbound(
        kind="template",
        text="",
        template_name="retomar_atendimento",
        last_customer_message_at=NOW - timedelta(hours=25),
    )
    assert _service(store, sender).handle(_message(outbound)) == "sent"
    assert sender.sent == [outbound]


def test_text_without_a_known_last_message_is_sent() -> None:
    store, sender = FakeStore(), FakeSender()
    assert (
        _service(store, sender).handle(_message(_outbound(last_customer_message_at=None))) == "sent"
    )
    assert len(sender.sent) == 1


@pytest.mark.parametrize(
    "data", [b"not json", b"{}", b'{"idempotency_key": "k"}', b"\xff\xfe", b"[]"]
)
def test_invalid_data_is_poison(data: bytes) -> None:
    store, sender = FakeStore(), FakeSender()
    with pytest.raises(PoisonMessage, match="not an outbound message"):
        _service(store, sender).handle(PubSubMessage(data=data, message_id="m"))
    assert store.claims == []
    assert sender.sent == []
