"""TemplateStore and FeedbackStore on Firestore: whatsapp_templates, turns, answer_feedback."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.feedback import AnswerFeedback, TurnRecord, outcome_of_turn
from shared.domain.whatsapp_templates import WhatsAppTemplate, template_id

__all__ = ["FirestoreFeedbackStore", "FirestoreTemplateStore"]


class FirestoreTemplateStore:
    """One document per template, keyed `{name}.{language}`."""

    def __init__(self, client: firestore.Client) -> None:
        self._collection = client.collection("whatsapp_templates")

    def templates(self) -> list[WhatsAppTemplate]:
        """Every template, by name then language (a few dozen at most: no paging)."""
        found = [
            WhatsAppTemplate.model_validate(s.to_dict() or {})
            for s in self._collection.limit(500).stream()
        ]
        return sorted(found, key=lambda t: (t.name, t.language))

    def template(self, name: str, language: str) -> WhatsAppTemplate | None:
        """The template, or None."""
        snap = self._collection.document(template_id(name, language)).get()
        return WhatsAppTemplate.model_validate(snap.to_dict() or {}) if snap.exists else None

    def save_template(self, template: WhatsAppTemplate, *, create: bool) -> bool:
        """Write it; with `create`, only if absent (Firestore's create is the check)."""
        ref = self._collection.document(template.id)
        data = template.model_dump(mode="python")
        if not create:
            ref.set(data)
            return True
        try:
            ref.create(data)
        except gexc.AlreadyExists:
            return False
        return True

    def delete_template(self, name: str, language: str) -> bool:
        """Delete it; False if there was none."""
        ref = self._collection.document(template_id(name, language))
        if not ref.get().exists:
            return False
        ref.delete()
        return True


class FirestoreFeedbackStore:
    """Reads AI turns with their customers' texts; keeps one verdict per turn."""

    def __init__(self, client: firestore.Client) -> None:
        self._db = client

    def turn(self, turn_id: str) -> TurnRecord | None:
        """The turn, or None."""
        snap = self._db.collection("turns").document(turn_id).get()
        return self._record(snap.id, snap.to_dict() or {}) if snap.exists else None

    def turns_of_ticket(self, ticket_id: str) -> list[TurnRecord]:
        """The ticket's AI turns, oldest first (sorted here: no composite index)."""
        query = self._db.collection("turns").where(filter=FieldFilter("ticket_id", "==", ticket_id))
        records = [self._record(s.id, s.to_dict() or {}) for s in query.limit(200).stream()]
        return sorted(records, key=lambda r: (r.created_at is None, r.created_at))

    def save_feedback(self, feedback: AnswerFeedback) -> None:
        """One verdict per turn: marking it again replaces the earlier one."""
        self._db.collection("answer_feedback").document(feedback.turn_id).set(
            feedback.model_dump(mode="python")
        )

    def feedback(self, *, ticket_id: str | None = None) -> list[AnswerFeedback]:
        """Every verdict (or one ticket's), oldest first."""
        query: Any = self._db.collection("answer_feedback")
        if ticket_id:
            query = query.where(filter=FieldFilter("ticket_id", "==", ticket_id))
        rows = [AnswerFeedback.model_validate(s.to_dict() or {}) for s in query.stream()]
        return sorted(rows, key=lambda f: f.at)

    def _record(self, turn_id: str, data: dict[str, Any]) -> TurnRecord:
        raw = data.get("turn")
        turn: dict[str, Any] = raw if isinstance(raw, dict) else {}
        message_ids = [str(m) for m in turn.get("message_ids", [])]
        texts: list[str] = []
        if message_ids:
            refs = [self._db.collection("messages").document(m) for m in message_ids]
            by_id = {s.id: s.to_dict() or {} for s in self._db.get_all(refs) if s.exists}
            # The customer's words in the order they came; images and echoes carry no text.
            texts = [
                str(by_id[m].get("text") or "").strip()
                for m in message_ids
                if m in by_id and str(by_id[m].get("text") or "").strip()
            ]
        replies = [str(r.get("text", "")) for r in data.get("replies", []) if isinstance(r, dict)]
        status = str(turn.get("ticket_status") or "")
        return TurnRecord(
            turn_id=turn_id,
            ticket_id=data.get("ticket_id"),
            conversation_id=str(data.get("conversation_id", "")),
            route=str(data.get("route") or turn.get("route") or ""),
            outcome=outcome_of_turn(str(turn.get("outcome") or ""), status, len(replies)),
            ticket_status=status,
            customer_texts=texts,
            replies=replies,
            created_at=data.get("created_at"),
        )
