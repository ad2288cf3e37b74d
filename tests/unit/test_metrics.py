"""The dashboards' figures against hand-computed fixtures, the seed's own among them.

The seed's screenshots (BRIEF, "The seed's dashboards"):
SAC/SAF, 7,435 tickets: F 3,030, TA 3,514, TAF 701, IAR 183, IAN 7 -> 42% / 49% / 10%.
Billing, 314 tickets: 227 paid (72.3%), conversion 75.7%, R$ 5.027,16 of R$ 7.890,99,
1,490 AI messages (4.7 per ticket, 24.8 h), 4 per paid ticket and 15 h, 14 active, 48.7%
replied, 72 transferred, 0 interventions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shared import cli
from shared.domain.dashboard import (
    BillingTotals,
    Period,
    PeriodError,
    Rate,
    SacSafDashboard,
    SummedField,
    TicketCounts,
    TicketFilter,
    billing_dashboard,
    format_brl,
    format_count,
    format_hours,
    format_number,
    format_percent,
    sac_saf_dashboard,
    today_in,
)
from shared.domain.models import TicketStatus
from shared.metrics import Dashboards, build_dashboards, period_from

F, TA, TAF, IAR, IAN = (
    TicketStatus.FINISHED,
    TicketStatus.TRANSFERRED_TO_ANALYST,
    TicketStatus.TRANSFERRED_BY_ANALYST,
    TicketStatus.AI_REPLIED,
    TicketStatus.AWAITING_AI,
)
READ_TIME = datetime(2025, 4, 1, 12, 0, tzinfo=UTC)
# The seed's dashboards show the last 30 days; ours end on 2025-03-31.
LAST_DAY = date(2025, 3, 31)
SEED_PERIOD = Period.last(30, today=LAST_DAY)


# ----------------------------------------------------------------------------- the fake source


@dataclass
class TicketsInMemory:
    """A DashboardSource over ticket documents held as (document, how many such tickets)."""

    tickets: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    queries: int = 0
    read_times: set[datetime] = field(default_factory=set)

    def add(self, n: int, **doc: Any) -> None:
        """n tickets like `doc`."""
        self.tickets.append((doc, n))

    def read_time(self) -> datetime:
        """A fixed instant."""
        self.queries += 1
        return READ_TIME

    def _matching(self, f: TicketFilter) -> list[tuple[dict[str, Any], int]]:
        return [
            (doc, n)
            for doc, n in self.tickets
            if f.window.contains(doc["opened_at"])
            and (f.assistant is None or doc["assistant"] == f.assistant)
            and (f.status is None or doc["status"] == f.status.value)
            and (f.flag is None or doc.get(f.flag) is True)
        ]

    def count_tickets(self, filters: Sequence[TicketFilter], *, at: datetime) -> list[int]:
        """Count like Firestore's count()."""
        self.queries += len(filters)
        self.read_times.add(at)
        return [sum(n for _, n in self._matching(f)) for f in filters]

    def sum_field(
        self, field: SummedField, filters: Sequence[TicketFilter], *, at: datetime
    ) -> list[float]:
        """Sum like Firestore's sum(): tickets without the field add nothing."""
        self.queries += len(filters)
        self.read_times.add(at)
        return [float(sum(doc.get(field, 0) * n for doc, n in self._matching(f))) for f in filters]


def _at(day: date, hour: int = 12) -> datetime:
    """An instant on a São Paulo day (UTC-3): noon there by default."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) + timedelta(hours=3)


def _day(n: int) -> date:
    """The n-th day of the seed period (0 is its first)."""
    return SEED_PERIOD.start + timedelta(days=n)


def _seed_sac_saf(source: TicketsInMemory) -> None:
    """The seed's 7,435 SAC/SAF tickets, spread over the 30 days and two assistants."""
    for status, total in ((F, 3030), (TA, 3514), (TAF, 701), (IAR, 183), (IAN, 7)):
        per_day, extra = divmod(total, 30)
        for n in range(30):
            count = per_day + (1 if n < extra else 0)
            if count:
                assistant = "sac" if n % 2 == 0 else "saf"
                source.add(count, opened_at=_at(_day(n)), assistant=assistant, status=status)


