"""Domain records passed between the use cases, the ports and the topics."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.billing import DebtorAction

__all__ = [
    "WITH_AI",
    "WITH_ANALYST",
    "AgentTurnRequest",
    "BrainReply",
    "BrainRequest",
    "Conversation",
    "HandoffCard",
    "Holder",
    "InboundMessage",
    "KnowledgeHit",
    "OutboundMessage",
    "Recorded",
    "SendClaim",
    "SendOutcome",
    "SendResult",
    "StatusReceipt",
    "TicketStatus",
    "Turn",
    "conversation_id_for",
    "wa_id_of",
]


class TicketStatus(StrEnum):
    """The seed's ticket status codes."""

    FINISHED = "F"
    TRANSFERRED_TO_ANALYST = "TA"
    TRANSFERRED_BY_ANALYST = "TAF"
    AI_REPLIED = "IAR"
    AWAITING_AI = "IAN"


# The AI holds the ticket (awaiting it, or awaiting the customer after its answer).
WITH_AI: frozenset[TicketStatus] = frozenset({TicketStatus.AWAITING_AI, TicketStatus.AI_REPLIED})
# An analyst holds it.
WITH_ANALYST: frozenset[TicketStatus] = frozenset(
    {TicketStatus.TRANSFERRED_TO_ANALYST, TicketStatus.TRANSFERRED_BY_ANALYST}
)


class Holder(StrEnum):
    """Who answers a conversation right now."""

    AI = "ai"
    HUMAN = "human"


def conversation_id_for(phone_number_id: str, wa_id: str) -> str:
    """One conversation per business number and customer."""
    return f"{phone_number_id}:{wa_id}"


def wa_id_of(conversation_id: str) -> str:
    """The customer's number in a conversation id (conversation_id_for's second part)."""
    return conversation_id.partition(":")[2]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class InboundMessage(_Record):
    """A customer message (or a business echo) as the pipeline understands it."""

    message_id: str
    wa_id: str
    phone_number_id: str
    type: str
    timestamp: datetime
    text: str = ""
    contact_name: str | None = None
    media_id: str | None = None
    wakes_agent: bool = False
    is_echo: bool = False
    raw: dict[str, Any] = Field(default_factory=dict)

    @property
    def conversation_id(self) -> str:
        """The conversation this message belongs to."""
        return conversation_id_for(self.phone_number_id, self.wa_id)


class StatusReceipt(_Record):
    """A delivery status of a message the business sent."""

    message_id: str
    status: str
    timestamp: datetime
    recipient_id: str
    phone_number_id: str
    errors: list[dict[str, Any]] = Field(default_factory=list)


class Conversation(_Record):
    """A customer's thread with one business number."""

    conversation_id: str
    wa_id: str
    phone_number_id: str
    assistant: str
    holder: Holder = Holder.AI
    open_ticket_id: str | None = None
    contact_name: str | None = None
    last_customer_message_at: datetime | None = None
    last_inbound_at: datetime | None = None


class KnowledgeHit(_Record):
    """A knowledge-base entry retrieved for a question.

    `score` is the cosine similarity of the closest variant (what the answer threshold is
    calibrated on); hits are ordered by `rank`, the fused vector and keyword rank.
    """

    entry_id: str
    question: str
    answer: str
    score: float
    rank: float = 0.0
    category: str = "geral"
    keyword_score: float = 0.0


class OutboundMessage(_Record):
    """A message to send, keyed so that it is never sent twice."""

    idempotency_key: str
    conversation_id: str
    phone_number_id: str
    to: str
    kind: Literal["text", "template"] = "text"
    text: str = ""
    template_name: str | None = None
    template_language: str = "pt_BR"
    template_parameters: list[str] = Field(default_factory=list)
    ticket_id: str | None = None
    turn_id: str | None = None
    last_customer_message_at: datetime | None = None


class Recorded(_Record):
    """What intake's write did: was the message new, and does it wait for the AI."""

    new: bool
    pending: bool


