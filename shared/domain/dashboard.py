"""The seed's SAC/SAF and billing dashboards: the period, the inputs and the figures, no I/O.

Definitions (../shared/BRIEF.md, "The seed's dashboards"), over the tickets *opened* in the
period (`opened_at`, one ticket per conversation episode):

SAC/SAF
    handled ("tratativas")        = F + TA + TAF (tickets no longer with the AI)
    AI finalization rate          = F / handled            (whole percent: 3,030 / 7,245 = 42%)
    transferred to analyst        = TA / handled           (49%)
    transferred by the analyst    = TAF / handled          (10%)
Billing (Cobrança)
    tickets                       = every ticket of the period
    paid share                    = paid / tickets          (one decimal: 227 / 314 = 72.3%)
    paid conversion               = paid / finished         (227 / 300 = 75.7%)
    finished                      = F + TA + TAF: the seed's 314 tickets less its 14 active
                                    ones. Status F alone cannot be it: 314 - 14 active - 72
                                    transferred leaves 228 in F, and 227 / 228 would be 99.6%.
    amount recovered / communicated = sums of amount_recovered / amount_communicated (R$)
    AI messages                   = sum of ai_messages; per ticket = AI messages / tickets
    AI messages on paid tickets   = sum of ai_messages where paid; per paid ticket likewise
    human-effort equivalent       = AI messages x 1 analyst minute / 60 (1,490 -> 24.8 h)
    active conversations          = IAR + IAN
    response rate                 = customer_replied / tickets (one decimal)
    transferred to human          = TA + TAF
    interventions                 = tickets with intervened (an analyst took over in the console)

Ticket fields the billing work fills (all optional; a ticket without them counts as unpaid,
silent, not intervened, with no amounts): `amount_communicated` (number, BRL: what the billing
trail asked for), `amount_recovered` (number, BRL: what was paid), `paid` (bool),
`customer_replied` (bool: the debtor answered at least once), `intervened` (bool: an analyst
took the conversation over from the console). `ai_messages` is already counted per AI reply.

A ratio whose denominator is zero is not a number: its value is None, shown as "n/a".
Figures are rounded half up, as the seed shows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PlainSerializer,
    computed_field,
    model_validator,
)

from shared.domain.models import TicketStatus

__all__ = [
    "ANALYST_MINUTES_PER_AI_MESSAGE",
    "MAX_PERIOD_DAYS",
    "PRESET_DAYS",
    "TIME_ZONE",
    "BillingDashboard",
    "BillingFlag",
    "BillingTotals",
    "DayCounts",
    "Money",
    "Period",
    "PeriodError",
    "Rate",
    "SacSafDashboard",
    "SummedField",
    "TicketCounts",
    "TicketFilter",
    "TimeWindow",
    "billing_dashboard",
    "format_brl",
    "format_count",
    "format_hours",
    "format_number",
    "format_percent",
    "sac_saf_dashboard",
    "today_in",
]

# The seed's business runs on Brasília time: a day starts at midnight there.
TIME_ZONE = ZoneInfo("America/Sao_Paulo")
# A leap year; longer ranges would make the per-day chart thousands of queries.
MAX_PERIOD_DAYS = 366
# The dashboard's quick filters.
PRESET_DAYS = (7, 30, 90)
# The seed's human-effort equivalent: 1,490 AI messages -> 24.8 h.
ANALYST_MINUTES_PER_AI_MESSAGE = 1

# Boolean ticket fields counted where true.
BillingFlag = Literal["paid", "customer_replied", "intervened"]
# Numeric ticket fields summed.
SummedField = Literal["ai_messages", "amount_communicated", "amount_recovered"]

# Reais to the cent; a plain number in JSON.
Money = Annotated[
    Decimal, PlainSerializer(lambda value: float(value), return_type=float, when_used="json")
]

_CENT = Decimal("0.01")


class PeriodError(ValueError):
    """A period that cannot be shown: reversed, too long, or of no days."""


class _Frozen(BaseModel):
    # extra="ignore": a dumped dashboard (computed fields included) validates back.
    model_config = ConfigDict(frozen=True, extra="ignore")


def today_in(now: datetime) -> date:
    """The calendar day it is in São Paulo at an aware instant."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(TIME_ZONE).date()


