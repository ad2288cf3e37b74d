"""The analysts' console: who may act, what they see, what they did (no I/O here)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ACTIONS",
    "CUSTOMER_SERVICE_WINDOW",
    "AuditRecord",
    "ChangeResult",
    "ChatLine",
    "ConsoleError",
    "Identity",
    "QueueItem",
    "Role",
    "TicketChange",
    "TicketView",
    "allowed",
]

# WhatsApp lets a business send free text only within 24 hours of the customer's last
# message; after it, only an approved template (the outbound function applies the same rule).
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


class Role(StrEnum):
    """What a console user may do."""

    ANALYST = "analyst"
    ADMIN = "admin"


# Every action and the roles allowed to run it; admins may do everything analysts do.
ACTIONS: dict[str, frozenset[Role]] = {
    "view": frozenset({Role.ANALYST, Role.ADMIN}),
    "reply": frozenset({Role.ANALYST, Role.ADMIN}),
    "add-to-kb": frozenset({Role.ANALYST, Role.ADMIN}),
    "answer": frozenset({Role.ANALYST, Role.ADMIN}),
    "transfer": frozenset({Role.ANALYST, Role.ADMIN}),
    "take-over": frozenset({Role.ANALYST, Role.ADMIN}),
    "return-to-ai": frozenset({Role.ANALYST, Role.ADMIN}),
    "close": frozenset({Role.ANALYST, Role.ADMIN}),
    "dashboard": frozenset({Role.ANALYST, Role.ADMIN}),
    # The audit trail names analysts and what they did: managers only.
    "audit": frozenset({Role.ADMIN}),
    # WhatsApp templates: everyone reads them and sends approved ones; admins keep the list
    # in step with what is registered at Meta.
    "templates": frozenset({Role.ANALYST, Role.ADMIN}),
    "template-write": frozenset({Role.ADMIN}),
    "reply-template": frozenset({Role.ANALYST, Role.ADMIN}),
    # Verdicts on AI answers; the export holds many customers' texts at once: admins only.
    "feedback": frozenset({Role.ANALYST, Role.ADMIN}),
    "feedback-export": frozenset({Role.ADMIN}),
    # Prompt versions: everyone drafts and tries them in the staging chat; what customers
    # get (publish, roll back) is the admins' call.
    "prompts": frozenset({Role.ANALYST, Role.ADMIN}),
    "prompt-draft": frozenset({Role.ANALYST, Role.ADMIN}),
    "prompt-try": frozenset({Role.ANALYST, Role.ADMIN}),
    "prompt-publish": frozenset({Role.ADMIN}),
    "prompt-rollback": frozenset({Role.ADMIN}),
}


def allowed(role: Role, action: str) -> bool:
    """May this role run this action."""
    return role in ACTIONS.get(action, frozenset())


class ConsoleError(Exception):
    """An action refused, with the HTTP status and a message the analyst can act on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Identity(_Frozen):
    """A signed-in console user. `via`: iap, bearer (a Google ID token) or session (dev login)."""

    email: str
    role: Role
    via: Literal["iap", "bearer", "session"]


class QueueItem(_Frozen):
    """A ticket waiting for an analyst."""

    ticket_id: str
    assistant: str
    category: str
    status: str
    waiting_since: datetime
    waiting_seconds: int
    question: str = ""


class ChatLine(_Frozen):
    """One message of a conversation as the console shows it."""

    at: datetime
    # customer, business (sent from the WhatsApp Business app), ai or analyst
    author: str
    text: str = ""
    type: str = "text"
    media_id: str | None = None
    # For what we sent: sending, sent, failed, retry, dead_lettered
    status: str | None = None


class TicketView(_Frozen):
    """A ticket with its conversation, its handoff card and what may be done with it."""

    ticket_id: str
    conversation_id: str
    assistant: str
    category: str
    status: str
    holder: str
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    intervened: bool = False
    handoff: dict[str, Any] | None = None
    customer_name: str | None = None
    customer_wa_id: str = ""
    last_customer_message_at: datetime | None = None
    # Free text may be sent (WhatsApp's 24-hour customer-service window is open).
    window_open: bool = False
    lines: list[ChatLine] = Field(default_factory=list)
    # A billing trail's ticket: the debt and where its trail is (shared.domain.billing.DebtRecord).
    debt: dict[str, Any] | None = None


class AuditRecord(_Frozen):
    """One console action: who did what, to which ticket, when, and how it ended."""

    action_id: str
    actor: str
    role: Role
    action: str
    ticket_id: str | None = None
    at: datetime
    outcome: Literal["done", "refused"] = "done"
    detail: dict[str, Any] = Field(default_factory=dict)


class TicketChange(_Frozen):
    """A console action's write to a ticket and its conversation, applied atomically.

    Applied only when the ticket is open (no `closed_at`) and, if `from_statuses` is given, in
    one of them; otherwise the store writes nothing and reports what it found.
    """

    from_statuses: frozenset[str] | None = None
    ticket: dict[str, Any] = Field(default_factory=dict)
    # Firestore-style counters on the ticket: field -> increment.
    increments: dict[str, int] = Field(default_factory=dict)
    holder: Literal["ai", "human"] | None = None
    holder_reason: str | None = None
    # Detach the ticket from its conversation, so that the customer's next message opens a new one.
    release_ticket: bool = False


class ChangeResult(_Frozen):
    """What the store found: `status` None means no such ticket."""

    applied: bool
    status: str | None
    closed: bool = False
