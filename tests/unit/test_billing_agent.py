"""The billing agent of the cobranca assistant through GraphBrain: opt-outs, promises to pay,
instalments and disputes, decided by rule with the reasoner's model steps left out.

The offline reasoner is the real one; the knowledge base and the tools are fakes. Today is
Wednesday 25/11/2026 in São Paulo.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from shared.agents import prompts
from shared.agents.brain import GraphBrain
from shared.agents.facts import unsupported_facts
from shared.agents.graph import AgentContext
from shared.agents.offline import OfflineReasoner
from shared.agents.prompts import ASK_DAY_REPLY, OPT_OUT_REPLY, prompt_version
from shared.agents.reasoning import Reasoner
from shared.clock import ManualClock
from shared.domain.billing import DebtorAction, InstalmentPolicy
from shared.domain.models import BrainReply, BrainRequest, TicketStatus, ToolResult
from tests.unit.agent_fakes import (
    HANDOFF,
    INVOICES,
    MIN_SCORE,
    PHONE,
    ScriptedKB,
    conversation,
    kb_hit,
    message,
)

# 12:00 in São Paulo on Wednesday 25/11/2026.
NOON = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
PIX = "00020126580014br.gov.bcb.pix0136atende-demo"


def invoice(invoice_id: str, amount: str, status: str = "overdue") -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "amount": amount,
        "due_date": "2026-11-10",
        "status": status,
        "pix_code": f"pix-{invoice_id}",
    }


@dataclass
class DebtTools:
    """BusinessTools with the debtor's invoices; records every call."""

    invoices: list[dict[str, Any]] = field(default_factory=lambda: list(INVOICES["invoices"]))
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: bool = False

    def call(self, tool: str, arguments: Mapping[str, object]) -> ToolResult:
        self.calls.append((tool, dict(arguments)))
        if tool == "invoice_copy" and not self.fail:
            data = {"invoices": self.invoices, "paid_invoices": 0}
            return ToolResult(tool=tool, arguments=dict(arguments), ok=True, data=data)
        return ToolResult(tool=tool, arguments=dict(arguments), ok=False, error="unavailable")

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@dataclass
class Debtor:
    """One debtor's conversation with the cobranca assistant."""

    brain: GraphBrain
    assistant: str = "cobranca"
    sent: int = 0

    def says(self, *texts: str) -> BrainReply:
        pending = []
        for text in texts:
            pending.append(message(text, self.sent))
            self.sent += 1
        return self.brain.answer(
            BrainRequest(
                conversation=conversation(self.assistant),
                pending=pending,
                turn_id=f"turn-{self.sent}",
            )
        )


@pytest.fixture
def tools() -> DebtTools:
    return DebtTools()


@pytest.fixture
def kb() -> ScriptedKB:
    return ScriptedKB(
        default={
            "sac": [kb_hit("sac-pix", "Sim, aceitamos PIX no totem.", 0.71, "pagamento")],
            "cobranca": [kb_hit("cobranca-parcelamento", "Parcelamos em até 6 vezes.", 0.80)],
        }
    )


@pytest.fixture
def make_debtor(
    offline: OfflineReasoner, kb: ScriptedKB, tools: DebtTools
) -> Callable[..., Debtor]:
    def make(
        *,
        assistant: str = "cobranca",
        reasoner: Reasoner | None = None,
        policy: InstalmentPolicy | None = None,
        now: datetime = NOON,
        brain_class: type[GraphBrain] = GraphBrain,
    ) -> Debtor:
        brain = brain_class(
            knowledge_base=kb,
            tools=tools,
            images=None,
            reasoner=reasoner or offline,
            min_score=MIN_SCORE,
            handoff_message=HANDOFF,
            checkpointer=InMemorySaver(),
            clock=ManualClock(now),
            time_zone="America/Sao_Paulo",
            instalment_policy=policy,
        )
        return Debtor(brain, assistant)

    return make


@pytest.fixture
def debtor(make_debtor: Callable[..., Debtor]) -> Debtor:
    return make_debtor()


