"""Handoff cards: the analysts' Chat space (the simulator's stand-in) gets each handoff once."""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from conftest import Pipeline, wait_for
from google.cloud import pubsub_v1  # type: ignore[attr-defined]
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.models import HandoffCard

UNKNOWN = "Qual o preço da coca-cola de dois litros na loja do bloco B?"


def _handed_off(pipeline: Pipeline, wa_id: str) -> dict[str, Any]:
    """The customer's ticket, once the AI has handed it to an analyst."""
    pipeline.customer_says(wa_id, UNKNOWN)
    ticket_id = wait_for(
        lambda: (
            pipeline.conversation(wa_id).get("holder") == "human"
            and pipeline.conversation(wa_id).get("open_ticket_id")
        ),
        what="the handoff",
    )
    ticket = pipeline.db.collection("tickets").document(ticket_id).get().to_dict() or {}
    assert ticket["status"] == "TA"
    return {"id": ticket_id, **ticket}


def _cards(pipeline: Pipeline, ticket_id: str) -> list[dict[str, Any]]:
    response = pipeline.http.get(f"{pipeline.sim}/_chat/cards", params={"thread_key": ticket_id})
    response.raise_for_status()
    return list(response.json())


def _notifications(pipeline: Pipeline, ticket_id: str) -> list[dict[str, Any]]:
    query = pipeline.db.collection("handoff_notifications").where(
        filter=FieldFilter("ticket_id", "==", ticket_id)
    )
    return [snap.to_dict() or {} for snap in query.stream()]


def _posted(pipeline: Pipeline, ticket_id: str) -> dict[str, Any]:
    """The card's record, once the notifier has marked it posted."""
    record: dict[str, Any] = wait_for(
        lambda: next(
            (n for n in _notifications(pipeline, ticket_id) if n.get("status") == "posted"), None
        ),
        what="the posted card's record",
    )
    return record


def test_an_unknown_question_posts_one_card_to_the_analysts_space(
    pipeline: Pipeline, wa_id: str
) -> None:
    ticket = _handed_off(pipeline, wa_id)
    ticket_id, handoff = ticket["id"], ticket["handoff"]
    (message,) = wait_for(lambda: _cards(pipeline, ticket_id), what="the handoff card")
    record = _posted(pipeline, ticket_id)
    assert record["message_name"] == message["name"]
    assert message["messageReplyOption"] == "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
    (card,) = message["cardsV2"]
    header = card["card"]["header"]
    assert header["title"] == f"Ticket {ticket_id}"
    assert header["subtitle"] == f"sac · {html.escape(handoff['category'], quote=False)}"
    sections = {s.get("header"): s["widgets"] for s in card["card"]["sections"]}
    customer = {
        w["decoratedText"]["topLabel"]: w["decoratedText"]["text"] for w in sections["Cliente"]
    }
    assert customer == {"Nome": "Cliente Teste", "Telefone": "•" * (len(wa_id) - 4) + wa_id[-4:]}
    assert "coca-cola" in handoff["question"]
    question = sections["Pergunta reformulada"][0]["textParagraph"]["text"]
    assert question == html.escape(handoff["question"], quote=False)
    summary = sections["Resumo"][0]["textParagraph"]["text"]
    assert handoff["summary"] and summary == html.escape(handoff["summary"], quote=False)
    (button,) = sections[None][0]["buttonList"]["buttons"]
    # The link opens the stack's own console.
    console = pipeline.stack.config.console_url
    assert button["onClick"]["openLink"]["url"] == f"{console}/tickets/{ticket_id}"
    assert wa_id not in json.dumps(message)
    pipeline.quiet_after(3)
    assert len(_cards(pipeline, ticket_id)) == 1


def test_a_redelivered_card_is_not_posted_twice(pipeline: Pipeline, wa_id: str) -> None:
    ticket = _handed_off(pipeline, wa_id)
    ticket_id = ticket["id"]
    wait_for(lambda: _cards(pipeline, ticket_id), what="the handoff card")
    _posted(pipeline, ticket_id)
    # The same bytes agent_turn published: the ticket keeps the card it was handed off with.
    data = HandoffCard.model_validate(ticket["handoff"]).model_dump_json().encode()
    # A redelivery of the message itself, pushed as Pub/Sub pushes it...
    port = pipeline.stack.config.port_of("handoff_notifier")
    envelope = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": "redelivered-1",
            "attributes": {"ticket_id": ticket_id},
        },
        "subscription": "projects/atende-local/subscriptions/handoffs-handoff-notifier",
    }
    pushed = pipeline.http.post(f"http://127.0.0.1:{port}/", json=envelope)
    assert pushed.status_code == 200, pushed.text
    # ...and the card published again, as a retried turn would.
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(pipeline.stack.config.project, "handoffs")
    publisher.publish(topic, data, ticket_id=ticket_id).result(timeout=10)
    pipeline.quiet_after(4)
    assert len(_cards(pipeline, ticket_id)) == 1
    (record,) = _notifications(pipeline, ticket_id)
    assert record["status"] == "posted" and record["attempts"] == 1


def test_a_chat_503_is_retried_and_the_card_posted_once(pipeline: Pipeline, wa_id: str) -> None:
    faulted = pipeline.http.post(f"{pipeline.sim}/_chat/faults", json={"status": 503})
    faulted.raise_for_status()
    ticket_id = _handed_off(pipeline, wa_id)["id"]
    wait_for(lambda: _cards(pipeline, ticket_id), timeout=60, what="the retried card")
    record = _posted(pipeline, ticket_id)
    assert record["attempts"] == 2
    assert "HTTP 503" in record["last_error"]
    assert pipeline.http.get(f"{pipeline.sim}/_chat/faults").json() == []
    pipeline.quiet_after(3)
    assert len(_cards(pipeline, ticket_id)) == 1
