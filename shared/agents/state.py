"""What flows between the nodes of one turn, and what a conversation keeps across turns.

Plain JSON-able types only: the state is checkpointed in Firestore, and LangGraph's
serializer restores typed objects only from modules it is told to trust.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

__all__ = ["Draft", "ImageRef", "LlmCall", "Source", "TurnState", "calls_of_turn"]


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


class Draft(TypedDict, total=False):
    """A specialist's proposed reply."""

    text: str
    can_answer: bool
    # True when the reply asks the customer for something (an order number) rather than answers.
    asks: bool
    used: list[str]
    unanswered: list[str]
    category: str


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
    outcome: str  # "answer" | "partial" | "handoff" | "ask" | "close" | "reply"
    replies: list[str]
    status: str
    category: str
    summary: str
    tools_used: list[str]
    llm_calls: Annotated[list[LlmCall], _turn_calls]
    # Kept across turns.
    facts: dict[str, list[str]]
    last_route: str
    last_status: str