def _seed_billing(source: TicketsInMemory) -> None:
    """The seed's 314 billing tickets, with values that reproduce every billing figure.

    Statuses: F 228, TA 70, TAF 2, IAR 12, IAN 2 = 314. Active IAR + IAN = 14, transferred
    TA + TAF = 72, finished F + TA + TAF = 300 (= 314 - 14).
    Paid: 227 of the F tickets. AI messages on them: 219 x 4 + 8 x 3 = 876 + 24 = 900,
      so 900 / 227 = 3.96 -> "4" per paid ticket and 900 / 60 = 15.0 -> "15 h".
    The other 87: F 1 x 8 + TA 70 x 7 + TAF 2 x 10 + IAR 12 x 5 + IAN 2 x 6
      = 8 + 490 + 20 + 60 + 12 = 590; 900 + 590 = 1,490, so 1,490 / 314 = 4.745 -> "4.7"
      per ticket and 1,490 / 60 = 24.83 -> "24.8 h".
    Recovered (paid in full, communicated = recovered): 226 x 22.14 + 1 x 23.52
      = 5,003.64 + 23.52 = 5,027.16. Communicated to the 87 unpaid: 86 x 33.00 + 1 x 25.83
      = 2,838.00 + 25.83 = 2,863.83; in all 5,027.16 + 2,863.83 = 7,890.99.
    Replied: 140 paid + 13 TA = 153; 153 / 314 = 48.73% -> 48.7%.
    """
    bill = {"assistant": "cobranca"}

    def add(n: int, day: int, status: TicketStatus, **doc: Any) -> None:
        source.add(n, opened_at=_at(_day(day)), status=status.value, **bill, **doc)

    def paid(amount: float) -> dict[str, Any]:
        return {"paid": True, "amount_communicated": amount, "amount_recovered": amount}

    # 227 paid F tickets: 140 of them replied; 219 with 4 AI messages, 8 with 3.
    add(140, 3, F, ai_messages=4, customer_replied=True, **paid(22.14))
    add(78, 9, F, ai_messages=4, **paid(22.14))
    add(1, 9, F, ai_messages=4, **paid(23.52))
    add(8, 17, F, ai_messages=3, **paid(22.14))
    # 87 unpaid: nothing recovered; the billing work set paid = false on some, left it on others.
    add(1, 20, F, ai_messages=8, amount_communicated=25.83, paid=False)
    add(13, 21, TA, ai_messages=7, amount_communicated=33.0, customer_replied=True)
    add(57, 22, TA, ai_messages=7, amount_communicated=33.0, customer_replied=False)
    add(2, 25, TAF, ai_messages=10, amount_communicated=33.0, intervened=False)
    add(12, 28, IAR, ai_messages=5, amount_communicated=33.0)
    add(2, 29, IAN, ai_messages=6, amount_communicated=33.0)


def _rates(board: SacSafDashboard) -> list[Rate]:
    """Finalization, transferred to and by the analyst."""
    return [board.finalization_rate, board.transferred_to_analyst, board.transferred_by_analyst]


@pytest.fixture
def seed() -> TicketsInMemory:
    """Both seed dashboards' tickets in one database."""
    source = TicketsInMemory()
    _seed_sac_saf(source)
    _seed_billing(source)
    return source


# ------------------------------------------------------------------------- the seed's figures


def test_the_seed_sac_saf_figures_from_its_status_counts() -> None:
    counts = TicketCounts(
        finished=3030,
        transferred_to_analyst=3514,
        transferred_by_analyst=701,
        ai_replied=183,
        awaiting_ai=7,
    )
    board = sac_saf_dashboard(counts)
    assert board.tickets == 7435
    # 3,030 + 3,514 + 701 = 7,245 "tratativas".
    assert board.handled == 7245
    # 3,030 / 7,245 = 41.82% -> 42; 3,514 / 7,245 = 48.50% -> 49; 701 / 7,245 = 9.68% -> 10.
    assert board.finalization_rate == Rate(part=3030, whole=7245, percent=42.0)
    assert board.transferred_to_analyst == Rate(part=3514, whole=7245, percent=49.0)
    assert board.transferred_by_analyst == Rate(part=701, whole=7245, percent=10.0)
    assert [format_percent(r) for r in _rates(board)] == ["42%", "49%", "10%"]


