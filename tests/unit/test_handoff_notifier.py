"""Handoff cards to Google Chat: what the card shows, how answers are classified, posted once."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.adapters.google_chat import (
    REPLY_OPTION,
    GoogleChatWebhook,
    chat_message,
    classify_chat_response,
)
from shared.clock import ManualClock
from shared.domain.handoff_notice import (
    ChatPost,
    HandoffNotice,
    mask_phone,
    notification_key,
    ticket_url,
)
from shared.domain.models import HandoffCard, SendClaim, SendOutcome
from shared.handlers.delivery import deliver
from shared.handlers.handoff_notifier import HandoffNotifierService, TransientNotifyError
from shared.handlers.pubsub_event import PoisonMessage, PubSubMessage
from shared.localstack.whatsapp_sim import WhatsAppSimulator
from shared.observability import pseudonym
from shared.settings import Settings

NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
PHONE = "5511988887777"
NAME = "Maria Souza"
CONSOLE = "https://console.example.com"
MAX_ATTEMPTS = 3
WEBHOOK = (
    "https://chat.googleapis.com/v1/spaces/AAAA/messages?key=KEY-abcdefgh&token=TOKEN-abcdefgh"
)


def _card(**overrides: Any) -> HandoffCard:
    values: dict[str, Any] = {
        "ticket_id": "T-0123456789abcdef",
        "conversation_id": f"100000000000001:{PHONE}",
        "assistant": "sac",
        "category": "produtos",
        "customer_wa_id": PHONE,
        "customer_name": NAME,
        "question": "Qual o preço da coca-cola de dois litros na loja do bloco B?",
        "summary": "Cliente pergunta o preço de um produto; a imagem mostrava a gôndola <vazia>.",
        "turn_id": "turn-abc",
    }
    values.update(overrides)
    return HandoffCard(**values)


def _notice(**overrides: Any) -> HandoffNotice:
    return HandoffNotice.from_card(_card(**overrides), console_base_url=CONSOLE)


# ------------------------------------------------------------------------- what the card shows


def test_the_phone_is_masked_except_its_last_four_digits() -> None:
    assert mask_phone(PHONE) == "•" * 9 + "7777"
    assert mask_phone("+55 (11) 98888-7777") == "•" * 9 + "7777"
    # Too short to mask: no digit shows.
    assert mask_phone("7777") == "••••"
    assert mask_phone("") == ""


def test_the_ticket_link_is_under_the_console_and_absent_without_one() -> None:
    assert ticket_url("https://console.example.com/", "T-1") == (
        "https://console.example.com/tickets/T-1"
    )
    assert ticket_url("http://127.0.0.1:8088", "a/b c") == "http://127.0.0.1:8088/tickets/a%2Fb%20c"
    assert ticket_url("  ", "T-1") is None


def test_the_key_is_the_ticket_and_turn_or_else_the_card_content() -> None:
    assert notification_key(_card()) == "T-0123456789abcdef_turn-abc"
    untagged = notification_key(_card(turn_id=""))
    assert untagged.startswith("T-0123456789abcdef_card-")
    assert untagged == notification_key(_card(turn_id=""))
    assert untagged != notification_key(_card(turn_id="", summary="outro resumo"))
    assert "/" not in notification_key(_card(ticket_id="a/b"))


def test_the_card_holds_every_field_and_never_the_full_number() -> None:
    message = chat_message(_notice())
    rendered = json.dumps(message, ensure_ascii=False)
    assert PHONE not in rendered
    assert "•••••••••7777" in rendered
    assert message["thread"] == {"threadKey": "T-0123456789abcdef"}
    (card,) = message["cardsV2"]
    header = card["card"]["header"]
    assert header["title"] == "Ticket T-0123456789abcdef"
    assert header["subtitle"] == "sac · produtos"
    fields = {
        w["decoratedText"]["topLabel"]: w["decoratedText"]["text"]
        for section in card["card"]["sections"]
        for w in section["widgets"]
        if "decoratedText" in w
    }
    assert fields == {"Nome": NAME, "Telefone": "•••••••••7777"}
    paragraphs = {
        section.get("header"): section["widgets"][0]["textParagraph"]["text"]
        for section in card["card"]["sections"]
        if "textParagraph" in section["widgets"][0]
    }
    assert paragraphs["Pergunta reformulada"] == _card().question
    # Chat reads card text as HTML: what a customer wrote is escaped, not interpreted.
    assert "gôndola &lt;vazia&gt;" in paragraphs["Resumo"]
    (button,) = card["card"]["sections"][-1]["widgets"][0]["buttonList"]["buttons"]
    assert button["onClick"]["openLink"]["url"] == f"{CONSOLE}/tickets/T-0123456789abcdef"
    assert "T-0123456789abcdef" in message["text"]


def test_a_card_without_name_or_console_still_renders() -> None:
    notice = HandoffNotice.from_card(_card(customer_name=None), console_base_url="")
    message = chat_message(notice)
    rendered = json.dumps(message, ensure_ascii=False)
    assert "(sem nome)" in rendered
    assert "buttonList" not in rendered
    assert PHONE not in rendered


def test_long_fields_are_cut() -> None:
    message = chat_message(_notice(summary="x" * 10_000))
    assert len(json.dumps(message).encode()) < 32_000


# ------------------------------------------------------------------- classifying Chat's answers


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, SendOutcome.SENT),
        (400, SendOutcome.PERMANENT_FAILURE),
        (401, SendOutcome.PERMANENT_FAILURE),
        (403, SendOutcome.PERMANENT_FAILURE),
        (404, SendOutcome.PERMANENT_FAILURE),
        (408, SendOutcome.TRANSIENT_FAILURE),
        (429, SendOutcome.TRANSIENT_FAILURE),
        (500, SendOutcome.TRANSIENT_FAILURE),
        (503, SendOutcome.TRANSIENT_FAILURE),
    ],
)
def test_answers_are_classified(status: int, outcome: SendOutcome) -> None:
    payload: dict[str, Any] = (
        {"name": "spaces/AAAA/messages/m1"}
        if status == 200
        else {"error": {"code": status, "message": "Request contains an invalid argument."}}
    )
    result = classify_chat_response(status, payload)
    assert result.outcome is outcome
    assert result.http_status == status
    if status == 200:
        assert result.message_name == "spaces/AAAA/messages/m1"
    else:
        assert result.error == f"HTTP {status}: Request contains an invalid argument."


def _webhook(handler: Any) -> GoogleChatWebhook:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return GoogleChatWebhook(webhook_url=WEBHOOK, client=client)


def test_the_post_keeps_key_and_token_and_asks_to_reply_in_the_thread() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"name": "spaces/AAAA/messages/m1"})

    result = _webhook(handler).post(_notice())
    assert result == ChatPost(
        outcome=SendOutcome.SENT, http_status=200, message_name="spaces/AAAA/messages/m1"
    )
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/v1/spaces/AAAA/messages"
    assert request.url.params["key"] == "KEY-abcdefgh"
    assert request.url.params["token"] == "TOKEN-abcdefgh"
    assert request.url.params["messageReplyOption"] == REPLY_OPTION
    assert request.headers["content-type"].startswith("application/json")
    assert json.loads(request.content)["thread"]["threadKey"] == "T-0123456789abcdef"


def test_a_timeout_is_transient_and_the_error_never_quotes_the_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout(f"timed out connecting to {request.url}", request=request)

    result = _webhook(handler).post(_notice())
    assert result.outcome is SendOutcome.TRANSIENT_FAILURE
    assert result.error.startswith("network: ConnectTimeout")
    assert "TOKEN-abcdefgh" not in result.error and "KEY-abcdefgh" not in result.error


def test_a_refusal_is_permanent_with_chats_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "error": {"code": 403, "message": "Webhook was deleted.", "status": "PERMISSION_DENIED"}
        }
        return httpx.Response(403, json=body)

    result = _webhook(handler).post(_notice())
    assert result.outcome is SendOutcome.PERMANENT_FAILURE
    assert result.error == "HTTP 403: Webhook was deleted."


def test_a_webhook_url_that_is_not_http_is_refused_without_quoting_it() -> None:
    with pytest.raises(ValueError, match="not an http") as raised:
        GoogleChatWebhook(webhook_url="chat.googleapis.com/v1/spaces/A?token=SECRET-TOKEN")
    assert "SECRET-TOKEN" not in str(raised.value)


# -------------------------------------------------------------------- the stand-in, for real


@pytest.fixture
def simulator() -> Iterator[WhatsAppSimulator]:
    with WhatsAppSimulator(port=0, send_statuses=False) as sim:
        yield sim


def test_the_stand_in_records_cards_and_keeps_one_thread_per_ticket(
    simulator: WhatsAppSimulator,
) -> None:
    chat = GoogleChatWebhook(webhook_url=f"{simulator.url}/_chat/webhook")
    first = chat.post(_notice())
    again = chat.post(_notice(turn_id="turn-def"))
    other = chat.post(_notice(ticket_id="T-other"))
    assert {first.outcome, again.outcome, other.outcome} == {SendOutcome.SENT}
    cards = simulator.chat_cards("T-0123456789abcdef")
    assert [c["name"] for c in cards] == [first.message_name, again.message_name]
    assert cards[0]["thread"]["name"] == cards[1]["thread"]["name"]
    assert cards[1]["threadReply"] is True
    assert cards[0]["messageReplyOption"] == REPLY_OPTION
    (other_card,) = simulator.chat_cards("T-other")
    assert other_card["thread"]["name"] != cards[0]["thread"]["name"]


def test_the_stand_in_fails_on_request_and_refuses_an_empty_message(
    simulator: WhatsAppSimulator,
) -> None:
    chat = GoogleChatWebhook(webhook_url=f"{simulator.url}/_chat/webhook")
    simulator.add_chat_fault(503)
    failed = chat.post(_notice())
    assert failed.outcome is SendOutcome.TRANSIENT_FAILURE
    assert failed.error.startswith("HTTP 503")
    assert chat.post(_notice()).outcome is SendOutcome.SENT
    empty = httpx.post(f"{simulator.url}/_chat/webhook", json={"thread": {"threadKey": "x"}})
    assert empty.status_code == 400
    assert empty.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert len(simulator.chat_cards()) == 1


# ------------------------------------------------------------------ the handler: posted once


@dataclass
class FakeNotifications:
    """In memory, with the Firestore adapter's rules: create first, take over a lapsed claim."""

    docs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def claim(self, notice: HandoffNotice, *, now: datetime, claim_seconds: float) -> SendClaim:
        until = now + timedelta(seconds=claim_seconds)
        doc = self.docs.get(notice.key)
        if doc is None:
            self.docs[notice.key] = {"status": "posting", "claimed_until": until, "attempts": 1}
            return SendClaim.SEND
        if doc["status"] in ("posted", "dead_lettered"):
            return SendClaim.DONE
        if doc["status"] == "posting" and doc["claimed_until"] > now:
            return SendClaim.BUSY
        doc.update(status="posting", claimed_until=until, attempts=doc["attempts"] + 1)
        return SendClaim.SEND

    def record_posted(self, key: str, message_name: str) -> None:
        self.docs[key].update(status="posted", message_name=message_name)

    def release(self, key: str, error: str) -> int:
        self.docs[key].update(status="retry", last_error=error)
        return int(self.docs[key]["attempts"])

    def give_up(self, key: str, reason: str) -> None:
        self.docs[key].update(status="dead_lettered", last_error=reason)


