"""The webhook use case (verification and signed updates) and its functions-framework entry."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import shared.bootstrap as bootstrap
from shared import observability
from shared.domain.signature import sign
from shared.handlers.webhook import WebhookConfig, handle_update, handle_verification
from shared.settings import get_settings

SECRET = "unit-app-secret"
VERIFY = "unit-verify-token"
CONFIG = WebhookConfig(
    app_secret=SECRET, verify_token=VERIFY, inbound_topic="inbound-topic", max_body_bytes=64_000
)


def _post(raw: bytes, publisher: Any, config: WebhookConfig = CONFIG) -> tuple[int, str]:
    reply = handle_update(raw, sign(raw, config.app_secret), config, publisher)
    return reply.status, reply.body


# verification


def test_verification_echoes_the_challenge() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    reply = handle_verification(params, CONFIG)
    assert (reply.status, reply.body) == (200, "1158201444")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
        {"hub.verify_token": VERIFY, "hub.challenge": "1"},
        {},
    ],
)
def test_verification_refused(params: dict[str, str]) -> None:
    reply = handle_verification(params, CONFIG)
    assert reply.status == 403
    assert "1" not in reply.body


# updates


def test_body_over_the_cap_is_413_and_nothing_published(publisher: Any) -> None:
    config = WebhookConfig(
        app_secret=SECRET, verify_token=VERIFY, inbound_topic="inbound", max_body_bytes=100
    )
    raw = b"{" + b" " * 200 + b"}"
    assert _post(raw, publisher, config)[0] == 413
    assert publisher.calls == 0
    # Exactly at the cap is not over it.
    at_cap = b"[" + b" " * 98 + b"]"
    assert len(at_cap) == 100
    assert _post(at_cap, publisher, config)[0] == 400


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=" + "0" * 64, sign(b"other body", SECRET), sign(b"x", "wrong-secret")],
)
def test_bad_signature_is_401_and_nothing_published(
    load_fixture: Callable[[str], bytes], publisher: Any, signature: str | None
) -> None:
    raw = load_fixture("text_message.json")
    reply = handle_update(raw, signature, CONFIG, publisher)
    assert reply.status == 401
    assert publisher.calls == 0


def test_signature_over_reserialised_json_is_401(
    load_fixture: Callable[[str], bytes], publisher: Any
) -> None:
    raw = load_fixture("text_message.json")
    compact = json.dumps(json.loads(raw), separators=(",", ":")).encode()
    reply = handle_update(raw, sign(compact, SECRET), CONFIG, publisher)
    assert reply.status == 401
    assert publisher.published == []


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"", b"\xff\xfe\x00garbage", b'{"object": "whatsapp_business_account",'],
)
def test_non_json_is_400(publisher: Any, raw: bytes) -> None:
    status, body = _post(raw, publisher)
    assert status == 400
    assert "not JSON" in body
    assert publisher.calls == 0


@pytest.mark.parametrize(
    "body",
    [{"object": "page", "entry": []}, [], {"object": "whatsapp_business_account", "entry": 3}],
)
def test_non_waba_json_is_400(publisher: Any, body: object) -> None:
    status, text = _post(json.dumps(body).encode(), publisher)
    assert status == 400
    assert text.startswith("not a WhatsApp Business Account update")
    assert publisher.calls == 0


def test_text_message_is_published_once(
    load_fixture: Callable[[str], bytes], publisher: Any
) -> None:
    raw = load_fixture("text_message.json")
    before = time.time()
    assert _post(raw, publisher) == (200, "ok")
    assert publisher.calls == 1
    (published,) = publisher.published
    assert published.topic == "inbound-topic"
    assert published.ordering_key == "972987654321"
    assert published.attributes == {"kind": "message", "event_id": "wamid.xyzxyz"}
    envelope = published.json()
    assert envelope["v"] == 1
    assert before <= envelope["received_at"] <= time.time()
    assert envelope["kind"] == "message"
    assert envelope["wa_id"] == "972987654321"
    assert envelope["item"]["text"]["body"] == "Body Text"


def test_status_is_published_without_ordering_key(
    load_fixture: Callable[[str], bytes], publisher: Any
) -> None:
    assert _post(load_fixture("status_delivered.json"), publisher)[0] == 200
    (published,) = publisher.published
    assert published.ordering_key == ""
    assert published.attributes == {
        "kind": "status",
        "event_id": "status:wamid.xyzxyz:delivered",
    }
    assert published.json()["v"] == 1


def test_every_fixture_gets_200_and_one_publish_per_event(
    fixture_files: list[Path], publisher: Any
) -> None:
    for path in fixture_files:
        publisher.published.clear()
        raw = path.read_bytes()
        status, _ = _post(raw, publisher)
        assert status == 200, path.name
        items = [
            (kind, item)
            for entry in json.loads(raw)["entry"]
            for change in entry["changes"]
            if change["field"] in ("messages", "smb_message_echoes")
            for kind, key in (
                ("message", "messages"),
                ("echo", "message_echoes"),
                ("status", "statuses"),
            )
            for item in change["value"].get(key, [])
        ]
        assert len(publisher.published) == len(items), path.name
        for published, (kind, item) in zip(publisher.published, items, strict=True):
            assert published.attributes["kind"] == kind
            envelope = published.json()
            assert envelope["v"] == 1 and "received_at" in envelope
            assert envelope["item"] == item
            if kind == "status":
                assert published.ordering_key == ""
                assert published.attributes["event_id"] == f"status:{item['id']}:{item['status']}"
            else:
                assert published.ordering_key == envelope["wa_id"] != ""
                assert published.attributes["event_id"] == item["id"]


def test_multi_event_update_is_one_batch(publisher: Any) -> None:
    value = {
        "metadata": {"phone_number_id": "100000000000001", "display_phone_number": "55114000"},
        "messages": [
            {"from": "5511911110001", "id": f"wamid.M{i}", "type": "text", "text": {"body": "x"}}
            for i in range(3)
        ],
        "statuses": [
            {"id": "wamid.S", "status": s, "recipient_id": "5511911110001"}
            for s in ("sent", "delivered")
        ],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    assert _post(json.dumps(body).encode(), publisher)[0] == 200
    assert publisher.calls == 1
    assert [p.attributes["event_id"] for p in publisher.published] == [
        "wamid.M0",
        "wamid.M1",
        "wamid.M2",
        "status:wamid.S:sent",
        "status:wamid.S:delivered",
    ]
    received = {p.json()["received_at"] for p in publisher.published}
    assert len(received) == 1


def test_publisher_failure_is_503(load_fixture: Callable[[str], bytes], publisher: Any) -> None:
    publisher.fail_with = TimeoutError("pubsub unavailable")
    status, body = _post(load_fixture("text_message.json"), publisher)
    assert status == 503
    assert "retry" in body
    assert publisher.published == []


def test_account_update_is_200_and_nothing_published(
    load_fixture: Callable[[str], bytes], publisher: Any
) -> None:
    assert _post(load_fixture("account_update_account_deleted.json"), publisher) == (200, "ok")
    assert publisher.calls == 0


def test_non_ascii_text_survives_the_envelope(publisher: Any) -> None:
    value = {
        "metadata": {"phone_number_id": "1", "display_phone_number": "2"},
        "messages": [
            {"from": "55", "id": "wamid.A", "type": "text", "text": {"body": "Olá, ação 👍"}}
        ],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    raw = json.dumps(body, ensure_ascii=False).encode()
    assert _post(raw, publisher)[0] == 200
    assert publisher.published[0].json()["item"]["text"]["body"] == "Olá, ação 👍"


# the functions-framework entry point, in process

FF_MAX = 4096


@pytest.fixture
def webhook_app(monkeypatch: pytest.MonkeyPatch, repo_root: Path, publisher: Any) -> Iterator[Any]:
    """functions/webhook/main.py served by functions-framework with a recording publisher."""
    import functions_framework

    monkeypatch.setenv("SECRETS_BACKEND", "env")
    monkeypatch.setenv("WHATSAPP_APP_SECRET", SECRET)
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", VERIFY)
    monkeypatch.setenv("LOG_PSEUDONYM_KEY", "unit-pseudonym-key")
    monkeypatch.setenv("TOPIC_INBOUND", "inbound-ff")
    monkeypatch.setenv("WEBHOOK_MAX_BODY_BYTES", str(FF_MAX))
    monkeypatch.delenv("ENTRY_POINT", raising=False)
    # The real bootstrap wiring (settings, env secrets, config), with only the publisher faked.
    monkeypatch.setattr(bootstrap, "publisher", lambda: publisher)
    monkeypatch.setattr(bootstrap, "configure_logging", lambda *a, **k: None)
    monkeypatch.setattr(observability, "_key", observability._key)
    monkeypatch.setattr(sys, "path", list(sys.path))
    previous_main = sys.modules.get("main")

    def clear() -> None:
        get_settings.cache_clear()
        bootstrap.secrets.cache_clear()
        bootstrap._webhook_config.cache_clear()

    clear()
    try:
        app = functions_framework.create_app(  # type: ignore[no-untyped-call]
            target="webhook", source=str(repo_root / "functions" / "webhook" / "main.py")
        )
        yield app.test_client()
    finally:
        clear()
        if previous_main is None:
            sys.modules.pop("main", None)
        else:
            sys.modules["main"] = previous_main


def test_entry_point_get_verification(webhook_app: Any) -> None:
    ok = webhook_app.get(
        "/",
        query_string={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY,
            "hub.challenge": "abc123",
        },
    )
    assert ok.status_code == 200
    assert ok.get_data(as_text=True) == "abc123"
    assert ok.headers["Content-Type"].startswith("text/plain")
    refused = webhook_app.get(
        "/",
        query_string={
            "hub.mode": "subscribe",
            "hub.verify_token": "nope",
            "hub.challenge": "abc123",
        },
    )
    assert refused.status_code == 403


def test_entry_point_signed_post(
    webhook_app: Any, load_fixture: Callable[[str], bytes], publisher: Any
) -> None:
    raw = load_fixture("text_message.json")
    assert len(raw) < FF_MAX
    response = webhook_app.post(
        "/",
        data=raw,
        headers={"X-Hub-Signature-256": sign(raw, SECRET), "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok"
    (published,) = publisher.published
    assert published.topic == "inbound-ff"
    assert published.attributes == {"kind": "message", "event_id": "wamid.xyzxyz"}


def test_entry_point_unsigned_post_is_401(
    webhook_app: Any, load_fixture: Callable[[str], bytes], publisher: Any
) -> None:
    response = webhook_app.post("/", data=load_fixture("text_message.json"))
    assert response.status_code == 401
    assert publisher.calls == 0


def test_entry_point_other_methods_are_405(webhook_app: Any) -> None:
    response = webhook_app.put("/", data=b"{}")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    assert webhook_app.delete("/").status_code == 405


def test_entry_point_oversized_content_length_is_413(webhook_app: Any, publisher: Any) -> None:
    raw = b"{" + b" " * FF_MAX + b"}"
    response = webhook_app.post("/", data=raw, headers={"X-Hub-Signature-256": sign(raw, SECRET)})
    assert response.status_code == 413
    assert publisher.calls == 0


def test_entry_point_publisher_failure_is_503(
    webhook_app: Any, load_fixture: Callable[[str], bytes], publisher: Any
) -> None:
    publisher.fail_with = ConnectionError("down")
    raw = load_fixture("status_read.json")
    response = webhook_app.post("/", data=raw, headers={"X-Hub-Signature-256": sign(raw, SECRET)})
    assert response.status_code == 503