def test_the_seed_billing_figures_from_its_totals() -> None:
    totals = BillingTotals(
        counts=TicketCounts(
            finished=228,
            transferred_to_analyst=70,
            transferred_by_analyst=2,
            ai_replied=12,
            awaiting_ai=2,
        ),
        paid=227,
        customers_replied=153,
        interventions=0,
        ai_messages=1490,
        ai_messages_paid=900,
        amount_communicated=Decimal("7890.99"),
        amount_recovered=Decimal("5027.16"),
    )
    board = billing_dashboard(totals, assistant="cobranca")
    assert board.tickets == 314
    # 227 / 314 = 72.29% -> 72.3%.
    assert board.paid == Rate(part=227, whole=314, percent=72.3)
    # Finished = F + TA + TAF = 228 + 70 + 2 = 300; 227 / 300 = 75.67% -> 75.7%.
    assert board.finished == 300
    assert board.paid_conversion == Rate(part=227, whole=300, percent=75.7)
    assert board.amount_recovered == Decimal("5027.16")
    assert board.amount_communicated == Decimal("7890.99")
    assert board.ai_messages == 1490
    # 1,490 / 314 = 4.745 -> 4.7; 1,490 / 60 = 24.83 -> 24.8 h.
    assert board.ai_messages_per_ticket == 4.7
    assert board.human_effort_hours == 24.8
    # 900 / 227 = 3.965 -> 4.0 ("4"); 900 / 60 = 15.0 ("15 h").
    assert board.ai_messages_per_paid_ticket == 4.0
    assert board.human_effort_hours_paid == 15.0
    # IAR + IAN = 12 + 2; TA + TAF = 70 + 2.
    assert board.active_conversations == 14
    assert board.transferred_to_human == 72
    # 153 / 314 = 48.73% -> 48.7%.
    assert board.response_rate == Rate(part=153, whole=314, percent=48.7)
    assert board.interventions == 0


def test_status_f_alone_cannot_be_the_seeds_finished_tickets() -> None:
    # 314 tickets, 14 active, 72 transferred: F is 228, and 227 / 228 is not the seed's 75.7%.
    f_only = 314 - 14 - 72
    assert f_only == 228
    assert round(227 / f_only * 100, 1) == 99.6
    assert round(227 / (f_only + 72) * 100, 1) == 75.7


def test_the_use_case_reproduces_the_seed_from_its_tickets(seed: TicketsInMemory) -> None:
    boards = build_dashboards(seed, SEED_PERIOD)
    sac = boards.sac_saf
    # "All" on SAC/SAF is every assistant but billing: 7,435, not 7,435 + 314.
    assert sac.assistant is None
    assert sac.by_status.by_code() == {"F": 3030, "TA": 3514, "TAF": 701, "IAR": 183, "IAN": 7}
    assert (sac.tickets, sac.handled) == (7435, 7245)
    assert [r.percent for r in _rates(sac)] == [42.0, 49.0, 10.0]
    bill = boards.billing
    assert bill.assistant == "cobranca"
    assert (bill.tickets, bill.paid.part, bill.finished) == (314, 227, 300)
    assert (bill.paid.percent, bill.paid_conversion.percent) == (72.3, 75.7)
    assert (bill.amount_recovered, bill.amount_communicated) == (
        Decimal("5027.16"),
        Decimal("7890.99"),
    )
    assert (bill.ai_messages, bill.ai_messages_per_ticket, bill.human_effort_hours) == (
        1490,
        4.7,
        24.8,
    )
    assert (
        bill.ai_messages_paid,
        bill.ai_messages_per_paid_ticket,
        bill.human_effort_hours_paid,
    ) == (900, 4.0, 15.0)
    assert (bill.active_conversations, bill.response_rate.percent) == (14, 48.7)
    assert (bill.transferred_to_human, bill.interventions) == (72, 0)