@dataclass
class FakeChat:
    """Answers with the scripted results in turn, then posts; records every notice."""

    script: list[ChatPost] = field(default_factory=list)
    posted: list[HandoffNotice] = field(default_factory=list)

    def post(self, notice: HandoffNotice) -> ChatPost:
        self.posted.append(notice)
        if self.script:
            return self.script.pop(0)
        name = f"spaces/AAAA/messages/m{len(self.posted)}"
        return ChatPost(outcome=SendOutcome.SENT, http_status=200, message_name=name)


TRANSIENT = ChatPost(outcome=SendOutcome.TRANSIENT_FAILURE, http_status=503, error="HTTP 503: x")
REFUSED = ChatPost(outcome=SendOutcome.PERMANENT_FAILURE, http_status=404, error="HTTP 404: gone")


def _service(
    chat: FakeChat, notifications: FakeNotifications, clock: ManualClock | None = None
) -> HandoffNotifierService:
    return HandoffNotifierService(
        notifications=notifications,
        chat=chat,
        clock=clock or ManualClock(NOW),
        settings=Settings(
            console_base_url=CONSOLE, send_claim_seconds=30.0, max_send_attempts=MAX_ATTEMPTS
        ),
    )


def _delivery(card: HandoffCard | None = None, message_id: str = "p-1") -> PubSubMessage:
    data = (card or _card()).model_dump_json().encode()
    return PubSubMessage(data=data, message_id=message_id, attributes={"ticket_id": "T-1"})