@pytest.fixture(autouse=True)
def _no_invented_facts_nor_phone(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.WARNING):
        yield
    assert "stated facts no source has" not in caplog.text
    assert PHONE not in caplog.text


# -- opt-out --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["PARAR", "parar", "Sair", "não quero mais receber mensagens", "parem de me cobrar!"],
)
def test_opt_out_is_confirmed_and_recorded(debtor: Debtor, tools: DebtTools, text: str) -> None:
    reply = debtor.says(text)
    assert reply.route == "billing"
    assert reply.texts == [OPT_OUT_REPLY]
    assert reply.actions == [DebtorAction(kind="opt_out")]
    assert reply.ticket_status is TicketStatus.FINISHED
    assert reply.outcome == "opt_out"
    assert reply.handoff_category is None
    assert tools.calls == []


def test_opt_out_after_a_greeting_in_the_same_burst(debtor: Debtor) -> None:
    reply = debtor.says("boa tarde", "PARAR")
    assert reply.actions == [DebtorAction(kind="opt_out")]
    assert reply.texts == [f"Olá! {OPT_OUT_REPLY}"]


def test_opt_out_text_says_what_still_works() -> None:
    assert "não vai mais receber" in OPT_OUT_REPLY
    assert "segunda via" in OPT_OUT_REPLY and "negociar" in OPT_OUT_REPLY


# -- promises to pay ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("vou pagar dia 30", date(2026, 11, 30)),
        ("pago sexta", date(2026, 11, 27)),
        ("consigo pagar amanhã", date(2026, 11, 26)),
        ("posso pagar no dia 05/12?", date(2026, 12, 5)),
        ("hoje não dá, mas pago na segunda-feira", date(2026, 11, 30)),
    ],
)
def test_a_promise_within_the_policy_is_registered(
    debtor: Debtor, tools: DebtTools, text: str, day: date
) -> None:
    reply = debtor.says(text)
    assert reply.route == "billing"
    assert reply.actions == [DebtorAction(kind="promise", promised_for=day)]
    assert reply.ticket_status is TicketStatus.AI_REPLIED
    assert reply.outcome == "promise"
    shown = day.strftime("%d/%m/%Y")
    assert reply.texts == [
        f"Combinado! Registrei que você vai pagar em {shown}. Até lá, pausamos os lembretes de "
        "cobrança. Se precisar da segunda via ou do código PIX, é só pedir aqui."
    ]
    assert tools.calls == []


def test_a_promise_on_the_last_day_of_the_policy_is_accepted(debtor: Debtor) -> None:
    reply = debtor.says("vou pagar dia 25/12")
    assert reply.actions == [DebtorAction(kind="promise", promised_for=date(2026, 12, 25))]


def test_a_promise_beyond_the_policy_goes_to_an_analyst(debtor: Debtor) -> None:
    reply = debtor.says("só consigo pagar dia 10/01")
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert reply.texts == [HANDOFF]
    assert reply.outcome == "handoff"
    assert reply.handoff_category == "promessa"
    assert reply.actions == []
    assert "10/01/2027" in reply.summary and "30 dias" in reply.summary
    assert "25/12/2026" in reply.summary
    assert reply.question


def test_a_promise_without_a_day_asks_for_it_and_the_answer_is_registered(
    debtor: Debtor,
) -> None:
    asked = debtor.says("semana que vem eu pago")
    assert asked.texts == [ASK_DAY_REPLY]
    assert asked.outcome == "ask"
    assert asked.ticket_status is TicketStatus.AI_REPLIED
    assert asked.actions == []
    # The day alone answers the question (the conversation remembers it was asked).
    answered = debtor.says("quinta")
    assert answered.actions == [DebtorAction(kind="promise", promised_for=date(2026, 11, 26))]
    assert answered.outcome == "promise"


def test_an_impossible_day_is_asked_again(debtor: Debtor) -> None:
    reply = debtor.says("vou pagar dia 31")
    assert reply.texts == [ASK_DAY_REPLY]
    assert reply.actions == []


def test_a_bare_day_is_no_promise_unless_it_was_asked_for(debtor: Debtor) -> None:
    reply = debtor.says("sexta")
    assert reply.actions == []


