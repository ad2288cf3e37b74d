"""The follow-up tick on the emulators, with a manual clock: trails, claims and housekeeping."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import pull_all, text_message
from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined]

from shared.adapters.firestore_debts import FirestoreDebts, FirestoreMaintenance, trail_ticket_id
from shared.adapters.firestore_kb import FirestoreKnowledgeBase
from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.firestore_templates_feedback import FirestoreTemplateStore
from shared.adapters.pubsub import PubSubPublisher
from shared.billing_policy import trail_policy
from shared.clock import ManualClock
from shared.domain.billing import Debt, DebtorAction, PaymentEvent, TrailStatus
from shared.domain.knowledge import KnowledgeEntry
from shared.domain.models import (
    AgentTurnRequest,
    BrainReply,
    BrainRequest,
    Holder,
    TicketStatus,
)
from shared.domain.trail import decide
from shared.domain.whatsapp_templates import read_templates
from shared.handlers.agent_turn import AgentTurnService
from shared.handlers.billing_api import BillingApi
from shared.handlers.followups import FollowUpService
from shared.handlers.pubsub_event import PoisonMessage, PubSubMessage
from shared.settings import Settings
from shared.topology import TICK_PAYLOAD

pytestmark = [
    pytest.mark.integration,
    # Deprecated for production pulls; the emulator honours it, and tests only read with it.
    pytest.mark.filterwarnings("ignore:The return_immediately flag is deprecated"),
]

SP = ZoneInfo("America/Sao_Paulo")
NUMBER = "100000000000002"
PHONE = "5511988880101"
CID = f"{NUMBER}:{PHONE}"
TEMPLATES = Path(__file__).resolve().parents[2] / "samples" / "whatsapp_templates.jsonl"


def sp(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """An instant of 2026 in São Paulo time."""
    return datetime(2026, month, day, hour, minute, tzinfo=SP)


def _debt(invoice_id: str = "FAT-1", phone: str = PHONE, **changes: Any) -> Debt:
    values: dict[str, Any] = {
        "invoice_id": invoice_id,
        "customer": "Ana Souza",
        "phone": phone,
        "amount": "189.90",
        "due_date": "2026-11-23",  # a Monday
        "pix_code": "000201PIX",
        **changes,
    }
    return Debt.model_validate(values)


class _HashEmbedder:
    """Deterministic vectors: the purge under test never compares them."""

    model_id = "test-hash"
    dimensions = 4

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[float(len(t) % 7 + 1), 1.0, 0.5, 0.25] for t in texts]


class Rig:
    """The follow-up service on the emulators with a clock the test moves."""

    def __init__(self, db: firestore.Client, publisher: PubSubPublisher, project: str) -> None:
        self.db = db
        self.clock = ManualClock(sp(11, 23, 10))
        self.settings = Settings(google_cloud_project=project, billing_phone_number_id=NUMBER)
        self.policy = trail_policy(self.settings)
        self.debts = FirestoreDebts(db)
        self.kb = FirestoreKnowledgeBase(db, _HashEmbedder())
        templates = FirestoreTemplateStore(db)
        for template in read_templates(TEMPLATES):
            templates.save_template(template, create=False)
        # The billing system's payment events, as the billing API records them.
        self.payments = BillingApi(
            debts=self.debts, clock=self.clock, policy=self.policy, templates=templates
        )
        self.service = FollowUpService(
            debts=self.debts,
            maintenance=FirestoreMaintenance(db),
            publisher=publisher,
            templates=templates,
            clock=self.clock,
            settings=self.settings,
            policy=self.policy,
            knowledge=lambda: self.kb,
        )

    def tick(self) -> str:
        return self.service.handle(PubSubMessage(data=TICK_PAYLOAD, message_id="tick"))

    def at(self, instant: datetime) -> None:
        self.clock.advance((instant - self.clock.now()).total_seconds())

    def load(self, *debts: Debt) -> None:
        self.debts.import_debts(list(debts), now=self.clock.now(), policy=self.policy)

    def debt_doc(self, invoice_id: str = "FAT-1") -> dict[str, Any]:
        return self.db.collection("debts").document(invoice_id).get().to_dict() or {}

    def ticket(self, invoice_id: str = "FAT-1") -> dict[str, Any]:
        ref = self.db.collection("tickets").document(trail_ticket_id(invoice_id))
        return ref.get().to_dict() or {}


@pytest.fixture
def rig(db: firestore.Client, publisher: PubSubPublisher, emulator_project: str) -> Rig:
    return Rig(db, publisher, emulator_project)


def _sent(topics: dict[str, str]) -> list[dict[str, Any]]:
    """What reached topic outbound since the last look (the tick confirms every publish)."""
    subscriber = pubsub_v1.SubscriberClient()
    received: list[dict[str, Any]] = []
    try:
        while True:
            # Returns at once when nothing waits: pull_all's blocking pulls would cost seconds.
            response = subscriber.pull(
                request={
                    "subscription": topics["outbound"],
                    "max_messages": 100,
                    "return_immediately": True,
                },
                timeout=10,
            )
            if not response.received_messages:
                return received
            received.extend(json.loads(m.message.data) for m in response.received_messages)
            subscriber.acknowledge(
                request={
                    "subscription": topics["outbound"],
                    "ack_ids": [m.ack_id for m in response.received_messages],
                }
            )
    finally:
        subscriber.close()


def test_overlapping_and_doubled_ticks_send_the_first_notice_once(
    rig: Rig, topics: dict[str, str]
) -> None:
    rig.load(_debt())
    results: list[str] = []
    ticks = [threading.Thread(target=lambda: results.append(rig.tick())) for _ in range(3)]
    for thread in ticks:
        thread.start()
    for thread in ticks:
        thread.join(60)
    rig.tick()
    sent = _sent(topics)
    assert len(sent) == 1, results
    notice = sent[0]
    assert notice["kind"] == "template" and notice["template_name"] == "cobranca_aviso"
    assert notice["template_parameters"] == ["Ana", "FAT-1", "R$ 189,90", "23/11/2026"]
    assert notice["idempotency_key"] == "trail:FAT-1:1"
    assert notice["conversation_id"] == CID and notice["ticket_id"] == trail_ticket_id("FAT-1")
    debt = rig.debt_doc()
    assert debt["attempts"] == 1 and debt["next_step"] == 1 and debt["outbox_pending"] is False
    # Imported on its due date at 10:00: D+2 is two days after the import.
    assert debt["next_due_at"] == sp(11, 25, 10)
    ticket = rig.ticket()
    assert ticket["status"] == "IAR" and ticket["assistant"] == "cobranca"
    assert ticket["amount_communicated"] == 189.90 and ticket["ai_messages"] == 1
    assert ticket["paid"] is False and ticket["customer_replied"] is False
    conversation = rig.db.collection("conversations").document(CID).get().to_dict() or {}
    assert conversation["assistant"] == "cobranca"
    assert conversation["open_ticket_id"] == trail_ticket_id("FAT-1")
    assert conversation["contact_name"] == "Ana Souza"


def test_a_missed_tick_is_caught_up_by_the_next_with_one_message(
    rig: Rig, topics: dict[str, str]
) -> None:
    rig.load(_debt())
    rig.tick()
    # No tick ran on D+2 nor on D+5: on D+6 the next tick sends the D+5 reminder only.
    rig.at(sp(11, 29 + 1, 9))
    assert "sent:1" in rig.tick()
    sent = _sent(topics)
    assert [s["idempotency_key"] for s in sent] == ["trail:FAT-1:1", "trail:FAT-1:2"]
    assert sent[1]["template_name"] == "cobranca_lembrete"
    debt = rig.debt_doc()
    assert debt["next_step"] == 3 and debt["sent_steps"][-1]["skipped"] == 1
    assert debt["next_due_at"] == sp(12, 3, 10)
    assert rig.ticket()["ai_messages"] == 2


def test_quiet_hours_hold_a_debt_imported_at_night_until_the_morning(
    rig: Rig, topics: dict[str, str]
) -> None:
    rig.at(sp(11, 28, 21))  # Saturday 21:00
    rig.load(_debt())
    assert rig.tick() == "nothing-due"
    rig.at(sp(11, 29, 12))  # Sunday noon: still closed
    rig.tick()
    assert _sent(topics) == []
    assert rig.debt_doc()["next_due_at"] == sp(11, 30, 8)
    rig.at(sp(11, 30, 8, 1))
    rig.tick()
    assert len(_sent(topics)) == 1


def test_a_due_step_found_in_quiet_hours_waits_and_is_not_lost(
    rig: Rig, topics: dict[str, str]
) -> None:
    rig.load(_debt())
    rig.tick()
    _sent(topics)
    # The D+2 step is due at 10:00 on the 25th; the ticks of that day all failed, and the
    # first one to run is at 20:30, after the window closed: it waits for the morning.
    rig.at(sp(11, 25, 9, 59))
    assert rig.tick() == "nothing-due"
    rig.at(sp(11, 25, 20, 30))
    assert "waited:1" in rig.tick()
    assert _sent(topics) == []
    assert rig.debt_doc()["next_due_at"] == sp(11, 26, 8)
    rig.at(sp(11, 26, 8))
    assert "sent:1" in rig.tick()
    assert [s["idempotency_key"] for s in _sent(topics)] == ["trail:FAT-1:2"]


def test_inside_the_24_hour_window_a_reminder_is_free_text(
    rig: Rig, store: FirestoreStore, topics: dict[str, str]
) -> None:
    rig.load(_debt())
    rig.tick()
    # The debtor wrote back on the 24th: their window is open when D+2 is due on the 25th.
    message = text_message("wamid.reply", "quem é?", wa_id=PHONE).model_copy(
        update={"phone_number_id": NUMBER, "timestamp": sp(11, 24, 18)}
    )
    store.record_inbound(message, assistant="sac")
    ticket = rig.ticket()
    assert ticket["customer_replied"] is True and ticket["status"] == "IAN"
    rig.at(sp(11, 25, 11))
    rig.tick()
    sent = _sent(topics)
    assert [s["kind"] for s in sent] == ["template", "text"]
    assert sent[1]["text"].startswith("Ana, lembrete da Maia: a fatura FAT-1 de R$ 189,90")
    # A day later the window is closed again: the next reminder is a template.
    rig.at(sp(11, 28, 11))
    rig.tick()
    assert [s["kind"] for s in _sent(topics)] == ["template"]


def test_an_opted_out_debtor_is_never_messaged_by_a_trail_again(
    rig: Rig, topics: dict[str, str]
) -> None:
    rig.load(_debt())
    rig.tick()
    changed = rig.debts.apply_action(
        PHONE, DebtorAction(kind="opt_out"), now=rig.clock.now(), policy=rig.policy
    )
    assert changed == 1
    assert rig.debt_doc()["trail_status"] == "opted_out"
    # A debt imported later for the same number stops at its first due step, unsent.
    rig.load(_debt("FAT-2", amount="50.00"))
    for day in (24, 25, 28, 30):
        rig.at(sp(11, day, 10))
        rig.tick()
    assert [s["idempotency_key"] for s in _sent(topics)] == ["trail:FAT-1:1"]
    record = rig.debts.debt("FAT-2")
    assert record is not None and record.trail_status is TrailStatus.OPTED_OUT


def test_a_promise_to_pay_reschedules_the_trail_after_the_promised_day(
    rig: Rig, topics: dict[str, str]
) -> None:
    rig.load(_debt())
    rig.tick()
    rig.debts.apply_action(
        PHONE,
        DebtorAction(kind="promise", promised_for=date(2026, 11, 27)),
        now=rig.clock.now(),
        policy=rig.policy,
    )
    record = rig.debts.debt("FAT-1")
    assert record is not None and record.promised_for == date(2026, 11, 27)
    assert record.next_due_at == sp(11, 28, 8)
    for instant in (sp(11, 25, 9), sp(11, 27, 19)):
        rig.at(instant)
        assert rig.tick() == "nothing-due"
    rig.at(sp(11, 28, 8, 5))
    rig.tick()
    sent = _sent(topics)
    # The promise is broken: the trail resumes where it was (D+2's reminder), none skipped.
    assert [s["idempotency_key"] for s in sent] == ["trail:FAT-1:1", "trail:FAT-1:2"]
    assert rig.debt_doc()["sent_steps"][-1] == {
        "step": 1,
        "at": sp(11, 28, 8, 5),
        "kind": "template",
        "skipped": 0,
    }


def test_a_payment_event_stops_the_trail_and_fills_the_dashboard_fields(
    rig: Rig, topics: dict[str, str]
) -> None:
    rig.load(_debt())
    rig.tick()
    now = rig.clock.now()
    event = PaymentEvent.model_validate({"invoice_id": "FAT-1", "amount_paid": "150.00"})
    assert rig.debts.record_payment(event, now=now) == "recorded"
    assert rig.debts.record_payment(event, now=now) == "already"
    unknown = PaymentEvent.model_validate({"invoice_id": "NOPE"})
    assert rig.debts.record_payment(unknown, now=now) == "unknown"
    ticket = rig.ticket()
    assert ticket["paid"] is True and ticket["amount_recovered"] == 150.0
    assert ticket["status"] == "F" and ticket["finished_by"] == "payment"
    for day in (25, 28, 30):
        rig.at(sp(11, day, 10))
        rig.tick()
    assert [s["idempotency_key"] for s in _sent(topics)] == ["trail:FAT-1:1"]
    record = rig.debts.debt("FAT-1")
    assert record is not None and record.trail_status is TrailStatus.PAID
    assert record.amount_paid == Decimal("150.00")


def test_a_paid_debtor_is_thanked_once_by_the_next_tick(rig: Rig, topics: dict[str, str]) -> None:
    rig.load(_debt())
    rig.tick()
    event = PaymentEvent.model_validate({"invoice_id": "FAT-1", "amount_paid": "150.00"})
    assert rig.payments.record_payment(event) == "recorded"
    assert rig.payments.record_payment(event) == "already"
    assert rig.ticket()["ai_messages"] == 2
    for minutes in (5, 10):
        rig.at(sp(11, 23, 10, minutes))
        rig.tick()
    sent = _sent(topics)
    assert [s["idempotency_key"] for s in sent] == ["trail:FAT-1:1", "trail:FAT-1:paid"]
    thanks = sent[1]
    # She never wrote: outside the 24-hour window the thanks is the approved template.
    assert thanks["kind"] == "template" and thanks["template_name"] == "cobranca_pagamento"
    assert thanks["template_parameters"] == ["Ana", "FAT-1", "R$ 150,00"]
    assert thanks["ticket_id"] == trail_ticket_id("FAT-1")
    assert rig.debt_doc()["outbox_pending"] is False


def test_a_payment_reported_at_night_is_thanked_in_the_morning(
    rig: Rig, topics: dict[str, str]
) -> None:
    rig.load(_debt())
    rig.tick()
    rig.at(sp(11, 23, 22, 30))
    event = PaymentEvent.model_validate({"invoice_id": "FAT-1"})
    assert rig.payments.record_payment(event) == "recorded"
    for instant in (sp(11, 23, 22, 35), sp(11, 24, 7, 55)):
        rig.at(instant)
        rig.tick()
    assert [s["idempotency_key"] for s in _sent(topics)] == ["trail:FAT-1:1"]
    rig.at(sp(11, 24, 8, 0))
    rig.tick()
    assert [s["idempotency_key"] for s in _sent(topics)] == ["trail:FAT-1:paid"]


def test_no_thanks_for_a_debt_paid_before_its_first_notice_or_after_an_opt_out(
    rig: Rig, topics: dict[str, str]
) -> None:
    other = "5511988880109"
    rig.load(_debt(), _debt("FAT-2", phone=other))
    # Paid before any tick sent its first notice.
    assert rig.payments.record_payment(PaymentEvent(invoice_id="FAT-1")) == "recorded"
    rig.tick()
    rig.debts.apply_action(
        other, DebtorAction(kind="opt_out"), now=rig.clock.now(), policy=rig.policy
    )
    assert rig.payments.record_payment(PaymentEvent(invoice_id="FAT-2")) == "recorded"
    rig.at(sp(11, 23, 10, 5))
    rig.tick()
    assert [s["idempotency_key"] for s in _sent(topics)] == ["trail:FAT-2:1"]
    assert rig.debt_doc()["receipt"] == {"not_sent": "the trail never wrote to this debtor"}
    assert rig.debt_doc("FAT-2")["receipt"] == {"not_sent": "debtor opted out"}


def test_a_human_takeover_stops_the_trail(rig: Rig, topics: dict[str, str]) -> None:
    rig.load(_debt())
    rig.tick()
    rig.db.collection("tickets").document(trail_ticket_id("FAT-1")).update(
        {"intervened": True, "status": "TA"}
    )
    rig.db.collection("conversations").document(CID).update({"holder": Holder.HUMAN.value})
    rig.at(sp(11, 25, 11))
    assert "stopped:1" in rig.tick()
    assert [s["idempotency_key"] for s in _sent(topics)] == ["trail:FAT-1:1"]
    debt = rig.debt_doc()
    assert debt["trail_status"] == "human" and debt["stopped_reason"] == "a human took over"


def test_a_notice_claimed_but_not_published_goes_out_on_the_next_tick(
    rig: Rig, topics: dict[str, str]
) -> None:
    rig.load(_debt())
    # A tick that died right after its transaction: the notice sits in the debt's outbox.
    templates = FirestoreTemplateStore(rig.db)
    now = rig.clock.now()
    decision = rig.debts.advance_trail(
        "FAT-1",
        now=now,
        phone_number_id=NUMBER,
        assistant="cobranca",
        decide=lambda snapshot: decide(
            snapshot, now=now, policy=rig.policy, templates=templates.template
        ),
    )
    assert decision.action == "send"
    assert rig.debt_doc()["outbox_pending"] is True
    assert _sent(topics) == []
    rig.at(sp(11, 23, 10, 30))
    assert "republished:1" in rig.tick()
    assert [s["idempotency_key"] for s in _sent(topics)] == ["trail:FAT-1:1"]
    assert rig.debt_doc()["outbox_pending"] is False
    rig.tick()
    assert _sent(topics) == []


def test_idle_ai_tickets_are_finished_but_not_those_with_a_live_trail(
    rig: Rig, store: FirestoreStore
) -> None:
    rig.load(_debt())
    rig.tick()
    tickets = rig.db.collection("tickets")
    tickets.document("T-idle").set({"status": "IAR", "updated_at": sp(11, 20, 10)})
    tickets.document("T-fresh").set({"status": "IAR", "updated_at": sp(11, 23, 12)})
    tickets.document("T-human").set({"status": "TA", "updated_at": sp(11, 1, 10)})
    rig.at(sp(11, 24, 11))
    assert "finished_idle:1" in rig.tick()
    assert tickets.document("T-idle").get().get("status") == "F"
    assert tickets.document("T-idle").get().get("finished_by") == "idle"
    assert tickets.document("T-fresh").get().get("status") == "IAR"
    assert tickets.document("T-human").get().get("status") == "TA"
    # The trail's ticket waits on its own reminders, not on the idle timeout.
    assert rig.ticket()["status"] == "IAR"


def test_stale_leases_are_freed_and_their_waiting_messages_requeued(
    rig: Rig, store: FirestoreStore, topics: dict[str, str]
) -> None:
    store.record_inbound(text_message("wamid.stuck"), assistant="sac")
    stuck = text_message("wamid.stuck").conversation_id
    now = rig.clock.now()
    assert store.acquire_lease(stuck, "dead-turn", now=now - timedelta(hours=1), seconds=60)
    assert store.acquire_lease("other:1", "live-turn", now=now, seconds=600)
    report = rig.tick()
    assert "freed_leases:1" in report and "requeued:1" in report
    requests = [json.loads(m.data) for m in pull_all(topics["agent-turns"])]
    assert requests == [{"conversation_id": stuck, "message_id": "maintenance"}]
    leases = rig.db.collection("leases")
    assert not leases.document(stuck).get().exists
    assert leases.document("other:1").get().exists


def test_expired_knowledge_is_purged_on_the_tick(rig: Rig) -> None:
    rig.kb.upsert(
        [
            KnowledgeEntry(
                id="old",
                question="Promoção de Natal?",
                answer="Até 24/12.",
                expires_at=sp(11, 20),
            ),
            KnowledgeEntry(id="kept", question="Horário?", answer="Das 9h às 18h."),
        ]
    )
    assert "purged_kb:1" in rig.tick()
    assert [e.id for e in rig.kb.export()] == ["kept"]


def test_imports_are_idempotent_by_invoice_id(rig: Rig) -> None:
    counts = rig.debts.import_debts(
        [_debt(), _debt("FAT-2")], now=rig.clock.now(), policy=rig.policy
    )
    assert (counts.created, counts.updated, counts.unchanged) == (2, 0, 0)
    counts = rig.debts.import_debts(
        [_debt(), _debt("FAT-2", amount="99.00", due_date="2026-12-10")],
        now=rig.clock.now(),
        policy=rig.policy,
    )
    assert (counts.created, counts.updated, counts.unchanged) == (0, 1, 1)
    record = rig.debts.debt("FAT-2")
    assert record is not None and record.debt.amount == Decimal("99.00")
    # Not notified yet: the new due date moves the first notice with it.
    assert record.next_due_at == sp(12, 10, 8)
    assert [r.debt.invoice_id for r in rig.debts.debts_of(PHONE)] == ["FAT-2", "FAT-1"]


def test_a_tick_that_is_not_a_tick_is_poison(rig: Rig) -> None:
    with pytest.raises(PoisonMessage, match="not a follow-up tick"):
        rig.service.handle(PubSubMessage(data=b'{"job": "other"}', message_id="x"))
    with pytest.raises(PoisonMessage):
        rig.service.handle(PubSubMessage(data=b"not json", message_id="y"))


class _ActingBrain:
    def __init__(self, reply: BrainReply) -> None:
        self.reply = reply

    def warm_up(self) -> None:
        """Nothing to load."""

    def answer(self, request: BrainRequest) -> BrainReply:
        return self.reply


def test_what_the_debtor_agrees_to_in_a_turn_reaches_the_trail(
    rig: Rig, store: FirestoreStore, publisher: PubSubPublisher, topics: dict[str, str]
) -> None:
    rig.load(_debt())
    rig.tick()
    message = text_message("wamid.parar", "PARAR", wa_id=PHONE).model_copy(
        update={"phone_number_id": NUMBER}
    )
    store.record_inbound(message, assistant="sac")
    brain = _ActingBrain(
        BrainReply(
            texts=["Pronto: você não receberá mais lembretes de cobrança."],
            route="billing",
            ticket_status=TicketStatus.AI_REPLIED,
            outcome="opt_out",
            actions=[DebtorAction(kind="opt_out")],
        )
    )
    service = AgentTurnService(
        store=store,
        publisher=publisher,
        brain=brain,
        clock=rig.clock,
        settings=Settings(
            google_cloud_project=rig.settings.google_cloud_project,
            quiet_period_seconds=0,
            max_wait_seconds=0,
        ),
        debts=rig.debts,
        trail=rig.policy,
    )
    assert service.handle(AgentTurnRequest(conversation_id=CID, message_id="wamid.parar")) == (
        "answered:1"
    )
    assert rig.debt_doc()["trail_status"] == "opted_out"
    contact = rig.db.collection("contacts").document(PHONE).get().to_dict() or {}
    assert contact["billing_opt_out"] is True
    turn = next(iter(rig.db.collection("turns").stream())).to_dict() or {}
    assert turn["turn"]["actions"] == [
        {"kind": "opt_out", "promised_for": None, "instalments": None}
    ]
    rig.at(sp(11, 25, 11))
    rig.tick()
    sent = _sent(topics)
    keys = [s["idempotency_key"] for s in sent]
    assert "trail:FAT-1:1" in keys and "trail:FAT-1:2" not in keys
    assert "Pronto: você não receberá mais lembretes de cobrança." in [s["text"] for s in sent]


def test_without_a_billing_number_due_trails_wait_and_the_tick_says_why(
    rig: Rig, topics: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    rig.load(_debt())
    unconfigured = dataclasses.replace(
        rig.service, settings=Settings(google_cloud_project=rig.settings.google_cloud_project)
    )
    # Not a failure: a redelivered tick could not fix a setting. Nothing is claimed either.
    assert "blocked:1" in unconfigured.handle(PubSubMessage(data=TICK_PAYLOAD, message_id="t"))
    assert "set BILLING_PHONE_NUMBER_ID" in caplog.text
    assert _sent(topics) == [] and rig.debt_doc()["attempts"] == 0
    assert "sent:1" in rig.tick()


@pytest.mark.parametrize(
    "failure",
    [
        # Meta refused the send itself...
        {"status": "failed", "error_code": 131026},
        # ...or accepted it and reported a failed status afterwards.
        {"status": "sent", "delivery_errors": [{"code": 131026, "title": "Undeliverable"}]},
    ],
)
def test_a_number_whatsapp_cannot_reach_ends_the_trail(
    rig: Rig, topics: dict[str, str], failure: dict[str, Any]
) -> None:
    rig.load(_debt())
    rig.tick()
    rig.db.collection("outbound_messages").document("trail:FAT-1:1").set(failure)
    rig.at(sp(11, 25, 11))
    assert "stopped:1" in rig.tick()
    assert [s["idempotency_key"] for s in _sent(topics)] == ["trail:FAT-1:1"]
    record = rig.debts.debt("FAT-1")
    assert record is not None and record.trail_status is TrailStatus.UNDELIVERABLE
    assert "131026" in record.stopped_reason


def test_a_failure_that_is_not_the_numbers_keeps_the_trail_going(
    rig: Rig, topics: dict[str, str]
) -> None:
    rig.load(_debt())
    rig.tick()
    # A template parameter error is the business's to fix, not a reason to give up on a debtor.
    rig.db.collection("outbound_messages").document("trail:FAT-1:1").set(
        {"status": "failed", "error_code": 132000}
    )
    rig.at(sp(11, 25, 11))
    assert "sent:1" in rig.tick()