def test_the_terminal_shows_the_seeds_figures_as_the_seed_does(seed: TicketsInMemory) -> None:
    text = cli.render_dashboards(build_dashboards(seed, SEED_PERIOD))
    for shown in (
        "7.435",
        "3.030 de 7.245 tratativas",
        "42%",
        "49%",
        "10%",
        "72.3% pagos/total de tickets",
        "75.7%",
        "227 de 300 tickets finalizados",
        "R$ 5.027,16",
        "total comunicado: R$ 7.890,99",
        "1.490",
        "24.8 h",
        "média: 4.7 msgs IA/ticket",
        "15 h",
        "média: 4 msgs IA/ticket",
        "48.7%",
    ):
        assert shown in text, shown
    lines = text.splitlines()
    assert any(line.split()[:2] == ["Conversas", "ativas"] and "14" in line for line in lines)
    assert any(line.split()[:2] == ["Intervenções", "0"] for line in lines)


# ------------------------------------------------------------------- scope, chart and queries


def _small() -> TicketsInMemory:
    """sac: F F F TA; saf: F TAF IAN; cobranca: F (paid) TA. All on 2025-03-30/31."""
    source = TicketsInMemory()
    d1, d2 = date(2025, 3, 30), date(2025, 3, 31)
    source.add(2, opened_at=_at(d1), assistant="sac", status="F", ai_messages=1)
    source.add(1, opened_at=_at(d2), assistant="sac", status="F", ai_messages=2)
    source.add(1, opened_at=_at(d2), assistant="sac", status="TA", ai_messages=1)
    source.add(1, opened_at=_at(d1), assistant="saf", status="F")
    source.add(1, opened_at=_at(d1), assistant="saf", status="TAF")
    source.add(1, opened_at=_at(d2), assistant="saf", status="IAN")
    source.add(1, opened_at=_at(d2), assistant="cobranca", status="F", paid=True, ai_messages=3)
    source.add(1, opened_at=_at(d2), assistant="cobranca", status="TA", ai_messages=1)
    # Opened the day before the period: counted nowhere.
    source.add(5, opened_at=_at(date(2025, 3, 29)), assistant="sac", status="F")
    return source


def test_one_assistant_and_all_hand_computed() -> None:
    period = Period.between(date(2025, 3, 30), date(2025, 3, 31))
    sac = build_dashboards(_small(), period, assistant="sac")
    # sac: F 3, TA 1 -> 3 / 4 = 75%, 1 / 4 = 25%, 0%.
    assert sac.sac_saf.by_status.by_code() == {"F": 3, "TA": 1, "TAF": 0, "IAR": 0, "IAN": 0}
    assert [r.percent for r in _rates(sac.sac_saf)] == [75.0, 25.0, 0.0]
    # The billing dashboard of one assistant covers that assistant's tickets: 5 AI messages
    # (2 x 1 + 2 + 1) on 4 tickets -> 1.25 -> 1.3 (half up); none paid -> n/a per paid ticket.
    assert sac.billing.assistant == "sac"
    assert (sac.billing.ai_messages, sac.billing.ai_messages_per_ticket) == (5, 1.3)
    assert sac.billing.ai_messages_per_paid_ticket is None
    every = build_dashboards(_small(), period)
    # sac + saf: F 4, TA 1, TAF 1, IAN 1; handled 6: 4/6 = 66.7 -> 67%, 1/6 = 16.7 -> 17%.
    assert every.sac_saf.by_status.by_code() == {"F": 4, "TA": 1, "TAF": 1, "IAR": 0, "IAN": 1}
    assert every.sac_saf.finalization_rate.percent == 67.0
    assert every.sac_saf.transferred_to_analyst.percent == 17.0
    # cobranca: F (paid, 3 messages) and TA (1): paid 1/2 = 50%, conversion 1/2 = 50%.
    bill = every.billing
    assert (bill.tickets, bill.paid.percent, bill.paid_conversion.percent) == (2, 50.0, 50.0)
    assert (bill.ai_messages, bill.ai_messages_paid, bill.ai_messages_per_paid_ticket) == (
        4,
        3,
        3.0,
    )