class SendClaim(StrEnum):
    """Whether this delivery of an outbound message may call the API."""

    SEND = "send"
    DONE = "done"
    BUSY = "busy"


class SendOutcome(StrEnum):
    """How a send attempt ended."""

    SENT = "sent"
    PERMANENT_FAILURE = "failed"
    TRANSIENT_FAILURE = "retry"


class SendResult(_Record):
    """What the WhatsApp Cloud API answered to a send."""

    outcome: SendOutcome
    wamid: str | None = None
    http_status: int | None = None
    error_code: int | None = None
    error_message: str | None = None


class HandoffCard(_Record):
    """What an analyst sees when the AI hands a conversation over."""

    ticket_id: str
    conversation_id: str
    assistant: str
    category: str
    customer_wa_id: str
    customer_name: str | None
    question: str
    summary: str
    # The turn that handed off: with the ticket id, the key that posts each card once.
    turn_id: str = ""


class BrainRequest(_Record):
    """What the agent graph gets for one turn."""

    conversation: Conversation
    pending: list[InboundMessage]
    history: list[tuple[str, str]] = Field(default_factory=list)
    # Same messages, same turn id: a retried turn resumes from its checkpoint.
    turn_id: str = ""


class BrainReply(_Record):
    """What the agent graph decided: the replies, the route, and a handoff if any."""

    texts: list[str]
    route: str
    ticket_status: TicketStatus
    handoff_category: str | None = None
    question: str = ""
    summary: str = ""
    model: str = ""
    # answer, ask (the AI asked for something), partial, handoff, close or reply (small talk).
    outcome: str = ""
    prompt_version: str = ""
    # Every model call of the turn: step, model, outcome, fallback, tokens, cost, latency.
    llm_calls: list[dict[str, Any]] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    # Every source retrieved, and those the reply was drawn from.
    sources: list[str] = Field(default_factory=list)
    answered_from: list[str] = Field(default_factory=list)
    # What the debtor agreed to or asked for (billing): applied to their trail once the
    # turn's replies are on their way (AgentTurnService).
    actions: list[DebtorAction] = Field(default_factory=list)

    @property
    def input_tokens(self) -> int:
        """Prompt tokens of every model call of the turn."""
        return sum(int(c.get("input_tokens", 0)) for c in self.llm_calls)

    @property
    def output_tokens(self) -> int:
        """Output tokens (thinking included) of every model call of the turn."""
        return sum(int(c.get("output_tokens", 0)) for c in self.llm_calls)

    @property
    def cost_usd(self) -> float:
        """List-price cost of the turn's model calls."""
        return round(sum(float(c.get("cost_usd", 0.0)) for c in self.llm_calls), 8)


class ToolResult(_Record):
    """What one business tool call returned, or why it did not."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    ok: bool
    data: dict[str, Any] = Field(default_factory=dict)
    # "refused" (not on the agent's allow-list), "unavailable" (the hub did not answer),
    # "invalid" (bad arguments) or the tool's own message.
    error: str = ""


class ImageReading(_Record):
    """The text read off a customer's image, or why none could be read."""

    ok: bool
    text: str = ""
    mime_type: str = ""
    # Why nothing was read: "ocr-unavailable", "download-failed", "no-text", ...
    reason: str = ""


class Turn(_Record):
    """One answer of the agent to the messages pending in a conversation."""

    turn_id: str
    conversation_id: str
    message_ids: list[str]
    replies: list[OutboundMessage]
    route: str
    ticket_status: TicketStatus
    handoff: HandoffCard | None = None
    model: str = ""
    latency_ms: float = 0.0
    prompt_version: str = ""
    # answer, ask, partial, handoff, close or reply (BrainReply.outcome).
    outcome: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    llm_calls: int = 0
    tools: list[str] = Field(default_factory=list)
    actions: list[DebtorAction] = Field(default_factory=list)


class AgentTurnRequest(_Record):
    """The event on topic agent-turns: wake the agent for a conversation."""

    conversation_id: str
    message_id: str
