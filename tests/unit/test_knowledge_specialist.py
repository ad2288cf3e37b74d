"""The knowledge specialist (sac, saf) through GraphBrain with a scripted knowledge base.

The router is pinned to the knowledge route so these tests exercise retrieval, multi-question
bursts, thresholds and small talk; routing has its own tests (test_agent_graph.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.adapters.local_embeddings import LocalEmbedder
from shared.agents.brain import GraphBrain
from shared.agents.offline import OfflineReasoner
from shared.agents.prompts import GREETING_REPLY, THANKS_REPLY, UNREADABLE_REPLY
from shared.agents.reasoning import RouteDecision, Thought
from shared.domain.models import (
    BrainReply,
    BrainRequest,
    Conversation,
    InboundMessage,
    KnowledgeHit,
    TicketStatus,
)

MIN_SCORE = 0.42
HANDOFF = "Olá! Um atendente humano vai continuar."
PIX_ANSWER = "Sim, aceitamos PIX."

CONVERSATION = Conversation(
    conversation_id="100000000000001:5511988887777",
    wa_id="5511988887777",
    phone_number_id="100000000000001",
    assistant="sac",
    contact_name="Maria",
)


def _message(text: str, index: int = 0, type_: str = "text") -> InboundMessage:
    return InboundMessage(
        message_id=f"wamid.{index}",
        wa_id=CONVERSATION.wa_id,
        phone_number_id=CONVERSATION.phone_number_id,
        type=type_,
        timestamp=datetime(2025, 3, 10, 15, 0, index, tzinfo=UTC),
        text=text,
        wakes_agent=True,
    )


class KnowledgeRouteOnly(OfflineReasoner):
    """The offline reasoner with its router pinned to the assistant's knowledge route."""

    def route(self, question: str, profile: Any, *, has_image: bool) -> Thought[RouteDecision]:
        return Thought(RouteDecision(route=profile.default_route, reason="fixed"))


_REASONER = KnowledgeRouteOnly(LocalEmbedder(), min_score=MIN_SCORE)


class NoTools:
    """No business tool is reachable from the knowledge route; a call would be a bug."""

    def call(self, tool: str, arguments: Any) -> Any:
        raise AssertionError(f"the knowledge route called {tool}")


def _brain(kb: Any) -> GraphBrain:
    return GraphBrain(
        knowledge_base=kb,
        tools=NoTools(),
        images=None,
        reasoner=_REASONER,
        min_score=MIN_SCORE,
        handoff_message=HANDOFF,
    )


def _ask(kb: Any, *texts: str, conversation: Conversation = CONVERSATION) -> BrainReply:
    pending = [_message(t, i) for i, t in enumerate(texts)]
    return _brain(kb).answer(BrainRequest(conversation=conversation, pending=pending))


@pytest.fixture
def pix_kb(make_kb: Callable[..., Any], make_hit: Callable[..., Any]) -> Any:
    return make_kb(default=[make_hit("pix", PIX_ANSWER, 0.71), make_hit("boleto", "Boleto.", 0.30)])


def test_close_hit_is_answered(pix_kb: Any) -> None:
    reply = _ask(pix_kb, "Vocês aceitam PIX?")
    assert reply.texts == [PIX_ANSWER]
    assert reply.ticket_status is TicketStatus.AI_REPLIED
    assert reply.route == "sac"
    assert reply.handoff_category is None
    assert reply.question == "Vocês aceitam PIX?"
    assert "pix" in reply.summary
    assert reply.model == "offline"
    assert pix_kb.searches == [("sac", "Vocês aceitam PIX?", 3)]


def test_score_equal_to_the_minimum_is_answered(
    make_kb: Callable[..., Any], make_hit: Callable[..., Any]
) -> None:
    kb = make_kb(default=[make_hit("pix", PIX_ANSWER, MIN_SCORE)])
    assert _ask(kb, "PIX?").route == "sac"


def test_best_hit_wins_whatever_the_kb_order(
    make_kb: Callable[..., Any], make_hit: Callable[..., Any]
) -> None:
    kb = make_kb(default=[make_hit("low", "Baixa.", 0.50), make_hit("high", "Alta.", 0.90)])
    assert _ask(kb, "Pergunta?").texts == ["Alta."]


def test_far_hit_hands_off(make_kb: Callable[..., Any], make_hit: Callable[..., Any]) -> None:
    kb = make_kb(default=[make_hit("pix", PIX_ANSWER, 0.31)])
    question = "Qual o CNPJ da loja?"
    reply = _ask(kb, question)
    assert reply.texts == [HANDOFF]
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert reply.route == "sac"
    assert reply.handoff_category == "sac"
    assert reply.question == question
    assert question in reply.summary
    assert "pix" in reply.summary and "0.31" in reply.summary


