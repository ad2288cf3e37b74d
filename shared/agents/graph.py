"""The multi-agent turn: understand → route → a specialist → check → finish or hand off.

    understand ─► route ─┬─► knowledge (sac, saf) ─┐
                         ├─► billing ──────────────┤
                         ├─► data ─────────────────┼─► check ─┬─► finish
                         ├─► image ────────────────┘    ▲     ├─► handoff
                         ├─► small_talk ─► END          └─────┘ (refine once)
                         ├─► out_of_scope ─► END
                         └─► handoff (human) ─► END

Nodes are plain functions of (state, runtime); what they may use (the knowledge base, the
allow-listed tools, the image reader, the reasoner) comes in `AgentContext`. Every number, date
and amount in a reply must come from a source (shared.agents.facts), whatever the reasoner.

An assistant that collects debts (cobranca) routes a debtor's opt-out, promise to pay,
instalment request or dispute to billing by rule, and billing decides it by rule
(shared.agents.debt_collection): the check then applies the facts rule only, and the decision's
own outcome, actions and handoff card finish the turn.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from shared.agents.assistants import AssistantProfile, Route, agent_of
from shared.agents.debt_collection import DebtorIntent, decide, read_debtor
from shared.agents.facts import unsupported_facts
from shared.agents.offline import asks_for_human, mentions_order_or_store, wants_invoice
from shared.agents.prompts import default_prompt_set, render
from shared.agents.reasoning import Reasoner
from shared.agents.small_talk import small_talk_kind
from shared.agents.state import Draft, LlmCall, Source, TurnState, tool_source
from shared.agents.tool_access import AllowListedTools
from shared.domain.billing import InstalmentPolicy
from shared.domain.models import ImageReading, TicketStatus
from shared.domain.prompts import PromptSet
from shared.domain.receipts import order_numbers_in
from shared.ports import BusinessTools, ImageReader, KnowledgeBase

__all__ = ["AgentContext", "build_graph"]

logger = logging.getLogger(__name__)

_STORE_QUESTION = re.compile(
    r"\b(loja|lojas|unidade|endere[cç]o|onde fica|localiza|perto de mim|mais pr[oó]xima)\b",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d{5,10}")
_SPECIALIST_OF: dict[str, str] = {
    "sac": "knowledge",
    "saf": "knowledge",
    "billing": "billing",
    "data": "data",
    "image": "image",
    "small_talk": "small_talk",
    "out_of_scope": "out_of_scope",
    "human": "handoff",
}


@dataclass(frozen=True, slots=True)
class AgentContext:
    """What the nodes may use, fixed for one run."""

    profile: AssistantProfile
    knowledge_base: KnowledgeBase
    tools: BusinessTools
    images: ImageReader | None
    reasoner: Reasoner
    min_score: float
    handoff_message: str
    customer_phone: str
    phone_number_id: str
    # The conversation's pseudonym, for log lines (its id holds the customer's number).
    conversation_ref: str
    # The customer's calendar day (a debtor's "amanhã" and "sexta" are counted from it).
    today: date
    # Drafts checked per turn: the first, and one refinement.
    max_attempts: int = 2
    # The assistant's published (or, in the console's staging chat, draft) texts.
    prompts: PromptSet | None = None
    # What the billing agent may agree to on its own (instalments, promise dates).
    policy: InstalmentPolicy = field(default_factory=InstalmentPolicy)

    @property
    def texts(self) -> PromptSet:
        """The prompts and fixed replies of this run; the built-in ones when none were given."""
        return self.prompts or default_prompt_set(self.profile.name)

    def tools_for(self, route: str) -> AllowListedTools:
        """The tools the route's agent may call, and no other."""
        return AllowListedTools(
            self.tools, assistant=self.profile.name, agent=agent_of(_route(route))
        )


def _route(value: str) -> Route:
    return value if value in _SPECIALIST_OF else "sac"  # type: ignore[return-value]


def _calls(*thoughts: tuple[LlmCall, ...]) -> list[LlmCall]:
    return [call for calls in thoughts for call in calls]


# -- understand and route -------------------------------------------------------------------


