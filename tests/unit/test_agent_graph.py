"""The multi-agent graph through GraphBrain: every route, memory across turns, the rules.

The offline reasoner is the real one (the USE v3 embedder, labelled route examples); the
knowledge base, the tools and the image reader are fakes that record what they were asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from shared.agents.brain import GraphBrain
from shared.agents.offline import OfflineReasoner
from shared.agents.prompts import GREETING_REPLY, THANKS_REPLY, UNREADABLE_REPLY
from shared.agents.reasoning import Reasoner
from shared.domain.models import BrainReply, BrainRequest, ImageReading, TicketStatus
from tests.unit.agent_fakes import (
    HANDOFF,
    MIN_SCORE,
    PHONE,
    FakeImages,
    FakeTools,
    ScriptedKB,
    conversation,
    kb_hit,
    message,
)


@pytest.fixture
def tools() -> FakeTools:
    return FakeTools()


@pytest.fixture
def kb() -> ScriptedKB:
    return ScriptedKB(
        default={
            "sac": [kb_hit("sac-pix", "Sim, aceitamos PIX no totem.", 0.71, "pagamento")],
            "saf": [kb_hit("saf-reposicao", "O pedido de reposição é feito no portal.", 0.66)],
            "cobranca": [kb_hit("cobranca-acordo", "Parcelamos em até 6 vezes.", 0.35)],
        }
    )


@dataclass
class Harness:
    """A brain over the fakes, and a counter so each turn has fresh message ids."""

    brain: GraphBrain
    assistant: str = "sac"
    sent: int = 0

    def ask(self, *texts: str, image: str | None = None) -> BrainReply:
        pending = []
        for text in texts:
            pending.append(message(text, self.sent))
            self.sent += 1
        if image is not None:
            pending.append(message("", self.sent, type_="image", media_id=image))
            self.sent += 1
        return self.brain.answer(
            BrainRequest(
                conversation=conversation(self.assistant),
                pending=pending,
                turn_id=f"turn-{self.sent}",
            )
        )


@pytest.fixture
def make_harness(
    offline: OfflineReasoner, kb: ScriptedKB, tools: FakeTools
) -> Callable[..., Harness]:
    def make(
        *,
        assistant: str = "sac",
        images: FakeImages | None = None,
        reasoner: Reasoner | None = None,
        checkpointer: Any = None,
    ) -> Harness:
        brain = GraphBrain(
            knowledge_base=kb,
            tools=tools,
            images=images,
            reasoner=reasoner or offline,
            min_score=MIN_SCORE,
            handoff_message=HANDOFF,
            checkpointer=checkpointer,
        )
        return Harness(brain, assistant)

    return make


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness(checkpointer=InMemorySaver())


# -- routes ---------------------------------------------------------------------------------


def test_customer_care_question_is_answered_from_the_knowledge_base(harness: Harness) -> None:
    reply = harness.ask("vocês aceitam pix no caixa?")
    assert reply.route == "sac"
    assert reply.texts == ["Sim, aceitamos PIX no totem."]
    assert reply.ticket_status is TicketStatus.AI_REPLIED
    assert reply.sources == ["sac-pix"]
    assert reply.prompt_version.startswith("sac@")
    assert reply.llm_calls == []
    assert reply.model == "offline"


def test_franchisee_question_searches_the_franchisee_namespace(
    harness: Harness, kb: ScriptedKB
) -> None:
    reply = harness.ask("sou franqueado, como faço o pedido de reposição de estoque da loja?")
    assert reply.route == "saf"
    assert kb.searches[-1][0] == "saf"
    assert reply.texts == ["O pedido de reposição é feito no portal."]


def test_second_copy_comes_from_the_invoice_tool(harness: Harness, tools: FakeTools) -> None:
    reply = harness.ask("preciso da segunda via do boleto")
    assert reply.route == "billing"
    assert tools.calls == [("invoice_copy", {"customer_phone": PHONE})]
    text = reply.texts[0]
    assert "R$ 249,90" in text and "10/11/2026" in text
    assert "00020126580014br.gov.bcb.pix0136atende-demo" in text
    assert reply.tools == ["invoice_copy"]


def test_order_status_comes_from_the_order_tool(harness: Harness, tools: FakeTools) -> None:
    reply = harness.ask("qual o status do meu pedido 482913?")
    assert reply.route == "data"
    assert tools.calls == [("order_status", {"order_number": "482913"})]
    assert "Em trânsito" in reply.texts[0] and "28/11/2026" in reply.texts[0]


def test_order_question_without_a_number_asks_for_it_and_remembers(
    harness: Harness, tools: FakeTools
) -> None:
    first = harness.ask("meu pedido ainda não chegou")
    assert first.route == "data"
    assert first.ticket_status is TicketStatus.AI_REPLIED
    assert "número do pedido" in first.texts[0]
    assert tools.calls == []
    # A bare number right after the question is the order number (checkpointed memory).
    second = harness.ask("482913")
    assert second.route == "data"
    assert tools.calls == [("order_status", {"order_number": "482913"})]
    assert "Em trânsito" in second.texts[0]


def test_store_question_uses_the_store_tool(harness: Harness, tools: FakeTools) -> None:
    reply = harness.ask("onde fica a loja de vocês em Campinas?")
    assert reply.route == "data"
    assert tools.names == ["store_info"]
    assert "Rua Coronel Quirino, 1200" in reply.texts[0]


def test_receipt_photo_is_read_and_its_order_looked_up(
    make_harness: Callable[..., Harness], tools: FakeTools
) -> None:
    images = FakeImages(ImageReading(ok=True, text="CUPOM FISCAL\nPedido:482913\nTotal: R$189,90"))
    reply = make_harness(images=images).ask(image="media-1")
    assert images.read_ids == ["media-1"]
    assert reply.route == "image"
    assert tools.calls == [("order_status", {"order_number": "482913"})]
    assert "Em trânsito" in reply.texts[0]


def test_unreadable_image_is_handed_off_with_a_reason(
    make_harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    images = FakeImages(ImageReading(ok=False, reason="ocr-unavailable"))
    with caplog.at_level(logging.WARNING):
        reply = make_harness(images=images).ask(image="media-2")
    assert reply.route == "image"
    assert reply.texts == [HANDOFF]
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert "ocr-unavailable" in reply.summary
    assert "media-2" in caplog.text and "ocr-unavailable" in caplog.text
    assert PHONE not in caplog.text


def test_image_without_an_order_number_is_handed_off_with_what_it_showed(
    make_harness: Callable[..., Harness], tools: FakeTools
) -> None:
    images = FakeImages(ImageReading(ok=True, text="Comprovante de transferência R$ 50,00"))
    reply = make_harness(images=images).ask(image="media-3")
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert "Comprovante de transferência" in reply.summary
    assert tools.calls == []


def test_greeting_and_thanks_close_the_ticket_after_an_answer(harness: Harness) -> None:
    assert harness.ask("oi").texts == [GREETING_REPLY]
    assert harness.ask("vocês aceitam pix no caixa?").ticket_status is TicketStatus.AI_REPLIED
    thanks = harness.ask("obrigada!")
    assert thanks.texts == [THANKS_REPLY]
    assert thanks.ticket_status is TicketStatus.FINISHED


def test_thanks_without_an_answer_does_not_close(make_harness: Callable[..., Harness]) -> None:
    reply = make_harness().ask("obrigado")
    assert reply.ticket_status is TicketStatus.AI_REPLIED


def test_message_without_text_asks_for_text(harness: Harness) -> None:
    reply = harness.brain.answer(
        BrainRequest(
            conversation=conversation(),
            pending=[message("", 900, type_="audio", media_id="a1")],
            turn_id="t-audio",
        )
    )
    assert reply.texts == [UNREADABLE_REPLY]


def test_explicit_request_for_a_human_opens_a_ticket(harness: Harness, tools: FakeTools) -> None:
    reply = harness.ask("quero falar com um atendente")
    assert reply.route == "human"
    assert reply.texts == [HANDOFF]
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert tools.names == ["open_ticket"]
    assert "ATD-1A2B3C4D" in reply.summary


def test_out_of_scope_question_is_declined_politely(harness: Harness) -> None:
    reply = harness.ask("quem ganhou a copa do mundo de 2002?")
    assert reply.route == "out_of_scope"
    assert "não consigo ajudar" in reply.texts[0]
    assert reply.ticket_status is TicketStatus.AI_REPLIED


def test_unknown_question_is_handed_off_with_a_card(harness: Harness, kb: ScriptedKB) -> None:
    kb.default["sac"] = [kb_hit("sac-horario", "Abrimos 24 horas.", 0.20, "loja")]
    reply = harness.ask("vocês vendem ingresso para o show de sábado?")
    assert reply.texts == [HANDOFF]
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert reply.handoff_category == "loja"
    assert "sac-horario" in reply.summary and "0.20" in reply.summary


def test_two_questions_one_unknown_is_answered_in_part(harness: Harness, kb: ScriptedKB) -> None:
    kb.hits[("sac", "vocês aceitam pix?")] = [kb_hit("sac-pix", "Sim, aceitamos PIX.", 0.8)]
    kb.hits[("sac", "e tem estacionamento para bicicletas?")] = [kb_hit("x", "?", 0.1)]
    reply = harness.ask("vocês aceitam pix?", "e tem estacionamento para bicicletas?")
    assert reply.texts == ["Sim, aceitamos PIX.", HANDOFF]
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert reply.question == "e tem estacionamento para bicicletas?"


# -- the tool allow-list --------------------------------------------------------------------


def test_a_tool_outside_the_agents_allow_list_is_refused_and_logged(
    make_harness: Callable[..., Harness],
    tools: FakeTools,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The billing assistant's data agent may look orders up, not stores.
    with caplog.at_level(logging.WARNING):
        reply = make_harness(assistant="cobranca").ask("onde fica a loja de vocês em Campinas?")
    assert reply.route == "data"
    assert "store_info" not in tools.names
    assert "tool call refused" in caplog.text and "store_info" in caplog.text
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST


# -- memory and resume ----------------------------------------------------------------------


class Crash(RuntimeError):
    """Stands for the instance dying in the middle of a turn."""


@dataclass
class CountingReasoner:
    """Wraps a reasoner, counts route calls, and crashes once at the draft if told to."""

    inner: OfflineReasoner
    routes: int = 0
    crash_at_draft: bool = False
    name: str = "offline"

    def __getattr__(self, item: str) -> Any:
        return getattr(self.inner, item)

    def route(self, *args: Any, **kwargs: Any) -> Any:
        self.routes += 1
        return self.inner.route(*args, **kwargs)

    def draft(self, *args: Any, **kwargs: Any) -> Any:
        if self.crash_at_draft:
            self.crash_at_draft = False
            raise Crash("instance gone")
        return self.inner.draft(*args, **kwargs)


def test_a_crashed_turn_resumes_from_its_checkpoint_without_routing_again(
    make_harness: Callable[..., Harness], offline: OfflineReasoner
) -> None:
    saver = InMemorySaver()
    counting = CountingReasoner(offline, crash_at_draft=True)
    harness = make_harness(reasoner=counting, checkpointer=saver)
    request = BrainRequest(
        conversation=conversation(),
        pending=[message("vocês aceitam pix no caixa?", 1)],
        turn_id="turn-crash",
    )
    with pytest.raises(Crash):
        harness.brain.answer(request)
    assert counting.routes == 1
    # A new brain (a cold instance) over the same checkpoints gets the same turn again.
    fresh = make_harness(reasoner=counting, checkpointer=saver)
    reply = fresh.brain.answer(request)
    assert reply.texts == ["Sim, aceitamos PIX no totem."]
    assert counting.routes == 1


def test_a_new_turn_does_not_inherit_the_previous_turns_answer(harness: Harness) -> None:
    harness.ask("vocês aceitam pix no caixa?")
    reply = harness.ask("quero falar com um atendente")
    assert reply.texts == [HANDOFF]
    assert reply.sources == []


@pytest.fixture(autouse=True)
def _no_phone_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    assert PHONE not in caplog.text
