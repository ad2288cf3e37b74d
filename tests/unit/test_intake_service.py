"""Intake: record statuses and echoes, wake the agent for pending customer messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.domain.models import InboundMessage, Recorded, StatusReceipt
from shared.domain.whatsapp_update import split_update
from shared.handlers.intake import IntakeService
from shared.handlers.pubsub_event import PoisonMessage, PubSubMessage
from shared.settings import Settings


@dataclass
class FakeStore:
    """Only the intake methods, recording every call."""

    recorded: Recorded = field(default_factory=lambda: Recorded(new=True, pending=True))
    echo_is_new: bool = True
    statuses: list[StatusReceipt] = field(default_factory=list)
    echoes: list[InboundMessage] = field(default_factory=list)
    inbound: list[tuple[InboundMessage, str]] = field(default_factory=list)

    def record_status(self, receipt: StatusReceipt) -> None:
        self.statuses.append(receipt)

    def record_echo(self, message: InboundMessage) -> bool:
        self.echoes.append(message)
        return self.echo_is_new

    def record_inbound(self, message: InboundMessage, *, assistant: str) -> Recorded:
        self.inbound.append((message, assistant))
        return self.recorded


SETTINGS = Settings(
    topic_agent_turns="agent-turns",
    default_assistant="sac",
    assistants_by_phone_number_id={"1122334455667": "vendas"},
)


def _service(store: FakeStore, publisher: Any) -> IntakeService:
    return IntakeService(store=store, publisher=publisher, settings=SETTINGS)  # type: ignore[arg-type]


def _deliveries(raw: bytes) -> list[PubSubMessage]:
    return [
        PubSubMessage(
            data=json.dumps({**e.envelope, "received_at": 1.0}).encode(),
            message_id=f"m-{i}",
            attributes={"kind": e.kind, "event_id": e.event_id},
            ordering_key=e.ordering_key,
        )
        for i, e in enumerate(split_update(json.loads(raw)))
    ]


def _one(load: Callable[[str], bytes], name: str) -> PubSubMessage:
    (message,) = _deliveries(load(name))
    return message


def test_status_receipt_is_recorded_and_nothing_published(
    load_fixture: Callable[[str], bytes], publisher: Any
) -> None:
    store = FakeStore()
    assert (
        _service(store, publisher).handle(_one(load_fixture, "status_read.json")) == "status:read"
    )
    (receipt,) = store.statuses
    assert receipt.message_id == "wamid.xyzxyz"
    assert receipt.status == "read"
    assert store.inbound == [] and store.echoes == []
    assert publisher.calls == 0


@pytest.mark.parametrize(("new", "outcome"), [(True, "echo"), (False, "duplicate")])
def test_echo_is_recorded_and_nothing_published(
    load_fixture: Callable[[str], bytes], publisher: Any, new: bool, outcome: str
) -> None:
    store = FakeStore(echo_is_new=new)
    assert _service(store, publisher).handle(_one(load_fixture, "smb_echo_text.json")) == outcome
    (echo,) = store.echoes
    assert echo.is_echo and echo.text == "Test message"
    assert store.inbound == []
    assert publisher.calls == 0


def test_new_pending_message_wakes_the_agent(
    load_fixture: Callable[[str], bytes], publisher: Any
) -> None:
    store = FakeStore(recorded=Recorded(new=True, pending=True))
    assert _service(store, publisher).handle(_one(load_fixture, "text_message.json")) == "woke"
    ((message, assistant),) = store.inbound
    assert message.text == "Body Text"
    # The business number maps to its own assistant.
    assert assistant == "vendas"
    (published,) = publisher.published
    assert published.topic == "agent-turns"
    assert published.ordering_key == "1122334455667:972987654321"
    assert published.json() == {
        "conversation_id": "1122334455667:972987654321",
        "message_id": "wamid.xyzxyz",
    }


def test_unmapped_number_gets_the_default_assistant(publisher: Any) -> None:
    envelope = {
        "v": 1,
        "kind": "message",
        "phone_number_id": "999",
        "wa_id": "5511",
        "item": {"id": "wamid.Z", "type": "text", "text": {"body": "oi"}},
        "contact": None,
    }
    store = FakeStore()
    _service(store, publisher).handle(PubSubMessage(json.dumps(envelope).encode(), "m"))
    assert store.inbound[0][1] == "sac"
    assert publisher.published[0].ordering_key == "999:5511"


def test_duplicate_still_pending_is_published_again(
    load_fixture: Callable[[str], bytes], publisher: Any
) -> None:
    store = FakeStore(recorded=Recorded(new=False, pending=True))
    assert _service(store, publisher).handle(_one(load_fixture, "text_message.json")) == "rewoke"
    (published,) = publisher.published
    assert published.topic == "agent-turns"
    assert published.ordering_key == "1122334455667:972987654321"


@pytest.mark.parametrize(("new", "outcome"), [(True, "stored"), (False, "duplicate")])
def test_not_pending_is_not_published(
    load_fixture: Callable[[str], bytes], publisher: Any, new: bool, outcome: str
) -> None:
    store = FakeStore(recorded=Recorded(new=new, pending=False))
    assert _service(store, publisher).handle(_one(load_fixture, "reaction.json")) == outcome
    assert len(store.inbound) == 1
    assert publisher.calls == 0


def test_publish_failure_propagates_for_a_retry(
    load_fixture: Callable[[str], bytes], publisher: Any
) -> None:
    publisher.fail_with = ConnectionError("pubsub down")
    with pytest.raises(ConnectionError):
        _service(FakeStore(), publisher).handle(_one(load_fixture, "text_message.json"))


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"v": 2}',
        json.dumps({"v": 1, "kind": "message", "item": {"id": "x"}}).encode(),
        json.dumps(
            {"v": 1, "kind": "boom", "phone_number_id": "1", "wa_id": "2", "item": {"id": "x"}}
        ).encode(),
    ],
)
def test_bad_envelope_is_poison(publisher: Any, data: bytes) -> None:
    store = FakeStore()
    with pytest.raises(PoisonMessage):
        _service(store, publisher).handle(PubSubMessage(data=data, message_id="m"))
    assert store.inbound == [] and store.statuses == [] and store.echoes == []
    assert publisher.calls == 0
