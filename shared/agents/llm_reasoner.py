"""The language-model reasoner: each step one structured-output call, down a chain of models.

The models come from the composition root (Gemini on Vertex AI, built in
shared.adapters.vertex), so this module knows LangChain's chat-model interface only. Each call
is logged as an `llm_call` event with its model, outcome, tokens and list-price cost (the
log-based metrics in terraform/logging_metrics.tf count them), and the turn records them.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from shared.agents.assistants import PROFILES, AssistantProfile
from shared.agents.prompts import default_prompt_set, render
from shared.agents.reasoning import (
    DraftReply,
    HandoffNote,
    LlmUnavailable,
    Rewrite,
    RouteDecision,
    Thought,
    Verdict,
)
from shared.agents.state import Draft, LlmCall, Source
from shared.domain.prompts import PromptSet

__all__ = ["LlmReasoner", "render_sources"]

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=BaseModel)


def render_sources(sources: Sequence[Source]) -> str:
    """Sources as the model sees them: one numbered block each, with its ref."""
    if not sources:
        return "(nenhuma fonte)"
    blocks = []
    for source in sources:
        kind = source.get("kind", "")
        body = source.get("text") or json.dumps(source.get("data", {}), ensure_ascii=False)
        blocks.append(f"[{source.get('ref')}] ({kind})\n{body}")
    return "\n\n".join(blocks)


class LlmReasoner:
    """Every step asks the first model that answers; errors move down the chain."""

    name = "llm"

    def __init__(
        self,
        models: Sequence[tuple[str, BaseChatModel]],
        *,
        retryable: tuple[type[BaseException], ...],
        usage: Callable[[BaseMessage], tuple[int, int]],
        price: Callable[[str, int, int], float],
    ) -> None:
        if not models:
            raise ValueError("at least one model is required")
        self._models = list(models)
        self._retryable = retryable
        self._usage = usage
        self._price = price
        self.name = self._models[0][0]
        # None: the built-in prompts of the assistant at hand.
        self._prompts: PromptSet | None = None

    def with_prompts(self, prompts: PromptSet) -> LlmReasoner:
        """This reasoner asking with an assistant's versioned prompts (same models)."""
        bound = copy.copy(self)
        bound._prompts = prompts
        return bound

    def _system(self, profile: AssistantProfile | None, key: str, agent: str = "") -> str:
        profile = profile or PROFILES["sac"]
        texts = self._prompts or default_prompt_set(profile.name)
        instructions = texts.draft_prompt(agent) if key == "draft" else getattr(texts, key)
        return f"{render(texts.system, profile)}\n\n{instructions}"

    def _ask(self, step: str, schema: type[S], system: str, user: str) -> Thought[S]:
        messages = [SystemMessage(system), HumanMessage(user)]
        calls: list[LlmCall] = []
        for index, (name, model) in enumerate(self._models):
            started = time.perf_counter()
            runnable = model.with_structured_output(schema, method="json_mode", include_raw=True)
            try:
                result: Any = runnable.invoke(messages)
            except self._retryable as error:
                calls.append(self._log(step, name, index, started, None, error))
                continue
            except Exception as error:
                # A 4xx would fail the same way on every model: straight to the offline path.
                calls.append(self._log(step, name, index, started, None, error))
                raise LlmUnavailable(f"{name}: {type(error).__name__}", calls) from error
            raw = result.get("raw") if isinstance(result, dict) else None
            parsed = result.get("parsed") if isinstance(result, dict) else None
            if not isinstance(parsed, schema):
                problem = result.get("parsing_error") if isinstance(result, dict) else None
                calls.append(self._log(step, name, index, started, raw, problem or "no output"))
                continue
            calls.append(self._log(step, name, index, started, raw, None))
            return Thought(parsed, tuple(calls))
        raise LlmUnavailable(f"no model answered {step}", calls)

    def _log(
        self,
        step: str,
        model: str,
        index: int,
        started: float,
        raw: BaseMessage | None,
        error: object,
    ) -> LlmCall:
        prompt_tokens, completion_tokens = self._usage(raw) if raw is not None else (0, 0)
        try:
            cost = self._price(model, prompt_tokens, completion_tokens)
        except ValueError:
            cost = 0.0
        call = LlmCall(
            step=step,
            model=model,
            outcome="error" if error is not None else "ok",
            fallback=index > 0,
            input_tokens=prompt_tokens,
            output_tokens=completion_tokens,
            cost_usd=round(cost, 8),
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        fields = {"event": "llm_call", **call, "fallback": "true" if index > 0 else "false"}
        if error is None:
            logger.info("llm call %s on %s ok", step, model, extra={"fields": fields})
        else:
            cause = type(error).__name__ if isinstance(error, BaseException) else str(error)
            logger.warning(
                "llm call %s on %s failed: %s", step, model, cause[:200], extra={"fields": fields}
            )
        return call

    # -- the steps --------------------------------------------------------------------------

    def rewrite(
        self, texts: Sequence[str], history: Sequence[Sequence[str]], image_text: str
    ) -> Thought[str]:
        """One standalone question from the burst and the history."""
        past = "\n".join(f"{who}: {text}" for who, text in history[-10:]) or "(sem histórico)"
        pending = "\n".join(f"- {t}" for t in texts)
        image = f"\nTexto lido da imagem:\n{image_text}" if image_text else ""
        user = f"Histórico:\n{past}\n\nMensagens pendentes:\n{pending}{image}"
        thought = self._ask("rewrite", Rewrite, self._system(None, "rewrite"), user)
        return Thought(thought.value.question.strip(), thought.calls)

    def route(
        self, question: str, profile: AssistantProfile, *, has_image: bool
    ) -> Thought[RouteDecision]:
        """The specialist, chosen among the routes the assistant allows."""
        allowed = ", ".join(profile.routes)
        image = " O cliente enviou uma imagem." if has_image else ""
        user = f"Rotas permitidas: {allowed}.{image}\n\nPergunta:\n{question}"
        thought = self._ask("route", RouteDecision, self._system(profile, "route"), user)
        decision = thought.value
        if not profile.allows(decision.route):
            decision = RouteDecision(
                route=profile.default_route,
                confidence=0.0,
                reason=f"rota {decision.route} não permitida",
            )
        return Thought(decision, thought.calls)

    def draft(
        self,
        agent: str,
        question: str,
        sources: Sequence[Source],
        *,
        profile: AssistantProfile,
        feedback: str,
    ) -> Thought[Draft]:
        """An answer from the sources only, or can_answer=false."""
        retry = f"\n\nA tentativa anterior foi rejeitada: {feedback}" if feedback else ""
        user = f"Pergunta:\n{question}\n\nFontes:\n{render_sources(sources)}{retry}"
        thought = self._ask("draft", DraftReply, self._system(profile, "draft", agent), user)
        reply = thought.value
        known = {str(s.get("ref")) for s in sources}
        draft = Draft(
            text=reply.answer.strip(),
            can_answer=reply.can_answer and bool(reply.answer.strip()),
            used=[ref for ref in reply.used_sources if ref in known],
            unanswered=[],
            category=_category(sources, agent),
        )
        return Thought(draft, thought.calls)

    def verify(self, question: str, draft: Draft, sources: Sequence[Source]) -> Thought[Verdict]:
        """Whether the draft is supported by the sources."""
        user = (
            f"Pergunta:\n{question}\n\nResposta proposta:\n{draft.get('text', '')}\n\n"
            f"Fontes:\n{render_sources(sources)}"
        )
        return self._ask("verify", Verdict, self._system(None, "verify"), user)

    def summarize(
        self, question: str, texts: Sequence[str], sources: Sequence[Source], route: str
    ) -> Thought[HandoffNote]:
        """The analyst's card."""
        messages = "\n".join(f"- {t}" for t in texts)
        user = (
            f"Rota: {route}\nPergunta reformulada:\n{question}\n\nMensagens:\n{messages}\n\n"
            f"Fontes consultadas:\n{render_sources(sources)}"
        )
        return self._ask("summarize", HandoffNote, self._system(None, "summarize"), user)


def _category(sources: Sequence[Source], agent: str) -> str:
    for source in sources:
        category = source.get("data", {}).get("category")
        if category:
            return str(category)
    return {"billing": "cobranca", "data": "pedidos", "image": "pedidos"}.get(agent, agent)
