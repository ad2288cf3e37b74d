"""The console's use cases: the queue, a ticket, and the analysts' actions, each audited."""

from __future__ import annotations

import hashlib
import logging
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.agents.assistants import Route
from shared.domain.console import (
    CUSTOMER_SERVICE_WINDOW,
    AuditRecord,
    ChangeResult,
    ConsoleError,
    Identity,
    QueueItem,
    TicketChange,
    TicketView,
)
from shared.domain.feedback import AnswerFeedback, Outcome, TurnRecord
from shared.domain.knowledge import KnowledgeEntry
from shared.domain.models import Conversation, Holder, OutboundMessage, TicketStatus
from shared.domain.whatsapp_templates import TemplateError, TemplateStatus
from shared.observability import pseudonym
from shared.ports import (
    Clock,
    ConsoleStore,
    DebtStore,
    FeedbackStore,
    KnowledgeStore,
    Publisher,
    TemplateStore,
)

__all__ = [
    "AddToKb",
    "Answer",
    "ConsoleService",
    "Feedback",
    "Reply",
    "ReplyTemplate",
    "Transfer",
]

logger = logging.getLogger(__name__)

_TRANSFERRED = (
    TicketStatus.TRANSFERRED_TO_ANALYST.value,
    TicketStatus.TRANSFERRED_BY_ANALYST.value,
)
_LIVE_AI = (TicketStatus.AWAITING_AI.value, TicketStatus.AI_REPLIED.value)
_MAX_TEXT = 4096  # WhatsApp's limit on a text message body


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    # The client's id for this action (the form carries one): a double submit sends once.
    action_id: str | None = Field(default=None, min_length=8, max_length=64, pattern=r"^[\w-]+$")


class Reply(_Body):
    """`reply`: free text to the customer."""

    text: str = Field(min_length=1, max_length=_MAX_TEXT)


