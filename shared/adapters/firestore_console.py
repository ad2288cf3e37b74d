"""ConsoleStore on Firestore: the analysts' reads and writes over the pipeline's collections."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.adapters.firestore_store import run_transaction
from shared.domain.console import AuditRecord, ChangeResult, ChatLine, TicketChange
from shared.domain.models import Conversation

__all__ = ["FirestoreConsoleStore"]

T = TypeVar("T")

# Outbound documents from the pipeline carry the turn that wrote them; the console's carry none.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FirestoreConsoleStore:
    """Reads tickets and conversations, applies console actions, keeps the audit trail."""

    def __init__(self, client: firestore.Client) -> None:
        self._db = client

    def _run(self, work: Callable[[Any], T], *, attempts: int = 5) -> T:
        return run_transaction(self._db, work, attempts=attempts)

    # ------------------------------------------------------------------ reads

    def user_role(self, email: str) -> str | None:
        """The role of `console_users/{email}`, or None."""
        snap = self._db.collection("console_users").document(email.lower()).get()
        role = (snap.to_dict() or {}).get("role") if snap.exists else None
        return str(role) if role else None

    def tickets_in(
        self, statuses: Sequence[str], *, assistant: str | None, category: str | None
    ) -> list[dict[str, object]]:
        """Open tickets in these statuses; equality filters only, so no composite index."""
        query = self._db.collection("tickets").where(
            filter=FieldFilter("status", "in", list(statuses))
        )
        if assistant:
            query = query.where(filter=FieldFilter("assistant", "==", assistant))
        if category:
            query = query.where(filter=FieldFilter("category", "==", category))
        rows: list[dict[str, object]] = []
        for snap in query.limit(1000).stream():
            data = snap.to_dict() or {}
            if data.get("closed_at") is None:
                rows.append({**data, "ticket_id": snap.id})
        return rows

    def ticket(self, ticket_id: str) -> dict[str, object] | None:
        """The ticket's stored fields plus `ticket_id`, or None."""
        snap = self._db.collection("tickets").document(ticket_id).get()
        if not snap.exists:
            return None
        return {**(snap.to_dict() or {}), "ticket_id": snap.id}

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        """The conversation, or None."""
        snap = self._db.collection("conversations").document(conversation_id).get()
        if not snap.exists:
            return None
        return Conversation(conversation_id=conversation_id, **(snap.to_dict() or {}))

    def conversation_lines(self, conversation_id: str, *, limit: int = 200) -> list[ChatLine]:
        """Customer messages and echoes, and every send (AI or analyst), oldest first."""
        lines: list[ChatLine] = []
        messages = self._db.collection("messages").where(
            filter=FieldFilter("conversation_id", "==", conversation_id)
        )
        for snap in messages.limit(limit).stream():
            d = snap.to_dict() or {}
            lines.append(
                ChatLine(
                    at=d.get("timestamp") or _EPOCH,
                    author="business" if d.get("direction") == "echo" else "customer",
                    text=d.get("text") or "",
                    type=d.get("type") or "text",
                    media_id=d.get("media_id"),
                )
            )
        sends = self._db.collection("outbound_messages").where(
            filter=FieldFilter("conversation_id", "==", conversation_id)
        )
        for snap in sends.limit(limit).stream():
            d = snap.to_dict() or {}
            lines.append(
                ChatLine(
                    at=d.get("first_attempt_at") or _EPOCH,
                    author="ai" if d.get("turn_id") else "analyst",
                    text=d.get("text") or d.get("template_name") or "",
                    type=d.get("kind") or "text",
                    status=d.get("status"),
                )
            )
        # Sorted here rather than by the queries: no composite index to declare.
        lines.sort(key=lambda line: line.at)
        return lines[-limit:]

    # ----------------------------------------------------------------- writes

    def change_ticket(self, ticket_id: str, change: TicketChange) -> ChangeResult:
        """Apply the change if the ticket is open and in an expected status."""
        ticket_ref = self._db.collection("tickets").document(ticket_id)

        def work(txn: Any) -> ChangeResult:
            snap = ticket_ref.get(transaction=txn)
            if not snap.exists:
                return ChangeResult(applied=False, status=None)
            data = snap.to_dict() or {}
            status = str(data.get("status", ""))
            closed = data.get("closed_at") is not None
            if closed or (change.from_statuses is not None and status not in change.from_statuses):
                return ChangeResult(applied=False, status=status, closed=closed)
            conv_ref = self._db.collection("conversations").document(
                str(data.get("conversation_id", ""))
            )
            conv = conv_ref.get(transaction=txn)
            conv_data = (conv.to_dict() or {}) if conv.exists else {}
            update: dict[str, Any] = {**change.ticket, "updated_at": firestore.SERVER_TIMESTAMP}
            for field, amount in change.increments.items():
                update[field] = firestore.Increment(amount)
            txn.update(ticket_ref, update)
            conv_update: dict[str, Any] = {}
            if change.holder is not None:
                conv_update["holder"] = change.holder
                conv_update["holder_reason"] = change.holder_reason
            if change.release_ticket and conv_data.get("open_ticket_id") == ticket_id:
                conv_update["open_ticket_id"] = None
            if conv.exists and conv_update:
                conv_update["updated_at"] = firestore.SERVER_TIMESTAMP
                txn.update(conv_ref, conv_update)
            return ChangeResult(applied=True, status=str(update.get("status", status)))

        return self._run(work)

    def record_audit(self, record: AuditRecord) -> None:
        """One document per action, keyed by its id: a retried request writes it once."""
        self._db.collection("console_audit").document(record.action_id).set(
            record.model_dump(mode="python")
        )

    def audit_trail(self, *, ticket_id: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """The latest actions, newest first (of one ticket, if given)."""
        query: Any = self._db.collection("console_audit")
        if ticket_id:
            query = query.where(filter=FieldFilter("ticket_id", "==", ticket_id))
            records = [AuditRecord.model_validate(s.to_dict()) for s in query.stream()]
        else:
            query = query.order_by("at", direction=firestore.Query.DESCENDING).limit(limit)
            records = [AuditRecord.model_validate(s.to_dict()) for s in query.stream()]
        records.sort(key=lambda r: r.at, reverse=True)
        return records[:limit]
