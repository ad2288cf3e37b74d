"""Splitting a WhatsApp Business Account webhook update into inbound events."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.domain.whatsapp_update import InboundEvent, NotAWhatsAppUpdate, split_update


def _split(raw: bytes) -> list[InboundEvent]:
    return split_update(json.loads(raw))


def _update(value: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": field, "value": value}]}],
    }


METADATA = {"display_phone_number": "5511400000000", "phone_number_id": "100000000000001"}


def test_every_fixture_splits_into_known_kinds(fixture_files: list[Path]) -> None:
    kinds: set[str] = set()
    for path in fixture_files:
        events = _split(path.read_bytes())
        for event in events:
            assert event.kind in {"message", "echo", "status"}, path.name
            assert event.envelope["v"] == 1
            assert event.envelope["kind"] == event.kind
            if event.kind == "status":
                assert event.ordering_key == "", path.name
            else:
                assert event.ordering_key, path.name
                assert event.ordering_key == event.envelope["wa_id"], path.name
            kinds.add(event.kind)
    assert kinds == {"message", "echo", "status"}


def test_message_ordering_key_is_the_sender(load_fixture: Callable[[str], bytes]) -> None:
    (event,) = _split(load_fixture("text_message.json"))
    assert event.kind == "message"
    assert event.event_id == "wamid.xyzxyz"
    assert event.ordering_key == "972987654321"
    envelope = event.envelope
    assert envelope["phone_number_id"] == "1122334455667"
    assert envelope["display_phone_number"] == "972123456789"
    assert envelope["waba_id"] == "1234567890987654321"
    assert envelope["field"] == "messages"
    assert envelope["item"]["text"]["body"] == "Body Text"
    assert envelope["contact"]["profile"]["name"] == "Test Name"


def test_status_files_yield_status_events(fixture_files: list[Path]) -> None:
    seen = 0
    for path in fixture_files:
        body = json.loads(path.read_bytes())
        statuses = [
            status
            for entry in body["entry"]
            for change in entry["changes"]
            if change.get("field") == "messages"
            for status in change["value"].get("statuses", [])
        ]
        if not statuses:
            continue
        events = [e for e in split_update(body) if e.kind == "status"]
        assert [e.event_id for e in events] == [
            f"status:{s['id']}:{s['status']}" for s in statuses
        ], path.name
        assert all(e.ordering_key == "" for e in events)
        for event, status in zip(events, statuses, strict=True):
            assert event.envelope["wa_id"] == status["recipient_id"]
        assert all(e.envelope["contact"] is None for e in events)
        seen += 1
    assert seen >= 6


def test_status_read_event_id(load_fixture: Callable[[str], bytes]) -> None:
    (event,) = _split(load_fixture("status_read.json"))
    assert event.kind == "status"
    assert event.event_id == "status:wamid.xyzxyz:read"


@pytest.mark.parametrize("prefix", ["account_update_", "template_", "call_", "user_preferences_"])
def test_account_template_and_call_updates_yield_nothing(
    whatsapp_fixtures: Path, prefix: str
) -> None:
    files = [
        p
        for p in sorted((whatsapp_fixtures / "pywa").glob(f"{prefix}*.json"))
        # call_permission_reply_* are customer messages (interactive replies), not call updates.
        if not p.name.startswith("call_permission_reply")
        # template_quick_reply_button* are customer messages (button taps).
        and not p.name.startswith("template_quick_reply")
    ]
    assert files
    for path in files:
        assert _split(path.read_bytes()) == [], path.name


def test_call_status_with_statuses_is_still_ignored(load_fixture: Callable[[str], bytes]) -> None:
    body = json.loads(load_fixture("call_status_ringing.json"))
    assert body["entry"][0]["changes"][0]["value"]["statuses"]
    assert split_update(body) == []


def test_smb_echo_text_is_one_echo_keyed_by_recipient(
    load_fixture: Callable[[str], bytes],
) -> None:
    events = _split(load_fixture("smb_echo_text.json"))
    assert len(events) == 1
    (echo,) = events
    assert echo.kind == "echo"
    assert echo.envelope["wa_id"] == "<WHATSAPP_USER_PHONE_NUMBER>"
    assert echo.ordering_key == "<WHATSAPP_USER_PHONE_NUMBER>"
    assert echo.envelope["field"] == "smb_message_echoes"
    assert echo.envelope["item"]["text"]["body"] == "Test message"


@pytest.mark.parametrize(
    "body",
    [
        [],
        "whatsapp_business_account",
        None,
        {"object": "page", "entry": []},
        {"entry": []},
        {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": {"id": "1"}},
        {"object": "whatsapp_business_account", "entry": ["not an object"]},
        {"object": "whatsapp_business_account", "entry": [{"changes": {"field": "messages"}}]},
        {"object": "whatsapp_business_account", "entry": [{"changes": ["not an object"]}]},
        {"object": "whatsapp_business_account", "entry": [{"changes": [{}, 3]}]},
    ],
)
def test_bad_shapes_raise(body: object) -> None:
    with pytest.raises(NotAWhatsAppUpdate):
        split_update(body)


def test_not_a_whatsapp_update_is_a_value_error() -> None:
    assert issubclass(NotAWhatsAppUpdate, ValueError)


def test_empty_entry_list_and_entry_without_changes_yield_nothing() -> None:
    assert split_update({"object": "whatsapp_business_account", "entry": []}) == []
    assert split_update({"object": "whatsapp_business_account", "entry": [{"id": "1"}]}) == []


def test_unknown_field_is_ignored() -> None:
    value = {"metadata": METADATA, "messages": [{"from": "551199", "id": "wamid.A"}]}
    assert split_update(_update(value, field="some_future_field")) == []


def test_value_that_is_not_an_object_is_ignored() -> None:
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": ["x"]}]}],
    }
    assert split_update(body) == []


def test_multi_message_update_yields_every_event_in_order() -> None:
    customers = ["5511911110001", "5511911110002"]
    value = {
        "messaging_product": "whatsapp",
        "metadata": METADATA,
        "contacts": [{"profile": {"name": f"C{i}"}, "wa_id": c} for i, c in enumerate(customers)],
        "messages": [
            {
                "from": customers[0],
                "id": "wamid.M1",
                "timestamp": "1700000000",
                "type": "text",
                "text": {"body": "um"},
            },
            {
                "from": customers[1],
                "id": "wamid.M2",
                "timestamp": "1700000001",
                "type": "text",
                "text": {"body": "dois"},
            },
            {
                "from": customers[0],
                "id": "wamid.M3",
                "timestamp": "1700000002",
                "type": "text",
                "text": {"body": "três"},
            },
        ],
        "statuses": [
            {
                "id": "wamid.S1",
                "status": "delivered",
                "timestamp": "1700000003",
                "recipient_id": customers[0],
            },
            {
                "id": "wamid.S1",
                "status": "read",
                "timestamp": "1700000004",
                "recipient_id": customers[0],
            },
        ],
    }
    events = split_update(_update(value))
    assert len(events) == 5
    assert [e.kind for e in events] == ["message"] * 3 + ["status"] * 2
    assert [e.event_id for e in events] == [
        "wamid.M1",
        "wamid.M2",
        "wamid.M3",
        "status:wamid.S1:delivered",
        "status:wamid.S1:read",
    ]
    assert [e.ordering_key for e in events] == [customers[0], customers[1], customers[0], "", ""]
    assert events[1].envelope["contact"]["profile"]["name"] == "C1"
    assert {e.envelope["phone_number_id"] for e in events} == {METADATA["phone_number_id"]}
    assert {e.envelope["waba_id"] for e in events} == {"WABA1"}


def test_several_entries_and_changes_are_all_split() -> None:
    change = {
        "field": "messages",
        "value": {"metadata": METADATA, "messages": [{"from": "5511", "id": "wamid.X"}]},
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "A", "changes": [change, change]}, {"id": "B", "changes": [change]}],
    }
    events = split_update(body)
    assert [e.envelope["waba_id"] for e in events] == ["A", "A", "B"]


def test_business_scoped_user_id_stands_in_for_a_missing_phone_number() -> None:
    value = {
        "metadata": METADATA,
        "messages": [{"from_user_id": "US.123", "id": "wamid.B", "type": "text"}],
    }
    (event,) = split_update(_update(value))
    assert event.ordering_key == "US.123"
    assert event.envelope["wa_id"] == "US.123"


def test_non_object_items_in_lists_are_skipped() -> None:
    value = {"metadata": METADATA, "messages": ["junk", {"from": "5511", "id": "wamid.Y"}, 7]}
    events = split_update(_update(value))
    assert [e.event_id for e in events] == ["wamid.Y"]
