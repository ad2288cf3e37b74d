"""What flows between the nodes of one turn, and what a conversation keeps across turns.

Plain JSON-able types only: the state is checkpointed in Firestore, and LangGraph's
serializer restores typed objects only from modules it is told to trust.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from shared.domain.models import ToolResult

__all__ = ["Draft", "ImageRef", "LlmCall", "Source", "TurnState", "calls_of_turn", "tool_source"]


class ImageRef(TypedDict):
    """An image the customer sent in this turn."""

    media_id: str
    caption: str


class Source(TypedDict, total=False):
    """Something an answer may state facts from: a KB entry, a tool result, an image."""

    kind: str  # "kb" | "tool" | "image" | "customer"
    ref: str  # entry id, tool name or media id
    text: str
    score: float
    data: dict[str, Any]


def tool_source(result: ToolResult) -> Source:
    """A tool's result as a source: what it returned, or why it failed."""
    return Source(
        kind="tool",
        ref=result.tool,
        text="",
        data={"ok": result.ok, "error": result.error, "result": result.data},
    )


class Draft(TypedDict, total=False):
    """A specialist's proposed reply."""

    text: str
    can_answer: bool
    # True when the reply asks the customer for something (an order number) rather than answers.
    asks: bool
    used: list[str]
    unanswered: list[str]
    category: str
    # A billing rule's decision (shared.agents.debt_collection): checked for invented facts
    # but never judged by the reasoner nor redrafted, then finished or handed off as decided.
    decided: bool
    # "handoff" when the decision needs a human, else what the turn did ("promise"...).
    outcome: str
    # A handoff whose text already tells the customer who answers next.
    says_handoff: bool
    summary: str
    # What the reply asked for, so the next turn reads the answer ("promise_date").
    awaits: list[str]
    # DebtorAction fields as JSON ({"kind": "promise", "promised_for": "2026-11-30"}).
    actions: list[dict[str, Any]]


class LlmCall(TypedDict):
    """One call to a language model, with what it cost."""

    step: str
    model: str
    outcome: str  # "ok" | "error"
    fallback: bool
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float


def _turn_calls(left: list[LlmCall] | None, right: list[LlmCall] | None) -> list[LlmCall]:
    # None resets: a new turn starts its own count on a checkpointed conversation.
    if right is None:
        return []
    return [*(left or []), *right]


def calls_of_turn(state: TurnState) -> list[LlmCall]:
    """The model calls made so far in the state's turn."""
    return list(state.get("llm_calls") or [])


class TurnState(TypedDict, total=False):
    """The graph's state. Per-turn fields are reset by each turn's input; `facts` and
    `last_*` persist across the conversation's turns."""

    turn_id: str
    texts: list[str]
    images: list[ImageRef]
    history: list[list[str]]
    question: str
    small_talk: str | None
    image_text: str
    image_problem: str
    route: str
    route_reason: str
    sources: list[Source]
    draft: Draft
    attempts: int
    feedback: str
    # "answer" | "partial" | "handoff" | "ask" | "close" | "reply" | "opt_out" | "promise"
    outcome: str
    replies: list[str]
    status: str
    category: str
    summary: str
    tools_used: list[str]
    llm_calls: Annotated[list[LlmCall], _turn_calls]
    # What the previous turn's reply asked for ("order_number", "promise_date"...).
    awaited: list[str]
    # What the debtor agreed to this turn, as DebtorAction fields.
    actions: list[dict[str, Any]]
    # Kept across turns.
    facts: dict[str, list[str]]
    last_route: str
    last_status: str
