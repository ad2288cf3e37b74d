"""The ports the use cases talk to; one adapter per backend lives in shared.adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from shared.domain.billing import Debt, DebtorAction, DebtRecord, ImportCounts, PaymentEvent
from shared.domain.business import Invoice, Order, ServiceRequest, Store
from shared.domain.console import AuditRecord, ChangeResult, ChatLine, TicketChange
from shared.domain.dashboard import SummedField, TicketFilter
from shared.domain.feedback import AnswerFeedback, TurnRecord
from shared.domain.handoff_notice import ChatPost, HandoffNotice
from shared.domain.knowledge import KnowledgeEntry
from shared.domain.models import (
    BrainReply,
    BrainRequest,
    Conversation,
    ImageReading,
    InboundMessage,
    KnowledgeHit,
    OutboundMessage,
    Recorded,
    SendClaim,
    SendResult,
    StatusReceipt,
    ToolResult,
    Turn,
)
from shared.domain.prompts import PromptVersion
from shared.domain.trail import Receipt, TrailDecision, TrailPolicy, TrailSnapshot
from shared.domain.whatsapp_templates import WhatsAppTemplate

__all__ = [
    "AgentBrain",
    "BusinessData",
    "BusinessTools",
    "ChatNotifier",
    "Clock",
    "ConsoleStore",
    "ConversationStore",
    "DashboardSource",
    "DebtStore",
    "Embedder",
    "FeedbackStore",
    "HandoffNotifications",
    "ImageReader",
    "KnowledgeBase",
    "KnowledgeStore",
    "MaintenanceStore",
    "PromptStore",
    "Publisher",
    "SecretSource",
    "TemplateStore",
    "WhatsAppSender",
]


class Clock(Protocol):
    """Time source, swappable in tests."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SecretSource(Protocol):
    """Reads a secret by its Secret Manager id (for example `whatsapp-app-secret`)."""

    def get(self, secret_id: str) -> str: ...


class Publisher(Protocol):
    """Publishes to a Pub/Sub topic and returns only once the publish is confirmed."""

    def publish(
        self,
        topic: str,
        data: bytes,
        *,
        ordering_key: str = "",
        attributes: Mapping[str, str] | None = None,
    ) -> str: ...

    def publish_many(
        self, topic: str, items: Sequence[tuple[bytes, str, Mapping[str, str]]]
    ) -> list[str]: ...


class AgentBrain(Protocol):
    """Decides the answer to a conversation's pending messages."""

    def answer(self, request: BrainRequest) -> BrainReply: ...

    def warm_up(self) -> None: ...


class BusinessTools(Protocol):
    """The business tools (orders, invoices, stores, tickets) agents call through the MCP hub.

    `call` never raises for a tool's own failure: it returns a ToolResult with `ok=False`.
    """

    def call(self, tool: str, arguments: Mapping[str, object]) -> ToolResult: ...


class BusinessData(Protocol):
    """The ERP/CRM records behind the business tools; a real ERP plugs in here.

    Adapters: a JSON file (shared.adapters.business_json, the demo). Phone numbers are E.164
    digits (`5511988887777`), order numbers six digits.
    """

    def order(self, order_number: str) -> Order | None: ...

    def invoices(self, customer_phone: str) -> list[Invoice]: ...

    # Matches city, neighbourhood and store name, ignoring case and accents.
    def stores(self, query: str) -> list[Store]: ...

    # Returns the ticket's protocol number; the same idempotency key returns the same one.
    def open_ticket(self, request: ServiceRequest) -> str: ...


class ImageReader(Protocol):
    """Downloads a customer's image by its WhatsApp media id and reads the text on it."""

    def read(self, media_id: str, *, phone_number_id: str) -> ImageReading: ...


class ChatNotifier(Protocol):
    """Posts a handoff notice to the analysts' chat space (shared.adapters.google_chat).

    `post` never raises for the service's answer or the network: the outcome of the ChatPost
    says whether a later attempt may succeed.
    """

    def post(self, notice: HandoffNotice) -> ChatPost: ...


class HandoffNotifications(Protocol):
    """The record of every handoff notice posted, so that a redelivered card is posted once.

    Adapters: shared.adapters.firestore_handoffs (collection `handoff_notifications`).
    """

    # SEND: post it now; DONE: posted or parked already; BUSY: another delivery holds it.
    def claim(self, notice: HandoffNotice, *, now: datetime, claim_seconds: float) -> SendClaim: ...

    def record_posted(self, key: str, message_name: str) -> None: ...

    # A failure a retry may fix; returns the attempts so far.
    def release(self, key: str, error: str) -> int: ...

    def give_up(self, key: str, reason: str) -> None: ...


class WhatsAppSender(Protocol):
    """Sends one message through the WhatsApp Cloud API."""

    def send(self, message: OutboundMessage) -> SendResult: ...


