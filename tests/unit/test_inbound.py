"""Parsing `inbound` envelopes into domain messages and status receipts."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.domain.inbound import BadEnvelope, parse_envelope
from shared.domain.models import InboundMessage, StatusReceipt
from shared.domain.whatsapp_update import split_update


def _records(raw: bytes) -> list[InboundMessage | StatusReceipt]:
    return [parse_envelope(e.envelope) for e in split_update(json.loads(raw))]


def _message(load: Callable[[str], bytes], name: str) -> InboundMessage:
    (record,) = _records(load(name))
    assert isinstance(record, InboundMessage)
    return record


def _envelope(item: dict[str, Any], kind: str | None = "message", **extra: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "kind": kind,
        "phone_number_id": "100000000000001",
        "wa_id": "5511988887777",
        "item": item,
        "contact": {"profile": {"name": "Maria"}, "wa_id": "5511988887777"},
        **extra,
    }


def test_every_fixture_event_parses(fixture_files: list[Path]) -> None:
    count = 0
    for path in fixture_files:
        for event in split_update(json.loads(path.read_bytes())):
            record = parse_envelope(event.envelope)
            if event.kind == "status":
                assert isinstance(record, StatusReceipt), path.name
            else:
                assert isinstance(record, InboundMessage), path.name
                assert record.is_echo == (event.kind == "echo"), path.name
                assert record.wa_id == event.ordering_key
            assert record.timestamp.tzinfo is not None
            count += 1
    assert count > 50


def test_text_message(load_fixture: Callable[[str], bytes]) -> None:
    message = _message(load_fixture, "text_message.json")
    assert message.type == "text"
    assert message.text == "Body Text"
    assert message.message_id == "wamid.xyzxyz"
    assert message.wa_id == "972987654321"
    assert message.phone_number_id == "1122334455667"
    assert message.contact_name == "Test Name"
    assert message.wakes_agent is True
    assert message.is_echo is False
    assert message.media_id is None
    assert message.conversation_id == "1122334455667:972987654321"
    assert message.timestamp == datetime.fromtimestamp(1697043223, tz=UTC)
    assert message.raw["text"]["body"] == "Body Text"


@pytest.mark.parametrize(
    "name",
    [
        "reaction.json",
        "reaction_removed_empty_emoji.json",
        "message_edited_image.json",
        "message_revoked_by_user.json",
        "system_customer_identity_changed.json",
        "system_user_changed_number.json",
        "pywa_classic/request_welcome_chat_opened.json",
        "call_permission_reply_accept.json",
        "call_permission_reply_reject.json",
    ],
)
def test_silent_messages_do_not_wake_the_agent(
    load_fixture: Callable[[str], bytes], name: str
) -> None:
    message = _message(load_fixture, name)
    assert message.is_echo is False
    assert message.wakes_agent is False


@pytest.mark.parametrize(
    "name", ["smb_echo_text.json", "smb_echo_edit.json", "smb_echo_revoke.json"]
)
def test_echoes_never_wake_the_agent(load_fixture: Callable[[str], bytes], name: str) -> None:
    message = _message(load_fixture, name)
    assert message.is_echo is True
    assert message.wakes_agent is False


def test_echo_text_is_extracted(load_fixture: Callable[[str], bytes]) -> None:
    message = _message(load_fixture, "smb_echo_text.json")
    assert message.text == "Test message"
    # A text echo would wake the agent if it were a customer's message: only is_echo stops it.
    assert message.type == "text"


@pytest.mark.parametrize(
    ("name", "type_", "text_start"),
    [
        ("text_message.json", "text", "Body Text"),
        ("image_message.json", "image", "[imagem]"),
        ("audio_message_forwarded.json", "audio", "[áudio]"),
        ("voice_message.json", "audio", "[áudio]"),
        ("video_message_forwarded.json", "video", "[vídeo] caption"),
        ("document_message_forwarded.json", "document", "[documento] caption"),
        ("sticker_static.json", "sticker", "[figurinha]"),
        ("location_named_place_forwarded.json", "location", "[localização] Facebook HQ"),
        ("contacts_message.json", "contacts", "[contato] Chandler Bing"),
        ("interactive_button_reply.json", "interactive", "title"),
        ("interactive_list_reply_with_description.json", "interactive", "title - description"),
        ("flow_nfm_reply.json", "interactive", "Sent"),
        ("template_quick_reply_button.json", "button", "title"),
        ("order_message.json", "order", "[pedido com 3 itens]"),
        ("unsupported_message.json", "unsupported", ""),
        ("unsupported_message_with_type.json", "unsupported", ""),
    ],
)
def test_answerable_messages_wake_the_agent(
    load_fixture: Callable[[str], bytes], name: str, type_: str, text_start: str
) -> None:
    message = _message(load_fixture, name)
    assert message.type == type_
    assert message.wakes_agent is True
    assert message.text.startswith(text_start)
    if not text_start:
        assert message.text == ""


@pytest.mark.parametrize(
    ("name", "media_id"),
    [
        ("image_message.json", "65463453"),
        ("video_message_forwarded.json", "765756756"),
        ("sticker_animated.json", "1234567890987654321"),
        ("document_message_forwarded.json", "1234567890987654321"),
    ],
)
def test_media_id_is_set(load_fixture: Callable[[str], bytes], name: str, media_id: str) -> None:
    assert _message(load_fixture, name).media_id == media_id


def test_status_receipt(load_fixture: Callable[[str], bytes]) -> None:
    (record,) = _records(load_fixture("status_failed_130472.json"))
    assert isinstance(record, StatusReceipt)
    assert record.status == "failed"
    assert record.message_id == "wamid.xyzxyz"
    assert record.recipient_id == "972987654321"
    assert record.errors and record.errors[0]["code"] == 130472


def test_timestamp_parsed_from_unix_string() -> None:
    message = parse_envelope(
        _envelope(
            {"id": "wamid.T", "type": "text", "timestamp": "1700000000", "text": {"body": "x"}}
        )
    )
    assert message.timestamp == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_unparseable_timestamp_falls_back_to_now() -> None:
    before = datetime.now(tz=UTC)
    message = parse_envelope(_envelope({"id": "wamid.T", "type": "text", "timestamp": "soon"}))
    assert before <= message.timestamp <= datetime.now(tz=UTC)


def test_interactive_call_permission_reply_is_silent_but_other_interactive_is_not() -> None:
    silent = parse_envelope(
        _envelope(
            {"id": "a", "type": "interactive", "interactive": {"type": "call_permission_reply"}}
        )
    )
    answered = parse_envelope(
        _envelope(
            {
                "id": "b",
                "type": "interactive",
                "interactive": {
                    "type": "button_reply",
                    "button_reply": {"id": "1", "title": "Sim"},
                },
            }
        )
    )
    assert isinstance(silent, InboundMessage) and silent.wakes_agent is False
    assert isinstance(answered, InboundMessage) and answered.wakes_agent is True
    assert answered.text == "Sim"


def test_missing_type_is_unknown_and_answered() -> None:
    message = parse_envelope(_envelope({"id": "wamid.U"}))
    assert isinstance(message, InboundMessage)
    assert message.type == "unknown"
    assert message.text == ""
    assert message.wakes_agent is True


@pytest.mark.parametrize(
    "envelope",
    [
        None,
        [],
        "text",
        {},
        _envelope({"id": "x"}, v=2),
        _envelope({"id": "x"}, v="1"),
        {k: v for k, v in _envelope({"id": "x"}).items() if k != "v"},
        _envelope({}),
        _envelope({"type": "text"}),
        _envelope({"id": ""}),
        _envelope("not an item"),  # type: ignore[arg-type]
        _envelope({"id": "x"}, phone_number_id=""),
        {k: v for k, v in _envelope({"id": "x"}).items() if k != "phone_number_id"},
        _envelope({"id": "x"}, wa_id=""),
        _envelope({"id": "x"}, kind="reaction"),
        _envelope({"id": "x"}, kind=None),
    ],
)
def test_bad_envelopes_raise(envelope: object) -> None:
    with pytest.raises(BadEnvelope):
        parse_envelope(envelope)
