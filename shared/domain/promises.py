"""Promises to pay as debtors write them in Portuguese: whether a message makes one, and when.

Pure functions of the text and of today's date, which the caller gives: the debtor's own day
(America/Sao_Paulo), never the server's. "vou pagar dia 30", "pago sexta", "consigo pagar
amanhã" and "posso pagar no dia 05/12" are promises with a date; "semana que vem eu pago" is a
promise without one (ask for the day); "paguei dia 10" is a past payment, no promise at all.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = [
    "NUMBER_WORDS",
    "PromiseReading",
    "fold",
    "mentioned_date",
    "promised_date",
    "read_promise",
]

# Numbers debtors write out: days of the month here, instalment counts in the billing agent.
NUMBER_WORDS = {
    "um": 1,
    "uma": 1,
    "primeiro": 1,
    "dois": 2,
    "duas": 2,
    "tres": 3,
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "sete": 7,
    "oito": 8,
    "nove": 9,
    "dez": 10,
    "onze": 11,
    "doze": 12,
    "quinze": 15,
    "vinte": 20,
    "trinta": 30,
}
_MONTHS = {
    "janeiro": 1,
    "fevereiro": 2,
    "marco": 3,
    "abril": 4,
    "maio": 5,
    "junho": 6,
    "julho": 7,
    "agosto": 8,
    "setembro": 9,
    "outubro": 10,
    "novembro": 11,
    "dezembro": 12,
}
_WEEKDAYS = {
    "segunda": 0,
    "terca": 1,
    "quarta": 2,
    "quinta": 3,
    "sexta": 4,
    "sabado": 5,
    "domingo": 6,
}
_NUM = r"(\d{1,2}|" + "|".join(NUMBER_WORDS) + r")"
_NEXT_MONTH = r"(?:do|no|ate o)\s+(?:mes\s+que\s+vem|proximo\s+mes)"

# Each date expression, with how to turn its match into a date (see `_resolve`).
_EXPRESSIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("relative", re.compile(r"\b(depois\s+de\s+amanha|amanha|hoje)\b")),
    ("in_days", re.compile(r"\b(?:daqui\s+(?:a\s+)?|em\s+)" + _NUM + r"\s+dias?\b")),
    (
        "numeric",
        re.compile(
            r"(?<![\d/.-])(\d{1,2})\s*[/-]\s*(\d{1,2})(?:\s*[/-]\s*(\d{4}|\d{2}))?(?![\d/-])"
        ),
    ),
    (
        "named_month",
        re.compile(
            r"\b(?:dia\s+)?(\d{1,2})o?\s+de\s+(" + "|".join(_MONTHS) + r")(?:\s+de\s+(\d{4}))?\b"
        ),
    ),
    ("day", re.compile(r"\bdia\s+" + _NUM + r"o?\b(?!\s*[/-]\s*\d)(?:\s+" + _NEXT_MONTH + r")?")),
    (
        "weekday",
        re.compile(
            r"\b(" + "|".join(_WEEKDAYS) + r")(?:[\s-]*feira)?\b"
            # "segunda via", "quarta parcela": ordinals, not days.
            r"(?!\s+(?:via|parcela|prestacao|fatura|vez|boleto)\b)"
        ),
    ),
)

# When, without a day: the debtor must be asked which day.
_VAGUE = re.compile(
    r"\b(semana\s+que\s+vem|proxima\s+semana|mes\s+que\s+vem|proximo\s+mes"
    r"|(?:no\s+)?(?:fim|final|inicio|comeco)\s+do\s+mes"
    r"|quando\s+(?:eu\s+)?(?:receber|recebo|cair|tiver|puder|der|sair)"
    r"|assim\s+que\s+(?:der|puder|receber|possivel|cair)"
    r"|mais\s+tarde|em\s+breve|outro\s+dia|qualquer\s+dia|logo\s+mais"
    r"|(?:no|com\s+o)\s+(?:meu\s+)?(?:salario|pagamento))\b"
)

# A commitment to pay: "vou pagar", "consigo quitar", "pagarei", or "pago"/"acerto" used as a
# future ("pago sexta", "semana que vem eu pago").
_PAY = r"(?:pagar|quitar|acertar|depositar|transferir|fazer\s+o\s+(?:pagamento|pix|deposito))"
_COMMITMENT = re.compile(
    r"\b(?:vou|vamos|irei|iremos|posso|podemos|poderia|consigo|conseguimos|conseguiria"
    r"|conseguirei|pretendo|prometo|quero|queria|da|daria)\s+"
    r"(?:(?:pra|para)\s+)?(?:(?:conseguir|tentar)\s+)?" + _PAY + r"\b"
    r"|\b(?:pagarei|pagaremos|quitarei|acertarei|depositarei|farei\s+o\s+pagamento"
    r"|faco\s+o\s+(?:pagamento|pix|deposito))\b"
)
_PRESENT_AS_FUTURE = re.compile(r"\b(?:pago|acerto|quito|deposito)\b")
_NEGATIONS = frozenset({"nao", "nunca", "nem", "jamais"})
# Before "pago", these make it an adjective or a past ("já está pago", "foi pago", "o acerto").
_NOT_A_FUTURE = frozenset(
    {
        "ja",
        "esta",
        "ta",
        "foi",
        "seja",
        "estar",
        "sido",
        "ficou",
        "fica",
        "e",
        "sao",
        "estao",
        "foram",
        "era",
        "o",
        "um",
        "do",
        "no",
        "meu",
        "seu",
    }
)


def fold(text: str) -> str:
    """Lower case without accents, whitespace collapsed: how the patterns read a message."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.split())