def _midnight(day: date) -> datetime:
    """The instant a São Paulo day starts, in UTC (what Firestore compares)."""
    return datetime.combine(day, time(0), tzinfo=TIME_ZONE).astimezone(UTC)


class TimeWindow(_Frozen):
    """Instants from `start` (inclusive) to `end` (exclusive), both aware."""

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered_and_aware(self) -> TimeWindow:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a time window needs timezone-aware instants")
        if self.start >= self.end:
            raise ValueError("a time window must end after it starts")
        return self

    def contains(self, instant: datetime) -> bool:
        """Whether an aware instant falls in the window."""
        return self.start <= instant < self.end


class Period(_Frozen):
    """Whole São Paulo days from `start` to `end`, both included (the dashboard's from-to)."""

    start: date
    end: date

    @model_validator(mode="after")
    def _valid(self) -> Period:
        _check(self.start, self.end)
        return self

    @classmethod
    def between(cls, start: date, end: date) -> Period:
        """The days from `start` to `end`, inclusive; PeriodError says what is wrong."""
        _check(start, end)
        return cls(start=start, end=end)

    @classmethod
    def last(cls, days: int, *, today: date) -> Period:
        """The `days` days that end today (today included), like "Últimos 30 dias"."""
        if not 1 <= days <= MAX_PERIOD_DAYS:
            raise PeriodError(f"the number of days must be from 1 to {MAX_PERIOD_DAYS}, not {days}")
        return cls(start=today - timedelta(days=days - 1), end=today)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def days(self) -> int:
        """How many days the period covers."""
        return (self.end - self.start).days + 1

    @computed_field  # type: ignore[prop-decorator]
    @property
    def time_zone(self) -> str:
        """Where the days start and end."""
        return str(TIME_ZONE)

    def window(self) -> TimeWindow:
        """The period as instants: the first day's midnight to the midnight after the last."""
        return TimeWindow(start=_midnight(self.start), end=_midnight(self.end + timedelta(days=1)))

    def day_windows(self) -> list[tuple[date, TimeWindow]]:
        """Each day of the period with its instants, oldest first; together they tile window()."""
        days = [self.start + timedelta(days=n) for n in range(self.days)]
        return [
            (day, TimeWindow(start=_midnight(day), end=_midnight(day + timedelta(days=1))))
            for day in days
        ]


def _check(start: date, end: date) -> None:
    if start > end:
        raise PeriodError(
            f"the period starts on {start.isoformat()}, after it ends on {end.isoformat()}"
        )
    days = (end - start).days + 1
    if days > MAX_PERIOD_DAYS:
        raise PeriodError(
            f"a period covers at most {MAX_PERIOD_DAYS} days; "
            f"{start.isoformat()} to {end.isoformat()} is {days}"
        )


class TicketFilter(_Frozen):
    """Which tickets one aggregation query covers: opened in a window, and optionally more."""

    window: TimeWindow
    # None: every assistant.
    assistant: str | None = None
    status: TicketStatus | None = None
    # Only tickets where this boolean field is true.
    flag: BillingFlag | None = None