def understand(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Read any image, set small talk aside, and fold the burst into one question."""
    ctx = runtime.context
    texts = [t.strip() for t in state.get("texts", []) if t.strip()]
    kinds = [small_talk_kind(t) for t in texts]
    substantive = [t for t, k in zip(texts, kinds, strict=True) if k is None]
    small_talk = next((k for k in kinds if k is not None), None)
    image_texts: list[str] = []
    problem = ""
    for image in state.get("images", []):
        reading = _read_image(ctx, image["media_id"])
        if reading.ok:
            image_texts.append(reading.text)
        else:
            problem = reading.reason or "unreadable"
    image_text = "\n".join(image_texts)
    facts = dict(state.get("facts") or {})
    # What the previous reply asked for holds for this turn only.
    awaited = list(facts.pop("awaiting", []))
    # A bare number counts as an order number only right after the agent asked for one.
    asked = "order_number" in awaited
    said = "\n".join([*substantive, image_text])
    seen = list(order_numbers_in(said, asked=asked))
    if asked and not seen:
        # "é o 482913": right after the question, a number in a short reply is the answer.
        seen = [n for token in _DIGITS.findall(said) for n in order_numbers_in(token, asked=True)]
    if asked and seen:
        facts["answered"] = ["order_number"]
    else:
        facts.pop("answered", None)
    if seen:
        previous = [n for n in facts.get("order_numbers", []) if n not in seen]
        facts["order_numbers"] = [*seen, *previous][:5]
    calls: tuple[LlmCall, ...] = ()
    history = state.get("history", [])
    if len(substantive) == 1 and not history and not image_text:
        question = substantive[0]
    elif substantive or image_text:
        thought = ctx.reasoner.rewrite(substantive, history, image_text)
        question, calls = thought.value, thought.calls
    else:
        question = ""
    return {
        "question": question,
        "small_talk": small_talk,
        "image_text": image_text,
        "image_problem": problem,
        "facts": facts,
        "awaited": awaited,
        "llm_calls": list(calls),
    }


def _read_image(ctx: AgentContext, media_id: str) -> ImageReading:
    if ctx.images is None:
        logger.warning("image %s not read: no image reader is configured", media_id)
        return ImageReading(ok=False, reason="ocr-unavailable")
    reading = ctx.images.read(media_id, phone_number_id=ctx.phone_number_id)
    if not reading.ok:
        logger.warning(
            "image %s of %s not read (%s): the image route will hand off",
            media_id,
            ctx.conversation_ref,
            reading.reason,
        )
    return reading


def route(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Pick the specialist: rules for images and empty turns, then the reasoner."""
    ctx = runtime.context
    question = state.get("question", "")
    if state.get("images"):
        return {"route": "image", "route_reason": "imagem enviada"}
    intent = _debtor_intent(state, ctx)
    if intent is not None:
        return {"route": "billing", "route_reason": f"regra de cobrança: {intent.kind}"}
    if not question:
        return {"route": "small_talk", "route_reason": "sem pergunta"}
    if "order_number" in (state.get("facts") or {}).get("answered", []):
        return {"route": "data", "route_reason": "número do pedido que a assistente pediu"}
    thought = ctx.reasoner.route(question, ctx.profile, has_image=False)
    return {
        "route": thought.value.route,
        "route_reason": thought.value.reason,
        "llm_calls": list(thought.calls),
    }


def _said(state: TurnState) -> str:
    """The customer's own words this turn: the rules read them, not a model's rewrite."""
    return "\n".join(t.strip() for t in state.get("texts", []) if t.strip())


def _debtor_intent(state: TurnState, ctx: AgentContext) -> DebtorIntent | None:
    # An explicit request for a person goes to one, whatever else the message says.
    said = _said(state)
    if not ctx.profile.collects_debts or not said or asks_for_human(said):
        return None
    return read_debtor(state.get("texts", []), ctx.today, state.get("awaited", []))


def to_specialist(
    state: TurnState,
) -> Literal["knowledge", "billing", "data", "image", "small_talk", "out_of_scope", "handoff"]:
    """The node that handles the chosen route."""
    return _SPECIALIST_OF.get(state.get("route", ""), "knowledge")  # type: ignore[return-value]


# -- specialists ----------------------------------------------------------------------------


def _kb_sources(ctx: AgentContext, namespace: str, question: str, limit: int) -> list[Source]:
    lines = [line for line in question.split("\n") if line.strip()]
    queries = [question, *lines] if len(lines) > 1 else [question]
    sources: list[Source] = []
    for query in queries:
        for hit in ctx.knowledge_base.search(namespace, query, limit=limit):
            sources.append(
                Source(
                    kind="kb",
                    ref=hit.entry_id,
                    text=f"P: {hit.question}\nR: {hit.answer}",
                    score=hit.score,
                    data={
                        "answer": hit.answer,
                        "category": hit.category,
                        "query": query,
                        "keyword_score": hit.keyword_score,
                    },
                )
            )
    return sources


def _draft(
    state: TurnState, ctx: AgentContext, agent: str, sources: list[Source], tools: list[str]
) -> TurnState:
    thought = ctx.reasoner.draft(
        agent,
        state.get("question", ""),
        sources,
        profile=ctx.profile,
        feedback=state.get("feedback", ""),
    )
    return {
        "sources": sources,
        "draft": thought.value,
        "tools_used": [*state.get("tools_used", []), *tools],
        "llm_calls": list(thought.calls),
    }


def knowledge(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Customer care or franchisee support: answers grounded in the knowledge base."""
    ctx = runtime.context
    namespace = ctx.profile.namespace_for(_route(state.get("route", "sac")))
    limit = 3 if not state.get("attempts") else 5
    sources = _kb_sources(ctx, namespace, state.get("question", ""), limit)
    return _draft(state, ctx, "knowledge", sources, [])


def billing(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Debts: a debtor's request decided by rule, the second copy or PIX code through the
    tool, policy from the knowledge base."""
    ctx = runtime.context
    question = state.get("question", "")
    intent = _debtor_intent(state, ctx)
    if intent is not None:
        tools = ctx.tools_for("billing")
        decision = decide(
            intent,
            said=_said(state),
            today=ctx.today,
            policy=ctx.policy,
            invoices=lambda: tools.call("invoice_copy", {"customer_phone": ctx.customer_phone}),
        )
        return {
            "sources": decision.sources,
            "draft": decision.draft,
            "tools_used": [*state.get("tools_used", []), *decision.tools],
        }
    sources = _kb_sources(ctx, ctx.profile.namespace_for("billing"), question, 3)
    used: list[str] = []
    if wants_invoice(question):
        tools = ctx.tools_for("billing")
        result = tools.call("invoice_copy", {"customer_phone": ctx.customer_phone})
        sources.insert(0, tool_source(result))
        used.append(result.tool)
    return _draft(state, ctx, "billing", sources, used)


def data(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Orders and stores: look them up through the tools."""
    ctx = runtime.context
    question = state.get("question", "")
    tools = ctx.tools_for("data")
    numbers = list(order_numbers_in(question))
    if not numbers and mentions_order_or_store(question):
        # "meu pedido não chegou" + "número 482913": the burst says what the number is.
        numbers = [n for t in _DIGITS.findall(question) for n in order_numbers_in(t, asked=True)]
    numbers = numbers or (state.get("facts") or {}).get("order_numbers", [])
    sources: list[Source] = []
    used: list[str] = []
    if numbers:
        for number in numbers[:3]:
            result = tools.call("order_status", {"order_number": number})
            sources.append(tool_source(result))
            used.append(result.tool)
    elif _STORE_QUESTION.search(question):
        result = tools.call("store_info", {"query": question})
        sources.append(tool_source(result))
        used.append(result.tool)
    else:
        # An order question without its number: ask for it rather than guess or hand off.
        return {
            "sources": [],
            "draft": Draft(text=ctx.texts.ask_order_number, can_answer=True, asks=True, used=[]),
        }
    return _draft(state, ctx, "data", sources, used)


def image(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """A photo: what it says, and the order it names looked up."""
    ctx = runtime.context
    image_text = state.get("image_text", "")
    if not image_text:
        return {"sources": [], "draft": Draft(text="", can_answer=False, used=[])}
    sources: list[Source] = [Source(kind="image", ref="image", text=image_text, data={})]
    used: list[str] = []
    tools = ctx.tools_for("image")
    for number in order_numbers_in(image_text)[:2]:
        result = tools.call("order_status", {"order_number": number})
        sources.append(tool_source(result))
        used.append(result.tool)
    if not used:
        return {"sources": sources, "draft": Draft(text="", can_answer=False, used=[])}
    return _draft(state, ctx, "image", sources, used)


# -- check ----------------------------------------------------------------------------------


def check(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Is the draft supported by its sources? Facts first, then the reasoner's judgement."""
    ctx = runtime.context
    draft = state.get("draft") or Draft(text="", can_answer=False)
    attempts = state.get("attempts", 0) + 1
    if draft.get("decided"):
        return _check_decision(state, draft, attempts)
    if draft.get("asks"):
        return {"attempts": attempts, "outcome": "ask"}
    if not draft.get("can_answer") or not draft.get("text"):
        return {"attempts": attempts, "outcome": "handoff", "feedback": "sem fonte"}
    sources = state.get("sources", [])
    grounds: list[object] = [*sources, *state.get("texts", []), state.get("image_text", "")]
    invented = unsupported_facts(draft["text"], grounds)
    calls: tuple[LlmCall, ...] = ()
    if invented:
        problem = f"fatos sem fonte: {', '.join(invented)}"
        logger.warning(
            "draft of route %s stated facts no source has (%d); %s",
            state.get("route"),
            len(invented),
            "refining" if attempts < ctx.max_attempts else "handing off",
        )
    else:
        verdict = ctx.reasoner.verify(state.get("question", ""), draft, sources)
        calls = verdict.calls
        problem = "" if verdict.value.supported else verdict.value.problems or "não apoiada"
    if not problem:
        outcome = "partial" if draft.get("unanswered") else "answer"
        return {"attempts": attempts, "outcome": outcome, "llm_calls": list(calls)}
    outcome = "retry" if attempts < ctx.max_attempts else "handoff"
    return {"attempts": attempts, "outcome": outcome, "feedback": problem, "llm_calls": list(calls)}


def _check_decision(state: TurnState, draft: Draft, attempts: int) -> TurnState:
    """A rule's decision: no model judges it, but every figure it states must have a source."""
    grounds: list[object] = [*state.get("sources", []), *state.get("texts", [])]
    invented = unsupported_facts(draft.get("text", ""), grounds)
    if invented:
        # A rule computed a figure without putting it in a source: a bug; a human answers.
        logger.error("billing decision stated facts no source has (%d); handing off", len(invented))
        problem = f"fatos sem fonte: {', '.join(invented)}"
        return {
            "attempts": attempts,
            "outcome": "handoff",
            "feedback": problem,
            "draft": Draft(text="", can_answer=False, used=[]),
        }
    return {"attempts": attempts, "outcome": draft.get("outcome") or "answer"}


def after_check(
    state: TurnState,
) -> Literal["finish", "handoff", "knowledge", "billing", "data", "image"]:
    """Reply, refine once through the same specialist, or hand off."""
    outcome = state.get("outcome")
    if outcome == "retry":
        return to_specialist(state)  # type: ignore[return-value]
    return "handoff" if outcome == "handoff" else "finish"


# -- finishing ------------------------------------------------------------------------------


def _done(status: TicketStatus, route: str, **values: Any) -> TurnState:
    result: dict[str, Any] = {"status": status.value, "last_status": status.value}
    result["last_route"] = route
    result.update(values)
    return result  # type: ignore[return-value]


def finish(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Send the checked draft; a partial answer also hands the rest to a human."""
    ctx = runtime.context
    draft = state["draft"]
    reply = draft.get("text", "")
    if state.get("small_talk") == "greeting" and state.get("outcome") != "ask":
        reply = f"Olá! {reply}"
    route = state.get("route", "")
    if draft.get("decided"):
        facts = dict(state.get("facts") or {})
        if draft.get("awaits"):
            facts["awaiting"] = list(draft.get("awaits", []))
        # An opt-out ends the billing conversation: the AI resolved it (F), and the dashboard
        # no longer counts it as active.
        opted_out = draft.get("outcome") == "opt_out"
        return _done(
            TicketStatus.FINISHED if opted_out else TicketStatus.AI_REPLIED,
            route,
            facts=facts,
            replies=[reply],
            summary=draft.get("summary", ""),
            category=draft.get("category") or route,
            actions=list(draft.get("actions", [])),
        )
    scores = {str(s.get("ref")): float(s.get("score", 0)) for s in state.get("sources", [])}
    for source in state.get("sources", []):
        ref = str(source.get("ref"))
        scores[ref] = max(scores[ref], float(source.get("score", 0)))
    used = ", ".join(
        f"{ref} ({scores[ref]:.2f})" if scores.get(ref) else ref for ref in draft.get("used", [])
    )
    if state.get("outcome") != "partial":
        used = used or "nenhuma fonte"
        facts = dict(state.get("facts") or {})
        if state.get("outcome") == "ask":
            facts["awaiting"] = ["order_number"]
        return _done(
            TicketStatus.AI_REPLIED,
            route,
            facts=facts,
            replies=[reply],
            summary=f"Respondido por {route} com {used}.",
            category=draft.get("category") or route,
        )
    rest = "\n".join(draft.get("unanswered", []))
    note = ctx.reasoner.summarize(rest, state.get("texts", []), state.get("sources", []), route)
    return _done(
        TicketStatus.TRANSFERRED_TO_ANALYST,
        route,
        replies=[reply, ctx.handoff_message],
        outcome="partial",
        question=rest,
        category=note.value.category,
        summary=f"Respondido em parte ({used}). Sem resposta: {note.value.summary}",
        llm_calls=list(note.calls),
    )


def handoff(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Tell the customer a human will answer, and leave the analyst a card."""
    ctx = runtime.context
    route = state.get("route", "")
    question = state.get("question", "") or " / ".join(state.get("texts", []))
    draft = state.get("draft") or Draft()
    if draft.get("decided"):
        # The rule wrote the card; its reply may already say who answers next.
        replies = [draft["text"]] if draft.get("text") else []
        if not draft.get("says_handoff"):
            replies.append(ctx.handoff_message)
        return _done(
            TicketStatus.TRANSFERRED_TO_ANALYST,
            route,
            replies=replies,
            outcome="handoff",
            question=question,
            category=draft.get("category") or route,
            summary=draft.get("summary", ""),
            actions=list(draft.get("actions", [])),
        )
    sources = list(state.get("sources", []))
    if state.get("image_text"):
        sources.append(Source(kind="image", ref="image", text=state["image_text"], data={}))
    # A knowledge route's card is filed under its namespace (sac, saf, cobranca...).
    label = (
        ctx.profile.namespace_for(_route(route)) if route in ("sac", "saf", "billing") else route
    )
    note = ctx.reasoner.summarize(question, state.get("texts", []), sources, label)
    summary = note.value.summary
    if state.get("image_problem"):
        summary += f" A imagem não pôde ser lida ({state['image_problem']})."
    used = list(state.get("tools_used", []))
    if route == "human":
        ticket = ctx.tools_for("human").call(
            "open_ticket",
            {
                "reason": "pedido de atendimento humano",
                "summary": summary,
                "customer_phone": ctx.customer_phone,
                "idempotency_key": state.get("turn_id", ""),
            },
        )
        used.append(ticket.tool)
        if ticket.ok and ticket.data.get("protocol"):
            summary += f" Protocolo {ticket.data['protocol']}."
    return _done(
        TicketStatus.TRANSFERRED_TO_ANALYST,
        route,
        replies=[ctx.handoff_message],
        outcome="handoff",
        question=question,
        category=note.value.category or label,
        summary=summary,
        tools_used=used,
        llm_calls=list(note.calls),
    )


def small_talk(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Greet back; thanks or an "ok" after an answer closes the ticket."""
    texts = runtime.context.texts
    kind = state.get("small_talk")
    if kind is None:
        return _done(TicketStatus.AI_REPLIED, "small_talk", replies=[texts.unreadable])
    if kind == "greeting":
        return _done(TicketStatus.AI_REPLIED, "small_talk", replies=[texts.greeting])
    reply = texts.thanks if kind == "thanks" else texts.ack
    if state.get("last_status") == TicketStatus.AI_REPLIED.value:
        # The customer is satisfied with the AI's answer: the ticket is finished by the AI.
        return _done(TicketStatus.FINISHED, "small_talk", replies=[reply], outcome="close")
    return _done(TicketStatus.AI_REPLIED, "small_talk", replies=[reply])


def out_of_scope(state: TurnState, runtime: Runtime[AgentContext]) -> TurnState:
    """Say politely what the assistant can help with."""
    ctx = runtime.context
    reply = render(ctx.texts.out_of_scope, ctx.profile)
    return _done(TicketStatus.AI_REPLIED, "out_of_scope", replies=[reply])


def build_graph(checkpointer: Any = None) -> Any:
    """The compiled graph; run it with `invoke(state, config, context=AgentContext(...))`."""
    builder = StateGraph(TurnState, context_schema=AgentContext)
    builder.add_node("understand", understand)
    builder.add_node("route", route)
    builder.add_node("knowledge", knowledge)
    builder.add_node("billing", billing)
    builder.add_node("data", data)
    builder.add_node("image", image)
    builder.add_node("check", check)
    builder.add_node("finish", finish)
    builder.add_node("handoff", handoff)
    builder.add_node("small_talk", small_talk)
    builder.add_node("out_of_scope", out_of_scope)
    builder.add_edge(START, "understand")
    builder.add_edge("understand", "route")
    builder.add_conditional_edges("route", to_specialist)
    for specialist in ("knowledge", "billing", "data", "image"):
        builder.add_edge(specialist, "check")
    builder.add_conditional_edges("check", after_check)
    for final in ("finish", "handoff", "small_talk", "out_of_scope"):
        builder.add_edge(final, END)
    return builder.compile(name="atende", checkpointer=checkpointer)