def test_a_redelivered_card_is_posted_once() -> None:
    chat, notifications = FakeChat(), FakeNotifications()
    service = _service(chat, notifications)
    assert service.handle(_delivery()) == "posted"
    assert service.handle(_delivery()) == "done"
    assert service.handle(_delivery(message_id="p-2")) == "done"
    (notice,) = chat.posted
    assert notice.ticket_url == f"{CONSOLE}/tickets/T-0123456789abcdef"
    doc = notifications.docs["T-0123456789abcdef_turn-abc"]
    assert doc["status"] == "posted" and doc["message_name"] == "spaces/AAAA/messages/m1"


def test_a_later_turn_of_the_same_ticket_posts_again() -> None:
    chat, notifications = FakeChat(), FakeNotifications()
    service = _service(chat, notifications)
    service.handle(_delivery())
    assert service.handle(_delivery(_card(turn_id="turn-later"))) == "posted"
    assert [n.turn_id for n in chat.posted] == ["turn-abc", "turn-later"]


def test_a_card_another_delivery_is_posting_is_retried_not_acknowledged() -> None:
    chat, notifications = FakeChat(), FakeNotifications()
    clock = ManualClock(NOW)
    notice = _notice()
    notifications.claim(notice, now=NOW, claim_seconds=30.0)
    with pytest.raises(TransientNotifyError, match="being posted"):
        _service(chat, notifications, clock).handle(_delivery())
    assert chat.posted == []
    # The holder died: once its claim lapses, a redelivery takes over and posts.
    clock.sleep(31)
    assert _service(chat, notifications, clock).handle(_delivery()) == "posted"
    assert len(chat.posted) == 1