def test_the_chart_has_one_row_per_day_that_adds_up_to_the_totals(seed: TicketsInMemory) -> None:
    board = build_dashboards(seed, SEED_PERIOD).sac_saf
    days = [row.day for row in board.tickets_per_day]
    assert days == [SEED_PERIOD.start + timedelta(days=n) for n in range(30)]
    assert sum((row.counts for row in board.tickets_per_day), TicketCounts()) == board.by_status
    # F: 3,030 = 30 x 101, one day each; TA: 3,514 = 30 x 117 + 4, the first 4 days get 118.
    first = board.tickets_per_day[0].counts
    assert (first.finished, first.transferred_to_analyst) == (101, 118)


def test_days_start_at_midnight_in_sao_paulo() -> None:
    source = TicketsInMemory()
    day = date(2025, 3, 30)
    # 23:30 in São Paulo on the 30th is 02:30 UTC on the 31st: still the 30th.
    late = datetime(2025, 3, 31, 2, 30, tzinfo=UTC)
    # 00:10 in São Paulo on the 31st.
    early = datetime(2025, 3, 31, 3, 10, tzinfo=UTC)
    source.add(1, opened_at=late, assistant="sac", status="F")
    source.add(1, opened_at=early, assistant="sac", status="TA")
    board = build_dashboards(source, Period.between(day, day + timedelta(days=1))).sac_saf
    assert [r.counts.by_code()["F"] for r in board.tickets_per_day] == [1, 0]
    assert [r.counts.by_code()["TA"] for r in board.tickets_per_day] == [0, 1]
    window = Period.between(day, day).window()
    assert (window.start, window.end) == (
        datetime(2025, 3, 30, 3, tzinfo=UTC),
        datetime(2025, 3, 31, 3, tzinfo=UTC),
    )


def test_every_query_is_read_at_one_instant_and_the_count_is_as_documented(
    seed: TicketsInMemory,
) -> None:
    build_dashboards(seed, SEED_PERIOD)
    # 1 probe + 5 x 30 (every ticket) + 5 x 30 (billing) + 3 flag counts + 4 sums.
    assert seed.queries == 1 + 150 + 150 + 3 + 4 == 308
    assert seed.read_times == {READ_TIME}
    one = TicketsInMemory()
    build_dashboards(one, SEED_PERIOD, assistant="sac")
    assert one.queries == 1 + 150 + 3 + 4 == 158


# ------------------------------------------------------------------------- empty and rounding


def test_an_empty_period_has_no_division_by_zero() -> None:
    boards = build_dashboards(TicketsInMemory(), Period.last(7, today=LAST_DAY))
    sac, bill = boards.sac_saf, boards.billing
    assert sac.tickets == 0
    assert sac.finalization_rate == Rate(part=0, whole=0, percent=None)
    assert bill.paid.percent is None
    assert bill.paid_conversion.percent is None
    assert bill.response_rate.percent is None
    assert bill.ai_messages_per_ticket is None
    assert bill.ai_messages_per_paid_ticket is None
    assert (bill.human_effort_hours, bill.amount_recovered) == (0.0, Decimal(0))
    text = cli.render_dashboards(boards)
    assert "n/a" in text
    assert "R$ 0,00" in text
    dumped = boards.model_dump(mode="json")
    assert dumped["sac_saf"]["finalization_rate"]["percent"] is None
    assert dumped["billing"]["ai_messages_per_ticket"] is None


def test_figures_round_half_up_as_people_do() -> None:
    # 1 / 8 = 12.5%: half up gives 13 where Python's round() would give 12.
    board = sac_saf_dashboard(TicketCounts(finished=1, transferred_to_analyst=7))
    assert board.finalization_rate.percent == 13.0
    # 0.25 h -> 0.3 h, not 0.2; 45.16 + 0.005 cents rounded half up.
    totals = BillingTotals(
        counts=TicketCounts(finished=2),
        ai_messages=15,
        amount_recovered=Decimal("45.165"),
    )
    bill = billing_dashboard(totals)
    assert bill.human_effort_hours == 0.3
    assert bill.amount_recovered == Decimal("45.17")