class Embedder(Protocol):
    """Turns texts into vectors; `model_id` is stored beside every vector it makes."""

    model_id: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class KnowledgeBase(Protocol):
    """Finds the entries closest to a question within an assistant's namespace.

    Adapters: Firestore vector search (local default), MongoDB Atlas (production), in memory.
    Expired entries are never returned.
    """

    def search(self, namespace: str, question: str, *, limit: int = 3) -> list[KnowledgeHit]: ...


class KnowledgeStore(KnowledgeBase, Protocol):
    """A knowledge base that can also be fed and maintained."""

    def upsert(self, entries: Iterable[KnowledgeEntry]) -> int: ...

    def export(self, namespace: str | None = None) -> Iterator[KnowledgeEntry]: ...

    def purge_expired(self, now: datetime) -> int: ...

    def reembed(self, namespace: str | None = None) -> int: ...


class ConversationStore(Protocol):
    """Persistent state of conversations, messages, tickets, leases, turns and sends."""

    # intake
    def record_inbound(self, message: InboundMessage, *, assistant: str) -> Recorded: ...

    def is_pending(self, message_id: str) -> bool: ...

    def record_status(self, receipt: StatusReceipt) -> None: ...

    def record_echo(self, message: InboundMessage) -> bool: ...

    # agent turn
    def acquire_lease(
        self, conversation_id: str, owner: str, *, now: datetime, seconds: float
    ) -> bool: ...

    def release_lease(self, conversation_id: str, owner: str) -> None: ...

    def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    def pending_messages(self, conversation_id: str) -> list[InboundMessage]: ...

    def history(self, conversation_id: str, *, limit: int = 20) -> list[tuple[str, str]]: ...

    def unpublished_turns(self, conversation_id: str) -> list[Turn]: ...

    def claim_turn(self, turn: Turn, *, now: datetime) -> bool: ...

    def release_to_human(self, conversation_id: str, message_ids: Sequence[str]) -> None: ...

    def mark_turn_published(self, turn: Turn) -> None: ...

    # outbound
    def claim_send(
        self, message: OutboundMessage, *, now: datetime, claim_seconds: float
    ) -> SendClaim: ...

    def record_send_result(self, message: OutboundMessage, result: SendResult) -> None: ...

    def release_send_claim(self, key: str, error: str) -> int: ...

    def give_up_send(self, key: str, reason: str) -> None: ...

    # dead letters
    def record_dead_letter(
        self, message_id: str, payload: Mapping[str, object], reason: str, source: str
    ) -> None: ...


class DashboardSource(Protocol):
    """Aggregation queries over tickets for the dashboards: counts and sums, never documents.

    Each call takes a batch, so an adapter can run the queries concurrently; results come back
    in the order of `filters`. Every query reads the data as of `at`, an instant `read_time`
    gave, so that figures asked separately add up. Adapters: shared.adapters.firestore_dashboard.
    """

    def read_time(self) -> datetime: ...

    def count_tickets(self, filters: Sequence[TicketFilter], *, at: datetime) -> list[int]: ...

    # A ticket without the field adds nothing.
    def sum_field(
        self, field: SummedField, filters: Sequence[TicketFilter], *, at: datetime
    ) -> list[float]: ...


class ConsoleStore(Protocol):
    """What the analysts' console reads and writes: tickets, conversations, users, audit.

    Adapters: shared.adapters.firestore_console (collections tickets, conversations,
    messages, outbound_messages, console_users, console_audit).
    """

    # The role stored for this (lower-cased) email, or None.
    def user_role(self, email: str) -> str | None: ...

    # Tickets in these statuses and not closed, as their stored fields plus `ticket_id`.
    def tickets_in(
        self, statuses: Sequence[str], *, assistant: str | None, category: str | None
    ) -> list[dict[str, object]]: ...

    def ticket(self, ticket_id: str) -> dict[str, object] | None: ...

    def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    # Messages in (customer, business echoes) and out (AI and analysts), oldest first.
    def conversation_lines(self, conversation_id: str, *, limit: int = 200) -> list[ChatLine]: ...

    def change_ticket(self, ticket_id: str, change: TicketChange) -> ChangeResult: ...

    def record_audit(self, record: AuditRecord) -> None: ...

    def audit_trail(
        self, *, ticket_id: str | None = None, limit: int = 100
    ) -> list[AuditRecord]: ...


class TemplateStore(Protocol):
    """The WhatsApp templates registered at Meta (collection whatsapp_templates)."""

    def templates(self) -> list[WhatsAppTemplate]: ...

    def template(self, name: str, language: str) -> WhatsAppTemplate | None: ...

    # Writes it; with `create`, only if absent, and False when it already exists.
    def save_template(self, template: WhatsAppTemplate, *, create: bool) -> bool: ...

    # False if there was none.
    def delete_template(self, name: str, language: str) -> bool: ...


