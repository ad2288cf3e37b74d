"""HandoffNotifications on Firestore: one document per handoff card, `handoff_notifications/<key>`.

The first delivery claims the card with a *create* precondition (one write, no transaction);
a later one may take over a failed or abandoned claim only with an update precondition on the
document's last update time, so two deliveries never both post.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.domain.handoff_notice import HandoffNotice
from shared.domain.models import SendClaim

__all__ = ["COLLECTION", "FirestoreHandoffNotifications"]

COLLECTION = "handoff_notifications"
_FINAL = ("posted", "dead_lettered")


class FirestoreHandoffNotifications:
    """Claims, results and failures of posting handoff cards (no customer data is stored)."""

    def __init__(self, client: firestore.Client) -> None:
        self._db = client

    def _ref(self, key: str) -> Any:
        return self._db.collection(COLLECTION).document(key)

    def claim(self, notice: HandoffNotice, *, now: datetime, claim_seconds: float) -> SendClaim:
        """SEND: this delivery posts; DONE: posted or parked already; BUSY: another is posting."""
        ref = self._ref(notice.key)
        until = now + timedelta(seconds=claim_seconds)
        try:
            ref.create(
                {
                    "status": "posting",
                    "ticket_id": notice.ticket_id,
                    "turn_id": notice.turn_id,
                    "claimed_until": until,
                    "attempts": 1,
                    "first_attempt_at": now,
                }
            )
            return SendClaim.SEND
        except gexc.Conflict:
            # AlreadyExists: an earlier delivery of the same card got here first.
            pass
        snap = ref.get()
        data: dict[str, Any] = snap.to_dict() or {}
        status = data.get("status")
        # A parked card is replayed by an operator, never by a stray redelivery.
        if status in _FINAL:
            return SendClaim.DONE
        claimed_until = data.get("claimed_until")
        if status == "posting" and claimed_until is not None and claimed_until > now:
            return SendClaim.BUSY
        try:
            ref.update(
                {
                    "status": "posting",
                    "claimed_until": until,
                    "attempts": firestore.Increment(1),
                },
                option=self._db.write_option(last_update_time=snap.update_time),
            )
        except (gexc.FailedPrecondition, gexc.NotFound):
            # Someone else took it over between our read and our write.
            return SendClaim.BUSY
        return SendClaim.SEND

    def record_posted(self, key: str, message_name: str) -> None:
        """The card is in the space; no later delivery posts it again."""
        self._ref(key).set(
            {
                "status": "posted",
                "message_name": message_name,
                "posted_at": firestore.SERVER_TIMESTAMP,
            },
            merge=True,
        )

    def release(self, key: str, error: str) -> int:
        """A failure a retry may fix: a later delivery may claim it; returns the attempts."""
        ref = self._ref(key)
        ref.set({"status": "retry", "last_error": error[:500]}, merge=True)
        return int((ref.get().to_dict() or {}).get("attempts", 1))

    def give_up(self, key: str, reason: str) -> None:
        """No retry will help: the card goes to the dead letters with this reason."""
        self._ref(key).set(
            {
                "status": "dead_lettered",
                "last_error": reason[:500],
                "finished_at": firestore.SERVER_TIMESTAMP,
            },
            merge=True,
        )
