"""The whole local stack: signed webhooks in, answers out through the WhatsApp simulator."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import FIXTURES, Pipeline, text_update, wait_for
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

HANDOFF = (
    "Olá! Será necessária uma intervenção humana, pois a informação solicitada "
    "não está disponível na minha base de conhecimento."
)


def _wamid() -> str:
    return f"wamid.test{uuid.uuid4().hex}"


def test_a_question_the_knowledge_base_knows_is_answered(pipeline: Pipeline, wa_id: str) -> None:
    pipeline.customer_says(wa_id, "Vocês aceitam pix?")
    sent = wait_for(lambda: pipeline.sent_to(wa_id), what="an answer")
    assert len(sent) == 1
    assert "PIX" in sent[0]["text"]
    assert sent[0]["type"] == "text"


def test_a_photographed_receipt_is_read_and_its_order_looked_up_through_the_hub(
    pipeline: Pipeline, wa_id: str
) -> None:
    pipeline.customer_sends_receipt(wa_id, "482913")
    sent = wait_for(lambda: pipeline.sent_to(wa_id), what="the order status", timeout=60)
    assert len(sent) == 1
    assert "482913" in sent[0]["text"] and "Em trânsito" in sent[0]["text"]
    (turn,) = wait_for(lambda: pipeline.turns_of(wa_id), what="the recorded turn")
    assert turn["route"] == "image"
    assert turn["tools"] == ["order_status"]
    assert turn["prompt_version"].startswith("sac@")


def test_an_order_number_in_text_is_looked_up_through_the_hub(
    pipeline: Pipeline, wa_id: str
) -> None:
    pipeline.customer_says(wa_id, "qual o status do meu pedido 731205?")
    sent = wait_for(lambda: pipeline.sent_to(wa_id), what="the order status")
    assert "731205" in sent[0]["text"] and "Entregue" in sent[0]["text"]


def test_an_unknown_question_is_handed_off_and_the_ai_goes_quiet(
    pipeline: Pipeline, wa_id: str
) -> None:
    pipeline.customer_says(wa_id, "Qual o preço da coca-cola de dois litros na loja do bloco B?")
    sent = wait_for(lambda: pipeline.sent_to(wa_id), what="the handoff message")
    assert [m["text"] for m in sent] == [HANDOFF]
    assert wait_for(lambda: pipeline.conversation(wa_id).get("holder") == "human")
    ticket_id = pipeline.conversation(wa_id)["open_ticket_id"]
    ticket = pipeline.db.collection("tickets").document(ticket_id).get().to_dict() or {}
    assert ticket["status"] == "TA"
    assert "coca-cola" in ticket["handoff"]["question"]
    pipeline.customer_says(wa_id, "alguém pode me ajudar?")
    pipeline.quiet_after()
    assert len(pipeline.sent_to(wa_id)) == 1


def test_a_duplicate_delivery_is_answered_once(pipeline: Pipeline, wa_id: str) -> None:
    message_id = _wamid()
    raw = text_update(wa_id, "Como consigo a nota fiscal?", message_id)
    # Meta retries, sometimes at once: the same update several times, concurrently.
    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = list(pool.map(lambda _: pipeline.post_update(raw).status_code, range(3)))
    assert statuses == [200, 200, 200]
    wait_for(lambda: pipeline.sent_to(wa_id), what="the answer")
    assert pipeline.post_update(raw).status_code == 200
    pipeline.quiet_after()
    assert len(pipeline.sent_to(wa_id)) == 1


def test_three_messages_within_the_quiet_period_get_one_answer(
    pipeline: Pipeline, wa_id: str
) -> None:
    ids = [
        pipeline.customer_says(wa_id, text)
        for text in ("Oi", "tudo bem?", "esqueci a senha do aplicativo")
    ]
    sent = wait_for(lambda: pipeline.sent_to(wa_id), what="the answer")
    pipeline.quiet_after()
    sent = pipeline.sent_to(wa_id)
    assert len(sent) == 1
    assert "Esqueci minha senha" in sent[0]["text"]
    turns = {pipeline.message(i)["turn_id"] for i in ids}
    assert len(turns) == 1 and None not in turns


def test_a_message_arriving_during_a_turn_is_answered_after_it(
    pipeline: Pipeline, wa_id: str
) -> None:
    first = pipeline.customer_says(wa_id, "Qual o horário de funcionamento?")
    cid = f"100000000000001:{wa_id}"
    # The first turn holds the lease (it is waiting for the customer to go quiet)...
    wait_for(
        lambda: pipeline.db.collection("leases").document(cid).get().exists,
        timeout=10,
        what="the first turn to take the lease",
    )
    # ...when the next message arrives; its own turn event finds the lease held.
    second = pipeline.customer_says(wa_id, "Como consigo a nota fiscal?")
    wait_for(lambda: pipeline.message(second).get("turn_id"), what="the second message's answer")
    assert pipeline.message(first).get("turn_id")
    pipeline.quiet_after(2)
    texts = " ".join(m["text"] for m in pipeline.sent_to(wa_id))
    assert "24 horas" in texts and "nota fiscal" in texts


def test_a_bad_signature_is_401_and_nothing_is_published(
    pipeline: Pipeline, wa_id: str, inbound_probe: Callable[[], list[dict[str, Any]]]
) -> None:
    raw = text_update(wa_id, "Oi", _wamid())
    assert pipeline.post_update(raw, signature=None).status_code == 401
    assert pipeline.post_update(raw, signature="sha256=" + "0" * 64).status_code == 401
    tampered = raw.replace(b"Oi", b"Ol")
    assert pipeline.post_update(tampered, signature=pipeline_signature(raw)).status_code == 401
    pipeline.quiet_after(2)
    assert [e for e in inbound_probe() if e["wa_id"] == wa_id] == []
    assert pipeline.sent_to(wa_id) == []


def pipeline_signature(raw: bytes) -> str:
    from shared.domain.signature import sign

    return sign(raw, "dev-app-secret")


def test_a_body_that_is_not_an_update_is_400_and_oversize_is_413(pipeline: Pipeline) -> None:
    assert pipeline.post_update(b'{"object": "page", "entry": []}').status_code == 400
    assert pipeline.post_update(b"not json").status_code == 400
    big = b"{" + b" " * (6 * 1024 * 1024) + b"}"
    assert pipeline.post_update(big).status_code == 413


def test_the_verification_handshake(pipeline: Pipeline) -> None:
    ok = pipeline.http.get(
        pipeline.webhook,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "dev-verify-token",
            "hub.challenge": "1158201444",
        },
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    refused = pipeline.http.get(
        pipeline.webhook,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "wrong",
            "hub.challenge": "1158201444",
        },
    )
    assert refused.status_code == 403


MESSAGE_TYPES = [
    "text_message",
    "image_message",
    "voice_message",
    "video_message_forwarded",
    "document_message_forwarded",
    "sticker_static",
    "location_named_place_forwarded",
    "contacts_message",
    "interactive_button_reply",
    "interactive_list_reply",
    "template_quick_reply_button",
    "reaction",
    "unsupported_message",
    "order_message",
    "message_edited_image",
    "message_revoked_by_user",
    "system_user_changed_number",
]


@pytest.mark.parametrize("name", MESSAGE_TYPES)
def test_every_message_type_is_accepted_and_stored(
    pipeline: Pipeline, wa_id: str, name: str
) -> None:
    path = FIXTURES / "pywa" / f"{name}.json"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    message_id = _wamid()
    # The fixture's own bytes, with a fresh id and customer so the test stands alone.
    raw = path.read_bytes()
    payload = json.loads(raw)
    value = payload["entry"][0]["changes"][0]["value"]
    old_id, old_from = value["messages"][0]["id"], value["messages"][0]["from"]
    raw = raw.replace(old_id.encode(), message_id.encode()).replace(
        old_from.encode(), wa_id.encode()
    )
    assert pipeline.post_update(raw).status_code == 200
    stored = wait_for(lambda: pipeline.message(message_id), what="the stored message")
    assert stored["type"] == value["messages"][0]["type"]


def test_every_real_fixture_is_accepted(pipeline: Pipeline) -> None:
    files = sorted(FIXTURES.glob("pywa*/*.json"))
    if not files:
        pytest.skip(f"{FIXTURES} is absent")
    refused = {}
    for path in files:
        response = pipeline.post_update(path.read_bytes())
        if response.status_code != 200:
            refused[path.name] = response.status_code
    assert refused == {}
    assert len(files) > 50


def test_a_status_receipt_updates_the_message_and_wakes_no_agent(
    pipeline: Pipeline, wa_id: str
) -> None:
    pipeline.customer_says(wa_id, "Aceitam vale-refeição?")
    sent = wait_for(lambda: pipeline.sent_to(wa_id), what="the answer")
    # The simulator sends sent, delivered and read receipts, signed, as Meta does.
    record = wait_for(
        lambda: next(
            (o for o in pipeline.outbound_for(wa_id) if "read" in o.get("delivery", {})), None
        ),
        what="the read receipt on the outbound message",
    )
    assert record["wamid"] == sent[0]["id"]
    assert {"sent", "delivered", "read"} <= set(record["delivery"])
    pipeline.quiet_after(3)
    assert len(pipeline.sent_to(wa_id)) == 1


def test_a_business_echo_wakes_no_agent_and_silences_the_ai(pipeline: Pipeline, wa_id: str) -> None:
    path = FIXTURES / "pywa" / "smb_echo_text.json"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    raw = (
        path.read_bytes()
        .replace(b"<WHATSAPP_USER_PHONE_NUMBER>", wa_id.encode())
        .replace(b"<WHATSAPP_MESSAGE_ID>", _wamid().encode())
        .replace(b'"1122334455667"', b'"100000000000001"')
    )
    assert pipeline.post_update(raw).status_code == 200
    assert wait_for(lambda: pipeline.conversation(wa_id).get("holder") == "human")
    asked = pipeline.customer_says(wa_id, "Vocês aceitam pix?")
    pipeline.quiet_after()
    assert pipeline.sent_to(wa_id) == []
    assert pipeline.message(asked)["pending"] is False


def test_an_outbound_500_is_retried_and_delivered_once(pipeline: Pipeline, wa_id: str) -> None:
    pipeline.fault(wa_id, 500)
    pipeline.customer_says(wa_id, "Vocês aceitam pix?")
    sent = wait_for(lambda: pipeline.sent_to(wa_id), timeout=60, what="the retried answer")
    pipeline.quiet_after(3)
    assert len(pipeline.sent_to(wa_id)) == 1
    assert [a["status_code"] for a in pipeline.attempts_to(wa_id)] == [500, 200]
    (record,) = pipeline.outbound_for(wa_id)
    assert record["status"] == "sent" and record["attempts"] == 2
    assert record["wamid"] == sent[0]["id"]


def test_a_permanent_outbound_400_is_recorded_not_retried(pipeline: Pipeline, wa_id: str) -> None:
    pipeline.fault(wa_id, 400)
    pipeline.customer_says(wa_id, "Vocês aceitam pix?")
    record = wait_for(
        lambda: next((o for o in pipeline.outbound_for(wa_id) if o["status"] == "failed"), None),
        what="the recorded failure",
    )
    assert record["error_code"] == 131026
    pipeline.quiet_after(4)
    assert [a["status_code"] for a in pipeline.attempts_to(wa_id)] == [400]
    assert pipeline.sent_to(wa_id) == []


def test_a_poison_message_ends_in_the_dead_letter_topic_with_its_reason(
    pipeline: Pipeline,
) -> None:
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(pipeline.stack.config.project, "inbound")
    message_id = publisher.publish(topic, b"\x00 this is not an envelope").result(timeout=10)
    record = wait_for(
        lambda: pipeline.db.collection("dead_letters").document(message_id).get().to_dict(),
        what="the dead letter",
    )
    assert record["source"] == "intake"
    assert "not JSON" in record["reason"]


@pytest.mark.slow
def test_a_send_that_keeps_failing_is_dead_lettered_by_pub_sub(
    pipeline: Pipeline, wa_id: str
) -> None:
    attempts = pipeline.stack.config.max_delivery_attempts
    pipeline.fault(wa_id, 503, count=attempts + 5)
    pipeline.customer_says(wa_id, "Vocês aceitam pix?")
    key = wait_for(
        lambda: next((o["turn_id"] for o in pipeline.outbound_for(wa_id)), None),
        what="the outbound record",
    )
    record = wait_for(
        lambda: next(
            (
                d.to_dict()
                for d in pipeline.db.collection("dead_letters").stream()
                if key in (d.to_dict() or {}).get("reason", "")
            ),
            None,
        ),
        timeout=90,
        what="the dead letter after the last attempt",
    )
    assert record is not None
    assert record["source"] == "outbound"
    assert f"gave up after {attempts} attempts" in record["reason"]
    assert "HTTP 503" in record["reason"]
    assert len(pipeline.attempts_to(wa_id)) == attempts
    (outbound,) = pipeline.outbound_for(wa_id)
    assert outbound["status"] == "dead_lettered"
    assert pipeline.sent_to(wa_id) == []