def test_the_seed_number_formats() -> None:
    assert format_count(7435) == "7.435"
    assert format_count(1490) == "1.490"
    assert format_count(7) == "7"
    assert format_brl(Decimal("5027.16")) == "R$ 5.027,16"
    assert format_brl(Decimal("1234567.5")) == "R$ 1.234.567,50"
    assert format_brl(Decimal("0")) == "R$ 0,00"
    assert format_number(4.7) == "4.7"
    assert format_number(4.0) == "4"
    assert format_number(None) == "n/a"
    assert format_hours(24.8) == "24.8 h"
    assert format_hours(15.0) == "15 h"
    assert format_percent(Rate(part=227, whole=314, percent=72.3)) == "72.3%"


def test_money_is_a_plain_number_in_json(seed: TicketsInMemory) -> None:
    boards = build_dashboards(seed, SEED_PERIOD)
    dumped = boards.model_dump(mode="json")
    assert dumped["billing"]["amount_recovered"] == 5027.16
    assert dumped["billing"]["amount_communicated"] == 7890.99
    assert dumped["sac_saf"]["by_status"] == {
        "F": 3030,
        "TA": 3514,
        "TAF": 701,
        "IAR": 183,
        "IAN": 7,
        "total": 7435,
    }
    assert dumped["period"] == {
        "start": "2025-03-02",
        "end": "2025-03-31",
        "days": 30,
        "time_zone": "America/Sao_Paulo",
    }
    # What the JSON says validates back into the same figures.
    assert Dashboards.model_validate(dumped) == boards


# -------------------------------------------------------------------------------- periods


def test_the_last_n_days_end_today_in_sao_paulo() -> None:
    # 01:00 UTC on 1 April is still 31 March in São Paulo.
    today = today_in(datetime(2025, 4, 1, 1, 0, tzinfo=UTC))
    assert today == date(2025, 3, 31)
    for days in (7, 30, 90):
        period = period_from(days=days, today=today)
        assert (period.end, period.days) == (today, days)
    assert period_from(today=today) == Period.last(30, today=today)
    assert period_from(start=date(2025, 1, 1), end=date(2025, 1, 1), today=today).days == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"start": date(2025, 3, 10), "end": date(2025, 3, 1)},
            "the period starts on 2025-03-10, after it ends on 2025-03-01",
        ),
        (
            {"start": date(2024, 1, 1), "end": date(2025, 1, 1)},
            "a period covers at most 366 days; 2024-01-01 to 2025-01-01 is 367",
        ),
        ({"days": 0}, "the number of days must be from 1 to 366, not 0"),
        ({"days": 400}, "the number of days must be from 1 to 366, not 400"),
        ({"start": date(2025, 3, 1)}, "a range needs both its first and its last day"),
        ({"end": date(2025, 3, 1)}, "a range needs both its first and its last day"),
        (
            {"days": 7, "start": date(2025, 3, 1), "end": date(2025, 3, 2)},
            "ask for a number of days or for a from-to range, not both",
        ),
    ],
)
def test_a_period_that_cannot_be_shown_says_why(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(PeriodError) as raised:
        period_from(today=LAST_DAY, **kwargs)
    assert str(raised.value) == message


def test_a_whole_leap_year_is_the_longest_period() -> None:
    assert Period.between(date(2024, 1, 1), date(2024, 12, 31)).days == 366


def test_the_command_refuses_a_bad_period_before_reading_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["metrics", "--days", "0"]) == 2
    assert "atende metrics: the number of days must be from 1 to 366, not 0" in (
        capsys.readouterr().err
    )
    assert cli.main(["metrics", "--from", "2025-03-10", "--to", "2025-03-01"]) == 2
    assert "after it ends on 2025-03-01" in capsys.readouterr().err
    assert cli.main(["metrics", "--days", "7", "--from", "2025-03-01", "--to", "2025-03-02"]) == 2
    with pytest.raises(SystemExit):
        cli.main(["metrics", "--from", "31/03/2025", "--to", "2025-04-01"])
    assert "is not a date (YYYY-MM-DD)" in capsys.readouterr().err