def test_no_hits_hand_off(make_kb: Callable[..., Any]) -> None:
    reply = _ask(make_kb(), "Qual o CNPJ?")
    assert reply.route == "sac"
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert "Qual o CNPJ?" in reply.summary


def test_namespace_is_the_conversation_assistant(
    make_kb: Callable[..., Any],
) -> None:
    kb = make_kb()
    conversation = CONVERSATION.model_copy(update={"assistant": "vendas"})
    reply = _ask(kb, "Tem desconto?", conversation=conversation)
    assert kb.searches[0][0] == "vendas"
    assert reply.handoff_category == "vendas"


@pytest.mark.parametrize("greeting", ["Oi", "oi!", "Bom dia", "Olá, tudo bem?"])
def test_greeting_alone_is_greeted_without_searching(pix_kb: Any, greeting: str) -> None:
    reply = _ask(pix_kb, greeting)
    assert reply.texts == [GREETING_REPLY]
    assert reply.ticket_status is TicketStatus.AI_REPLIED
    assert reply.route == "small_talk"
    assert pix_kb.searches == []


def test_greeting_then_question_is_answered_with_hello(pix_kb: Any) -> None:
    reply = _ask(pix_kb, "Oi", "Vocês aceitam PIX?")
    assert reply.texts == [f"Olá! {PIX_ANSWER}"]
    assert reply.route == "sac"
    assert pix_kb.queries == ["Vocês aceitam PIX?"]


def test_greeting_then_unknown_question_hands_off_without_hello(
    make_kb: Callable[..., Any],
) -> None:
    reply = _ask(make_kb(), "Oi", "Qual o CNPJ?")
    assert reply.texts == [HANDOFF]
    assert reply.question == "Qual o CNPJ?"


@pytest.mark.parametrize("thanks", ["obrigado", "Muito obrigada!", "valeu"])
def test_thanks(pix_kb: Any, thanks: str) -> None:
    reply = _ask(pix_kb, thanks)
    assert reply.texts == [THANKS_REPLY]
    assert reply.route == "small_talk"
    assert reply.ticket_status is TicketStatus.AI_REPLIED
    assert pix_kb.searches == []


@pytest.mark.parametrize("texts", [("",), ("   ",), ("", "")])
def test_empty_message_asks_for_text(pix_kb: Any, texts: tuple[str, ...]) -> None:
    reply = _ask(pix_kb, *texts)
    assert reply.texts == [UNREADABLE_REPLY]
    assert reply.route == "small_talk"
    assert reply.ticket_status is TicketStatus.AI_REPLIED
    assert pix_kb.searches == []


def test_unsupported_message_through_the_brain(pix_kb: Any) -> None:
    brain = _brain(pix_kb)
    pending = [_message("", 0, type_="unsupported")]
    reply = brain.answer(BrainRequest(conversation=CONVERSATION, pending=pending))
    assert reply.texts == [UNREADABLE_REPLY]


def test_several_questions_search_the_whole_and_each_line(
    make_kb: Callable[..., Any], make_hit: Callable[..., Any]
) -> None:
    kb = make_kb(
        by_query={
            "Aceitam PIX?\nQual o horário?": [make_hit("pix", PIX_ANSWER, 0.45)],
            "Aceitam PIX?": [make_hit("pix", PIX_ANSWER, 0.60)],
            "Qual o horário?": [make_hit("horario", "Das 9h às 18h.", 0.80)],
        }
    )
    reply = _ask(kb, "Oi", "Aceitam PIX?", "Qual o horário?")
    assert kb.queries == ["Aceitam PIX?\nQual o horário?", "Aceitam PIX?", "Qual o horário?"]
    assert {namespace for namespace, _, _ in kb.searches} == {"sac"}
    assert reply.question == "Aceitam PIX?\nQual o horário?"
    # Two questions that each match get both answers, in the order they were asked.
    assert reply.texts == [f"Olá! {PIX_ANSWER}\n\nDas 9h às 18h."]
    assert reply.route == "sac"
    assert "pix" in reply.summary and "horario" in reply.summary


def test_one_line_matching_answers_with_the_best_hit(
    make_kb: Callable[..., Any], make_hit: Callable[..., Any]
) -> None:
    kb = make_kb(
        by_query={
            "Aceitam PIX?\nTem estacionamento?": [make_hit("pix", PIX_ANSWER, 0.50)],
            "Aceitam PIX?": [make_hit("pix", PIX_ANSWER, 0.70)],
            "Tem estacionamento?": [make_hit("boleto", "Boleto.", 0.20)],
        }
    )
    reply = _ask(kb, "Aceitam PIX?", "Tem estacionamento?")
    assert len(kb.searches) == 3
    # The known question is answered; the other is not dropped but handed to a human.
    assert reply.texts[0] == PIX_ANSWER
    assert len(reply.texts) == 2  # the answer, then the handoff message
    assert reply.route == "sac"
    assert reply.ticket_status == TicketStatus.TRANSFERRED_TO_ANALYST
    assert reply.question == "Tem estacionamento?"
    assert "0.70" in reply.summary and "Tem estacionamento?" in reply.summary


