"""GraphBrain: the AgentBrain port over the multi-agent graph, with its checkpoints.

The customer's day (`AgentContext.today`) is the clock's date in the customers' time zone
(America/Sao_Paulo unless told), read once per turn.

The thread of a checkpoint is the conversation: facts the customer gave (an order number) and
the last status carry over to the next turn, on whichever instance runs it. A turn that
crashed mid-graph is resumed from its last completed node when the same messages come back
(same turn id), so the models already paid for are not asked again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from shared.agents.assistants import profile_for
from shared.agents.graph import AgentContext, build_graph
from shared.agents.prompts import default_prompt_set
from shared.agents.reasoning import Reasoner, bind_prompts
from shared.agents.state import TurnState
from shared.clock import SystemClock
from shared.domain.billing import DebtorAction, InstalmentPolicy
from shared.domain.models import BrainReply, BrainRequest, TicketStatus
from shared.domain.prompts import PromptSet
from shared.observability import pseudonym
from shared.ports import BusinessTools, Clock, ImageReader, KnowledgeBase

__all__ = ["GraphBrain"]

logger = logging.getLogger(__name__)


class GraphBrain:
    """Answers a turn by running the graph; resumes a crashed turn from its checkpoint."""

    def __init__(
        self,
        *,
        knowledge_base: KnowledgeBase,
        tools: BusinessTools,
        images: ImageReader | None,
        reasoner: Reasoner,
        min_score: float,
        handoff_message: str,
        checkpointer: Any = None,
        offline_model: str = "offline",
        prompts: Callable[[str], PromptSet] | None = None,
        clock: Clock | None = None,
        time_zone: str = "America/Sao_Paulo",
        instalment_policy: InstalmentPolicy | None = None,
    ) -> None:
        self._graph = build_graph(checkpointer)
        self._checkpointed = checkpointer is not None
        self._kb = knowledge_base
        self._tools = tools
        self._images = images
        self._reasoner = reasoner
        self._min_score = min_score
        self._handoff_message = handoff_message
        self._offline_model = offline_model
        # The assistant's published prompts (shared.agents.prompt_cache), or the built-in ones.
        self._prompts = prompts or default_prompt_set
        self._clock: Clock = clock or SystemClock()
        self._zone = ZoneInfo(time_zone)
        self._policy = instalment_policy or InstalmentPolicy()

    def warm_up(self) -> None:
        """Load the embedding model, the router's examples and the OCR engine up front."""
        self._kb.search("sac", "olá")
        for part in (self._reasoner, getattr(self._reasoner, "offline", None), self._images):
            warm = getattr(part, "warm_up", None)
            if callable(warm):
                warm()

    def _context(self, request: BrainRequest) -> AgentContext:
        conversation = request.conversation
        prompts = self._prompts(conversation.assistant)
        return AgentContext(
            profile=profile_for(conversation.assistant),
            knowledge_base=self._kb,
            tools=self._tools,
            images=self._images,
            reasoner=bind_prompts(self._reasoner, prompts),
            prompts=prompts,
            min_score=self._min_score,
            handoff_message=self._handoff_message,
            customer_phone=conversation.wa_id,
            phone_number_id=conversation.phone_number_id,
            conversation_ref=pseudonym(conversation.conversation_id),
            today=self._clock.now().astimezone(self._zone).date(),
            policy=self._policy,
        )

    def answer(self, request: BrainRequest) -> BrainReply:
        """Run (or resume) the graph over the pending messages."""
        context = self._context(request)
        turn_id = request.turn_id or "-".join(m.message_id for m in request.pending)
        config: dict[str, Any] = {}
        if self._checkpointed:
            config = {"configurable": {"thread_id": request.conversation.conversation_id}}
            snapshot = self._graph.get_state(config)
            if snapshot.next and snapshot.values.get("turn_id") == turn_id:
                logger.warning(
                    "turn %s of %s resumes at %s",
                    turn_id,
                    context.conversation_ref,
                    ", ".join(snapshot.next),
                )
                state = self._graph.invoke(None, config, context=context)
                return self._reply(state, context)
        state = self._graph.invoke(self._input(request, turn_id), config, context=context)
        return self._reply(state, context)

    @staticmethod
    def _input(request: BrainRequest, turn_id: str) -> TurnState:
        # Every per-turn field is set, so nothing of the previous turn's run leaks into this
        # one; `facts` and `last_*` are left to carry over.
        images = [
            {"media_id": m.media_id, "caption": m.text}
            for m in request.pending
            if m.type in ("image", "sticker") and m.media_id
        ]
        return {
            "turn_id": turn_id,
            "texts": [m.text for m in request.pending if m.text],
            "images": images,  # type: ignore[typeddict-item]
            "history": [list(pair) for pair in request.history],
            "question": "",
            "small_talk": None,
            "image_text": "",
            "image_problem": "",
            "route": "",
            "route_reason": "",
            "sources": [],
            "draft": {},
            "attempts": 0,
            "feedback": "",
            "outcome": "",
            "replies": [],
            "status": "",
            "category": "",
            "summary": "",
            "tools_used": [],
            "llm_calls": None,  # type: ignore[typeddict-item]
            "awaited": [],
            "actions": [],
        }

    def _reply(self, state: dict[str, Any], context: AgentContext) -> BrainReply:
        calls = [dict(c) for c in state.get("llm_calls") or []]
        answered = [c["model"] for c in calls if c.get("outcome") == "ok"]
        status = TicketStatus(state.get("status") or TicketStatus.AI_REPLIED.value)
        return BrainReply(
            texts=list(state.get("replies") or []),
            route=state.get("route") or "unknown",
            ticket_status=status,
            handoff_category=(
                state.get("category") or None
                if status is TicketStatus.TRANSFERRED_TO_ANALYST
                else None
            ),
            question=state.get("question", ""),
            summary=state.get("summary", ""),
            model=answered[-1] if answered else self._offline_model,
            outcome=_outcome(state, status),
            prompt_version=context.texts.version,
            llm_calls=calls,
            tools=list(state.get("tools_used") or []),
            sources=[str(s.get("ref")) for s in state.get("sources") or []],
            answered_from=list((state.get("draft") or {}).get("used") or []),
            actions=[DebtorAction.model_validate(a) for a in state.get("actions") or []],
        )


def _outcome(state: dict[str, Any], status: TicketStatus) -> str:
    if status is TicketStatus.FINISHED:
        # An opt-out finishes the ticket too, but it is not the customer's thanks.
        return "opt_out" if state.get("outcome") == "opt_out" else "close"
    if status is TicketStatus.TRANSFERRED_TO_ANALYST:
        return "partial" if state.get("outcome") == "partial" else "handoff"
    if state.get("outcome") in ("answer", "ask", "opt_out", "promise"):
        return str(state["outcome"])
    return "reply"
