"""How the graph's nodes think: the Reasoner port and the shapes of what it decides.

Two implementations: `OfflineReasoner` (retrieval-based, no generative model; the default and
the last fallback) and `GeminiReasoner` (Gemini on Vertex AI with fallback models).
`ResilientReasoner` runs the second and falls back to the first when every model failed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel, Field

from shared.agents.assistants import AssistantProfile, Route
from shared.agents.state import Draft, LlmCall, Source
from shared.domain.prompts import PromptSet

__all__ = [
    "DraftReply",
    "HandoffNote",
    "LlmUnavailable",
    "Reasoner",
    "ResilientReasoner",
    "Rewrite",
    "RouteDecision",
    "Thought",
    "Verdict",
    "bind_prompts",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Rewrite(BaseModel):
    """The customer's pending messages as one standalone question."""

    question: str = Field(description="Uma pergunta autocontida, em português, sem saudações.")


class RouteDecision(BaseModel):
    """Which specialist takes the question."""

    route: Route
    confidence: float = Field(ge=0, le=1, default=0.5)
    reason: str = ""


class DraftReply(BaseModel):
    """A specialist's reply, grounded in the numbered sources it was given."""

    answer: str = Field(description="A resposta ao cliente, ou vazio se as fontes não bastam.")
    can_answer: bool = Field(description="false quando as fontes não respondem à pergunta.")
    used_sources: list[str] = Field(default_factory=list, description="refs das fontes usadas")


class Verdict(BaseModel):
    """Whether a draft says only what its sources support."""

    supported: bool
    problems: str = ""


class HandoffNote(BaseModel):
    """What the analyst's card says."""

    category: str
    summary: str


@dataclass(frozen=True, slots=True)
class Thought(Generic[T]):
    """A reasoner's answer and the model calls it took."""

    value: T
    calls: tuple[LlmCall, ...] = ()


class LlmUnavailable(RuntimeError):
    """Every model of the chain failed (quota, server error, timeout)."""

    def __init__(self, message: str, calls: Sequence[LlmCall] = ()) -> None:
        super().__init__(message)
        # The failed calls still count (latency, and tokens when a reply was unusable).
        self.calls = tuple(calls)


class Reasoner(Protocol):
    """The thinking steps of a turn."""

    name: str

    def rewrite(
        self, texts: Sequence[str], history: Sequence[Sequence[str]], image_text: str
    ) -> Thought[str]: ...

    def route(
        self, question: str, profile: AssistantProfile, *, has_image: bool
    ) -> Thought[RouteDecision]: ...

    def draft(
        self,
        agent: str,
        question: str,
        sources: Sequence[Source],
        *,
        profile: AssistantProfile,
        feedback: str,
    ) -> Thought[Draft]: ...

    def verify(
        self, question: str, draft: Draft, sources: Sequence[Source]
    ) -> Thought[Verdict]: ...

    def summarize(
        self, question: str, texts: Sequence[str], sources: Sequence[Source], route: str
    ) -> Thought[HandoffNote]: ...


class ResilientReasoner:
    """The language-model reasoner, and the offline one when all its models fail."""

    def __init__(self, primary: Reasoner, offline: Reasoner) -> None:
        self.primary = primary
        self.offline = offline
        self.name = primary.name

    def with_prompts(self, prompts: PromptSet) -> ResilientReasoner:
        """The same pair, the model one asking with these prompts."""
        return ResilientReasoner(bind_prompts(self.primary, prompts), self.offline)

    def rewrite(
        self, texts: Sequence[str], history: Sequence[Sequence[str]], image_text: str
    ) -> Thought[str]:
        """Rewrite with the model, or join the messages offline."""
        try:
            return self.primary.rewrite(texts, history, image_text)
        except LlmUnavailable as error:
            return _fell_back("rewrite", error, self.offline.rewrite(texts, history, image_text))

    def route(
        self, question: str, profile: AssistantProfile, *, has_image: bool
    ) -> Thought[RouteDecision]:
        """Route with the model, or by similarity to labelled examples."""
        try:
            return self.primary.route(question, profile, has_image=has_image)
        except LlmUnavailable as error:
            return _fell_back(
                "route", error, self.offline.route(question, profile, has_image=has_image)
            )

    def draft(
        self,
        agent: str,
        question: str,
        sources: Sequence[Source],
        *,
        profile: AssistantProfile,
        feedback: str,
    ) -> Thought[Draft]:
        """Draft with the model, or take the best source's own words."""
        try:
            return self.primary.draft(agent, question, sources, profile=profile, feedback=feedback)
        except LlmUnavailable as error:
            offline = self.offline.draft(
                agent, question, sources, profile=profile, feedback=feedback
            )
            return _fell_back("draft", error, offline)

    def verify(self, question: str, draft: Draft, sources: Sequence[Source]) -> Thought[Verdict]:
        """Verify with the model, or by the offline rules."""
        try:
            return self.primary.verify(question, draft, sources)
        except LlmUnavailable as error:
            return _fell_back("verify", error, self.offline.verify(question, draft, sources))

    def summarize(
        self, question: str, texts: Sequence[str], sources: Sequence[Source], route: str
    ) -> Thought[HandoffNote]:
        """Summarize with the model, or extractively."""
        try:
            return self.primary.summarize(question, texts, sources, route)
        except LlmUnavailable as error:
            offline = self.offline.summarize(question, texts, sources, route)
            return _fell_back("summarize", error, offline)


def bind_prompts(reasoner: Reasoner, prompts: PromptSet) -> Reasoner:
    """The reasoner asking with these prompts; one that sends no prompt (offline) as it is."""
    bind = getattr(reasoner, "with_prompts", None)
    return bind(prompts) if callable(bind) else reasoner


def _fell_back(step: str, error: LlmUnavailable, offline: Thought[T]) -> Thought[T]:
    logger.warning("every model failed at %s (%s); the offline reasoner answered", step, error)
    return Thought(offline.value, (*error.calls, *offline.calls))