class TicketCounts(_Frozen):
    """Tickets by the seed's status codes (the codes are the keys in JSON)."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", serialize_by_alias=True, validate_by_name=True
    )

    finished: NonNegativeInt = Field(default=0, serialization_alias="F", validation_alias="F")
    transferred_to_analyst: NonNegativeInt = Field(
        default=0, serialization_alias="TA", validation_alias="TA"
    )
    transferred_by_analyst: NonNegativeInt = Field(
        default=0, serialization_alias="TAF", validation_alias="TAF"
    )
    ai_replied: NonNegativeInt = Field(default=0, serialization_alias="IAR", validation_alias="IAR")
    awaiting_ai: NonNegativeInt = Field(
        default=0, serialization_alias="IAN", validation_alias="IAN"
    )

    @classmethod
    def from_statuses(cls, counts: Mapping[TicketStatus, int]) -> TicketCounts:
        """Counts keyed by status code; a missing status counts zero."""
        return cls(**{_FIELD_OF[status]: n for status, n in counts.items()})

    def of(self, status: TicketStatus) -> int:
        """The count of one status."""
        value: int = getattr(self, _FIELD_OF[status])
        return value

    def by_code(self) -> dict[str, int]:
        """{"F": ..., "TA": ..., "TAF": ..., "IAR": ..., "IAN": ...}."""
        return {status.value: self.of(status) for status in TicketStatus}

    def __add__(self, other: TicketCounts) -> TicketCounts:
        return TicketCounts.from_statuses({s: self.of(s) + other.of(s) for s in TicketStatus})

    def __sub__(self, other: TicketCounts) -> TicketCounts:
        # Counts read at one instant never go below zero; the floor guards any that were not.
        return TicketCounts.from_statuses(
            {s: max(0, self.of(s) - other.of(s)) for s in TicketStatus}
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> int:
        """Every ticket, whatever its status."""
        return sum(self.of(status) for status in TicketStatus)

    @property
    def handled(self) -> int:
        """F + TA + TAF: the seed's "tratativas", tickets the AI no longer holds."""
        return self.finished + self.transferred_to_analyst + self.transferred_by_analyst

    @property
    def active(self) -> int:
        """IAR + IAN: conversations still in progress with the AI."""
        return self.ai_replied + self.awaiting_ai

    @property
    def with_human(self) -> int:
        """TA + TAF: tickets transferred to a person."""
        return self.transferred_to_analyst + self.transferred_by_analyst


_FIELD_OF: dict[TicketStatus, str] = {
    TicketStatus.FINISHED: "finished",
    TicketStatus.TRANSFERRED_TO_ANALYST: "transferred_to_analyst",
    TicketStatus.TRANSFERRED_BY_ANALYST: "transferred_by_analyst",
    TicketStatus.AI_REPLIED: "ai_replied",
    TicketStatus.AWAITING_AI: "awaiting_ai",
}


class DayCounts(_Frozen):
    """One day of the tickets-per-day chart."""

    day: date
    counts: TicketCounts


class BillingTotals(_Frozen):
    """What the billing figures are computed from: counts and sums over the period's tickets."""

    counts: TicketCounts
    paid: NonNegativeInt = 0
    customers_replied: NonNegativeInt = 0
    interventions: NonNegativeInt = 0
    ai_messages: NonNegativeInt = 0
    ai_messages_paid: NonNegativeInt = 0
    amount_communicated: Money = Decimal(0)
    amount_recovered: Money = Decimal(0)


class Rate(_Frozen):
    """part / whole as a percentage, rounded as the seed shows it; None when whole is zero."""

    part: NonNegativeInt
    whole: NonNegativeInt
    percent: float | None


class SacSafDashboard(_Frozen):
    """The seed's "Dashboard SAC/SAF"."""

    assistant: str | None
    tickets: int
    by_status: TicketCounts
    handled: int
    finalization_rate: Rate
    transferred_to_analyst: Rate
    transferred_by_analyst: Rate
    tickets_per_day: list[DayCounts] = Field(default_factory=list)


class BillingDashboard(_Frozen):
    """The seed's "Dashboard de Cobrança"."""

    assistant: str | None
    tickets: int
    by_status: TicketCounts
    paid: Rate
    finished: int
    paid_conversion: Rate
    amount_recovered: Money
    amount_communicated: Money
    ai_messages: int
    ai_messages_per_ticket: float | None
    ai_messages_paid: int
    ai_messages_per_paid_ticket: float | None
    human_effort_hours: float
    human_effort_hours_paid: float
    active_conversations: int
    response_rate: Rate
    customers_replied: int
    transferred_to_human: int
    interventions: int


