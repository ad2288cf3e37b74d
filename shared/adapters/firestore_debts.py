"""DebtStore and MaintenanceStore on Firestore: debts, their trails, and the tick's housekeeping.

Collections: `debts` (one document per invoice id, the trail inside it), `contacts` (a
debtor's opt-out, `billing_opt_out`), and the pipeline's `conversations`, `tickets`, `leases`
and `messages`. A notice is claimed by writing it into the debt's outbox in the same
transaction that advances the trail; the tick publishes the outbox afterwards, and a notice
whose publish was lost is published by the next tick (outbound's idempotency key makes a
second publish harmless).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.adapters.firestore_store import run_transaction, snapshot_data
from shared.domain.billing import (
    Debt,
    DebtorAction,
    DebtRecord,
    ImportCounts,
    PaymentEvent,
    TrailStatus,
)
from shared.domain.models import (
    WITH_AI,
    WITH_ANALYST,
    Holder,
    OutboundMessage,
    TicketStatus,
    conversation_id_for,
)
from shared.domain.trail import (
    Receipt,
    TrailDecision,
    TrailPolicy,
    TrailSnapshot,
    undeliverable_reason,
)

__all__ = ["FirestoreDebts", "FirestoreMaintenance", "trail_ticket_id"]

logger = logging.getLogger(__name__)

_CLOSED_TRAILS = (TrailStatus.PAID.value, TrailStatus.CANCELLED.value)


def trail_ticket_id(invoice_id: str) -> str:
    """The ticket a debt's trail opens: one per invoice, whoever opens it first."""
    return "T-debt-" + hashlib.sha256(invoice_id.encode()).hexdigest()[:16]


def _digest(debt: Debt) -> str:
    return hashlib.sha256(json.dumps(debt.stored_fields(), sort_keys=True).encode()).hexdigest()


def _debt_of(doc: dict[str, Any]) -> Debt:
    fields = {k: doc.get(k) for k in Debt.model_fields}
    fields["amount"] = f"{Decimal(str(doc['amount'])):.2f}"
    return Debt.model_validate(fields)


def _record_of(doc: dict[str, Any]) -> DebtRecord:
    paid = doc.get("amount_paid")
    promised = doc.get("promised_for")
    return DebtRecord(
        debt=_debt_of(doc),
        trail_status=TrailStatus(doc.get("trail_status", TrailStatus.ACTIVE.value)),
        next_step=int(doc.get("next_step", 0)),
        next_due_at=doc.get("next_due_at"),
        attempts=int(doc.get("attempts", 0)),
        promised_for=date.fromisoformat(promised) if promised else None,
        instalments=doc.get("instalments"),
        ticket_id=doc.get("ticket_id"),
        stopped_reason=doc.get("stopped_reason", ""),
        amount_paid=Decimal(f"{paid:.2f}") if paid is not None else None,
        paid_at=doc.get("paid_at"),
        imported_at=doc.get("imported_at"),
    )


