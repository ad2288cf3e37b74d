"""The knowledge-base assistant: a small LangGraph graph that answers from the KB or hands off.

understand → (small talk | unreadable | retrieve) → retrieve → check → answer | handoff.
The multi-agent router with specialists and Gemini grows from this shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from shared.agents.prompts import ACK_REPLY, GREETING_REPLY, THANKS_REPLY, UNREADABLE_REPLY
from shared.agents.small_talk import SmallTalk, small_talk_kind
from shared.domain.models import (
    BrainReply,
    BrainRequest,
    KnowledgeHit,
    TicketStatus,
)
from shared.domain.text_search import keywords
from shared.ports import KnowledgeBase
from shared.settings import Settings

__all__ = ["AgentContext", "GraphBrain", "build_graph"]


@dataclass(frozen=True, slots=True)
class AgentContext:
    """What the graph's nodes may use, fixed for one run."""

    knowledge_base: KnowledgeBase
    namespace: str
    min_score: float
    handoff_message: str


class TurnState(TypedDict, total=False):
    """What flows between the nodes of one turn."""

    texts: list[str]
    question: str
    small_talk: SmallTalk | None
    hits: list[KnowledgeHit]
    answers: list[KnowledgeHit]
    unanswered: list[str]
    replies: list[str]
    route: str
    status: TicketStatus
    category: str
    summary: str


def understand(state: TurnState) -> TurnState:
    """Fold the burst of pending messages into one question, setting small talk aside."""
    texts = [t.strip() for t in state.get("texts", []) if t.strip()]
    kinds = [small_talk_kind(t) for t in texts]
    substantive = [t for t, k in zip(texts, kinds, strict=True) if k is None]
    small_talk = next((k for k in kinds if k is not None), None)
    return {"question": "\n".join(substantive), "small_talk": small_talk}


def choose_path(state: TurnState) -> Literal["retrieve", "small_talk", "unreadable"]:
    """Where the turn goes after understanding it."""
    if state.get("question"):
        return "retrieve"
    return "small_talk" if state.get("small_talk") else "unreadable"


