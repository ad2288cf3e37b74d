"""ConversationStore on Firestore: messages, conversations, tickets, leases, turns, sends."""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.models import (
    WITH_AI,
    WITH_ANALYST,
    Conversation,
    Holder,
    InboundMessage,
    OutboundMessage,
    Recorded,
    SendClaim,
    SendOutcome,
    SendResult,
    StatusReceipt,
    TicketStatus,
    Turn,
)

__all__ = [
    "ContentionError",
    "FirestoreStore",
    "run_transaction",
    "snapshot_data",
    "ticket_id_for",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long dedupe and lease documents live before Firestore's TTL policy removes them.
_EVENT_RETENTION = timedelta(days=30)


def ticket_id_for(first_message_id: str) -> str:
    """Deterministic, so that a retried intake opens the same ticket."""
    return "T-" + hashlib.sha256(first_message_id.encode()).hexdigest()[:16]


# The first wait between two aborted attempts; it doubles each time, with full jitter.
_RETRY_BASE_SECONDS = 0.05


def run_transaction(db: firestore.Client, work: Callable[[Any], T], *, attempts: int = 5) -> T:
    """Run `work` in a transaction, retrying contention that surfaces on reads too.

    Raises ContentionError when every attempt aborted, so a push handler fails and Pub/Sub
    delivers the message again.
    """
    last: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            # A fresh transaction loses its place in the queue for the document's lock; without
            # a random wait, writers aborted together come back together and abort again.
            time.sleep(random.uniform(0, _RETRY_BASE_SECONDS * 2**attempt))  # noqa: S311
        try:
            return firestore.transactional(work)(db.transaction())  # type: ignore[no-any-return]
        except gexc.Aborted as error:
            last = error
        except ValueError as error:
            # The client wraps exhausted commit retries in a ValueError.
            if not isinstance(error.__cause__, gexc.Aborted):
                raise
            last = error
    raise ContentionError("transaction kept aborting") from last


class FirestoreStore:
    """All pipeline state in one Firestore database."""

    def __init__(self, client: firestore.Client) -> None:
        self._db = client

    # ----------------------------------------------------------------- helpers

    def _run(self, work: Callable[[Any], T], *, attempts: int = 5) -> T:
        """Run `work` in a transaction, retrying contention that surfaces on reads too."""
        return run_transaction(self._db, work, attempts=attempts)

    def _conversations(self) -> Any:
        return self._db.collection("conversations")

    def _messages(self) -> Any:
        return self._db.collection("messages")

    def _tickets(self) -> Any:
        return self._db.collection("tickets")

    # ------------------------------------------------------------------ intake

    def record_inbound(self, message: InboundMessage, *, assistant: str) -> Recorded:
        """Persist a customer message once; open or reuse its ticket."""
        conv_ref = self._conversations().document(message.conversation_id)
        msg_ref = self._messages().document(message.message_id)

        def work(txn: Any) -> Recorded:
            conv = conv_ref.get(transaction=txn)
            conv_data = snapshot_data(conv)
            holder = conv_data.get("holder", Holder.AI.value)
            ticket_id = conv_data.get("open_ticket_id")
            ticket_data: dict[str, Any] = {}
            if ticket_id:
                ticket = self._tickets().document(ticket_id).get(transaction=txn)
                ticket_data = snapshot_data(ticket)
            status = ticket_data.get("status")
            pending = message.wakes_agent and holder == Holder.AI.value
            conv_update: dict[str, Any] = {
                "wa_id": message.wa_id,
                "phone_number_id": message.phone_number_id,
                "assistant": conv_data.get("assistant", assistant),
                "holder": holder,
                "updated_at": firestore.SERVER_TIMESTAMP,
            }
            if message.contact_name:
                conv_update["contact_name"] = message.contact_name
            if message.wakes_agent:
                # Opens WhatsApp's 24-hour customer-service window.
                conv_update["last_customer_message_at"] = message.timestamp
                # Our own clock, not WhatsApp's (whole seconds): the quiet period counts from it.
                conv_update["last_inbound_at"] = firestore.SERVER_TIMESTAMP
                if status in WITH_AI or status in WITH_ANALYST:
                    # The billing dashboard's response rate counts tickets the customer
                    # answered (a trail's ticket is opened by the business, not by them).
                    ticket_update: dict[str, Any] = {"customer_replied": True}
                    if status == TicketStatus.AI_REPLIED and pending:
                        ticket_update["status"] = TicketStatus.AWAITING_AI.value
                        ticket_update["updated_at"] = firestore.SERVER_TIMESTAMP
                    if not ticket_data.get("customer_replied") or "status" in ticket_update:
                        txn.update(self._tickets().document(ticket_id), ticket_update)
                else:
                    ticket_id = ticket_id_for(message.message_id)
                    txn.set(
                        self._tickets().document(ticket_id),
                        _new_ticket_doc(message, conv_update["assistant"], holder),
                    )
                    conv_update["open_ticket_id"] = ticket_id
            # Raises AlreadyExists at commit: the dedupe is this precondition, not a read.
            txn.create(msg_ref, _message_doc(message, pending=pending, ticket_id=ticket_id))
            txn.set(conv_ref, conv_update, merge=True)
            txn.set(
                self._db.collection("contacts").document(message.wa_id),
                _contact_doc(message),
                merge=True,
            )
            return Recorded(new=True, pending=pending)

        try:
            return self._run(work)
        except gexc.AlreadyExists:
            return Recorded(new=False, pending=self.is_pending(message.message_id))

    def is_pending(self, message_id: str) -> bool:
        """Does this stored message still wait for an answer."""
        snap = self._messages().document(message_id).get()
        return bool(snap.exists and snap.get("pending"))

    def record_echo(self, message: InboundMessage) -> bool:
        """Store a message the business sent from its phone; a human now holds the thread."""
        conv_ref = self._conversations().document(message.conversation_id)
        msg_ref = self._messages().document(message.message_id)

        def work(txn: Any) -> bool:
            conv = conv_ref.get(transaction=txn)
            ticket_id = snapshot_data(conv).get("open_ticket_id")
            txn.create(msg_ref, _message_doc(message, pending=False, ticket_id=ticket_id))
            txn.set(
                conv_ref,
                {
                    "wa_id": message.wa_id,
                    "phone_number_id": message.phone_number_id,
                    "holder": Holder.HUMAN.value,
                    "holder_reason": "business_app_echo",
                    "updated_at": firestore.SERVER_TIMESTAMP,
                },
                merge=True,
            )
            if ticket_id:
                txn.set(
                    self._tickets().document(ticket_id),
                    {
                        "status": TicketStatus.TRANSFERRED_TO_ANALYST.value,
                        "intervention": "business_app",
                        "updated_at": firestore.SERVER_TIMESTAMP,
                    },
                    merge=True,
                )
            return True

        try:
            return self._run(work)
        except gexc.AlreadyExists:
            return False

    def record_status(self, receipt: StatusReceipt) -> None:
        """Apply a delivery receipt; commutative, so order and repeats do not matter."""
        update: dict[str, Any] = {
            "delivery": {receipt.status: receipt.timestamp},
            "phone_number_id": receipt.phone_number_id,
        }
        if receipt.errors:
            update["delivery_errors"] = receipt.errors
        self._db.collection("message_statuses").document(receipt.message_id).set(update, merge=True)
        # The send may not have recorded its wamid yet; it copies these receipts when it does.
        query = self._db.collection("outbound_messages").where(
            filter=FieldFilter("wamid", "==", receipt.message_id)
        )
        for snap in query.limit(1).stream():
            snap.reference.set(update, merge=True)

    # -------------------------------------------------------------- agent turn

    def acquire_lease(
        self, conversation_id: str, owner: str, *, now: datetime, seconds: float
    ) -> bool:
        """Take the conversation's lease unless someone else holds an unexpired one."""
        ref = self._db.collection("leases").document(conversation_id)

        def work(txn: Any) -> bool:
            if _held_by_another(snapshot_data(ref.get(transaction=txn)), owner, now):
                return False
            txn.set(
                ref,
                {
                    "owner": owner,
                    "expires_at": now + timedelta(seconds=seconds),
                    "expire_at": now + _EVENT_RETENTION,
                },
            )
            return True

        try:
            return self._run(work, attempts=3)
        except ContentionError:
            # Usually another turn took it meanwhile. If nobody did, every contender may have
            # aborted: raise, so that Pub/Sub delivers this turn again rather than leaving the
            # conversation's messages waiting for the next tick's sweep.
            if _held_by_another(snapshot_data(ref.get()), owner, now):
                return False
            raise

    def release_lease(self, conversation_id: str, owner: str) -> None:
        """Let go of the lease if it is still ours."""
        ref = self._db.collection("leases").document(conversation_id)

        def work(txn: Any) -> None:
            snap = ref.get(transaction=txn)
            if snap.exists and snap.get("owner") == owner:
                txn.delete(ref)

        self._run(work)

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        """The conversation, or None if it was never written."""
        snap = self._conversations().document(conversation_id).get()
        if not snap.exists:
            return None
        data = snapshot_data(snap)
        return Conversation(conversation_id=conversation_id, **data)

    def pending_messages(self, conversation_id: str) -> list[InboundMessage]:
        """Customer messages not yet answered, oldest first."""
        query = (
            self._messages()
            .where(filter=FieldFilter("conversation_id", "==", conversation_id))
            .where(filter=FieldFilter("pending", "==", True))
        )
        docs = [snapshot_data(snap) for snap in query.stream()]
        docs.sort(key=lambda d: (d["timestamp"], d.get("received_at") or d["timestamp"]))
        return [_message_from_doc(d) for d in docs]

    def history(self, conversation_id: str, *, limit: int = 20) -> list[tuple[str, str]]:
        """The last exchanges as (role, text), oldest first; role is customer or assistant."""
        messages = (
            self._messages()
            .where(filter=FieldFilter("conversation_id", "==", conversation_id))
            .where(filter=FieldFilter("pending", "==", False))
            .order_by("timestamp", direction=firestore.Query.DESCENDING)
            .limit(limit)
            .stream()
        )
        rows: list[tuple[datetime, str, str]] = []
        for snap in messages:
            d = snapshot_data(snap)
            role = "business" if d.get("direction") == "echo" else "customer"
            rows.append((d["timestamp"], role, d.get("text", "")))
        turns = (
            self._db.collection("turns")
            .where(filter=FieldFilter("conversation_id", "==", conversation_id))
            .order_by("created_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
            .stream()
        )
        for snap in turns:
            d = snapshot_data(snap)
            for reply in d.get("replies", []):
                rows.append((d["created_at"], "assistant", reply.get("text", "")))
        rows.sort(key=lambda r: r[0])
        return [(role, text) for _, role, text in rows[-limit:]]

    def unpublished_turns(self, conversation_id: str) -> list[Turn]:
        """Turns recorded but whose replies may not have reached topic outbound."""
        query = (
            self._db.collection("turns")
            .where(filter=FieldFilter("conversation_id", "==", conversation_id))
            .where(filter=FieldFilter("published", "==", False))
        )
        return [Turn.model_validate(snap.get("turn")) for snap in query.stream()]

    def claim_turn(self, turn: Turn, *, now: datetime) -> bool:
        """Mark the turn's messages answered and record it, atomically; False if taken."""
        turn_ref = self._db.collection("turns").document(turn.turn_id)
        conv_ref = self._conversations().document(turn.conversation_id)

        def work(txn: Any) -> bool:
            existing = turn_ref.get(transaction=txn)
            if existing.exists:
                return not existing.get("published")
            refs = [self._messages().document(mid) for mid in turn.message_ids]
            snaps = list(txn.get_all(refs)) if refs else []
            if any(not s.exists or not s.get("pending") for s in snaps):
                return False
            conv = conv_ref.get(transaction=txn)
            ticket_id = snapshot_data(conv).get("open_ticket_id")
            for ref in refs:
                txn.update(ref, {"pending": False, "turn_id": turn.turn_id})
            txn.set(
                turn_ref,
                {
                    "turn": turn.model_dump(mode="json"),
                    "conversation_id": turn.conversation_id,
                    "ticket_id": ticket_id,
                    "replies": [{"text": r.text} for r in turn.replies],
                    "route": turn.route,
                    "model": turn.model,
                    "latency_ms": turn.latency_ms,
                    # Top-level, so cost reports and dashboards can aggregate them.
                    "prompt_version": turn.prompt_version,
                    "outcome": turn.outcome,
                    "input_tokens": turn.input_tokens,
                    "output_tokens": turn.output_tokens,
                    "cost_usd": turn.cost_usd,
                    "llm_calls": turn.llm_calls,
                    "tools": turn.tools,
                    "published": False,
                    "created_at": now,
                },
            )
            if ticket_id:
                update: dict[str, Any] = {
                    "status": turn.ticket_status.value,
                    "ai_messages": firestore.Increment(len(turn.replies)),
                    "last_route": turn.route,
                    "updated_at": firestore.SERVER_TIMESTAMP,
                }
                if turn.handoff is not None:
                    update["handoff"] = turn.handoff.model_dump(mode="json")
                    update["category"] = turn.handoff.category
                    # The console's queue counts an analyst's waiting time from here.
                    update["transferred_at"] = firestore.SERVER_TIMESTAMP
                txn.update(self._tickets().document(ticket_id), update)
            if turn.handoff is not None:
                txn.update(conv_ref, {"holder": Holder.HUMAN.value, "holder_reason": "handoff"})
            return True

        return self._run(work)

    def mark_turn_published(self, turn: Turn) -> None:
        """Every reply of the turn is confirmed on topic outbound."""
        self._db.collection("turns").document(turn.turn_id).update({"published": True})

    def release_to_human(self, conversation_id: str, message_ids: Sequence[str]) -> None:
        """A human holds the conversation: these messages are theirs to answer."""
        batch = self._db.batch()
        for mid in message_ids:
            batch.update(self._messages().document(mid), {"pending": False, "handled_by": "human"})
        batch.commit()

    # ---------------------------------------------------------------- outbound

    def claim_send(
        self, message: OutboundMessage, *, now: datetime, claim_seconds: float
    ) -> SendClaim:
        """Claim the right to call the API for this idempotency key."""
        ref = self._db.collection("outbound_messages").document(message.idempotency_key)

        def work(txn: Any) -> SendClaim:
            snap = ref.get(transaction=txn)
            data = snapshot_data(snap)
            status = data.get("status")
            # A parked send is replayed by an operator, never by a stray redelivery.
            if status in (
                SendOutcome.SENT.value,
                SendOutcome.PERMANENT_FAILURE.value,
                "dead_lettered",
            ):
                return SendClaim.DONE
            if status == "sending" and data.get("claimed_until") and data["claimed_until"] > now:
                return SendClaim.BUSY
            txn.set(
                ref,
                {
                    "status": "sending",
                    "claimed_until": now + timedelta(seconds=claim_seconds),
                    "conversation_id": message.conversation_id,
                    "to": message.to,
                    "kind": message.kind,
                    "text": message.text,
                    "template_name": message.template_name,
                    "ticket_id": message.ticket_id,
                    "turn_id": message.turn_id,
                    "attempts": firestore.Increment(1),
                    "first_attempt_at": data.get("first_attempt_at", now),
                },
                merge=True,
            )
            return SendClaim.SEND

        return self._run(work)

    def record_send_result(self, message: OutboundMessage, result: SendResult) -> None:
        """Store how the send ended, and any receipts that raced ahead of it."""
        ref = self._db.collection("outbound_messages").document(message.idempotency_key)
        update: dict[str, Any] = {
            "status": result.outcome.value,
            "http_status": result.http_status,
            "error_code": result.error_code,
            "error_message": result.error_message,
            "finished_at": firestore.SERVER_TIMESTAMP,
        }
        if result.wamid:
            update["wamid"] = result.wamid
            early = self._db.collection("message_statuses").document(result.wamid).get()
            if early.exists:
                update["delivery"] = early.get("delivery")
        ref.set(update, merge=True)

    def release_send_claim(self, key: str, error: str) -> int:
        """A transient failure: let the next delivery try again; returns the attempts so far."""
        ref = self._db.collection("outbound_messages").document(key)
        ref.set(
            {"status": SendOutcome.TRANSIENT_FAILURE.value, "last_error": error[:500]},
            merge=True,
        )
        return int(snapshot_data(ref.get()).get("attempts", 1))

    def give_up_send(self, key: str, reason: str) -> None:
        """No more attempts: the message is parked as a dead letter."""
        self._db.collection("outbound_messages").document(key).set(
            {
                "status": "dead_lettered",
                "last_error": reason[:500],
                "finished_at": firestore.SERVER_TIMESTAMP,
            },
            merge=True,
        )

    # ------------------------------------------------------------ dead letters

    def record_dead_letter(
        self, message_id: str, payload: Mapping[str, object], reason: str, source: str
    ) -> None:
        """Keep a dead-lettered message where operators can see it, with its reason."""
        self._db.collection("dead_letters").document(message_id).set(
            {
                "payload": dict(payload),
                "reason": reason,
                "source": source,
                "recorded_at": firestore.SERVER_TIMESTAMP,
            }
        )


def _held_by_another(lease: Mapping[str, Any], owner: str, now: datetime) -> bool:
    expires_at = lease.get("expires_at")
    return lease.get("owner") not in (None, owner) and expires_at is not None and expires_at > now


class ContentionError(RuntimeError):
    """A transaction lost every retry to concurrent writers."""


def snapshot_data(snapshot: Any) -> dict[str, Any]:
    """A snapshot's fields; empty when the document does not exist."""
    return (snapshot.to_dict() or {}) if snapshot.exists else {}


def _contact_doc(message: InboundMessage) -> dict[str, Any]:
    doc: dict[str, Any] = {"wa_id": message.wa_id, "last_seen_at": message.timestamp}
    if message.contact_name:
        doc["name"] = message.contact_name
    return doc


def _new_ticket_doc(message: InboundMessage, assistant: str, holder: str) -> dict[str, Any]:
    status = (
        TicketStatus.AWAITING_AI
        if holder == Holder.AI.value
        else TicketStatus.TRANSFERRED_TO_ANALYST
    )
    return {
        "conversation_id": message.conversation_id,
        "assistant": assistant,
        "customer_wa_id": message.wa_id,
        "status": status.value,
        "opened_at": message.timestamp,
        "updated_at": firestore.SERVER_TIMESTAMP,
        "ai_messages": 0,
        "first_message_id": message.message_id,
        "customer_replied": True,
    }


def _message_doc(
    message: InboundMessage, *, pending: bool, ticket_id: str | None
) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "conversation_id": message.conversation_id,
        "wa_id": message.wa_id,
        "phone_number_id": message.phone_number_id,
        "direction": "echo" if message.is_echo else "in",
        "type": message.type,
        "text": message.text,
        "timestamp": message.timestamp,
        "received_at": firestore.SERVER_TIMESTAMP,
        "contact_name": message.contact_name,
        "media_id": message.media_id,
        "wakes_agent": message.wakes_agent,
        "pending": pending,
        "ticket_id": ticket_id,
        "turn_id": None,
        "raw": message.raw,
    }


def _message_from_doc(doc: dict[str, Any]) -> InboundMessage:
    return InboundMessage(
        message_id=doc["message_id"],
        wa_id=doc["wa_id"],
        phone_number_id=doc["phone_number_id"],
        type=doc["type"],
        timestamp=doc["timestamp"],
        text=doc.get("text", ""),
        contact_name=doc.get("contact_name"),
        media_id=doc.get("media_id"),
        wakes_agent=doc.get("wakes_agent", False),
        is_echo=doc.get("direction") == "echo",
        raw=doc.get("raw", {}),
    )
