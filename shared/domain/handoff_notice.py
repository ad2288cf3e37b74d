"""The notice analysts get when the AI hands a ticket over: what it shows, and its post's key.

A `HandoffCard` (topic `handoffs`) becomes a `HandoffNotice`: the ticket, assistant and
category, the customer (contact name and the phone number masked except its last 4 digits),
the reformulated question, the summary, and a link to the ticket in the console. How a notice
is drawn (a Google Chat card) is the adapter's business (shared.adapters.google_chat).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import quote

from shared.domain.models import HandoffCard, SendOutcome

__all__ = [
    "VISIBLE_PHONE_DIGITS",
    "ChatPost",
    "HandoffNotice",
    "mask_phone",
    "notification_key",
    "ticket_url",
]

# Enough for an analyst to tell two customers apart or confirm one on the phone, too few to
# call or message anyone.
VISIBLE_PHONE_DIGITS = 4
_MASK = "•"


def mask_phone(wa_id: str) -> str:
    """`5511988887777` -> `•••••••••7777`; a number too short to mask shows no digit."""
    digits = "".join(ch for ch in wa_id if ch.isdigit())
    if len(digits) <= VISIBLE_PHONE_DIGITS:
        return _MASK * len(digits)
    return _MASK * (len(digits) - VISIBLE_PHONE_DIGITS) + digits[-VISIBLE_PHONE_DIGITS:]


def ticket_url(console_base_url: str, ticket_id: str) -> str | None:
    """`{console}/tickets/{ticket id}`, or None while no console is configured."""
    base = console_base_url.strip().rstrip("/")
    if not base:
        return None
    return f"{base}/tickets/{quote(ticket_id, safe='')}"


def notification_key(card: HandoffCard) -> str:
    """One post per ticket and turn; a card without its turn is keyed by its content.

    A Firestore document id: no `/`, so the parts are joined with `_` and escaped.
    """
    turn = (
        card.turn_id or "card-" + hashlib.sha256(card.model_dump_json().encode()).hexdigest()[:24]
    )
    return f"{card.ticket_id}_{turn}".replace("/", "%2F")


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffNotice:
    """What the analysts' card shows; the full phone number never gets here."""

    key: str
    ticket_id: str
    turn_id: str
    assistant: str
    category: str
    customer_name: str | None
    customer_phone: str
    question: str
    summary: str
    ticket_url: str | None

    @classmethod
    def from_card(cls, card: HandoffCard, *, console_base_url: str) -> HandoffNotice:
        """The notice of one handoff, linking to the ticket under `console_base_url`."""
        return cls(
            key=notification_key(card),
            ticket_id=card.ticket_id,
            turn_id=card.turn_id,
            assistant=card.assistant,
            category=card.category,
            customer_name=(card.customer_name or "").strip() or None,
            customer_phone=mask_phone(card.customer_wa_id),
            question=card.question,
            summary=card.summary,
            ticket_url=ticket_url(console_base_url, card.ticket_id),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatPost:
    """How posting a notice ended: sent, or a failure a retry may (or cannot) fix."""

    outcome: SendOutcome
    http_status: int | None = None
    # The chat service's name for the message (`spaces/…/messages/…`) once it is posted.
    message_name: str = ""
    error: str = ""