def test_a_transient_failure_is_retried_then_posted_once() -> None:
    chat, notifications = FakeChat(script=[TRANSIENT]), FakeNotifications()
    service = _service(chat, notifications)
    with pytest.raises(TransientNotifyError, match="HTTP 503"):
        service.handle(_delivery())
    assert notifications.docs["T-0123456789abcdef_turn-abc"]["status"] == "retry"
    assert service.handle(_delivery()) == "posted"
    assert service.handle(_delivery()) == "done"
    assert len(chat.posted) == 2
    assert notifications.docs["T-0123456789abcdef_turn-abc"]["attempts"] == 2


def test_transient_failures_end_as_a_dead_letter_with_the_last_reason() -> None:
    chat = FakeChat(script=[TRANSIENT] * MAX_ATTEMPTS)
    notifications = FakeNotifications()
    service = _service(chat, notifications)
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(TransientNotifyError):
            service.handle(_delivery())
    with pytest.raises(PoisonMessage, match=f"gave up after {MAX_ATTEMPTS} attempts.*HTTP 503"):
        service.handle(_delivery())
    assert notifications.docs["T-0123456789abcdef_turn-abc"]["status"] == "dead_lettered"


def test_a_refused_card_is_dead_lettered_with_the_reason_and_never_posted_again() -> None:
    chat, notifications = FakeChat(script=[REFUSED]), FakeNotifications()
    service = _service(chat, notifications)
    with pytest.raises(PoisonMessage, match="HTTP 404: gone"):
        service.handle(_delivery())
    assert service.handle(_delivery()) == "done"
    assert len(chat.posted) == 1


def test_a_refusal_through_deliver_parks_the_card_on_the_dead_letter_topic(
    publisher: Any,
) -> None:
    chat, notifications = FakeChat(script=[REFUSED]), FakeNotifications()
    data = _card().model_dump_json().encode()
    event = {"message": {"data": base64.b64encode(data).decode(), "messageId": "p-9"}}
    outcome = deliver(
        event,
        source="handoff_notifier",
        handle=_service(chat, notifications).handle,
        publisher=lambda: publisher,
        dead_letter_topic="dead-letter",
    )
    assert outcome == "dead-lettered"
    (parked,) = publisher.published
    assert parked.topic == "dead-letter" and parked.data == data
    assert parked.attributes["atende_source"] == "handoff_notifier"
    assert "HTTP 404: gone" in parked.attributes["atende_reason"]


def test_a_payload_that_is_not_a_card_is_poison_without_quoting_it() -> None:
    chat, notifications = FakeChat(), FakeNotifications()
    bad = PubSubMessage(data=json.dumps({"customer_wa_id": PHONE}).encode(), message_id="p-3")
    with pytest.raises(PoisonMessage, match="not a handoff card") as raised:
        _service(chat, notifications).handle(bad)
    assert PHONE not in str(raised.value)
    assert chat.posted == []


def test_transient_errors_are_not_poison() -> None:
    # deliver() dead-letters PoisonMessage; a transient failure must propagate instead.
    assert not issubclass(TransientNotifyError, PoisonMessage)


def test_logs_name_the_customer_by_pseudonym_only(caplog: pytest.LogCaptureFixture) -> None:
    chat, notifications = FakeChat(script=[TRANSIENT]), FakeNotifications()
    service = _service(chat, notifications)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(TransientNotifyError):
            service.handle(_delivery())
        service.handle(_delivery())
        service.handle(_delivery())
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert pseudonym(PHONE) in text
    assert PHONE not in text and "7777" not in text and NAME not in text
