"""The dashboards use case: the seed's SAC/SAF and billing figures for a period, from counts.

Scope. With an assistant, both dashboards cover that assistant's tickets. Without one, the
billing dashboard covers the billing assistant (`cobranca`) and the SAC/SAF dashboard every
other assistant, as the seed's "Todos (SAC/SAF)" does: every ticket less the billing ones.

Queries, all read at one instant so that they add up (D = days in the period; each query is at
least one billed read, see docs/dashboard.md):
- tickets per day and status: 5 x D counts for one assistant; for "all", 5 x D over every
  ticket and 5 x D over the billing assistant's, subtracted. The days add up to the period's
  status counts, which therefore cost nothing more.
- billing: 3 counts (paid, customer_replied, intervened) and 4 sums (ai_messages, ai_messages
  on paid tickets, amount_communicated, amount_recovered).
- one probe for the read time.
30 days: 158 queries for one assistant, 308 for all; 90 days: 458 and 908.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from shared.domain.dashboard import (
    BillingDashboard,
    BillingFlag,
    BillingTotals,
    DayCounts,
    Period,
    PeriodError,
    SacSafDashboard,
    TicketCounts,
    TicketFilter,
    billing_dashboard,
    sac_saf_dashboard,
)
from shared.domain.models import TicketStatus
from shared.ports import DashboardSource

__all__ = [
    "BILLING_ASSISTANT",
    "DEFAULT_DAYS",
    "Dashboards",
    "build_dashboards",
    "period_from",
    "tickets_per_day",
]

# The assistant that chases payments (shared.agents.assistants.PROFILES).
BILLING_ASSISTANT = "cobranca"
# The seed's dashboards open on "Últimos 30 dias".
DEFAULT_DAYS = 30

_STATUSES = tuple(TicketStatus)
_FLAGS: tuple[BillingFlag, ...] = ("paid", "customer_replied", "intervened")


class Dashboards(BaseModel):
    """Both dashboards for one period: what `atende metrics --json` prints and an API serves."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    period: Period
    # None: SAC/SAF over every assistant but the billing one, billing over the billing one.
    assistant: str | None
    sac_saf: SacSafDashboard
    billing: BillingDashboard


def period_from(
    *, days: int | None = None, start: date | None = None, end: date | None = None, today: date
) -> Period:
    """The period asked for: the last `days` days, or `start` to `end`; 30 days if neither."""
    if days is not None and (start is not None or end is not None):
        raise PeriodError("ask for a number of days or for a from-to range, not both")
    if (start is None) != (end is None):
        raise PeriodError("a range needs both its first and its last day")
    if start is not None and end is not None:
        return Period.between(start, end)
    return Period.last(DEFAULT_DAYS if days is None else days, today=today)


def tickets_per_day(
    source: DashboardSource, period: Period, assistant: str | None, *, at: datetime
) -> list[DayCounts]:
    """Tickets opened each day of the period, by status: one count per day and status."""
    days = period.day_windows()
    filters = [
        TicketFilter(window=window, assistant=assistant, status=status)
        for _, window in days
        for status in _STATUSES
    ]
    counts = source.count_tickets(filters, at=at)
    width = len(_STATUSES)
    return [
        DayCounts(
            day=day,
            counts=TicketCounts.from_statuses(
                dict(zip(_STATUSES, counts[i * width : (i + 1) * width], strict=True))
            ),
        )
        for i, (day, _) in enumerate(days)
    ]


def build_dashboards(
    source: DashboardSource,
    period: Period,
    *,
    assistant: str | None = None,
    billing_assistant: str = BILLING_ASSISTANT,
) -> Dashboards:
    """Both dashboards for one assistant, or for all (see the module's docstring)."""
    at = source.read_time()
    billing_scope = assistant or billing_assistant
    billing_days = tickets_per_day(source, period, billing_scope, at=at)
    if assistant is None:
        every_day = tickets_per_day(source, period, None, at=at)
        sac_days = [
            DayCounts(day=every.day, counts=every.counts - billing.counts)
            for every, billing in zip(every_day, billing_days, strict=True)
        ]
    else:
        sac_days = billing_days
    sac_saf = sac_saf_dashboard(_total(sac_days), assistant=assistant, per_day=sac_days)
    billing = billing_dashboard(
        _billing_totals(source, period, billing_scope, _total(billing_days), at=at),
        assistant=billing_scope,
    )
    return Dashboards(period=period, assistant=assistant, sac_saf=sac_saf, billing=billing)


def _total(days: Sequence[DayCounts]) -> TicketCounts:
    return sum((d.counts for d in days), TicketCounts())


def _billing_totals(
    source: DashboardSource,
    period: Period,
    assistant: str,
    by_status: TicketCounts,
    *,
    at: datetime,
) -> BillingTotals:
    every = TicketFilter(window=period.window(), assistant=assistant)
    paid = every.model_copy(update={"flag": "paid"})
    n_paid, n_replied, n_intervened = source.count_tickets(
        [every.model_copy(update={"flag": flag}) for flag in _FLAGS], at=at
    )
    ai_messages, ai_messages_paid = source.sum_field("ai_messages", [every, paid], at=at)
    (communicated,) = source.sum_field("amount_communicated", [every], at=at)
    (recovered,) = source.sum_field("amount_recovered", [every], at=at)
    return BillingTotals(
        counts=by_status,
        paid=n_paid,
        customers_replied=n_replied,
        interventions=n_intervened,
        ai_messages=round(ai_messages),
        ai_messages_paid=round(ai_messages_paid),
        amount_communicated=_money(communicated),
        amount_recovered=_money(recovered),
    )


def _money(value: float) -> Decimal:
    # Through str: a float sum such as 10.299999999999999 becomes 10.30 once rounded to cents.
    return Decimal(str(value))
