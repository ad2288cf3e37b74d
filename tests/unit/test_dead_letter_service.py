"""The dead-letter recorder."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.handlers.dead_letter import DeadLetterService
from shared.handlers.pubsub_event import PubSubMessage


@dataclass
class FakeStore:
    letters: list[tuple[str, Mapping[str, object], str, str]] = field(default_factory=list)

    def record_dead_letter(
        self, message_id: str, payload: Mapping[str, object], reason: str, source: str
    ) -> None:
        self.letters.append((message_id, payload, reason, source))


def _service(store: FakeStore) -> DeadLetterService:
    return DeadLetterService(store=store)  # type: ignore[arg-type]


def test_our_own_dead_letter_keeps_its_reason_and_source() -> None:
    store = FakeStore()
    message = PubSubMessage(
        data=b"\x00not json",
        message_id="dl-1",
        attributes={
            "kind": "message",
            "atende_reason": "payload is not JSON",
            "atende_source": "intake",
            "atende_original_message_id": "orig-9",
        },
        ordering_key="5511",
    )
    assert _service(store).handle(message) == "recorded"
    ((doc_id, payload, reason, source),) = store.letters
    assert doc_id == "orig-9"
    assert reason == "payload is not JSON"
    assert source == "intake"
    assert base64.b64decode(str(payload["data_base64"])) == b"\x00not json"
    assert payload["attributes"] == message.attributes
    assert payload["ordering_key"] == "5511"


def test_reason_without_source_or_original_id() -> None:
    store = FakeStore()
    _service(store).handle(
        PubSubMessage(data=b"{}", message_id="dl-2", attributes={"atende_reason": "bad"})
    )
    ((doc_id, _, reason, source),) = store.letters
    assert (doc_id, reason, source) == ("dl-2", "bad", "unknown")


def test_empty_original_id_falls_back_to_the_message_id() -> None:
    # deliver() parks undecodable events with an empty original id.
    store = FakeStore()
    _service(store).handle(
        PubSubMessage(
            data=b"{}",
            message_id="dl-3",
            attributes={"atende_reason": "r", "atende_original_message_id": ""},
        )
    )
    assert store.letters[0][0] == "dl-3"


def test_parked_by_pubsub_mentions_exhausted_attempts_and_the_subscription() -> None:
    store = FakeStore()
    subscription = "projects/p/subscriptions/outbound-outbound"
    message = PubSubMessage(
        data=b'{"idempotency_key": "k"}',
        message_id="dl-4",
        attributes={
            "CloudPubSubDeadLetterSourceSubscription": subscription,
            "CloudPubSubDeadLetterSourceDeliveryCount": "5",
        },
    )
    assert _service(store).handle(message) == "recorded"
    ((doc_id, payload, reason, source),) = store.letters
    assert doc_id == "dl-4"
    assert "exhausted" in reason
    assert "5" in reason
    assert subscription in reason
    assert source == subscription
    assert payload["attributes"] == message.attributes


def test_without_any_attributes() -> None:
    store = FakeStore()
    _service(store).handle(PubSubMessage(data=b"", message_id="dl-5"))
    ((_, _, reason, source),) = store.letters
    assert "exhausted" in reason and "?" in reason
    assert source == "unknown"