@dataclass(frozen=True, slots=True)
class PromiseReading:
    """A promise to pay: its date, or None when the debtor named no day that can be pinned."""

    when: date | None


def _words_before(text: str, start: int, count: int) -> list[str]:
    # Within the clause only: in "hoje não dá, pago sexta" the "não" is not about "pago".
    clause = re.split(r"[,.;:!?]", text[:start])[-1]
    return re.findall(r"[a-z]+", clause)[-count:]


def _commits(text: str) -> bool:
    for match in _COMMITMENT.finditer(text):
        if not _NEGATIONS & set(_words_before(text, match.start(), 2)):
            return True
    for match in _PRESENT_AS_FUTURE.finditer(text):
        before = _words_before(text, match.start(), 2)
        if _NEGATIONS & set(before) or (before and before[-1] in _NOT_A_FUTURE):
            continue
        return True
    return False


def _number(token: str) -> int:
    return int(token) if token.isdigit() else NUMBER_WORDS[token]


def _on(year: int, month: int, day: int) -> date | None:
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return date(year, month, day)


def _next_month(today: date) -> tuple[int, int]:
    return (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)


def _upcoming(today: date, month: int, day: int) -> date | None:
    """The day and month this year, or next year once this year's has passed."""
    this_year = _on(today.year, month, day)
    if this_year is not None and this_year >= today:
        return this_year
    return _on(today.year + 1, month, day)


def _resolve(kind: str, match: re.Match[str], today: date) -> date | None:
    groups = match.groups()
    if kind == "relative":
        offset = {"hoje": 0, "amanha": 1}.get(groups[0], 2)
        return today + timedelta(days=offset)
    if kind == "in_days":
        return today + timedelta(days=_number(groups[0]))
    if kind in ("numeric", "named_month"):
        day = int(groups[0])
        month = int(groups[1]) if kind == "numeric" else _MONTHS[groups[1]]
        year = groups[2]
        if year is None:
            return _upcoming(today, month, day)
        return _on(int(year) + (2000 if len(year) == 2 else 0), month, day)
    if kind == "day":
        day = _number(groups[0])
        # "dia 30" is this month's 30th unless it has passed; then next month's.
        if day >= today.day and not re.search(_NEXT_MONTH, match.group(0)):
            return _on(today.year, today.month, day)
        return _on(*_next_month(today), day)
    # A weekday is the next one to come: said on a Friday, "sexta" is a week later.
    ahead = (_WEEKDAYS[groups[0]] - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


_NEGATED_AFTER = re.compile(r"\s*(?:eu\s+)?(?:nao|nem)\b")


def _negated(text: str, match: re.Match[str]) -> bool:
    # "hoje não dá, pago sexta", "não consigo amanhã": that day is the one ruled out.
    before = set(_words_before(text, match.start(), 2))
    return bool(_NEGATIONS & before) or bool(_NEGATED_AFTER.match(text, match.end()))


def _first_expression(text: str) -> tuple[str, re.Match[str]] | None:
    found = [
        (kind, m)
        for kind, pattern in _EXPRESSIONS
        for m in pattern.finditer(text)
        if not _negated(text, m)
    ]
    if not found:
        return None
    # The earliest, and the longest there ("depois de amanhã" over "amanhã").
    return min(found, key=lambda item: (item[1].start(), -len(item[1].group(0))))


def mentioned_date(text: str, today: date) -> date | None:
    """The date of the first day the text names ("amanhã", "sexta", "dia 30", "05/12")."""
    folded = fold(text)
    first = _first_expression(folded)
    return _resolve(*first, today) if first is not None else None


def read_promise(text: str, today: date, *, asked: bool = False) -> PromiseReading | None:
    """The promise to pay the text makes, or None when it makes none.

    With `asked` (the agent has just asked for the day) any day or vague time is an answer,
    without the debtor repeating "vou pagar". A promise whose day cannot be pinned ("semana que
    vem", "dia 31" of a 30-day month) reads with `when` None.
    """
    folded = fold(text)
    first = _first_expression(folded)
    vague = bool(_VAGUE.search(folded))
    if first is None and not vague:
        return None
    if not asked and not _commits(folded):
        return None
    when = _resolve(*first, today) if first is not None else None
    return PromiseReading(when)


def promised_date(text: str, today: date) -> date | None:
    """The day the text promises to pay on; None for no promise or one without a clear day."""
    reading = read_promise(text, today)
    return reading.when if reading is not None else None
