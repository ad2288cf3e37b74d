"""Versioned prompts in the graph: the run's PromptSet gives the fixed replies and the version
each turn records; the per-instance cache of the published set; the set's own validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shared.agents.brain import GraphBrain
from shared.agents.offline import OfflineReasoner
from shared.agents.prompt_cache import PublishedPrompts
from shared.agents.prompts import GREETING_REPLY, default_prompt_set, prompt_version
from shared.domain.models import BrainReply, BrainRequest
from shared.domain.prompts import PromptSet, PromptStatus, PromptVersion
from tests.unit.agent_fakes import HANDOFF, MIN_SCORE, FakeTools, ScriptedKB, conversation, message

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def _version(number: int, **texts: str) -> PromptVersion:
    return PromptVersion(
        assistant="sac",
        number=number,
        texts={**default_prompt_set("sac").texts(), **texts},
        status=PromptStatus.PUBLISHED,
        author="chefe@example.com",
        created_at=NOW,
    )


def _ask(brain: GraphBrain, text: str, turn: str) -> BrainReply:
    return brain.answer(
        BrainRequest(conversation=conversation("sac"), pending=[message(text, 0)], turn_id=turn)
    )


def _brain(offline: OfflineReasoner, prompts: Any = None) -> GraphBrain:
    return GraphBrain(
        knowledge_base=ScriptedKB(default={}),
        tools=FakeTools(),
        images=None,
        reasoner=offline,
        min_score=MIN_SCORE,
        handoff_message=HANDOFF,
        prompts=prompts,
    )


def test_without_a_store_the_built_in_texts_answer_and_the_digest_is_recorded(
    offline: OfflineReasoner,
) -> None:
    reply = _ask(_brain(offline), "oi", "t1")
    assert reply.texts == [GREETING_REPLY]
    assert reply.prompt_version == prompt_version("sac") == default_prompt_set("sac").version


def test_the_run_s_prompt_set_gives_the_fixed_replies_and_the_recorded_version(
    offline: OfflineReasoner,
) -> None:
    v3 = _version(
        3,
        greeting="Oi! Aqui é a Ana, do atendimento.",
        ask_order_number="Qual é o número do seu pedido?",
        out_of_scope="Só falo de {scope} no {display_name}.",
    ).prompt_set()
    brain = _brain(offline, lambda assistant: v3)
    greeting = _ask(brain, "oi", "t1")
    assert greeting.texts == ["Oi! Aqui é a Ana, do atendimento."]
    assert greeting.prompt_version == "sac@v3"
    asked = _ask(brain, "meu pedido não chegou", "t2")
    assert asked.texts == ["Qual é o número do seu pedido?"]
    assert asked.prompt_version == "sac@v3"


class CountingStore:
    """A PromptStore's `published` only, counting reads; `fail` makes it raise."""

    def __init__(self, version: PromptVersion | None) -> None:
        self.current = version
        self.reads = 0
        self.fail = False

    def published(self, assistant: str) -> PromptVersion | None:
        self.reads += 1
        if self.fail:
            raise RuntimeError("firestore down")
        return self.current


def test_the_published_set_is_cached_for_the_ttl_then_read_again() -> None:
    store = CountingStore(_version(1, greeting="v1"))
    clock = [100.0]
    prompts = PublishedPrompts(store, ttl_seconds=60, monotonic=lambda: clock[0])  # type: ignore[arg-type]
    assert prompts("sac").greeting == "v1"
    store.current = _version(2, greeting="v2")
    clock[0] += 59
    assert prompts("sac").greeting == "v1"
    assert store.reads == 1
    clock[0] += 2
    assert prompts("sac").version == "sac@v2"
    assert store.reads == 2


def test_a_store_outage_keeps_the_last_known_set_and_defaults_when_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = CountingStore(_version(4, greeting="v4"))
    clock = [0.0]
    prompts = PublishedPrompts(store, ttl_seconds=1, monotonic=lambda: clock[0])  # type: ignore[arg-type]
    assert prompts("sac").version == "sac@v4"
    store.fail = True
    clock[0] += 5
    assert prompts("sac").version == "sac@v4"
    assert prompts("saf").version == default_prompt_set("saf").version
    store.current, store.fail = None, False
    clock[0] += 5
    assert prompts("sac").version == default_prompt_set("sac").version


def test_a_prompt_set_refuses_unknown_placeholders_and_empty_texts() -> None:
    texts = default_prompt_set("sac").texts()
    with pytest.raises(ValidationError, match="display_name"):
        PromptSet(**{**texts, "system": "Você é {nome}."})
    with pytest.raises(ValidationError):
        PromptSet(**{**texts, "greeting": "   "})
    with pytest.raises(ValidationError):
        PromptSet(**{**texts, "bogus": "x"})


class RecordingModel:
    """A chat model's structured-output surface only: records the messages, routes to sac."""

    def __init__(self) -> None:
        self.systems: list[str] = []

    def with_structured_output(self, schema: Any, **_: Any) -> RecordingModel:
        self.schema = schema
        return self

    def invoke(self, messages: list[Any]) -> dict[str, Any]:
        self.systems.append(str(messages[0].content))
        return {"raw": None, "parsed": self.schema(route="sac"), "parsing_error": None}


def test_the_llm_reasoner_asks_with_the_bound_prompt_set() -> None:
    from shared.agents.assistants import PROFILES
    from shared.agents.llm_reasoner import LlmReasoner
    from shared.agents.reasoning import ResilientReasoner, bind_prompts

    model = RecordingModel()
    llm = LlmReasoner(
        [("stub", model)],  # type: ignore[list-item]
        retryable=(TimeoutError,),
        usage=lambda raw: (0, 0),
        price=lambda model, i, o: 0.0,
    )
    custom = _version(
        5, system="Você é a Ana, de {display_name}.", route="ROTEIE ASSIM."
    ).prompt_set()
    bound = bind_prompts(ResilientReasoner(llm, llm), custom)
    bound.route("oi", PROFILES["sac"], has_image=False)
    llm.route("oi", PROFILES["sac"], has_image=False)
    assert model.systems[0] == "Você é a Ana, de Atendimento ao Cliente.\n\nROTEIE ASSIM."
    # Binding made a copy: the instance's own reasoner still asks with the built-in texts.
    assert "ROTEIE ASSIM." not in model.systems[1]
    assert model.systems[1].endswith(default_prompt_set("sac").route)