def _round(value: Decimal, places: int) -> Decimal:
    """Half up, as people round (Python's round() goes half to even)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _divide(part: int, whole: int, places: int, *, scale: int = 1) -> float | None:
    if whole == 0:
        return None
    return float(_round(Decimal(part * scale) / Decimal(whole), places))


def _rate(part: int, whole: int, places: int) -> Rate:
    return Rate(part=part, whole=whole, percent=_divide(part, whole, places, scale=100))


def _hours(ai_messages: int) -> float:
    minutes = Decimal(ai_messages * ANALYST_MINUTES_PER_AI_MESSAGE)
    return float(_round(minutes / 60, 1))


def sac_saf_dashboard(
    counts: TicketCounts,
    *,
    assistant: str | None = None,
    per_day: Sequence[DayCounts] = (),
) -> SacSafDashboard:
    """The SAC/SAF figures: rates over F + TA + TAF, to the whole percent as the seed shows."""
    handled = counts.handled
    return SacSafDashboard(
        assistant=assistant,
        tickets=counts.total,
        by_status=counts,
        handled=handled,
        finalization_rate=_rate(counts.finished, handled, 0),
        transferred_to_analyst=_rate(counts.transferred_to_analyst, handled, 0),
        transferred_by_analyst=_rate(counts.transferred_by_analyst, handled, 0),
        tickets_per_day=list(per_day),
    )


def billing_dashboard(totals: BillingTotals, *, assistant: str | None = None) -> BillingDashboard:
    """The billing figures: percentages and averages to one decimal, money to the cent."""
    counts = totals.counts
    tickets = counts.total
    return BillingDashboard(
        assistant=assistant,
        tickets=tickets,
        by_status=counts,
        paid=_rate(totals.paid, tickets, 1),
        finished=counts.handled,
        paid_conversion=_rate(totals.paid, counts.handled, 1),
        amount_recovered=_round(totals.amount_recovered, 2),
        amount_communicated=_round(totals.amount_communicated, 2),
        ai_messages=totals.ai_messages,
        ai_messages_per_ticket=_divide(totals.ai_messages, tickets, 1),
        ai_messages_paid=totals.ai_messages_paid,
        ai_messages_per_paid_ticket=_divide(totals.ai_messages_paid, totals.paid, 1),
        human_effort_hours=_hours(totals.ai_messages),
        human_effort_hours_paid=_hours(totals.ai_messages_paid),
        active_conversations=counts.active,
        response_rate=_rate(totals.customers_replied, tickets, 1),
        customers_replied=totals.customers_replied,
        transferred_to_human=counts.with_human,
        interventions=totals.interventions,
    )


# ------------------------------------------------------------------ how the seed shows figures


def format_count(value: int) -> str:
    """A count with Brazilian thousands separators: 7.435."""
    return f"{value:,}".replace(",", ".")


def format_number(value: float | None) -> str:
    """One decimal with a point, a whole number without ".0" (the seed's "4.7", "4")."""
    if value is None:
        return "n/a"
    text = f"{value:.1f}"
    return text.removesuffix(".0")


def format_percent(rate: Rate) -> str:
    """The seed's "42%" and "72.3%"; "n/a" when there is nothing to divide by."""
    if rate.percent is None:
        return "n/a"
    return f"{format_number(rate.percent)}%"


def format_hours(hours: float) -> str:
    """The seed's "24.8 h" and "15 h"."""
    return f"{format_number(hours)} h"


def format_brl(amount: Decimal) -> str:
    """Reais as Brazilians write them: R$ 5.027,16."""
    text = f"{_round(amount, 2):,.2f}"
    # 5,027.16 -> 5.027,16
    return "R$ " + text.replace(",", "_").replace(".", ",").replace("_", ".")
