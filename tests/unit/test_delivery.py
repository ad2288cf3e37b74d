"""deliver(): ack on return, redeliver on an exception, park poison on the dead-letter topic."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from shared.handlers.delivery import deliver
from shared.handlers.outbound import OutboundService
from shared.handlers.pubsub_event import PoisonMessage, PubSubMessage, decode_push
from shared.settings import Settings

DLQ = "dead-letter-topic"


def _push(data: bytes, attributes: dict[str, str] | None = None, **message: Any) -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": attributes or {},
            "messageId": "1",
            **message,
        },
        "subscription": "projects/p/subscriptions/x",
    }


def _deliver(event: object, handle: Any, publisher: Any, source: str = "intake") -> str:
    return deliver(
        event, source=source, handle=handle, publisher=lambda: publisher, dead_letter_topic=DLQ
    )


def test_decode_push_reads_every_field() -> None:
    event = _push(b'{"a": 1}', {"kind": "message"}, orderingKey="5511")
    message = decode_push(event)
    assert message == PubSubMessage(
        data=b'{"a": 1}', message_id="1", attributes={"kind": "message"}, ordering_key="5511"
    )
    assert message.json() == {"a": 1}


def test_decode_push_accepts_snake_case_keys() -> None:
    event = {
        "message": {"data": base64.b64encode(b"x").decode(), "message_id": "7", "ordering_key": "k"}
    }
    message = decode_push(event)
    assert (message.message_id, message.ordering_key, message.data) == ("7", "k", b"x")


def test_handler_result_is_passed_through(publisher: Any) -> None:
    seen: list[PubSubMessage] = []

    def handle(message: PubSubMessage) -> str:
        seen.append(message)
        return "woke"

    assert _deliver(_push(b"{}", {"kind": "message"}), handle, publisher) == "woke"
    assert seen[0].data == b"{}"
    assert seen[0].attributes == {"kind": "message"}
    assert publisher.calls == 0


def test_poison_is_dead_lettered_with_the_reason(publisher: Any) -> None:
    def handle(message: PubSubMessage) -> str:
        raise PoisonMessage("envelope has no item with an id")

    event = _push(b'{"v": 1}', {"kind": "message", "event_id": "wamid.1"})
    assert _deliver(event, handle, publisher, source="intake") == "dead-lettered"
    (parked,) = publisher.published
    assert parked.topic == DLQ
    assert parked.data == b'{"v": 1}'
    assert parked.attributes == {
        "kind": "message",
        "event_id": "wamid.1",
        "atende_reason": "envelope has no item with an id",
        "atende_source": "intake",
        "atende_original_message_id": "1",
    }


def test_other_exceptions_propagate_for_a_retry(publisher: Any) -> None:
    def handle(message: PubSubMessage) -> str:
        raise RuntimeError("firestore unavailable")

    with pytest.raises(RuntimeError, match="firestore unavailable"):
        _deliver(_push(b"{}"), handle, publisher)
    assert publisher.calls == 0


def test_dead_letter_publish_failure_propagates(publisher: Any) -> None:
    # If the dead letter cannot be parked, the message must be redelivered, not lost.
    publisher.fail_with = ConnectionError("down")

    def handle(message: PubSubMessage) -> str:
        raise PoisonMessage("bad")

    with pytest.raises(ConnectionError):
        _deliver(_push(b"{}"), handle, publisher)


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        {"subscription": "x"},
        {"message": "not an object"},
        {"message": {"data": "%%% not base64 %%%", "messageId": "2"}},
        {"message": {"data": "abc", "messageId": "3"}},
    ],
)
def test_undecodable_events_are_dead_lettered(publisher: Any, event: object) -> None:
    called: list[PubSubMessage] = []

    def handle(message: PubSubMessage) -> str:
        called.append(message)
        return "handled"

    assert _deliver(event, handle, publisher, source="outbound") == "dead-lettered"
    assert called == []
    (parked,) = publisher.published
    assert parked.topic == DLQ
    assert parked.attributes["atende_source"] == "outbound"
    assert parked.attributes["atende_original_message_id"] == ""
    assert parked.attributes["atende_reason"]
    # The whole event is kept, so that nothing is lost.
    assert json.loads(parked.data) == json.loads(json.dumps(event, default=str))


def test_message_without_data_is_handled_as_empty(publisher: Any) -> None:
    seen: list[bytes] = []

    def handle(message: PubSubMessage) -> str:
        seen.append(message.data)
        return "ok"

    assert _deliver({"message": {"messageId": "4"}}, handle, publisher) == "ok"
    assert seen == [b""]


def test_long_reason_is_truncated(publisher: Any) -> None:
    def handle(message: PubSubMessage) -> str:
        raise PoisonMessage("x" * 5000)

    _deliver(_push(b"{}"), handle, publisher)
    assert len(publisher.published[0].attributes["atende_reason"]) == 1000


# Bugs found while writing these tests.

# Pub/Sub rejects an attribute value over 1,024 bytes (https://cloud.google.com/pubsub/quotas).
PUBSUB_MAX_ATTRIBUTE_VALUE_BYTES = 1024


class _OutboundClock:
    def now(self) -> Any:
        raise AssertionError("not reached")

    def sleep(self, seconds: float) -> None:
        raise AssertionError("not reached")


def _bad_outbound_event(text: str, to: str) -> dict[str, Any]:
    # An outbound message missing its idempotency key: a poison message.
    data = {"conversation_id": f"1:{to}", "phone_number_id": "1", "to": to, "text": text}
    return _push(json.dumps(data, ensure_ascii=False).encode())


def _outbound_handle() -> Any:
    service = OutboundService(
        store=None,  # type: ignore[arg-type]
        sender=None,  # type: ignore[arg-type]
        clock=_OutboundClock(),
        settings=Settings(),
    )
    return service.handle


def test_dead_letter_reason_fits_a_pubsub_attribute(publisher: Any) -> None:
    text = "Olá! Não é possível emitir a segunda via do boleto sem a ação do gerente. " * 30
    event = _bad_outbound_event(text, "5511988887777")
    assert _deliver(event, _outbound_handle(), publisher, source="outbound") == "dead-lettered"
    for value in publisher.published[0].attributes.values():
        assert len(value.encode("utf-8")) <= PUBSUB_MAX_ATTRIBUTE_VALUE_BYTES


def test_dead_letter_log_has_no_phone_number_in_clear(
    publisher: Any, caplog: pytest.LogCaptureFixture
) -> None:
    phone = "5511988887777"
    event = _bad_outbound_event("Aceitam PIX?", phone)
    with caplog.at_level(logging.INFO):
        assert _deliver(event, _outbound_handle(), publisher, source="outbound") == "dead-lettered"
    assert caplog.records
    assert phone not in caplog.text
