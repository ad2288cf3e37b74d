"""The billing agent's rules for debtors: opt-outs, promises to pay, instalments and disputes.

These turns are decided here, without a model, so a debtor gets the same answer whichever
reasoner runs. Every figure a reply states comes from the invoice tool or from the policy
source the decision adds (the computed instalments, the promised day), so the graph's
no-invented-facts check still applies to them. What the debtor agreed to travels as
DebtorAction fields; an analyst takes over disputes, instalment plans and promises beyond the
policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from shared.agents.offline import invoice_draft
from shared.agents.prompts import (
    ASK_DAY_REPLY,
    INSTALMENTS_ACCEPTED_REPLY,
    INSTALMENTS_MOST_REPLY,
    INSTALMENTS_OFFER_REPLY,
    NO_INSTALMENTS_REPLY,
    OPT_OUT_REPLY,
    PROMISE_REPLY,
)
from shared.agents.state import Draft, Source, tool_source
from shared.domain.billing import InstalmentPolicy, format_brl, is_opt_out
from shared.domain.models import ToolResult
from shared.domain.promises import NUMBER_WORDS, PromiseReading, fold, read_promise

__all__ = [
    "AWAIT_COUNT",
    "AWAIT_DAY",
    "DebtorIntent",
    "Decision",
    "decide",
    "read_debtor",
]

# What the billing agent's reply waited for, as the next turn reads it (state["awaited"]).
AWAIT_DAY = "promise_date"
AWAIT_COUNT = "instalments"

_NEGATIONS = frozenset({"nao", "nunca", "nem", "jamais"})

# (what the analyst's card says, the pattern), on folded text; the first that matches wins.
_DISPUTES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "o cliente diz que já pagou",
        re.compile(
            r"\b(?:paguei|ja\s+pagamos|ja\s+(?:foi|esta|ta|estava)\s+pag[oa]"
            r"|ja\s+(?:fiz|efetuei|realizei)\s+o\s+pagamento|ja\s+foi\s+quitad[oa]"
            r"|ja\s+quitei\s+(?:esse|essa|este|esta|o|a)\s+(?:boleto|fatura|divida|debito))\b"
        ),
    ),
    (
        "o cliente não reconhece a dívida",
        re.compile(
            r"\bnao\s+reconhec\w*|\bdesconhec\w*|\bnao\s+(?:e|eh)\s+minha\b"
            r"|\bnunca\s+(?:comprei|contratei|fiz\s+(?:compra|divida|cadastro)|tive\s+(?:conta"
            r"|cartao|credito))\b|\bnao\s+(?:fiz|contratei)\s+(?:essa|esta|nenhuma)\s+(?:compra"
            r"|divida|conta)\b|\bnao\s+devo\b(?!\s+(?:conseguir|ter|poder|ir|pagar))"
            r"|\bnao\s+tenho\s+(?:nenhuma\s+)?divida\b"
        ),
    ),
    (
        "o cliente contesta o valor cobrado",
        re.compile(
            r"\bvalor\s+(?:esta\s+|ta\s+)?(?:errado|incorreto|abusivo|absurdo)\b"
            r"|\bcobranca\s+(?:indevida|errada|abusiva|duplicada)\b|\bindevid[oa]s?\b"
            r"|\bcobrad[oa]s?\s+(?:duas\s+vezes|em\s+dobro|a\s+mais)\b"
            r"|\bcobrando\s+(?:a\s+mais|errado|duas\s+vezes)\b|\bem\s+duplicidade\b"
        ),
    ),
    ("o cliente quer contestar a cobrança", re.compile(r"\bcontest\w*")),
    (
        "o cliente fala em Procon ou em ação judicial",
        re.compile(
            r"\bprocon\b|\bprocessar\b|\bprocesso\s+(?:judicial|contra)\b|\b(?:na|a)\s+justica\b"
            r"|\bacao\s+judicial\b|\badvogad[oa]\b|\bjuizado\b|\breclame\s+aqui\b"
            r"|\bconsumidor\s*\.?\s*gov\b"
        ),
    ),
    (
        "o cliente fala em fraude",
        re.compile(r"\bfraud\w*|\bclonad[oa]\b|\busaram\s+(?:o\s+)?meu\s+(?:nome|cpf)\b"),
    ),
)

_COUNT_WORDS: Final = {word: n for word, n in NUMBER_WORDS.items() if 2 <= n <= 12}
_COUNT = r"(\d{1,2}|uma|" + "|".join(_COUNT_WORDS) + r")"
_INSTALMENTS = re.compile(
    r"\bparcel(?:ar|o|amento|ad[oa]|amos|aria|inhas?)\b"
    r"|\b(?:em|quantas)\s+(?:" + _COUNT[1:-1] + r"|quantas)\s*(?:parcelas|prestacoes|vezes|x)\b"
    r"|\b(?:[2-9]|1[0-2])\s*x\b"
    r"|\bdividir\s+(?:em|o\s+valor|a\s+divida|o\s+debito|o\s+pagamento|o\s+total)\b"
    r"|\bda\s+(?:pra|para)\s+dividir\b"
    r"|\bnao\s+(?:consigo|posso|tenho\s+como)\s+pagar\s+(?:tudo|o\s+total|o\s+valor\s+(?:todo"
    r"|inteiro|total))"
)
_NAMED_COUNT = re.compile(
    r"\b" + _COUNT + r"\s*(?:x|vezes|parcelas|prestacoes)\b|\bdividir\s+em\s+" + _COUNT + r"\b"
)
_BARE_COUNT = re.compile(r"(?<!dia )\b(\d{1,2}|" + "|".join(_COUNT_WORDS) + r")\b")
_YES: Final = frozenset(
    {"sim", "s", "pode", "quero", "aceito", "fechado", "fechou", "combinado", "ok", "okay"}
    | {"beleza", "blz", "certo", "isso", "claro", "bora", "perfeito", "show", "manda", "top"}
)
# A second copy asked for in the same message as a promise ("me manda o pix, pago amanhã").
_COPY = re.compile(
    r"\b(?:segunda\s+via|2a?\s+via|boleto|pix|linha\s+digitavel|codigo\s+de\s+barras)\b"
)


@dataclass(frozen=True, slots=True)
class DebtorIntent:
    """What a debtor's message asks of the billing agent, as the rules read it."""

    kind: Literal["dispute", "opt_out", "instalments", "promise"]
    # A dispute's debtor may also have asked to stop the reminders.
    opt_out: bool = False
    dispute: str = ""
    # The number of instalments the debtor named, if any.
    count: int | None = None
    promise: PromiseReading | None = None


