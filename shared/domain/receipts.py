"""Facts read off a receipt's text (order numbers, amounts, dates) and order numbers in messages.

The text comes from OCR, which drops spaces ("Pedido:482913", "PEDIDONº482913") and mixes up
"Nº", "N°" and "No"; or from a customer ("meu pedido é 482913", "pedido #482913"). An order
number is 5 to 10 digits named as one: a phone number, CPF, CNPJ or CEP is never taken for it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

__all__ = [
    "ReceiptFacts",
    "format_brl",
    "order_numbers_in",
    "receipt_facts",
]

# "Nº", "N°", "Nª" all become "no" before matching.
_ORDINALS = str.maketrans({"º": "o", "°": "o", "ª": "a"})

# What may stand between "pedido" and its number: "nº", "n.", "no", "num.", "número", "nro",
# "#", a colon, and in a message "é" / "seria". OCR may have dropped every space.
_MARK = r"(?:numero|num|nro|nr|n\.?\s?o|n)\.?"
_VERB = r"(?:e|eh|seria|era|foi)"
_ORDER_LABEL = re.compile(
    # "order" only as a word of its own ("border" is not one); OCR may glue "pedido" to
    # what precedes it ("Nºdopedido").
    r"(?:pedido|encomenda|(?<![a-z])order)s?"
    rf"\s*(?:{_MARK}\s*|#\s*)?"
    r"(?:[:=#-]\s*)?"
    rf"(?:{_VERB}\s+)?"
    rf"(?:{_MARK}\s*|#\s*)?"
    r"[:#]?\s*"
    # The number: 5-10 digits that do not go on as a longer, dotted or hyphenated number.
    r"(?P<first>(?<![\d.,/-])\d{5,10}(?![\d]|[.,/-]\d))"
    # "pedidos 482913 e 482914", "pedidos 482913, 482914".
    r"(?P<more>(?:\s*(?:,|e|/)\s*#?\d{5,10}(?![\d]|[.,/-]\d))*)",
)
_DIGIT_RUN = re.compile(r"\d{5,10}")
# A message that is only a number (the answer to "qual o número do pedido?").
_BARE_ORDER = re.compile(rf"^\s*(?:#|{_MARK}\s*[:.]?)?\s*(?P<number>\d{{5,10}})\s*[.!]?\s*$")

# "R$ 1.234,56", "R$189,90", "R$ 50", "RS 189,90" (OCR reads "$" as "S"); OCR may glue the
# sign to the word before it ("basicaR$ 59,90").
_AMOUNT = re.compile(
    r"(?:R\s?\$|(?<![A-Za-z])R\s?S)\s*(?P<value>\d{1,3}(?:\.\d{3})+(?:,\d{2})?|\d+(?:[,.]\d{2})?)"
    r"(?!\d|,\d)"
)
# A total line may carry its amount without "R$": "Total: 189,90".
_TOTAL_LINE = re.compile(r"(?<!sub)total", re.IGNORECASE)
_BARE_AMOUNT = re.compile(r"(?<![\d.,])(?P<value>\d{1,3}(?:\.\d{3})*,\d{2}|\d+,\d{2})(?!\d|,\d)")
_DATE = re.compile(
    r"(?<![\d/.-])(?P<day>\d{1,2})(?P<sep>[/.-])(?P<month>\d{1,2})(?P=sep)"
    r"(?P<year>\d{4}|\d{2})(?![\d/-]|\.\d)"
)


def _normalise(text: str) -> str:
    """Lower case, ordinals as letters, accents off: "Nº do Pedido" -> "no do pedido"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ORDINALS).lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _labelled_order_numbers(text: str) -> list[str]:
    found: list[str] = []
    for match in _ORDER_LABEL.finditer(_normalise(text)):
        found.append(match["first"])
        found.extend(_DIGIT_RUN.findall(match["more"]))
    return found