def test_a_promise_with_a_request_for_the_pix_code_gets_both(
    debtor: Debtor, tools: DebtTools
) -> None:
    reply = debtor.says("me manda o pix que eu pago amanhã")
    assert reply.actions == [DebtorAction(kind="promise", promised_for=date(2026, 11, 26))]
    assert "26/11/2026" in reply.texts[0]
    assert PIX in reply.texts[0] and "R$ 249,90" in reply.texts[0]
    assert tools.names == ["invoice_copy"]
    assert reply.tools == ["invoice_copy"]


def test_today_is_the_debtors_day_not_the_servers(make_debtor: Callable[..., Debtor]) -> None:
    # 01:00 UTC on the 26th is still 22:00 of the 25th in São Paulo.
    late = make_debtor(now=datetime(2026, 11, 26, 1, 0, tzinfo=UTC))
    reply = late.says("consigo pagar amanhã")
    assert reply.actions == [DebtorAction(kind="promise", promised_for=date(2026, 11, 26))]


def test_the_promise_window_comes_from_the_policy(make_debtor: Callable[..., Debtor]) -> None:
    strict = make_debtor(policy=InstalmentPolicy(max_promise_days=3))
    reply = strict.says("vou pagar dia 30")
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert "3 dias" in reply.summary and "28/11/2026" in reply.summary


def test_a_past_payment_is_no_promise_but_a_dispute(debtor: Debtor) -> None:
    reply = debtor.says("paguei dia 10")
    assert reply.actions == []
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert reply.handoff_category == "contestacao"


# -- instalments ----------------------------------------------------------------------------


def test_instalments_are_offered_within_the_policy(debtor: Debtor, tools: DebtTools) -> None:
    reply = debtor.says("dá pra parcelar?")
    assert reply.route == "billing"
    assert tools.calls == [("invoice_copy", {"customer_phone": PHONE})]
    assert reply.texts == [
        "Dá para parcelar o total em aberto de R$ 249,90 em até 3 vezes de R$ 83,30. "
        "Em quantas vezes você prefere?"
    ]
    assert reply.outcome == "ask"
    assert reply.ticket_status is TicketStatus.AI_REPLIED
    assert reply.actions == []
    assert reply.tools == ["invoice_copy"]


def test_the_sum_of_the_open_invoices_is_what_is_split(debtor: Debtor, tools: DebtTools) -> None:
    tools.invoices = [
        invoice("FAT-1", "100.00"),
        invoice("FAT-2", "50.00", status="open"),
        invoice("FAT-0", "999.00", status="paid"),
    ]
    reply = debtor.says("quero parcelar")
    assert "R$ 150,00" in reply.texts[0] and "3 vezes de R$ 50,00" in reply.texts[0]


def test_a_count_within_the_policy_is_accepted_and_handed_to_an_analyst(
    debtor: Debtor,
) -> None:
    reply = debtor.says("quero parcelar em 2 vezes")
    assert reply.texts == [
        "Combinado: 2 vezes de R$ 124,95, total de R$ 249,90. Um analista vai emitir os 2 "
        "boletos e enviá-los aqui nesta conversa."
    ]
    assert reply.actions == [DebtorAction(kind="instalments", instalments=2)]
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert reply.handoff_category == "parcelamento"
    assert reply.outcome == "handoff"
    assert reply.question
    assert "2 vezes de R$ 124,95" in reply.summary and "R$ 249,90" in reply.summary
    assert "FAT-1001" in reply.summary


def test_posso_pagar_em_3x_is_an_accepted_plan(debtor: Debtor) -> None:
    reply = debtor.says("posso pagar em 3x?")
    assert reply.actions == [DebtorAction(kind="instalments", instalments=3)]
    assert "3 vezes de R$ 83,30" in reply.texts[0]