class FirestoreDebts:
    """Debts and trails in Firestore (see the module docstring)."""

    def __init__(self, client: firestore.Client) -> None:
        self._db = client
        self._debts = client.collection("debts")

    # ------------------------------------------------------------------ import

    def import_debts(
        self, debts: Sequence[Debt], *, now: datetime, policy: TrailPolicy
    ) -> ImportCounts:
        """Create new debts with their trail, update changed ones, leave the same ones alone."""
        created = updated = unchanged = 0
        for debt in debts:
            outcome = run_transaction(self._db, self._importer(debt, now=now, policy=policy))
            if outcome == "created":
                created += 1
            elif outcome == "updated":
                updated += 1
            else:
                unchanged += 1
        return ImportCounts(created=created, updated=updated, unchanged=unchanged)

    def _importer(self, debt: Debt, *, now: datetime, policy: TrailPolicy) -> Callable[[Any], str]:
        ref = self._debts.document(debt.invoice_id)
        digest = _digest(debt)

        def work(txn: Any) -> str:
            doc = snapshot_data(ref.get(transaction=txn))
            if not doc:
                txn.create(
                    ref,
                    {
                        **debt.stored_fields(),
                        "digest": digest,
                        "trail_status": TrailStatus.ACTIVE.value,
                        "started_at": now,
                        "imported_at": now,
                        "next_step": 0,
                        "next_due_at": policy.first_due(debt, now),
                        "attempts": 0,
                        "outbox": {},
                        "outbox_pending": False,
                        "updated_at": now,
                    },
                )
                return "created"
            if doc.get("digest") == digest:
                return "unchanged"
            update: dict[str, Any] = {**debt.stored_fields(), "digest": digest, "updated_at": now}
            if int(doc.get("attempts", 0)) == 0 and doc.get("trail_status") == "active":
                # Not notified yet: a new due date moves the first notice with it.
                update["next_due_at"] = policy.first_due(debt, doc.get("started_at", now))
            txn.update(ref, update)
            return "updated"

        return work

    # ------------------------------------------------------------------- reads

    def debt(self, invoice_id: str) -> DebtRecord | None:
        """One debt, or None."""
        doc = snapshot_data(self._debts.document(invoice_id).get())
        return _record_of(doc) if doc else None

    def debts_of(self, phone: str) -> list[DebtRecord]:
        """Every debt of this phone, newest due date first."""
        query = self._debts.where(filter=FieldFilter("phone", "==", phone))
        records = [_record_of(snapshot_data(snap)) for snap in query.stream()]
        return sorted(records, key=lambda r: r.debt.due_date, reverse=True)

    def due_trails(self, now: datetime, *, limit: int) -> list[str]:
        """Active trails due now, the most overdue first (index: trail_status, next_due_at)."""
        query = (
            self._debts.where(filter=FieldFilter("trail_status", "==", TrailStatus.ACTIVE.value))
            .where(filter=FieldFilter("next_due_at", "<=", now))
            .order_by("next_due_at")
            .limit(limit)
        )
        return [snap.id for snap in query.stream()]

    # ----------------------------------------------------------------- advance

    def advance_trail(
        self,
        invoice_id: str,
        *,
        now: datetime,
        phone_number_id: str,
        assistant: str,
        decide: Callable[[TrailSnapshot], TrailDecision],
    ) -> TrailDecision:
        """Decide and write one trail's step in a single transaction."""
        debt_ref = self._debts.document(invoice_id)

        def work(txn: Any) -> TrailDecision:
            doc = snapshot_data(debt_ref.get(transaction=txn))
            if not doc:
                return TrailDecision(action="skip", reason="no such debt")
            debt = _debt_of(doc)
            conv_ref = self._db.collection("conversations").document(
                conversation_id_for(phone_number_id, debt.phone)
            )
            ticket_id = doc.get("ticket_id")
            ticket_ref = self._db.collection("tickets").document(
                ticket_id or trail_ticket_id(invoice_id)
            )
            conv = snapshot_data(conv_ref.get(transaction=txn))
            ticket = snapshot_data(ticket_ref.get(transaction=txn))
            contact, last_send = self._debtor_reads(txn, doc, debt.phone)
            # Transactions read before they write: the conversation's open ticket too.
            open_id = conv.get("open_ticket_id")
            open_status = (
                snapshot_data(
                    self._db.collection("tickets").document(open_id).get(transaction=txn)
                ).get("status")
                if open_id and open_id != ticket_ref.id
                else ticket.get("status")
            )
            snapshot = _snapshot(
                doc,
                phone_number_id=phone_number_id,
                conversation=conv,
                ticket=ticket,
                contact=contact,
                last_send=last_send,
            )
            decision = decide(snapshot)
            if decision.action == "skip":
                return decision
            if decision.action == "wait":
                txn.update(
                    debt_ref,
                    {
                        "next_due_at": decision.next_due_at,
                        "last_wait": decision.reason,
                        "updated_at": now,
                    },
                )
                return decision
            if decision.action == "stop":
                txn.update(
                    debt_ref,
                    {
                        "trail_status": decision.status.value,
                        "stopped_reason": decision.reason,
                        "stopped_at": now,
                        "next_due_at": None,
                        "updated_at": now,
                    },
                )
                return decision
            assert decision.message is not None
            message = decision.message.model_copy(update={"ticket_id": ticket_ref.id})
            if not ticket:
                txn.set(
                    ticket_ref,
                    {
                        "conversation_id": message.conversation_id,
                        "assistant": assistant,
                        "customer_wa_id": debt.phone,
                        "status": TicketStatus.AI_REPLIED.value,
                        "opened_at": now,
                        "updated_at": now,
                        "ai_messages": 1,
                        "debt_id": invoice_id,
                        "amount_communicated": float(debt.amount),
                        "paid": False,
                        "customer_replied": False,
                        "intervened": False,
                        "opened_by": "billing_trail",
                    },
                )
                conv_update: dict[str, Any] = {
                    "wa_id": debt.phone,
                    "phone_number_id": phone_number_id,
                    "assistant": conv.get("assistant", assistant),
                    "holder": conv.get("holder", Holder.AI.value),
                    "contact_name": conv.get("contact_name") or debt.customer,
                    "updated_at": now,
                }
                if open_status not in WITH_AI | WITH_ANALYST:
                    # The debtor's replies belong to this trail's ticket from now on.
                    conv_update["open_ticket_id"] = ticket_ref.id
                txn.set(conv_ref, conv_update, merge=True)
            else:
                # The status is left alone: a reply the AI has yet to answer stays IAN.
                txn.update(ticket_ref, {"ai_messages": firestore.Increment(1), "updated_at": now})
            txn.update(
                debt_ref,
                {
                    "ticket_id": ticket_ref.id,
                    "conversation_id": message.conversation_id,
                    "trail_status": decision.status.value,
                    "next_step": decision.next_step,
                    "next_due_at": decision.next_due_at,
                    "attempts": int(doc.get("attempts", 0)) + 1,
                    f"outbox.{_field_key(message.idempotency_key)}": message.model_dump(
                        mode="json"
                    ),
                    "outbox_pending": True,
                    "last_sent_at": now,
                    "last_notice_key": message.idempotency_key,
                    "sent_steps": firestore.ArrayUnion(
                        [
                            {
                                "step": decision.step,
                                "at": now,
                                "kind": message.kind,
                                "skipped": decision.skipped_steps,
                            }
                        ]
                    ),
                    "updated_at": now,
                    **(
                        {"stopped_reason": decision.reason, "stopped_at": now}
                        if decision.status is not TrailStatus.ACTIVE
                        else {}
                    ),
                },
            )
            return decision.model_copy(update={"message": message})

        return run_transaction(self._db, work)

    def _debtor_reads(
        self, txn: Any, doc: dict[str, Any], phone: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The debtor's contact (opt-out) and outbound's record of the trail's last notice."""
        contact = snapshot_data(
            self._db.collection("contacts").document(phone).get(transaction=txn)
        )
        last_key = doc.get("last_notice_key")
        last_send = (
            snapshot_data(
                self._db.collection("outbound_messages").document(last_key).get(transaction=txn)
            )
            if last_key
            else {}
        )
        return contact, last_send

    def unpublished_notices(
        self, *, now: datetime, limit: int
    ) -> list[tuple[str, OutboundMessage]]:
        """Messages written to an outbox, due by `now`, whose publish is not confirmed yet."""
        query = self._debts.where(filter=FieldFilter("outbox_pending", "==", True)).limit(limit)
        notices: list[tuple[str, OutboundMessage]] = []
        for snap in query.stream():
            doc = snapshot_data(snap)
            not_before = doc.get("outbox_not_before") or {}
            for key, raw in (doc.get("outbox") or {}).items():
                if key in not_before and not_before[key] > now:
                    continue
                notices.append((snap.id, OutboundMessage.model_validate(raw)))
        return notices

    def mark_notice_published(self, invoice_id: str, idempotency_key: str) -> None:
        """The notice is on topic outbound: drop it from the outbox."""
        ref = self._debts.document(invoice_id)

        def work(txn: Any) -> None:
            doc = snapshot_data(ref.get(transaction=txn))
            outbox = dict(doc.get("outbox") or {})
            not_before = dict(doc.get("outbox_not_before") or {})
            outbox.pop(_field_key(idempotency_key), None)
            not_before.pop(_field_key(idempotency_key), None)
            txn.update(
                ref,
                {"outbox": outbox, "outbox_not_before": not_before, "outbox_pending": bool(outbox)},
            )

        run_transaction(self._db, work)

    # ---------------------------------------------------------------- payments

    def record_payment(
        self,
        event: PaymentEvent,
        *,
        now: datetime,
        receipt: Callable[[TrailSnapshot, Decimal], Receipt | str] | None = None,
    ) -> str:
        """Stop the trail; mark its ticket paid (and finished, unless a human holds it).

        With `receipt`, a paid debt's thanks is queued in its outbox in the same transaction,
        for the tick to publish once quiet hours allow.
        """
        ref = self._debts.document(event.invoice_id)

        def work(txn: Any) -> str:
            doc = snapshot_data(ref.get(transaction=txn))
            if not doc:
                return "unknown"
            if doc.get("trail_status") in _CLOSED_TRAILS:
                return "already"
            ticket_id = doc.get("ticket_id")
            ticket_ref = self._db.collection("tickets").document(ticket_id) if ticket_id else None
            ticket = snapshot_data(ticket_ref.get(transaction=txn)) if ticket_ref else {}
            paid = event.status == "paid"
            amount = event.amount_paid
            if paid and amount is None:
                amount = Decimal(str(doc["amount"]))
            thanks: Receipt | str = "no thanks asked for" if paid else "cancelled, not paid"
            if paid and amount is not None and receipt is not None:
                thanks = self._receipt(txn, doc, ticket, amount, receipt)
            # A notice claimed but not yet published must not go out after payment; the
            # thanks, if any, replaces it.
            outbox: dict[str, Any] = {}
            not_before: dict[str, Any] = {}
            if isinstance(thanks, Receipt):
                key = _field_key(thanks.message.idempotency_key)
                message = thanks.message.model_copy(update={"ticket_id": ticket_id})
                outbox[key] = message.model_dump(mode="json")
                not_before[key] = thanks.not_before
            txn.update(
                ref,
                {
                    "trail_status": (TrailStatus.PAID if paid else TrailStatus.CANCELLED).value,
                    "stopped_reason": f"billing system: {event.status}",
                    "stopped_at": now,
                    "next_due_at": None,
                    "amount_paid": float(amount) if amount is not None else None,
                    "paid_at": event.paid_at or now,
                    "outbox": outbox,
                    "outbox_not_before": not_before,
                    "outbox_pending": bool(outbox),
                    "receipt": (
                        {"queued_for": thanks.not_before, "kind": thanks.message.kind}
                        if isinstance(thanks, Receipt)
                        else {"not_sent": thanks}
                    ),
                    "updated_at": now,
                },
            )
            if ticket_ref is not None and ticket:
                update: dict[str, Any] = {"updated_at": now}
                if isinstance(thanks, Receipt):
                    update["ai_messages"] = firestore.Increment(1)
                if paid:
                    update["paid"] = True
                    update["amount_recovered"] = float(amount or 0)
                    update["paid_at"] = event.paid_at or now
                if ticket.get("status") in WITH_AI:
                    update["status"] = TicketStatus.FINISHED.value
                    update["finished_by"] = "payment" if paid else "cancelled"
                txn.update(ticket_ref, update)
            if isinstance(thanks, str) and paid:
                logger.info("payment of %s: no thanks sent (%s)", event.invoice_id, thanks)
            return "recorded"

        return run_transaction(self._db, work)

    def _receipt(
        self,
        txn: Any,
        doc: dict[str, Any],
        ticket: dict[str, Any],
        amount: Decimal,
        receipt: Callable[[TrailSnapshot, Decimal], Receipt | str],
    ) -> Receipt | str:
        """Read what the thanks depends on (reads come before the payment's writes)."""
        conversation_id = doc.get("conversation_id")
        if not conversation_id:
            return "the trail never wrote to this debtor"
        conv = snapshot_data(
            self._db.collection("conversations").document(conversation_id).get(transaction=txn)
        )
        contact, last_send = self._debtor_reads(txn, doc, str(doc["phone"]))
        if not conv.get("phone_number_id"):
            return "the trail's conversation is gone"
        snapshot = _snapshot(
            doc,
            phone_number_id=str(conv["phone_number_id"]),
            conversation=conv,
            ticket=ticket,
            contact=contact,
            last_send=last_send,
        )
        return receipt(snapshot, amount)

    # ----------------------------------------------------------------- actions

    def apply_action(
        self, phone: str, action: DebtorAction, *, now: datetime, policy: TrailPolicy
    ) -> int:
        """Opt-out, promise or instalment plan, applied to the debtor's live trails."""
        if action.kind == "opt_out":
            self._db.collection("contacts").document(phone).set(
                {"billing_opt_out": True, "billing_opt_out_at": now}, merge=True
            )
        # Only live trails change (index: phone, trail_status).
        query = self._debts.where(filter=FieldFilter("phone", "==", phone)).where(
            filter=FieldFilter("trail_status", "==", TrailStatus.ACTIVE.value)
        )
        changed = 0
        for snap in query.stream():
            if run_transaction(self._db, self._action(snap.reference, action, now, policy)):
                changed += 1
        return changed

    def _action(
        self, ref: Any, action: DebtorAction, now: datetime, policy: TrailPolicy
    ) -> Callable[[Any], bool]:
        def work(txn: Any) -> bool:
            doc = snapshot_data(ref.get(transaction=txn))
            if doc.get("trail_status") != TrailStatus.ACTIVE.value:
                return False
            update: dict[str, Any] = {"updated_at": now}
            if action.kind == "opt_out":
                update |= {
                    "trail_status": TrailStatus.OPTED_OUT.value,
                    "stopped_reason": "debtor opted out",
                    "stopped_at": now,
                    "next_due_at": None,
                    "outbox": {},
                    "outbox_pending": False,
                }
            elif action.kind == "promise":
                assert action.promised_for is not None
                debt = _debt_of(doc)
                resume = policy.window.next_open(
                    policy.after_promise(debt, action.promised_for), policy.zone_of(debt)
                )
                current = doc.get("next_due_at")
                update |= {
                    "promised_for": action.promised_for.isoformat(),
                    "promised_at": now,
                    "next_due_at": max(resume, current) if current else resume,
                }
            else:
                update |= {
                    "instalments": action.instalments,
                    "trail_status": TrailStatus.HUMAN.value,
                    "stopped_reason": f"instalments agreed ({action.instalments}x)",
                    "stopped_at": now,
                    "next_due_at": None,
                }
            txn.update(ref, update)
            return True

        return work


def _snapshot(
    doc: dict[str, Any],
    *,
    phone_number_id: str,
    conversation: dict[str, Any],
    ticket: dict[str, Any],
    contact: dict[str, Any],
    last_send: dict[str, Any],
) -> TrailSnapshot:
    """What the trail's decisions see of a debt document and the documents around it."""
    promised = doc.get("promised_for")
    ticket_id = doc.get("ticket_id")
    return TrailSnapshot(
        debt=_debt_of(doc),
        status=TrailStatus(doc.get("trail_status", "active")),
        started_at=doc["started_at"],
        next_step=int(doc.get("next_step", 0)),
        next_due_at=doc.get("next_due_at"),
        attempts=int(doc.get("attempts", 0)),
        promised_for=date.fromisoformat(promised) if promised else None,
        phone_number_id=phone_number_id,
        ticket_id=ticket_id,
        ticket_with_human=bool(
            ticket_id
            and (
                ticket.get("status") in WITH_ANALYST
                or ticket.get("handoff")
                or ticket.get("intervened")
            )
        ),
        holder=conversation.get("holder"),
        opted_out=bool(contact.get("billing_opt_out")),
        last_customer_message_at=conversation.get("last_customer_message_at"),
        undeliverable=undeliverable_reason(last_send),
    )


def _field_key(idempotency_key: str) -> str:
    """A map key Firestore field paths accept (the idempotency key has colons)."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]


class FirestoreMaintenance:
    """The follow-up tick's housekeeping on the pipeline's collections."""

    def __init__(self, client: firestore.Client) -> None:
        self._db = client

    def finish_idle_tickets(self, *, cutoff: datetime, now: datetime, limit: int) -> int:
        """IAR tickets untouched since `cutoff` become F, unless their trail still runs."""
        query = (
            self._db.collection("tickets")
            .where(filter=FieldFilter("status", "==", TicketStatus.AI_REPLIED.value))
            .where(filter=FieldFilter("updated_at", "<", cutoff))
            .order_by("updated_at")
            .limit(limit)
        )
        finished = 0
        for snap in query.stream():
            if run_transaction(self._db, self._finisher(snap.reference, cutoff, now)):
                finished += 1
        return finished

    def _finisher(self, ref: Any, cutoff: datetime, now: datetime) -> Callable[[Any], bool]:
        def work(txn: Any) -> bool:
            ticket = snapshot_data(ref.get(transaction=txn))
            if ticket.get("status") != TicketStatus.AI_REPLIED.value:
                return False
            updated = ticket.get("updated_at")
            if updated is None or updated >= cutoff:
                return False
            debt_id = ticket.get("debt_id")
            if debt_id:
                debt = snapshot_data(
                    self._db.collection("debts").document(debt_id).get(transaction=txn)
                )
                if debt.get("trail_status") == TrailStatus.ACTIVE.value:
                    # The next reminder is the follow-up the debtor has not answered yet.
                    return False
            txn.update(
                ref,
                {"status": TicketStatus.FINISHED.value, "finished_by": "idle", "updated_at": now},
            )
            return True

        return work

    def free_stale_leases(self, *, now: datetime, limit: int) -> tuple[int, list[str]]:
        """Delete expired leases; the conversations among them with messages still pending."""
        query = (
            self._db.collection("leases")
            .where(filter=FieldFilter("expires_at", "<", now))
            .order_by("expires_at")
            .limit(limit)
        )
        freed = 0
        waiting: list[str] = []
        for snap in query.stream():
            ref = snap.reference

            def work(txn: Any, ref: Any = ref) -> bool:
                lease = snapshot_data(ref.get(transaction=txn))
                if not lease or lease.get("expires_at") is None or lease["expires_at"] >= now:
                    return False
                txn.delete(ref)
                return True

            try:
                if not run_transaction(self._db, work):
                    continue
            except gexc.GoogleAPICallError as error:
                logger.warning("could not free a lease: %s", error)
                continue
            freed += 1
            pending = (
                self._db.collection("messages")
                .where(filter=FieldFilter("conversation_id", "==", snap.id))
                .where(filter=FieldFilter("pending", "==", True))
                .limit(1)
                .stream()
            )
            if any(True for _ in pending):
                waiting.append(snap.id)
        return freed, waiting
