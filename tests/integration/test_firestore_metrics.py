"""The dashboards on the Firestore emulator: aggregation queries over real tickets, and the CLI.

Tickets, 1 to 3 March 2025 in São Paulo (UTC-3); amounts in R$:

    day      assistant  status  ai_messages  billing fields
    03-01    sac        F       2
    03-01    sac        F       3
    03-01    sac        TA      1
    03-01    saf        TAF     2
    03-01    cobranca   F       4            paid, replied, 100.50 communicated and recovered
    03-02    sac        IAR     1
    03-02    saf        F       1
    03-02    cobranca   TA      3            replied, intervened, 80.25 communicated
    03-02    cobranca   F       2            paid, 50.10 communicated and recovered (23:59)
    03-03    sac        IAN     0            written by FirestoreStore.record_inbound
    03-03    cobranca   IAR     1            60.00 communicated
    outside: sac F at 23:59 on 02-28 (02:59 UTC on 03-01), cobranca F paid at 00:00 on 03-04.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from google.cloud import firestore

from shared import cli
from shared.adapters.firestore_dashboard import FirestoreDashboardSource
from shared.adapters.firestore_store import FirestoreStore
from shared.domain.dashboard import Period, TicketFilter
from shared.domain.models import InboundMessage, TicketStatus
from shared.metrics import build_dashboards
from shared.settings import get_settings

PERIOD = Period.between(date(2025, 3, 1), date(2025, 3, 3))


def _sp(day: int, hour: int, minute: int = 0, *, month: int = 3) -> datetime:
    """An instant in São Paulo (UTC-3), as UTC."""
    return datetime(2025, month, day, hour, minute, tzinfo=UTC) + timedelta(hours=3)


TICKETS: list[dict[str, Any]] = [
    {"opened_at": _sp(1, 9), "assistant": "sac", "status": "F", "ai_messages": 2},
    {"opened_at": _sp(1, 10), "assistant": "sac", "status": "F", "ai_messages": 3},
    {"opened_at": _sp(1, 11), "assistant": "sac", "status": "TA", "ai_messages": 1},
    {"opened_at": _sp(1, 12), "assistant": "saf", "status": "TAF", "ai_messages": 2},
    {
        "opened_at": _sp(1, 13),
        "assistant": "cobranca",
        "status": "F",
        "ai_messages": 4,
        "paid": True,
        "customer_replied": True,
        "amount_communicated": 100.50,
        "amount_recovered": 100.50,
    },
    {"opened_at": _sp(2, 9), "assistant": "sac", "status": "IAR", "ai_messages": 1},
    {"opened_at": _sp(2, 10), "assistant": "saf", "status": "F", "ai_messages": 1},
    {
        "opened_at": _sp(2, 11),
        "assistant": "cobranca",
        "status": "TA",
        "ai_messages": 3,
        "customer_replied": True,
        "intervened": True,
        "amount_communicated": 80.25,
    },
    {
        "opened_at": _sp(2, 23, 59),
        "assistant": "cobranca",
        "status": "F",
        "ai_messages": 2,
        "paid": True,
        "amount_communicated": 50.10,
        "amount_recovered": 50.10,
    },
    {
        "opened_at": _sp(3, 15),
        "assistant": "cobranca",
        "status": "IAR",
        "ai_messages": 1,
        "amount_communicated": 60.00,
    },
    # Outside the period, by minutes, in São Paulo time.
    {"opened_at": _sp(28, 23, 59, month=2), "assistant": "sac", "status": "F", "ai_messages": 9},
    {
        "opened_at": _sp(4, 0),
        "assistant": "cobranca",
        "status": "F",
        "ai_messages": 9,
        "paid": True,
        "amount_recovered": 999.0,
    },
]


@pytest.fixture
def tickets(db: firestore.Client) -> firestore.Client:
    """The table above in the emulator; the 03-03 IAN ticket is opened by the real store."""
    for n, doc in enumerate(TICKETS):
        db.collection("tickets").document(f"T-{n:02d}").set(doc)
    FirestoreStore(db).record_inbound(
        InboundMessage(
            message_id="wamid.metrics-1",
            wa_id="5511900000001",
            phone_number_id="100000000000001",
            type="text",
            timestamp=_sp(3, 10),
            text="Oi",
            wakes_agent=True,
        ),
        assistant="sac",
    )
    return db


@pytest.fixture
def source(tickets: firestore.Client) -> FirestoreDashboardSource:
    """The adapter under test."""
    return FirestoreDashboardSource(tickets)


def test_counts_and_sums_are_aggregation_queries_over_the_period(
    source: FirestoreDashboardSource,
) -> None:
    at = source.read_time()
    window = PERIOD.window()
    every = TicketFilter(window=window)
    assert source.count_tickets(
        [
            every,
            TicketFilter(window=window, assistant="sac"),
            TicketFilter(window=window, status=TicketStatus.FINISHED),
            TicketFilter(window=window, assistant="cobranca", status=TicketStatus.FINISHED),
            TicketFilter(window=window, assistant="cobranca", flag="paid"),
            TicketFilter(window=window, assistant="cobranca", flag="customer_replied"),
            TicketFilter(window=window, assistant="cobranca", flag="intervened"),
            TicketFilter(window=window, assistant="nobody"),
        ],
        at=at,
    ) == [11, 5, 5, 2, 2, 2, 1, 0]
    # 2 + 3 + 1 + 2 + 4 + 1 + 1 + 3 + 2 + 0 + 1 = 20.
    assert source.sum_field("ai_messages", [every], at=at) == [20.0]
    paid = TicketFilter(window=window, assistant="cobranca", flag="paid")
    assert source.sum_field("ai_messages", [paid], at=at) == [6.0]
    (communicated,) = source.sum_field(
        "amount_communicated", [TicketFilter(window=window, assistant="cobranca")], at=at
    )
    assert communicated == pytest.approx(290.85)
    # No sac ticket has an amount: the sum is zero, not an error.
    assert source.sum_field(
        "amount_recovered", [TicketFilter(window=window, assistant="sac")], at=at
    ) == [0.0]


def test_a_day_is_a_sao_paulo_day(source: FirestoreDashboardSource) -> None:
    at = source.read_time()
    days = dict(PERIOD.day_windows())
    by_day = source.count_tickets(
        [TicketFilter(window=days[date(2025, 3, d)], assistant="cobranca") for d in (1, 2, 3)],
        at=at,
    )
    # The 23:59 ticket of 03-02 is 02:59 UTC on 03-03, and still counts on 03-02.
    assert by_day == [1, 2, 1]


def test_figures_are_read_at_one_instant(
    source: FirestoreDashboardSource, tickets: firestore.Client
) -> None:
    at = source.read_time()
    tickets.collection("tickets").document("T-late").set(
        {"opened_at": _sp(2, 12), "assistant": "sac", "status": "F", "ai_messages": 1}
    )
    every = [TicketFilter(window=PERIOD.window())]
    assert source.count_tickets(every, at=at) == [11]
    assert source.count_tickets(every, at=source.read_time()) == [12]


def test_the_dashboards_for_all_and_for_one_assistant(source: FirestoreDashboardSource) -> None:
    every = build_dashboards(source, PERIOD)
    sac = every.sac_saf
    # SAC/SAF without cobranca: F 2 + 1, TA 1, TAF 1, IAR 1, IAN 1; handled 5.
    assert sac.by_status.by_code() == {"F": 3, "TA": 1, "TAF": 1, "IAR": 1, "IAN": 1}
    assert (sac.tickets, sac.handled) == (7, 5)
    # 3/5, 1/5, 1/5.
    assert [r.percent for r in (sac.finalization_rate, sac.transferred_to_analyst)] == [60, 20]
    assert sac.transferred_by_analyst.percent == 20
    assert [row.counts.by_code() for row in sac.tickets_per_day] == [
        {"F": 2, "TA": 1, "TAF": 1, "IAR": 0, "IAN": 0},
        {"F": 1, "TA": 0, "TAF": 0, "IAR": 1, "IAN": 0},
        {"F": 0, "TA": 0, "TAF": 0, "IAR": 0, "IAN": 1},
    ]
    bill = every.billing
    # cobranca: F 2 (both paid), TA 1, IAR 1.
    assert bill.assistant == "cobranca"
    assert (bill.tickets, bill.finished, bill.active_conversations) == (4, 3, 1)
    # 2/4 = 50.0%; 2/3 = 66.67 -> 66.7%; replied 2/4 = 50.0%.
    assert (bill.paid.percent, bill.paid_conversion.percent) == (50.0, 66.7)
    assert bill.response_rate.percent == 50.0
    # 100.50 + 50.10; 100.50 + 80.25 + 50.10 + 60.00.
    assert (bill.amount_recovered, bill.amount_communicated) == (
        Decimal("150.60"),
        Decimal("290.85"),
    )
    # 4 + 3 + 2 + 1 = 10 -> 2.5 per ticket, 10 / 60 = 0.17 -> 0.2 h; paid 4 + 2 = 6 -> 3, 0.1 h.
    assert (bill.ai_messages, bill.ai_messages_per_ticket, bill.human_effort_hours) == (
        10,
        2.5,
        0.2,
    )
    assert (
        bill.ai_messages_paid,
        bill.ai_messages_per_paid_ticket,
        bill.human_effort_hours_paid,
    ) == (6, 3.0, 0.1)
    assert (bill.transferred_to_human, bill.interventions) == (1, 1)

    one = build_dashboards(source, PERIOD, assistant="sac")
    # sac: F 2, TA 1, IAR 1, IAN 1; handled 3: 2/3 = 67%, 1/3 = 33%, 0%.
    assert one.sac_saf.by_status.by_code() == {"F": 2, "TA": 1, "TAF": 0, "IAR": 1, "IAN": 1}
    assert [one.sac_saf.finalization_rate.percent, one.sac_saf.transferred_to_analyst.percent] == [
        67,
        33,
    ]
    # sac's own billing figures: 2 + 3 + 1 + 1 + 0 = 7 AI messages on 5 tickets = 1.4; none paid.
    assert (one.billing.ai_messages, one.billing.ai_messages_per_ticket) == (7, 1.4)
    assert (one.billing.paid.percent, one.billing.ai_messages_per_paid_ticket) == (0.0, None)


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Settings read from this test's environment (the emulator project), then forgotten."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_atende_metrics_json_prints_the_same_figures(
    source: FirestoreDashboardSource,
    fresh_settings: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = build_dashboards(source, PERIOD).model_dump(mode="json")
    assert cli.main(["metrics", "--from", "2025-03-01", "--to", "2025-03-03", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == expected
    assert printed["period"] == {
        "start": "2025-03-01",
        "end": "2025-03-03",
        "days": 3,
        "time_zone": "America/Sao_Paulo",
    }
    assert printed["sac_saf"]["by_status"] == {
        "F": 3,
        "TA": 1,
        "TAF": 1,
        "IAR": 1,
        "IAN": 1,
        "total": 7,
    }
    assert printed["sac_saf"]["finalization_rate"] == {"part": 3, "whole": 5, "percent": 60.0}
    assert printed["billing"]["amount_recovered"] == 150.6
    assert printed["billing"]["amount_communicated"] == 290.85
    assert printed["billing"]["paid_conversion"] == {"part": 2, "whole": 3, "percent": 66.7}

    period = ["--from", "2025-03-01", "--to", "2025-03-03"]
    assert cli.main(["metrics", "--assistant", "sac", *period, "--json"]) == 0
    sac = json.loads(capsys.readouterr().out)
    assert (sac["assistant"], sac["sac_saf"]["tickets"], sac["billing"]["assistant"]) == (
        "sac",
        5,
        "sac",
    )
    assert sac["billing"]["ai_messages_per_paid_ticket"] is None


def test_atende_metrics_prints_a_table(
    tickets: firestore.Client, fresh_settings: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["metrics", "--from", "2025-03-01", "--to", "2025-03-03"]) == 0
    text = capsys.readouterr().out
    assert "Dashboard SAC/SAF: todos (SAC/SAF), menos cobranca" in text
    assert "3 de 5 tratativas" in text
    assert "R$ 150,60" in text
    assert "total comunicado: R$ 290,85" in text
    assert "2025-03-02" in text