def retrieve(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Entries closest to the question, and to each of its lines when the burst had several."""
    ctx = runtime.context
    question = state["question"]
    lines = question.split("\n")
    queries = [question, *lines] if len(lines) > 1 else [question]
    best: dict[str, KnowledgeHit] = {}
    answered: list[KnowledgeHit] = []
    unanswered: list[str] = []
    for query in queries:
        hits = ctx.knowledge_base.search(ctx.namespace, query, limit=3)
        for hit in hits:
            if hit.entry_id not in best or best[hit.entry_id].score < hit.score:
                best[hit.entry_id] = hit
        if query is question:
            continue
        if hits and hits[0].score >= ctx.min_score:
            answered.append(hits[0])
        elif keywords(query):
            # A real question of its own ("e o estacionamento, tem?"), not a filler line.
            unanswered.append(query)
    ranked = sorted(best.values(), key=lambda h: h.score, reverse=True)
    # Two questions in one burst get both answers, in the order they were asked.
    distinct = list({hit.entry_id: hit for hit in answered}.values())
    return {
        "hits": ranked,
        "answers": distinct if len(distinct) > 1 or unanswered else ranked[:1],
        "unanswered": unanswered if distinct else [],
    }


def check(
    state: TurnState, runtime: Runtime[AgentContext]
) -> Literal["answer", "partial", "handoff"]:
    """Answer only when an entry is close enough; never guess, never drop a question."""
    answers = state.get("answers", [])
    if not answers or answers[0].score < runtime.context.min_score:
        return "handoff"
    return "partial" if state.get("unanswered") else "answer"


def partial(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Answer what the knowledge base knows and hand the rest to a human."""
    answered = answer(state)
    rest = "\n".join(state["unanswered"])
    return {
        "replies": [*answered["replies"], runtime.context.handoff_message],
        "route": "partial_handoff",
        "status": TicketStatus.TRANSFERRED_TO_ANALYST,
        "category": runtime.context.namespace,
        "question": rest,
        "summary": f"{answered['summary']} Sem resposta na base: {rest}.",
    }


def answer(state: TurnState) -> TurnState:
    """Reply with the answers of the entries that matched."""
    answers = state["answers"]
    reply = "\n\n".join(hit.answer for hit in answers)
    if state.get("small_talk") == "greeting":
        reply = f"Olá! {reply}"
    used = ", ".join(f"{hit.entry_id} ({hit.score:.2f})" for hit in answers)
    return {
        "replies": [reply],
        "route": "knowledge_base",
        "status": TicketStatus.AI_REPLIED,
        "summary": f"Respondido pelas entradas {used}.",
    }


def handoff(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Tell the customer a human will answer, and leave the analyst a card."""
    hits = state.get("hits", [])
    closest = (
        f" Entrada mais próxima: {hits[0].entry_id} (similaridade {hits[0].score:.2f},"
        f" abaixo de {runtime.context.min_score:.2f})."
        if hits
        else " Nenhuma entrada próxima na base."
    )
    return {
        "replies": [runtime.context.handoff_message],
        "route": "handoff",
        "status": TicketStatus.TRANSFERRED_TO_ANALYST,
        "category": runtime.context.namespace,
        "summary": f"O cliente perguntou: {state['question']}.{closest}",
    }


def small_talk(state: TurnState) -> TurnState:
    """Greet back, or acknowledge thanks or an "ok"."""
    replies = {"thanks": THANKS_REPLY, "ack": ACK_REPLY}
    reply = replies.get(state.get("small_talk") or "", GREETING_REPLY)
    return {"replies": [reply], "route": "small_talk", "status": TicketStatus.AI_REPLIED}


def unreadable(state: TurnState) -> TurnState:
    """Ask for text when the message carried nothing we can read."""
    return {"replies": [UNREADABLE_REPLY], "route": "unreadable", "status": TicketStatus.AI_REPLIED}


def build_graph() -> Any:
    """The compiled graph; run it with `invoke(state, context=AgentContext(...))`."""
    builder = StateGraph(TurnState, context_schema=AgentContext)
    builder.add_node("understand", understand)
    builder.add_node("retrieve", retrieve)
    builder.add_node("answer", answer)
    builder.add_node("handoff", handoff)
    builder.add_node("partial", partial)
    builder.add_node("small_talk", small_talk)
    builder.add_node("unreadable", unreadable)
    builder.add_edge(START, "understand")
    builder.add_conditional_edges("understand", choose_path)
    builder.add_conditional_edges("retrieve", check)
    for final in ("answer", "partial", "handoff", "small_talk", "unreadable"):
        builder.add_edge(final, END)
    return builder.compile(name="kb_assistant")


class GraphBrain:
    """AgentBrain backed by the knowledge-base assistant graph."""

    def __init__(
        self,
        knowledge_base: KnowledgeBase,
        *,
        min_score: float,
        handoff_message: str,
        model_id: str,
    ) -> None:
        self._graph = build_graph()
        self._kb = knowledge_base
        self._min_score = min_score
        self._handoff_message = handoff_message
        self._model_id = model_id

    @classmethod
    def from_settings(cls, knowledge_base: KnowledgeBase, settings: Settings) -> GraphBrain:
        """The graph with the threshold and handoff message the settings carry."""
        return cls(
            knowledge_base,
            min_score=settings.kb_min_score,
            handoff_message=settings.handoff_message,
            model_id="kb-assistant/usem3",
        )

    def warm_up(self) -> None:
        """Load the models before the first turn needs them."""
        self._kb.search("sac", "olá")

    def answer(self, request: BrainRequest) -> BrainReply:
        """Run the graph once over the pending messages."""
        context = AgentContext(
            knowledge_base=self._kb,
            namespace=request.conversation.assistant,
            min_score=self._min_score,
            handoff_message=self._handoff_message,
        )
        state = self._graph.invoke({"texts": [m.text for m in request.pending]}, context=context)
        return BrainReply(
            texts=state["replies"],
            route=state["route"],
            ticket_status=state["status"],
            handoff_category=state.get("category"),
            question=state.get("question", ""),
            summary=state.get("summary", ""),
            model=self._model_id,
        )