class AddToKb(_Body):
    """`add-to-kb`: teach the knowledge base; `expires_at` is ISO 8601 with a time zone."""

    question: str = Field(min_length=3, max_length=1000)
    answer: str = Field(min_length=1, max_length=_MAX_TEXT)
    expires_at: datetime | None = None

    @field_validator("expires_at", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class Answer(AddToKb):
    """The seed's form: reply with `answer` and teach it, in one go; `question` defaults to
    the handoff card's reformulated question."""

    question: str = Field(default="", max_length=1000)


class Transfer(_Body):
    """`transfer`: hand the ticket to another area (status TAF)."""

    area: str = Field(min_length=2, max_length=60)


class ReplyTemplate(_Body):
    """`reply-template`: an approved WhatsApp template, allowed outside the 24-hour window."""

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(default="pt_BR", min_length=2, max_length=10)
    parameters: list[str] = Field(default_factory=list, max_length=20)

    @model_validator(mode="before")
    @classmethod
    def _one_choice(cls, value: object) -> object:
        # The ticket page's select sends `template` as "name|language".
        if isinstance(value, dict) and isinstance(value.get("template"), str):
            name, _, language = value["template"].partition("|")
            rest = {k: v for k, v in value.items() if k != "template"}
            return {**rest, "name": name, "language": language or "pt_BR"}
        return value

    @field_validator("parameters", mode="before")
    @classmethod
    def _lines(cls, value: object) -> object:
        # The ticket page's form sends the values one per line.
        if isinstance(value, str):
            return [line.strip() for line in value.splitlines() if line.strip()]
        return value


class Feedback(_Body):
    """`feedback`: the analyst's verdict on one AI turn; a wrong one says what was expected."""

    turn_id: str = Field(min_length=1, max_length=200)
    verdict: Literal["right", "wrong"]
    note: str | None = Field(default=None, max_length=2000)
    expected_route: Route | None = None
    expected_outcome: Outcome | None = None

    @field_validator("note", "expected_route", "expected_outcome", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _expected_when_wrong(self) -> Feedback:
        expected = (self.expected_route, self.expected_outcome)
        if self.verdict == "wrong" and None in expected:
            raise ValueError("a wrong answer needs expected_route and expected_outcome")
        if self.verdict == "right" and expected != (None, None):
            raise ValueError("expected_route and expected_outcome are only for a wrong answer")
        return self


class NoBody(_Body):
    """`take-over`, `return-to-ai`, `close`: nothing but an optional action id."""


@dataclass(frozen=True, slots=True)
class ConsoleService:
    """Queue, ticket view and actions; every action is written to the audit trail."""

    store: ConsoleStore
    publisher: Publisher
    knowledge: KnowledgeStore
    clock: Clock
    outbound_topic: str = "outbound"
    templates: TemplateStore | None = None
    feedback_store: FeedbackStore | None = None
    # The billing trails, so that a debtor's ticket shows the debt; None without billing.
    debts: DebtStore | None = None

    # ------------------------------------------------------------------ reads

    def queue(
        self, *, assistant: str | None = None, category: str | None = None
    ) -> list[QueueItem]:
        """Transferred tickets (TA, TAF), the longest waiting first."""
        now = self.clock.now()
        items = []
        for row in self.store.tickets_in(_TRANSFERRED, assistant=assistant, category=category):
            since = _waiting_since(row)
            handoff = row.get("handoff")
            items.append(
                QueueItem(
                    ticket_id=str(row["ticket_id"]),
                    assistant=str(row.get("assistant", "")),
                    category=str(row.get("category") or "geral"),
                    status=str(row.get("status", "")),
                    waiting_since=since,
                    waiting_seconds=max(0, int((now - since).total_seconds())),
                    question=str(handoff.get("question", "")) if isinstance(handoff, dict) else "",
                )
            )
        items.sort(key=lambda item: item.waiting_since)
        return items

    def ticket(self, ticket_id: str) -> TicketView:
        """The ticket, its conversation and its handoff card; 404 if there is none."""
        row = self._ticket_or_404(ticket_id)
        conversation = self._conversation(row)
        handoff = row.get("handoff")
        last = conversation.last_customer_message_at if conversation else None
        return TicketView(
            ticket_id=ticket_id,
            conversation_id=str(row.get("conversation_id", "")),
            assistant=str(row.get("assistant", "")),
            category=str(row.get("category") or "geral"),
            status=str(row.get("status", "")),
            holder=conversation.holder.value if conversation else Holder.AI.value,
            opened_at=_instant(row.get("opened_at")),
            closed_at=_instant(row.get("closed_at")),
            intervened=bool(row.get("intervened")),
            handoff=handoff if isinstance(handoff, dict) else None,
            customer_name=conversation.contact_name if conversation else None,
            customer_wa_id=str(row.get("customer_wa_id", "")),
            last_customer_message_at=last,
            window_open=self._window_open(last),
            lines=self.store.conversation_lines(str(row.get("conversation_id", ""))),
            debt=self._debt(row.get("debt_id")),
        )

    def _debt(self, invoice_id: object) -> dict[str, Any] | None:
        if not invoice_id or self.debts is None:
            return None
        record = self.debts.debt(str(invoice_id))
        return record.model_dump(mode="json") if record else None

    def turns(self, ticket_id: str) -> list[tuple[TurnRecord, AnswerFeedback | None]]:
        """The ticket's AI turns, each with its verdict if one was given."""
        if self.feedback_store is None:
            return []
        verdicts = {f.turn_id: f for f in self.feedback_store.feedback(ticket_id=ticket_id)}
        turns = self.feedback_store.turns_of_ticket(ticket_id)
        return [(t, verdicts.get(t.turn_id)) for t in turns if t.replies]

    def export_feedback(self, who: Identity) -> tuple[str, int]:
        """Every verdict as evaluation cases (JSONL) and how many made none; audited, since
        it hands out many customers' texts at once."""
        from shared.console.feedback import export_jsonl

        verdicts = self.feedback_store.feedback() if self.feedback_store else []
        text, skipped = export_jsonl(verdicts)
        now = self.clock.now()
        self.store.record_audit(
            AuditRecord(
                action_id=_new_id(who.email, "feedback-export", now.isoformat()),
                actor=who.email,
                role=who.role,
                action="feedback-export",
                at=now,
                detail={"cases": len(verdicts) - skipped, "skipped": skipped},
            )
        )
        return text, skipped

    def audit_trail(self, who: Identity, *, ticket_id: str | None = None) -> list[AuditRecord]:
        """The latest actions (admins only; the caller checks the role)."""
        return self.store.audit_trail(ticket_id=ticket_id)

    # ---------------------------------------------------------------- actions

    def run(
        self, who: Identity, ticket_id: str, action: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Validate the body, run the action, audit it (refusals too); ConsoleError on 4xx."""
        model = _BODIES.get(action)
        if model is None:
            raise ConsoleError(404, f"unknown action {action!r}")
        parsed = _parse(model, body)
        action_id = parsed.action_id or _new_id(who.email, ticket_id, action, self.clock.now())
        try:
            result = getattr(self, "_" + action.replace("-", "_"))(
                who, ticket_id, parsed, action_id
            )
        except ConsoleError as error:
            if error.status != 404:
                self._audit(
                    who,
                    action,
                    ticket_id,
                    action_id,
                    outcome="refused",
                    detail={"reason": error.message},
                )
            raise
        self._audit(who, action, ticket_id, action_id, detail=_audit_detail(action, parsed))
        logger.info("console %s on %s by %s", action, ticket_id, pseudonym(who.email))
        return {
            "ok": True,
            "action": action,
            "action_id": action_id,
            "ticket_id": ticket_id,
            **result,
        }

    def _reply(self, who: Identity, ticket_id: str, body: Reply, action_id: str) -> dict[str, Any]:
        row = self._ticket_or_404(ticket_id)
        if row.get("closed_at") is not None:
            raise ConsoleError(409, "the ticket is closed")
        conversation = self._conversation(row)
        if conversation is None:
            raise ConsoleError(409, "the ticket has no conversation to reply to")
        if conversation.holder != Holder.HUMAN:
            raise ConsoleError(409, "the AI holds this conversation: take it over before replying")
        if not self._window_open(conversation.last_customer_message_at):
            raise ConsoleError(
                409,
                "outside WhatsApp's 24-hour customer-service window: only an approved "
                "template may be sent now",
            )
        message = OutboundMessage(
            idempotency_key=f"console-{action_id}",
            conversation_id=conversation.conversation_id,
            phone_number_id=conversation.phone_number_id,
            to=conversation.wa_id,
            text=body.text,
            ticket_id=ticket_id,
            last_customer_message_at=conversation.last_customer_message_at,
        )
        self.publisher.publish(
            self.outbound_topic,
            message.model_dump_json().encode(),
            ordering_key=conversation.conversation_id,
        )
        return {"idempotency_key": message.idempotency_key}

    def _reply_template(
        self, who: Identity, ticket_id: str, body: ReplyTemplate, action_id: str
    ) -> dict[str, Any]:
        row = self._ticket_or_404(ticket_id)
        if row.get("closed_at") is not None:
            raise ConsoleError(409, "the ticket is closed")
        conversation = self._conversation(row)
        if conversation is None:
            raise ConsoleError(409, "the ticket has no conversation to reply to")
        if conversation.holder != Holder.HUMAN:
            raise ConsoleError(409, "the AI holds this conversation: take it over before replying")
        template = self.templates.template(body.name, body.language) if self.templates else None
        if template is None:
            # 400, not 404: a 404 here would read as "no such ticket" and go unaudited.
            raise ConsoleError(400, f"name: no template {body.name} in {body.language}")
        if template.status is not TemplateStatus.APPROVED:
            raise ConsoleError(
                409, f"template {template.name} is {template.status.value} at Meta, not approved"
            )
        try:
            text = template.fill(body.parameters)
        except TemplateError as error:
            raise ConsoleError(400, str(error)) from error
        # The window rule does not apply: an approved template is what WhatsApp allows after it.
        message = OutboundMessage(
            idempotency_key=f"console-{action_id}",
            conversation_id=conversation.conversation_id,
            phone_number_id=conversation.phone_number_id,
            to=conversation.wa_id,
            kind="template",
            # The filled body, so the conversation shows what the customer read.
            text=text,
            template_name=template.name,
            template_language=template.language,
            template_parameters=body.parameters,
            ticket_id=ticket_id,
            last_customer_message_at=conversation.last_customer_message_at,
        )
        self.publisher.publish(
            self.outbound_topic,
            message.model_dump_json().encode(),
            ordering_key=conversation.conversation_id,
        )
        return {"idempotency_key": message.idempotency_key, "template": template.id}

    def _feedback(
        self, who: Identity, ticket_id: str, body: Feedback, action_id: str
    ) -> dict[str, Any]:
        row = self._ticket_or_404(ticket_id)
        turn = self.feedback_store.turn(body.turn_id) if self.feedback_store else None
        if turn is None or turn.ticket_id != ticket_id or not turn.replies:
            raise ConsoleError(400, f"turn_id: no AI answer {body.turn_id} on this ticket")
        feedback = AnswerFeedback(
            turn_id=turn.turn_id,
            ticket_id=ticket_id,
            conversation_id=turn.conversation_id,
            assistant=str(row.get("assistant") or ""),
            verdict=body.verdict,
            note=body.note,
            expected_route=body.expected_route,
            expected_outcome=body.expected_outcome,
            turn_route=turn.route,
            turn_outcome=turn.outcome,
            customer_texts=turn.customer_texts,
            replies=turn.replies,
            by=who.email,
            at=self.clock.now(),
        )
        assert self.feedback_store is not None  # checked with the turn above
        self.feedback_store.save_feedback(feedback)
        return {"turn_id": turn.turn_id, "verdict": body.verdict}

    def _add_to_kb(
        self, who: Identity, ticket_id: str, body: AddToKb, action_id: str
    ) -> dict[str, Any]:
        row = self._ticket_or_404(ticket_id)
        return {"entry_id": self._teach(who, row, body.question, body.answer, body.expires_at)}

    def _answer(
        self, who: Identity, ticket_id: str, body: Answer, action_id: str
    ) -> dict[str, Any]:
        row = self._ticket_or_404(ticket_id)
        handoff = row.get("handoff")
        question = body.question or (
            str(handoff.get("question", "")) if isinstance(handoff, dict) else ""
        )
        if len(question) < 3:
            raise ConsoleError(400, "question: the ticket has no question; write one")
        # Checked before anything is sent: a bad expiry must not leave a half-done answer.
        _check_expiry(body.expires_at, self.clock.now())
        sent = self._reply(who, ticket_id, Reply(text=body.answer), action_id)
        entry = self._teach(who, row, question, body.answer, body.expires_at)
        return {**sent, "entry_id": entry}

    def _transfer(
        self, who: Identity, ticket_id: str, body: Transfer, action_id: str
    ) -> dict[str, Any]:
        now = self.clock.now()
        change = TicketChange(
            ticket={
                "status": TicketStatus.TRANSFERRED_BY_ANALYST.value,
                "transferred_area": body.area,
                "transferred_by": who.email,
                "transferred_at": now,
            },
            holder=Holder.HUMAN.value,
            holder_reason="console_transfer",
        )
        return self._change(ticket_id, change, "transfer")

    def _take_over(
        self, who: Identity, ticket_id: str, body: NoBody, action_id: str
    ) -> dict[str, Any]:
        now = self.clock.now()
        # A live AI conversation only; a transferred one is the analysts' already.
        change = TicketChange(
            from_statuses=frozenset(_LIVE_AI),
            ticket={
                "status": TicketStatus.TRANSFERRED_TO_ANALYST.value,
                "intervened": True,
                "intervention": "console",
                "intervened_by": who.email,
                "transferred_at": now,
            },
            holder=Holder.HUMAN.value,
            holder_reason="console_take_over",
        )
        return self._change(ticket_id, change, "take over")

    def _return_to_ai(
        self, who: Identity, ticket_id: str, body: NoBody, action_id: str
    ) -> dict[str, Any]:
        # The status stays until the AI's next turn sets it (IAR, or TA on a new handoff).
        change = TicketChange(
            ticket={"returned_to_ai_at": self.clock.now(), "returned_by": who.email},
            holder=Holder.AI.value,
            holder_reason="console_return",
        )
        return self._change(ticket_id, change, "return to the AI")

    def _close(self, who: Identity, ticket_id: str, body: NoBody, action_id: str) -> dict[str, Any]:
        # TA/TAF stay the final status (F is the AI's finish); closed_at ends the episode and
        # the customer's next message opens a new ticket with the AI.
        change = TicketChange(
            from_statuses=frozenset(_TRANSFERRED),
            ticket={"closed_at": self.clock.now(), "closed_by": who.email},
            holder=Holder.AI.value,
            holder_reason="console_close",
            release_ticket=True,
        )
        return self._change(ticket_id, change, "close")

    # ---------------------------------------------------------------- helpers

    def _teach(
        self,
        who: Identity,
        row: dict[str, object],
        question: str,
        answer: str,
        expires_at: datetime | None,
    ) -> str:
        now = self.clock.now()
        _check_expiry(expires_at, now)
        namespace = str(row.get("assistant") or "sac")
        entry = KnowledgeEntry(
            id=_entry_id(namespace, question),
            question=question,
            answer=answer,
            namespace=namespace,
            category=str(row.get("category") or "geral"),
            expires_at=expires_at,
            source="analyst",
            author=who.email,
            created_at=now,
            updated_at=now,
        )
        self.knowledge.upsert([entry])
        return entry.id

    def _change(self, ticket_id: str, change: TicketChange, what: str) -> dict[str, Any]:
        result: ChangeResult = self.store.change_ticket(ticket_id, change)
        if result.status is None:
            raise ConsoleError(404, f"no ticket {ticket_id}")
        if not result.applied:
            if result.closed:
                raise ConsoleError(409, f"cannot {what}: the ticket is closed")
            raise ConsoleError(409, f"cannot {what} a ticket in status {result.status}")
        return {"status": result.status}

    def _ticket_or_404(self, ticket_id: str) -> dict[str, object]:
        row = self.store.ticket(ticket_id)
        if row is None:
            raise ConsoleError(404, f"no ticket {ticket_id}")
        return row

    def _conversation(self, row: dict[str, object]) -> Conversation | None:
        return self.store.get_conversation(str(row.get("conversation_id", "")))

    def _window_open(self, last: datetime | None) -> bool:
        return last is not None and self.clock.now() - last <= CUSTOMER_SERVICE_WINDOW

    def _audit(
        self,
        who: Identity,
        action: str,
        ticket_id: str,
        action_id: str,
        *,
        outcome: str = "done",
        detail: dict[str, Any] | None = None,
    ) -> None:
        key = action_id if outcome == "done" else f"{action_id}-refused-{uuid.uuid4().hex[:8]}"
        self.store.record_audit(
            AuditRecord(
                action_id=key,
                actor=who.email,
                role=who.role,
                action=action,
                ticket_id=ticket_id,
                at=self.clock.now(),
                outcome="done" if outcome == "done" else "refused",
                detail=detail or {},
            )
        )


_BODIES: dict[str, type[_Body]] = {
    "reply": Reply,
    "add-to-kb": AddToKb,
    "answer": Answer,
    "transfer": Transfer,
    "take-over": NoBody,
    "return-to-ai": NoBody,
    "close": NoBody,
    "reply-template": ReplyTemplate,
    "feedback": Feedback,
}


def _parse(model: type[_Body], body: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in error.errors(include_input=False, include_url=False)
        )
        raise ConsoleError(400, problems) from error


def _check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        raise ConsoleError(400, "expires_at: give a time zone (for example 2025-12-31T18:00-03:00)")
    if expires_at <= now:
        raise ConsoleError(400, "expires_at: the expiry must be in the future")


def _entry_id(namespace: str, question: str) -> str:
    """The same question taught twice updates one entry."""
    folded = unicodedata.normalize("NFKD", question.casefold())
    key = " ".join("".join(c for c in folded if not unicodedata.combining(c)).split())
    return "analyst-" + hashlib.sha256(f"{namespace}\n{key}".encode()).hexdigest()[:16]


def _new_id(*parts: object) -> str:
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()[:24]


def _instant(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _waiting_since(row: dict[str, object]) -> datetime:
    for field in ("transferred_at", "opened_at", "updated_at"):
        value = row.get(field)
        if isinstance(value, datetime):
            return value
    return datetime.fromtimestamp(0).astimezone()


def _audit_detail(action: str, body: _Body) -> dict[str, Any]:
    """What to keep of the body: the area, the expiry, sizes; not the customer's text."""
    if isinstance(body, Transfer):
        return {"area": body.area}
    if isinstance(body, AddToKb):
        expiry = body.expires_at.isoformat() if body.expires_at else None
        return {"question": body.question, "expires_at": expiry, "answer_chars": len(body.answer)}
    if isinstance(body, Reply):
        return {"text_chars": len(body.text)}
    if isinstance(body, ReplyTemplate):
        return {"template": f"{body.name}.{body.language}", "parameters": len(body.parameters)}
    if isinstance(body, Feedback):
        return {
            "turn_id": body.turn_id,
            "verdict": body.verdict,
            "expected_route": body.expected_route,
            "expected_outcome": body.expected_outcome,
            "note_chars": len(body.note or ""),
        }
    return {}
