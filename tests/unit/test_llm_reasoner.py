"""The Gemini path of the graph: the real ChatVertexAI client against the local Vertex stand-in.

Covers the fallback chain (primary fails → fallback answers; all fail → the offline reasoner),
structured output, per-call token and cost records, and the no-invented-facts rule.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from shared.adapters.vertex import FALLBACK_EXCEPTIONS, chat_model, cost_usd, usage_of
from shared.agents.brain import GraphBrain
from shared.agents.llm_reasoner import LlmReasoner
from shared.agents.offline import OfflineReasoner
from shared.agents.reasoning import ResilientReasoner
from shared.domain.models import BrainRequest, TicketStatus
from shared.localstack.vertex_standin import VertexStandIn
from tests.unit.agent_fakes import (
    HANDOFF,
    MIN_SCORE,
    FakeTools,
    ScriptedKB,
    conversation,
    kb_hit,
    message,
)

PRIMARY = "gemini-2.5-flash"
FALLBACK = "gemini-2.5-flash-lite"


@pytest.fixture(autouse=True)
def _offline(request: pytest.FixtureRequest) -> None:
    if not request.node.name.startswith("test_live_"):
        request.getfixturevalue("no_google_credentials")


@pytest.fixture(scope="module")
def _server() -> Iterator[VertexStandIn]:
    with VertexStandIn(port=0) as standin:
        yield standin


@pytest.fixture
def standin(_server: VertexStandIn) -> VertexStandIn:
    _server.reset()
    return _server


def _llm(standin: VertexStandIn) -> LlmReasoner:
    models = [
        (
            name,
            chat_model(
                model=name,
                project="atende-test",
                location="us-central1",
                endpoint=standin.url,
                timeout=5,
                max_retries=0,
                retry_wait_seconds=0.01,
                thinking_budget=0,
            ),
        )
        for name in (PRIMARY, FALLBACK)
    ]
    return LlmReasoner(models, retryable=FALLBACK_EXCEPTIONS, usage=usage_of, price=cost_usd)


@pytest.fixture
def kb() -> ScriptedKB:
    return ScriptedKB(
        default={
            "sac": [kb_hit("sac-pix", "Sim, aceitamos PIX no totem e no app.", 0.71, "pagamento")]
        }
    )


@pytest.fixture
def tools() -> FakeTools:
    return FakeTools()


def _brain(
    standin: VertexStandIn, offline: OfflineReasoner, kb: ScriptedKB, tools: FakeTools
) -> GraphBrain:
    return GraphBrain(
        knowledge_base=kb,
        tools=tools,
        images=None,
        reasoner=ResilientReasoner(_llm(standin), offline),
        min_score=MIN_SCORE,
        handoff_message=HANDOFF,
        checkpointer=InMemorySaver(),
    )


def _ask(brain: GraphBrain, text: str, turn: str = "t1") -> Any:
    return brain.answer(
        BrainRequest(conversation=conversation(), pending=[message(text, 1)], turn_id=turn)
    )


def _route(route: str) -> str:
    return json.dumps({"route": route, "confidence": 0.9, "reason": "teste"})


def _draft(answer: str, *sources: str, can_answer: bool = True) -> str:
    return json.dumps({"answer": answer, "can_answer": can_answer, "used_sources": list(sources)})


SUPPORTED = json.dumps({"supported": True, "problems": ""})


def test_gemini_routes_drafts_and_verifies_with_structured_output(
    standin: VertexStandIn, offline: OfflineReasoner, kb: ScriptedKB, tools: FakeTools
) -> None:
    standin.script(PRIMARY, text=_route("sac"), usage=(300, 20))
    standin.script(
        PRIMARY, text=_draft("Aceitamos PIX, sim: no totem e no app.", "sac-pix"), usage=(500, 30)
    )
    standin.script(PRIMARY, text=SUPPORTED, usage=(400, 10))

    reply = _ask(_brain(standin, offline, kb, tools), "vocês aceitam pix?")

    assert reply.texts == ["Aceitamos PIX, sim: no totem e no app."]
    assert reply.route == "sac"
    assert reply.model == PRIMARY
    assert [c["step"] for c in reply.llm_calls] == ["route", "draft", "verify"]
    assert reply.input_tokens == 1200 and reply.output_tokens == 60
    assert reply.cost_usd == pytest.approx(cost_usd(PRIMARY, 1200, 60))
    # json_mode: controlled generation with the pydantic schema, not free text.
    config = standin.requests[0].generation_config
    assert (
        config.get("responseMimeType") == "application/json"
        or config.get("response_mime_type") == "application/json"
    )
    assert "sac-pix" in json.dumps(standin.requests[1].turns)


def test_primary_failure_falls_back_to_the_next_model(
    standin: VertexStandIn,
    offline: OfflineReasoner,
    kb: ScriptedKB,
    tools: FakeTools,
    caplog: pytest.LogCaptureFixture,
) -> None:
    standin.script(PRIMARY, status=503)
    standin.script(FALLBACK, text=_route("sac"), usage=(300, 20))
    standin.script(PRIMARY, text=_draft("Sim, aceitamos PIX no totem e no app.", "sac-pix"))
    standin.script(PRIMARY, text=SUPPORTED)

    with caplog.at_level(logging.INFO):
        reply = _ask(_brain(standin, offline, kb, tools), "vocês aceitam pix?")

    assert reply.texts == ["Sim, aceitamos PIX no totem e no app."]
    first, second = reply.llm_calls[:2]
    assert (first["model"], first["outcome"], first["fallback"]) == (PRIMARY, "error", False)
    assert (second["model"], second["outcome"], second["fallback"]) == (FALLBACK, "ok", True)
    events = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "llm_call"]
    assert [r.fields["outcome"] for r in events][:2] == ["error", "ok"]  # type: ignore[attr-defined]
    assert events[1].fields["fallback"] == "true"  # type: ignore[attr-defined]


def test_when_every_model_fails_the_offline_reasoner_answers(
    standin: VertexStandIn, offline: OfflineReasoner, kb: ScriptedKB, tools: FakeTools
) -> None:
    standin.script("*", status=429, times=20)

    reply = _ask(_brain(standin, offline, kb, tools), "vocês aceitam pix no caixa?")

    assert reply.texts == ["Sim, aceitamos PIX no totem e no app."]
    assert reply.model == "offline"
    assert {c["outcome"] for c in reply.llm_calls} == {"error"}
    assert reply.ticket_status is TicketStatus.AI_REPLIED


def test_an_invented_date_is_refined_once_then_handed_off(
    standin: VertexStandIn, offline: OfflineReasoner, kb: ScriptedKB, tools: FakeTools
) -> None:
    invented = _draft("Seu pedido 482913 chega em 30/11/2026.", "order_status")
    standin.script(PRIMARY, text=_route("data"))
    standin.script(PRIMARY, text=invented)
    standin.script(PRIMARY, text=invented)
    standin.script(
        PRIMARY, text=json.dumps({"category": "pedidos", "summary": "Quer saber do pedido."})
    )

    reply = _ask(_brain(standin, offline, kb, tools), "quando chega o pedido 482913?")

    assert reply.texts == [HANDOFF]
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert [c["step"] for c in reply.llm_calls] == ["route", "draft", "draft", "summarize"]
    # The refinement told the model what was wrong.
    assert "30/11/2026" in json.dumps(standin.requests[2].turns)
    assert tools.names == ["order_status", "order_status"]


def test_a_refined_draft_that_sticks_to_the_tool_is_sent(
    standin: VertexStandIn, offline: OfflineReasoner, kb: ScriptedKB, tools: FakeTools
) -> None:
    standin.script(PRIMARY, text=_route("data"))
    standin.script(PRIMARY, text=_draft("Chega em 30/11/2026.", "order_status"))
    standin.script(
        PRIMARY,
        text=_draft("O pedido 482913 está em trânsito, previsão 28/11/2026.", "order_status"),
    )
    standin.script(PRIMARY, text=SUPPORTED)

    reply = _ask(_brain(standin, offline, kb, tools), "quando chega o pedido 482913?")

    assert reply.texts == ["O pedido 482913 está em trânsito, previsão 28/11/2026."]
    assert reply.ticket_status is TicketStatus.AI_REPLIED


def test_a_route_the_assistant_does_not_allow_falls_back_to_its_default(
    standin: VertexStandIn, offline: OfflineReasoner, kb: ScriptedKB, tools: FakeTools
) -> None:
    answer = "Você pode mudar o vencimento uma vez por ano, pelo aplicativo."
    kb.default["cobranca"] = [kb_hit("cobranca-vencimento", answer, 0.8)]
    standin.script(PRIMARY, text=_route("saf"))
    standin.script(PRIMARY, text=_draft(answer, "cobranca-vencimento"))
    standin.script(PRIMARY, text=SUPPORTED)
    brain = _brain(standin, offline, kb, tools)

    reply = brain.answer(
        BrainRequest(
            conversation=conversation("cobranca"),
            pending=[message("posso mudar o vencimento do boleto?", 1)],
            turn_id="t-cob",
        )
    )

    assert reply.route == "billing"
    assert reply.texts == [answer]


@pytest.mark.skipif(
    os.environ.get("ATENDE_VERTEX_LIVE") != "1",
    reason="set ATENDE_VERTEX_LIVE=1 with Application Default Credentials to call Vertex AI",
)
def test_live_gemini_answers_a_turn_from_the_knowledge_base(
    offline: OfflineReasoner, kb: ScriptedKB, tools: FakeTools
) -> None:
    from shared.adapters.vertex import chat_models_from_settings
    from shared.settings import Settings

    settings = Settings(llm_backend="vertex", vertex_endpoint=None)
    llm = LlmReasoner(
        chat_models_from_settings(settings),
        retryable=FALLBACK_EXCEPTIONS,
        usage=usage_of,
        price=cost_usd,
    )
    brain = GraphBrain(
        knowledge_base=kb,
        tools=tools,
        images=None,
        reasoner=llm,
        min_score=MIN_SCORE,
        handoff_message=HANDOFF,
    )
    reply = _ask(brain, "vocês aceitam pix?")
    assert reply.route == "sac"
    assert reply.ticket_status is TicketStatus.AI_REPLIED
    assert "pix" in reply.texts[0].lower()
    assert reply.input_tokens > 0 and reply.cost_usd > 0