class FeedbackStore(Protocol):
    """AI turns and the analysts' verdicts on them (collections turns, answer_feedback)."""

    def turn(self, turn_id: str) -> TurnRecord | None: ...

    # The AI turns of a ticket, oldest first.
    def turns_of_ticket(self, ticket_id: str) -> list[TurnRecord]: ...

    def save_feedback(self, feedback: AnswerFeedback) -> None: ...

    # Every verdict, or one ticket's, oldest first.
    def feedback(self, *, ticket_id: str | None = None) -> list[AnswerFeedback]: ...


class PromptStore(Protocol):
    """Versioned prompts per assistant (collection prompt_versions; see shared.domain.prompts).

    Refusals raise shared.domain.prompts.PromptError (404 no such version, 409 wrong status).
    """

    # The published version, or None (the graph then uses the built-in texts).
    def published(self, assistant: str) -> PromptVersion | None: ...

    # Every version of the assistant, newest first.
    def versions(self, assistant: str) -> list[PromptVersion]: ...

    def version(self, assistant: str, number: int) -> PromptVersion | None: ...

    # A new draft (`number` None) or new texts for the draft `number`.
    def save_draft(
        self,
        assistant: str,
        texts: Mapping[str, str],
        *,
        author: str,
        now: datetime,
        number: int | None = None,
    ) -> PromptVersion: ...

    # The draft becomes the published version; the one published before is archived.
    def publish(
        self, assistant: str, number: int, *, author: str, now: datetime
    ) -> PromptVersion: ...

    # Version `number`'s texts published again as a new version; history is kept.
    def rollback(
        self, assistant: str, number: int, *, author: str, now: datetime
    ) -> PromptVersion: ...


class DebtStore(Protocol):
    """Debts and their reminder trails (collection `debts`; shared.adapters.firestore_debts).

    Every write is keyed by invoice id and made in a transaction, so that imports, payment
    events and overlapping ticks may repeat and race without sending or counting twice.
    """

    # New debts start their trail (first notice at policy.first_due); an unchanged debt is
    # left alone; a changed one keeps its trail where it is.
    def import_debts(
        self, debts: Sequence[Debt], *, now: datetime, policy: TrailPolicy
    ) -> ImportCounts: ...

    def debt(self, invoice_id: str) -> DebtRecord | None: ...

    # Every debt of this phone (E.164 digits), newest due date first.
    def debts_of(self, phone: str) -> list[DebtRecord]: ...

    # Invoice ids of active trails due at `now`, the most overdue first.
    def due_trails(self, now: datetime, *, limit: int) -> list[str]: ...

    # Reads the trail, its conversation, ticket and debtor in one transaction, asks `decide`,
    # and writes what it decided: a notice sent (queued in the debt's outbox, the ticket
    # opened or updated), a wait, or a stop.
    def advance_trail(
        self,
        invoice_id: str,
        *,
        now: datetime,
        phone_number_id: str,
        assistant: str,
        decide: Callable[[TrailSnapshot], TrailDecision],
    ) -> TrailDecision: ...

    # Messages queued by advance_trail or record_payment, due by `now` (a payment's thanks
    # waits for quiet hours to end), and not yet confirmed on topic outbound.
    def unpublished_notices(
        self, *, now: datetime, limit: int
    ) -> list[tuple[str, OutboundMessage]]: ...

    def mark_notice_published(self, invoice_id: str, idempotency_key: str) -> None: ...

    # "recorded", "already" (the same event came before) or "unknown" (no such invoice).
    # With `receipt`, a paid debt's thanks, if `receipt` gives one, is queued in its outbox
    # in the same transaction.
    def record_payment(
        self,
        event: PaymentEvent,
        *,
        now: datetime,
        receipt: Callable[[TrailSnapshot, Decimal], Receipt | str] | None = None,
    ) -> str: ...

    # What the debtor agreed to in a conversation; returns the debts it changed.
    def apply_action(
        self, phone: str, action: DebtorAction, *, now: datetime, policy: TrailPolicy
    ) -> int: ...


class MaintenanceStore(Protocol):
    """Housekeeping the follow-up tick does on conversations (shared.adapters.firestore_debts)."""

    # Tickets the AI answered (IAR) untouched since `cutoff`, finished (F); none with a live
    # trail. Returns how many.
    def finish_idle_tickets(self, *, cutoff: datetime, now: datetime, limit: int) -> int: ...

    # Deletes leases that expired before `now`; returns how many, and the conversations among
    # them that still have messages waiting for an answer (a turn died holding them).
    def free_stale_leases(self, *, now: datetime, limit: int) -> tuple[int, list[str]]: ...
