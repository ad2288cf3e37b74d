"""Debts, the billing system's events about them, and what a debtor may agree to; no I/O.

A debt comes in by import (CSV/JSONL) or through the billing API, keyed by its invoice id: the
same invoice id imported twice is one debt. Its reminder trail lives in shared.domain.trail.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.domain.knowledge import blank_cells_absent, file_rows
from shared.domain.problems import validation_problems

__all__ = [
    "Debt",
    "DebtImport",
    "DebtRecord",
    "DebtorAction",
    "ImportCounts",
    "InstalmentPolicy",
    "PaymentEvent",
    "TrailStatus",
    "format_brl",
    "is_opt_out",
    "normalise_phone",
    "read_debts",
    "validation_problems",
]

_INVOICE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class TrailStatus(StrEnum):
    """Where a debt's reminder trail is; only `active` trails are ever sent."""

    ACTIVE = "active"
    PAID = "paid"
    OPTED_OUT = "opted_out"
    HUMAN = "human"
    EXHAUSTED = "exhausted"
    CANCELLED = "cancelled"
    # WhatsApp could not deliver to the number (not on WhatsApp, or blocked): no point going on.
    UNDELIVERABLE = "undeliverable"


def normalise_phone(value: str) -> str:
    """E.164 digits as WhatsApp writes wa_id (`5511988887777`); ValueError otherwise."""
    digits = re.sub(r"[\s()+.-]", "", value)
    if not re.fullmatch(r"\d{10,15}", digits):
        raise ValueError("give the phone in E.164, 10 to 15 digits (for example 5511988887777)")
    return digits


def format_brl(amount: Decimal) -> str:
    """R$ 1.234,56, as debtors read money."""
    cents = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    whole, _, frac = f"{cents:,.2f}".partition(".")
    return f"R$ {whole.replace(',', '.')},{frac}"


class Debt(BaseModel):
    """One overdue (or due) invoice to chase, as the billing system describes it."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    invoice_id: str = Field(pattern=_INVOICE_ID)
    customer: str = Field(min_length=1, max_length=120)
    phone: str
    amount: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]
    due_date: date
    payment_link: str | None = Field(default=None, max_length=2000)
    pix_code: str | None = Field(default=None, max_length=512)
    # IANA zone of the debtor, for quiet hours; blank = the deployment's FOLLOWUP_TIME_ZONE.
    time_zone: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _blank_cells_are_absent(cls, value: object) -> object:
        return blank_cells_absent(value)

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: object) -> object:
        return normalise_phone(str(value))

    @field_validator("amount", mode="before")
    @classmethod
    def _brazilian_amount(cls, value: object) -> object:
        # Spreadsheets from Brazil write 1.234,56; a JSON number stays as it is.
        if isinstance(value, str) and "," in value:
            return value.replace("R$", "").replace(".", "").replace(",", ".").strip()
        if isinstance(value, float):
            return str(value)
        return value

    @field_validator("payment_link")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://\S+$", value):
            raise ValueError("give an http(s) URL")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (give an IANA name)") from None
        return value

    @model_validator(mode="after")
    def _payable(self) -> Debt:
        if not self.payment_link and not self.pix_code:
            raise ValueError("give a payment_link or a pix_code: the debtor needs a way to pay")
        return self

    def stored_fields(self) -> dict[str, Any]:
        """The debt as Firestore keeps it: money as a number, the date as ISO text."""
        return {
            "invoice_id": self.invoice_id,
            "customer": self.customer,
            "phone": self.phone,
            "amount": float(self.amount),
            "due_date": self.due_date.isoformat(),
            "payment_link": self.payment_link,
            "pix_code": self.pix_code,
            "time_zone": self.time_zone,
        }


class PaymentEvent(BaseModel):
    """The billing system says an invoice was paid (or cancelled): its trail stops."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    invoice_id: str = Field(pattern=_INVOICE_ID)
    status: Literal["paid", "cancelled"] = "paid"
    # What was paid; the debt's amount when absent.
    amount_paid: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None = None
    paid_at: datetime | None = None

    @field_validator("amount_paid", mode="before")
    @classmethod
    def _float_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, float) else value

    @field_validator("paid_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(
                "give the time with its offset (ISO 8601, e.g. 2026-11-25T10:00:00-03:00)"
            )
        return value