def _count(word: str) -> int:
    if word.isdigit():
        return int(word)
    return 1 if word == "uma" else _COUNT_WORDS[word]


def _named_count(folded: str) -> int | None:
    match = _NAMED_COUNT.search(folded)
    if match is None:
        return None
    return _count(match.group(1) or match.group(2))


def _bare_count(folded: str) -> int | None:
    # A short answer to "em quantas vezes?": "3", "em 2", "pode ser em três".
    if len(re.findall(r"[a-z0-9]+", folded)) > 5:
        return None
    match = _BARE_COUNT.search(folded)
    return _count(match.group(1)) if match else None


def _agrees(folded: str) -> bool:
    words = re.findall(r"[a-z]+", folded)
    if not words or len(words) > 6 or _NEGATIONS & set(words):
        return False
    return words[0] in _YES


def _dispute(folded: str) -> str:
    for label, pattern in _DISPUTES:
        for match in pattern.finditer(folded):
            clause = re.split(r"[,.;:!?]", folded[: match.start()])[-1]
            # "ainda não paguei" is no claim of payment; the other patterns carry their "não".
            if label.endswith("já pagou") and _NEGATIONS & set(clause.split()[-2:]):
                continue
            return label
    return ""


def _offered(awaited: Sequence[str]) -> int | None:
    """0 after "em quantas vezes?", N after "quer parcelar em N vezes?", None otherwise."""
    for token in awaited:
        name, _, most = token.partition(":")
        if name == AWAIT_COUNT:
            return int(most) if most.isdigit() else 0
    return None


def read_debtor(texts: Sequence[str], today: date, awaited: Sequence[str]) -> DebtorIntent | None:
    """The debtor intent of the customer's own messages; None when no rule applies.

    Disputes first (an analyst must look), then opt-outs, then an answer to the agent's last
    question, instalments, and promises to pay.
    """
    lines = [t.strip() for t in texts if t.strip()]
    if not lines:
        return None
    said = "\n".join(lines)
    folded = fold(said)
    opt_out = any(is_opt_out(line) for line in lines)
    dispute = _dispute(folded)
    if dispute:
        return DebtorIntent("dispute", opt_out=opt_out, dispute=dispute)
    if opt_out:
        return DebtorIntent("opt_out", opt_out=True)
    offered = _offered(awaited)
    if offered is not None:
        count = _named_count(folded) or _bare_count(folded)
        if count is None and offered and _agrees(folded):
            count = offered
        if count is not None:
            return DebtorIntent("instalments", count=count)
    if _INSTALMENTS.search(folded):
        return DebtorIntent("instalments", count=_named_count(folded))
    promise = read_promise(said, today, asked=AWAIT_DAY in awaited)
    if promise is not None:
        return DebtorIntent("promise", promise=promise)
    return None