def order_numbers_in(text: str, *, asked: bool = False) -> tuple[str, ...]:
    """Order numbers a customer named ("meu pedido é 482913", "pedido #482913").

    With `asked` (the agent has just asked for the order number), a message that is only a
    number ("482913") counts too; without it a bare number might be a CEP or a phone number.
    """
    labelled = _labelled_order_numbers(text)
    if labelled or not asked:
        return _unique(labelled)
    bare = _BARE_ORDER.match(_normalise(text))
    if bare is None:
        return ()
    number = bare["number"]
    # Nine digits starting with 9 is a mobile number without its area code.
    if len(number) == 9 and number.startswith("9"):
        return ()
    return (number,)


def _parse_amount(raw: str) -> Decimal | None:
    """A pt-BR amount: "1.234,56", "189,90", "50"; a lone ".dd" is read as decimals too."""
    value = raw.replace(" ", "")
    if "," in value:
        value = value.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"\d+\.\d{2}", value) is None:
        value = value.replace(".", "")
    try:
        return Decimal(value).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _amounts(line: str) -> list[Decimal]:
    values = [_parse_amount(m["value"]) for m in _AMOUNT.finditer(line)]
    if not values and _TOTAL_LINE.search(line):
        values = [_parse_amount(m["value"]) for m in _BARE_AMOUNT.finditer(line)]
    return [v for v in values if v is not None]


def _dates(text: str) -> list[date]:
    found: list[date] = []
    for match in _DATE.finditer(text):
        year = int(match["year"])
        if len(match["year"]) == 2:
            year += 2000
        try:
            found.append(date(year, int(match["month"]), int(match["day"])))
        except ValueError:
            continue
    return found


def format_brl(amount: Decimal) -> str:
    """An amount as pt-BR money: Decimal("1234.5") -> "R$ 1.234,50"."""
    whole = f"{amount.quantize(Decimal('0.01')):,.2f}"
    return "R$ " + whole.replace(",", "_").replace(".", ",").replace("_", ".")


def _join_pt(items: list[str]) -> str:
    """ "a", "a e b", "a, b e c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " e " + items[-1]


@dataclass(frozen=True, slots=True)
class ReceiptFacts:
    """What a receipt's text says about an order: numbers, amounts, total and dates."""

    order_numbers: tuple[str, ...] = ()
    amounts: tuple[Decimal, ...] = ()
    total: Decimal | None = None
    dates: tuple[date, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing useful was found."""
        return not (self.order_numbers or self.amounts or self.dates)

    def describe(self) -> str:
        """A short pt-BR line for a handoff card."""
        parts: list[str] = []
        if self.order_numbers:
            numbers = list(self.order_numbers[:3])
            label = "pedidos" if len(numbers) > 1 else "pedido"
            parts.append(f"{label} {_join_pt(numbers)}")
        if self.total is not None:
            parts.append(f"total {format_brl(self.total)}")
        elif self.amounts:
            shown = _join_pt([format_brl(a) for a in self.amounts[:3]])
            parts.append(f"{'valores' if len(self.amounts) > 1 else 'valor'} {shown}")
        if self.dates:
            parts.append(f"data {self.dates[0]:%d/%m/%Y}")
        if not parts:
            return "Imagem com texto, sem pedido, valor ou data reconhecíveis"
        return "Imagem com texto: " + ", ".join(parts)


def receipt_facts(text: str) -> ReceiptFacts:
    """Order numbers, amounts, total and dates found in a receipt's (OCR) text."""
    amounts: list[Decimal] = []
    total: Decimal | None = None
    for line in text.splitlines():
        found = _amounts(line)
        amounts.extend(found)
        # The last total line wins: "Subtotal" is skipped, "Total a pagar" comes last.
        if found and _TOTAL_LINE.search(line):
            total = found[-1]
    return ReceiptFacts(
        order_numbers=_unique(_labelled_order_numbers(text)),
        amounts=tuple(dict.fromkeys(amounts)),
        total=total,
        dates=tuple(dict.fromkeys(_dates(text))),
    )