class DebtorAction(BaseModel):
    """Something the debtor said that changes their trail, decided by the billing agent.

    opt_out: no trail ever messages them again; promise: the trail waits until after
    `promised_for`; instalments: they accepted `instalments` payments within the policy (an
    analyst issues them, so the conversation is handed over).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["opt_out", "promise", "instalments"]
    promised_for: date | None = None
    instalments: int | None = Field(default=None, ge=2)

    @model_validator(mode="after")
    def _complete(self) -> DebtorAction:
        if self.kind == "promise" and self.promised_for is None:
            raise ValueError("a promise needs promised_for")
        if self.kind == "instalments" and self.instalments is None:
            raise ValueError("an instalment plan needs instalments")
        return self


@dataclass(frozen=True, slots=True)
class InstalmentPolicy:
    """What the billing agent may offer on its own; anything beyond goes to a human."""

    max_instalments: int = 3
    # No instalment below this amount (R$).
    min_instalment: Decimal = Decimal("50.00")
    # A promise to pay further out than this is not accepted by the AI.
    max_promise_days: int = 30

    def allowed(self, amount: Decimal) -> int:
        """The most instalments `amount` may be split into (1 = none allowed)."""
        if amount <= 0:
            return 1
        most = int(amount // self.min_instalment)
        return max(1, min(self.max_instalments, most))

    def instalment_value(self, amount: Decimal, count: int) -> Decimal:
        """Each instalment of `amount` in `count` parts, rounded up to the cent."""
        return (amount / count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


_OPT_OUT = re.compile(
    r"^\s*(?:parar?|pare|sair|stop|cancelar|descadastrar|chega)\s*[.!]*\s*$"
    r"|\b(?:nao|nunca)\s+(?:quero|desejo)\s+(?:mais\s+)?receber\b"
    r"|\b(?:parem|pare|para)\s+de\s+(?:me\s+)?(?:mandar|enviar|cobrar|mandarem)\b"
    r"|\bme\s+(?:tire|tira|remova|remove|descadastre)\b"
    r"|\b(?:quero\s+)?sair\s+(?:da|dessa|desta)\s+lista\b"
    r"|\bnao\s+me\s+(?:mande|mandem|envie|enviem)\b"
)


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


def is_opt_out(text: str) -> bool:
    """Does the debtor ask to stop receiving billing messages ("parar", "sair", ...)."""
    return bool(_OPT_OUT.search(_plain(text)))


@dataclass
class DebtImport:
    """What a debt file held: the valid debts and each bad line with its reason."""

    debts: list[Debt] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)


def read_debts(path: Path) -> DebtImport:
    """Every debt of a `.csv` or `.jsonl` file, and each bad or repeated line with why."""
    result = DebtImport()
    seen: dict[str, int] = {}
    for line, row in file_rows(path):
        if isinstance(row, str):
            result.problems.append((line, row))
            continue
        try:
            debt = Debt.model_validate(row)
        except ValidationError as error:
            result.problems.append((line, validation_problems(error)))
            continue
        if debt.invoice_id in seen:
            result.problems.append(
                (line, f"invoice_id {debt.invoice_id} repeats line {seen[debt.invoice_id]}")
            )
            continue
        seen[debt.invoice_id] = line
        result.debts.append(debt)
    return result


class DebtRecord(BaseModel):
    """A debt as stored, with where its trail is (what `atende debts show` and the API print)."""

    model_config = ConfigDict(frozen=True)

    debt: Debt
    trail_status: TrailStatus
    next_step: int = 0
    next_due_at: datetime | None = None
    attempts: int = 0
    promised_for: date | None = None
    instalments: int | None = None
    ticket_id: str | None = None
    stopped_reason: str = ""
    amount_paid: Decimal | None = None
    paid_at: datetime | None = None
    imported_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What an import of debts did; an unchanged debt is not written again."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