@dataclass(frozen=True, slots=True)
class Decision:
    """The billing agent's decided draft, the sources it stands on and the tools it called."""

    draft: Draft
    sources: list[Source]
    tools: list[str]


def _draft(
    text: str,
    *,
    outcome: str,
    summary: str,
    category: str,
    used: Sequence[str] = (),
    says_handoff: bool = False,
    awaits: Sequence[str] = (),
    actions: Sequence[dict[str, Any]] = (),
) -> Draft:
    return Draft(
        text=text,
        can_answer=True,
        asks=outcome == "ask",
        used=list(used),
        category=category,
        decided=True,
        says_handoff=says_handoff,
        outcome=outcome,
        summary=summary,
        awaits=list(awaits),
        actions=list(actions),
    )


def _policy_source(figures: dict[str, Any]) -> Source:
    # What the rules computed, as a source: the facts check finds each figure of the reply here.
    return Source(kind="policy", ref="politica_cobranca", text="", data=figures)


def _day(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def _quote(said: str) -> str:
    return " / ".join(line for line in said.splitlines() if line.strip())


def _opt_out() -> Decision:
    summary = "O cliente pediu para não receber mais mensagens de cobrança (descadastrado)."
    draft = _draft(
        OPT_OUT_REPLY,
        outcome="opt_out",
        summary=summary,
        category="descadastro",
        actions=[{"kind": "opt_out"}],
    )
    return Decision(draft, [], [])


def _dispute_decision(intent: DebtorIntent, said: str) -> Decision:
    summary = f"Contestação: {intent.dispute}. Mensagem: “{_quote(said)}”."
    if intent.opt_out:
        summary += " Pediu também para não receber mais cobranças (descadastrado)."
    draft = _draft(
        OPT_OUT_REPLY if intent.opt_out else "",
        outcome="handoff",
        summary=summary,
        category="contestacao",
        actions=[{"kind": "opt_out"}] if intent.opt_out else [],
    )
    return Decision(draft, [], [])


def _promise(
    reading: PromiseReading,
    said: str,
    today: date,
    policy: InstalmentPolicy,
    invoices: Callable[[], ToolResult],
) -> Decision:
    when = reading.when
    if when is None:
        draft = _draft(
            ASK_DAY_REPLY,
            outcome="ask",
            summary="Promessa de pagamento sem dia certo; perguntado o dia.",
            category="promessa",
            awaits=[AWAIT_DAY],
        )
        return Decision(draft, [], [])
    latest = today + timedelta(days=policy.max_promise_days)
    figures = {
        "today": today.isoformat(),
        "promised_for": when.isoformat(),
        "max_promise_days": policy.max_promise_days,
        "latest": latest.isoformat(),
    }
    sources = [_policy_source(figures)]
    if not today <= when <= latest:
        why = (
            "data que já passou"
            if when < today
            else f"além dos {policy.max_promise_days} dias que a IA pode aceitar "
            f"(até {_day(latest)})"
        )
        draft = _draft(
            "",
            outcome="handoff",
            summary=f"Promessa de pagamento para {_day(when)}, {why}. Mensagem: “{_quote(said)}”.",
            category="promessa",
        )
        return Decision(draft, sources, [])
    text = PROMISE_REPLY.format(day=_day(when))
    used = ["politica_cobranca"]
    tools: list[str] = []
    if _COPY.search(fold(said)):
        result = invoices()
        tools.append(result.tool)
        sources.insert(0, tool_source(result))
        copy = invoice_draft(sources[0])
        if copy.get("can_answer") and copy.get("text"):
            text = f"{text}\n\n{copy['text']}"
            used.append(result.tool)
    draft = _draft(
        text,
        outcome="promise",
        summary=f"Promessa de pagamento para {_day(when)}; lembretes pausados até lá.",
        category="promessa",
        used=used,
        actions=[{"kind": "promise", "promised_for": when.isoformat()}],
    )
    return Decision(draft, sources, tools)


def _open_total(result: ToolResult) -> tuple[Decimal, list[str]] | None:
    """The sum of the open invoices and their ids; None when the lookup failed or is unusable."""
    if not result.ok:
        return None
    invoices = [i for i in result.data.get("invoices") or [] if isinstance(i, dict)]
    open_ones = [i for i in invoices if i.get("status") != "paid"]
    try:
        total = sum((Decimal(str(i.get("amount"))) for i in open_ones), Decimal("0"))
    except InvalidOperation:
        return None
    return total, [str(i.get("invoice_id", "")) for i in open_ones]


def _instalments(
    intent: DebtorIntent, said: str, policy: InstalmentPolicy, invoices: Callable[[], ToolResult]
) -> Decision:
    result = invoices()
    sources = [tool_source(result)]
    tools = [result.tool]
    found = _open_total(result)
    if found is None or found[0] <= 0:
        why = (
            f"a consulta das faturas falhou ({result.error or 'resposta inválida'})"
            if found is None
            else "não há fatura em aberto no cadastro"
        )
        draft = _draft(
            "",
            outcome="handoff",
            summary=f"Pediu parcelamento, mas {why}. Mensagem: “{_quote(said)}”.",
            category="parcelamento",
        )
        return Decision(draft, sources, tools)
    total, ids = found
    most = policy.allowed(total)
    options = {str(n): str(policy.instalment_value(total, n)) for n in range(2, most + 1)}
    figures = {
        "total": str(total),
        "invoices": ids,
        "max_instalments": most,
        "min_instalment": str(policy.min_instalment),
        "instalments": options,
    }
    sources.append(_policy_source(figures))
    used = [result.tool, "politica_cobranca"]
    brl_total = format_brl(total)
    count = intent.count
    if most < 2:
        text = NO_INSTALMENTS_REPLY.format(
            total=brl_total, minimum=format_brl(policy.min_instalment)
        )
        summary = f"Pediu parcelamento de {brl_total}, abaixo do mínimo por parcela."
        draft = _draft(
            text,
            outcome="ask",
            summary=summary,
            category="parcelamento",
            used=used,
            awaits=[AWAIT_DAY],
        )
        return Decision(draft, sources, tools)
    top = format_brl(policy.instalment_value(total, most))
    if count is None or count < 2:
        text = INSTALMENTS_OFFER_REPLY.format(total=brl_total, most=most, value=top)
        summary = f"Oferecido parcelamento de {brl_total} em até {most} vezes."
        draft = _draft(
            text,
            outcome="ask",
            summary=summary,
            category="parcelamento",
            used=used,
            awaits=[AWAIT_COUNT],
        )
        return Decision(draft, sources, tools)
    if count > most:
        text = INSTALMENTS_MOST_REPLY.format(total=brl_total, most=most, value=top)
        summary = f"Pediu {count} parcelas de {brl_total}; oferecido o máximo de {most}."
        draft = _draft(
            text,
            outcome="ask",
            summary=summary,
            category="parcelamento",
            used=used,
            awaits=[f"{AWAIT_COUNT}:{most}"],
        )
        return Decision(draft, sources, tools)
    value = format_brl(policy.instalment_value(total, count))
    text = INSTALMENTS_ACCEPTED_REPLY.format(count=count, value=value, total=brl_total)
    summary = (
        f"Parcelamento aceito: {count} vezes de {value}, total em aberto {brl_total} "
        f"(faturas {', '.join(ids)}). Emitir os {count} boletos e enviá-los nesta conversa."
    )
    draft = _draft(
        text,
        outcome="handoff",
        summary=summary,
        category="parcelamento",
        used=used,
        says_handoff=True,
        actions=[{"kind": "instalments", "instalments": count}],
    )
    return Decision(draft, sources, tools)


def decide(
    intent: DebtorIntent,
    *,
    said: str,
    today: date,
    policy: InstalmentPolicy,
    invoices: Callable[[], ToolResult],
) -> Decision:
    """The reply, the handoff and the debtor actions for an intent; `invoices` looks them up."""
    if intent.kind == "dispute":
        return _dispute_decision(intent, said)
    if intent.kind == "opt_out":
        return _opt_out()
    if intent.kind == "instalments":
        return _instalments(intent, said, policy, invoices)
    return _promise(intent.promise or PromiseReading(None), said, today, policy, invoices)