def test_a_count_above_the_policy_gets_the_maximum_and_yes_accepts_it(debtor: Debtor) -> None:
    reply = debtor.says("posso pagar em 6x?")
    assert reply.texts == [
        "Para o total em aberto de R$ 249,90, consigo parcelar em no máximo 3 vezes de "
        "R$ 83,30. Quer parcelar em 3 vezes?"
    ]
    assert reply.actions == []
    assert reply.outcome == "ask"
    assert reply.ticket_status is TicketStatus.AI_REPLIED
    accepted = debtor.says("sim")
    assert accepted.actions == [DebtorAction(kind="instalments", instalments=3)]
    assert accepted.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST


def test_ok_after_the_maximum_is_a_yes_not_small_talk(debtor: Debtor) -> None:
    debtor.says("dá pra fazer em 10 vezes?")
    accepted = debtor.says("ok")
    assert accepted.actions == [DebtorAction(kind="instalments", instalments=3)]


def test_the_count_alone_answers_the_offer(debtor: Debtor) -> None:
    debtor.says("dá pra parcelar?")
    reply = debtor.says("3")
    assert reply.actions == [DebtorAction(kind="instalments", instalments=3)]
    assert reply.handoff_category == "parcelamento"


def test_a_small_debt_cannot_be_split_and_a_day_is_offered(
    debtor: Debtor, tools: DebtTools
) -> None:
    tools.invoices = [invoice("FAT-9", "80.00")]
    reply = debtor.says("quero parcelar em 2 vezes")
    assert reply.texts == [
        "Para o total em aberto de R$ 80,00, não é possível parcelar: cada parcela precisa ser "
        "de pelo menos R$ 50,00. Se preferir, me diga em que dia consegue pagar, que eu "
        "registro aqui."
    ]
    assert reply.actions == []
    assert reply.outcome == "ask"
    day = debtor.says("dia 5")
    assert day.actions == [DebtorAction(kind="promise", promised_for=date(2026, 12, 5))]


def test_instalments_without_an_open_invoice_go_to_an_analyst(
    debtor: Debtor, tools: DebtTools
) -> None:
    tools.invoices = []
    reply = debtor.says("quero parcelar minha dívida")
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert reply.texts == [HANDOFF]
    assert reply.handoff_category == "parcelamento"
    assert "não há fatura em aberto" in reply.summary
    assert reply.actions == []


def test_instalments_when_the_lookup_fails_go_to_an_analyst(
    debtor: Debtor, tools: DebtTools
) -> None:
    tools.fail = True
    reply = debtor.says("quero parcelar em 2 vezes")
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert "falhou" in reply.summary
    assert reply.actions == []


def test_the_instalment_limits_come_from_the_policy(make_debtor: Callable[..., Debtor]) -> None:
    two = make_debtor(policy=InstalmentPolicy(max_instalments=2, min_instalment=Decimal("10")))
    reply = two.says("dá pra parcelar?")
    assert "em até 2 vezes de R$ 124,95" in reply.texts[0]


# -- disputes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "já paguei esse boleto",
        "não reconheço essa dívida",
        "eu não devo nada pra vocês",
        "essa cobrança é indevida, o valor está errado",
        "quero contestar essa cobrança",
        "vou no procon",
        "vou processar vocês",
        "isso é fraude, nunca comprei aí",
    ],
)
def test_a_dispute_goes_to_an_analyst(debtor: Debtor, tools: DebtTools, text: str) -> None:
    reply = debtor.says(text)
    assert reply.route == "billing"
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert reply.texts == [HANDOFF]
    assert reply.outcome == "handoff"
    assert reply.handoff_category == "contestacao"
    assert reply.summary.startswith("Contestação: o cliente")
    assert text in reply.summary
    assert reply.actions == []
    assert tools.calls == []


def test_a_dispute_with_an_opt_out_honours_both(debtor: Debtor) -> None:
    reply = debtor.says("já paguei, parem de me cobrar")
    assert reply.texts == [OPT_OUT_REPLY, HANDOFF]
    assert reply.actions == [DebtorAction(kind="opt_out")]
    assert reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST
    assert "já pagou" in reply.summary and "descadastrado" in reply.summary


# -- what stays as it was -------------------------------------------------------------------