def test_a_filler_line_is_not_a_question_of_its_own(
    make_kb: Callable[..., Any], make_hit: Callable[..., Any]
) -> None:
    kb = make_kb(
        by_query={
            "queria saber uma coisa\nAceitam PIX?": [make_hit("pix", PIX_ANSWER, 0.50)],
            "Aceitam PIX?": [make_hit("pix", PIX_ANSWER, 0.70)],
        },
        default=[make_hit("boleto", "Boleto.", 0.10)],
    )
    reply = _ask(kb, "queria saber uma coisa", "Aceitam PIX?")
    assert reply.texts == [PIX_ANSWER]
    assert reply.route == "sac"


def test_no_line_close_enough_hands_off(
    make_kb: Callable[..., Any], make_hit: Callable[..., Any]
) -> None:
    kb = make_kb(default=[make_hit("boleto", "Boleto.", 0.20)])
    reply = _ask(kb, "Tem estacionamento?", "Qual o CNPJ?")
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert reply.question == "Tem estacionamento?\nQual o CNPJ?"
    assert "Tem estacionamento?" in reply.summary and "Qual o CNPJ?" in reply.summary


def test_same_entry_keeps_its_best_score(
    make_kb: Callable[..., Any], make_hit: Callable[..., Any]
) -> None:
    kb = make_kb(
        by_query={
            "A?\nB?": [make_hit("x", "X.", 0.20), make_hit("y", "Y.", 0.40)],
            "A?": [make_hit("x", "X.", 0.45)],
            "B?": [make_hit("y", "Y.", 0.10)],
        }
    )
    reply = _ask(kb, "A?", "B?")
    assert reply.texts == ["X."]
    assert "0.45" in reply.summary


def test_brain_is_reusable_across_turns(pix_kb: Any, make_kb: Callable[..., Any]) -> None:
    brain = _brain(pix_kb)
    first = brain.answer(BrainRequest(conversation=CONVERSATION, pending=[_message("PIX?")]))
    second = brain.answer(BrainRequest(conversation=CONVERSATION, pending=[_message("Oi")]))
    assert first.route == "sac"
    assert second.route == "small_talk"


def test_greeting_with_thanks_is_not_handed_off(make_kb: Callable[..., Any]) -> None:
    kb = make_kb()
    reply = _ask(kb, "bom dia, obrigado")
    assert reply.route == "small_talk"
    assert reply.ticket_status is TicketStatus.AI_REPLIED
    assert kb.searches == []


def _keyword_hit(entry_id: str, score: float, keyword_score: float) -> Any:
    return KnowledgeHit(
        entry_id=entry_id,
        question=f"pergunta {entry_id}",
        answer=f"Resposta {entry_id}.",
        score=score,
        keyword_score=keyword_score,
    )


@pytest.mark.parametrize(
    ("hits", "answered"),
    [
        # Sure on its own.
        ([_keyword_hit("a", 0.65, 0.0), _keyword_hit("b", 0.30, 5.0)], "a"),
        # Between the scores: the keyword search agrees on the same entry.
        ([_keyword_hit("a", 0.50, 4.0), _keyword_hit("b", 0.30, 2.0)], "a"),
        # Between the scores, but another entry matches more of the words: hand off.
        ([_keyword_hit("a", 0.50, 1.0), _keyword_hit("b", 0.30, 3.0)], None),
        # Between the scores with no word in common: hand off.
        ([_keyword_hit("a", 0.50, 0.0)], None),
        # Below the minimum, whatever the keywords say.
        ([_keyword_hit("a", 0.40, 9.0)], None),
    ],
)
def test_an_entry_below_the_sure_score_needs_the_keywords_to_agree(
    make_kb: Callable[..., Any], hits: list[Any], answered: str | None
) -> None:
    reasoner = KnowledgeRouteOnly(LocalEmbedder(), min_score=MIN_SCORE, sure_score=0.60)
    brain = GraphBrain(
        knowledge_base=make_kb(default=hits),
        tools=NoTools(),
        images=None,
        reasoner=reasoner,
        min_score=MIN_SCORE,
        handoff_message=HANDOFF,
    )
    reply = brain.answer(BrainRequest(conversation=CONVERSATION, pending=[_message("Pergunta?")]))
    if answered is None:
        assert reply.texts == [HANDOFF]
    else:
        assert reply.answered_from == [answered]