def test_the_second_copy_still_comes_from_the_invoice_tool(
    debtor: Debtor, tools: DebtTools
) -> None:
    reply = debtor.says("me manda o código pix da fatura")
    assert reply.route == "billing"
    assert tools.names == ["invoice_copy"]
    assert PIX in reply.texts[0] and "R$ 249,90" in reply.texts[0]
    assert reply.actions == []
    assert reply.outcome == "answer"


def test_a_knowledge_question_is_answered_from_the_base(debtor: Debtor) -> None:
    # "parcela" (one instalment of an existing agreement) is no request for a plan.
    reply = debtor.says("atrasei a parcela do acordo, perdi o acordo?")
    assert reply.texts == ["Parcelamos em até 6 vezes."]
    assert reply.actions == []


def test_a_request_for_a_person_wins_over_the_rules(debtor: Debtor) -> None:
    reply = debtor.says("quero parcelar, mas quero falar com um atendente")
    assert reply.route == "human"
    assert reply.actions == []


def test_other_assistants_keep_their_billing_answers(make_debtor: Callable[..., Debtor]) -> None:
    customer = make_debtor(assistant="sac")
    reply = customer.says("quero parcelar em 2 vezes")
    assert reply.actions == []
    assert reply.texts == ["Parcelamos em até 6 vezes."]
    assert customer.says("PARAR").actions == []


# -- whichever reasoner ---------------------------------------------------------------------


@dataclass
class ModelThatMustNotDecide:
    """A reasoner whose model steps fail the test: the rules must not need them."""

    inner: OfflineReasoner
    name: str = "gemini-test"

    def __getattr__(self, item: str) -> Any:
        return getattr(self.inner, item)

    def route(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a debtor rule asked the model to route")

    def draft(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a debtor rule asked the model to draft")

    def verify(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a debtor rule asked the model to verify")

    def summarize(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a debtor rule asked the model to summarize")


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("PARAR", DebtorAction(kind="opt_out")),
        ("vou pagar dia 30", DebtorAction(kind="promise", promised_for=date(2026, 11, 30))),
        ("quero parcelar em 2 vezes", DebtorAction(kind="instalments", instalments=2)),
    ],
)
def test_the_rules_decide_without_the_model(
    make_debtor: Callable[..., Debtor], offline: OfflineReasoner, text: str, action: DebtorAction
) -> None:
    reply = make_debtor(reasoner=ModelThatMustNotDecide(offline)).says(text)
    assert reply.actions == [action]
    assert reply.llm_calls == []


def test_a_dispute_card_needs_no_model(
    make_debtor: Callable[..., Debtor], offline: OfflineReasoner
) -> None:
    reply = make_debtor(reasoner=ModelThatMustNotDecide(offline)).says("não reconheço essa dívida")
    assert reply.handoff_category == "contestacao"


# -- grounding and versions -----------------------------------------------------------------


class RecordingBrain(GraphBrain):
    """A GraphBrain that keeps the graph's final state of the last turn."""

    last_state: dict[str, Any]

    def _reply(self, state: dict[str, Any], context: AgentContext) -> BrainReply:
        self.last_state = state
        return super()._reply(state, context)


@pytest.mark.parametrize(
    "text",
    ["vou pagar dia 30", "dá pra parcelar?", "posso pagar em 6x?", "quero parcelar em 2 vezes"],
)
def test_every_figure_of_a_decided_reply_has_a_source(
    make_debtor: Callable[..., Debtor], text: str
) -> None:
    debtor = make_debtor(brain_class=RecordingBrain)
    reply = debtor.says(text)
    assert reply.texts
    assert isinstance(debtor.brain, RecordingBrain)
    sources = debtor.brain.last_state["sources"]
    assert any(s["kind"] == "policy" for s in sources)
    assert unsupported_facts("\n".join(reply.texts), [*sources, text]) == []


def test_the_cobranca_prompt_version_covers_the_billing_texts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = {name: prompt_version(name) for name in ("cobranca", "sac")}
    monkeypatch.setattr(prompts, "COLLECTION_TEXTS", (*prompts.COLLECTION_TEXTS, "novo texto"))
    assert prompt_version("cobranca") != before["cobranca"]
    assert prompt_version("sac") == before["sac"]
