"""DashboardSource on Firestore: aggregation queries (count, sum) over the `tickets` collection.

No ticket document is ever read: each figure is one `RunAggregationQuery`, billed one read per
batch of up to 1,000 index entries it matches, and at least one read even when it matches none.

Every query filters `opened_at >= start AND opened_at < end` (the ticket's first customer
message; tickets have no `created_at`), optionally `assistant ==`, `status ==` and a boolean
flag `== true`, and runs exactly one aggregation. One per query on purpose: Firestore computes
several aggregations of one query over the documents that have *every* aggregated field, so
`count()` beside `sum("amount_recovered")` would skip the tickets billing never touched.

Composite indexes those queries need (terraform/firestore.tf, `tickets_dashboard`), fields in
this order, all ascending; the single-field index on `opened_at` serves the rest:

    status, opened_at                          count by status, every assistant
    assistant, status, opened_at               count by status, one assistant
    assistant, paid | customer_replied | intervened, opened_at      billing counts
    assistant, opened_at, ai_messages | amount_communicated | amount_recovered   billing sums
    assistant, paid, opened_at, ai_messages    AI messages on paid tickets

Billing figures are always asked for one assistant (shared.metrics), so the sums and flag
counts need no index without `assistant`; asking for them across every assistant would need
the same indexes without their first field.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.dashboard import SummedField, TicketFilter
from shared.settings import Settings

__all__ = ["PERIOD_FIELD", "FirestoreDashboardSource", "dashboard_source_from_settings"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The ticket's opening instant (shared.adapters.firestore_store writes it): a ticket belongs to
# the period it was opened in.
PERIOD_FIELD = "opened_at"
_ALIAS = "value"


class FirestoreDashboardSource:
    """Counts and sums over tickets, each as one Firestore aggregation query."""

    def __init__(
        self, client: firestore.Client, *, collection: str = "tickets", workers: int = 8
    ) -> None:
        self._db = client
        self._collection = collection
        # A 90-day chart is 450 count queries; run concurrently they take a second or two.
        self._workers = workers

    def read_time(self) -> datetime:
        """The server's time of a one-read probe: every figure is then read as of it."""
        probe: Any = self._db.collection(self._collection).limit(1).count(alias=_ALIAS)
        for results in probe.get():
            for result in results:
                # A plain datetime to the microsecond (read_time refuses nanoseconds).
                u = result.read_time.astimezone(UTC)
                return datetime(
                    u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, tzinfo=UTC
                )
        raise RuntimeError("Firestore answered an aggregation query with no result")

    def count_tickets(self, filters: Sequence[TicketFilter], *, at: datetime) -> list[int]:
        """How many tickets match each filter, as of `at`."""
        return self._run(
            filters, lambda f: int(self._aggregate(self._query(f).count(alias=_ALIAS), at))
        )

    def sum_field(
        self, field: SummedField, filters: Sequence[TicketFilter], *, at: datetime
    ) -> list[float]:
        """The sum of a numeric ticket field over each filter's tickets (0 when none has it)."""
        return self._run(
            filters, lambda f: self._aggregate(self._query(f).sum(field, alias=_ALIAS), at)
        )

    def _query(self, ticket_filter: TicketFilter) -> Any:
        query: Any = self._db.collection(self._collection)
        # Equality filters first, the range last: the order the composite indexes list them.
        if ticket_filter.assistant is not None:
            query = query.where(filter=FieldFilter("assistant", "==", ticket_filter.assistant))
        if ticket_filter.status is not None:
            query = query.where(filter=FieldFilter("status", "==", ticket_filter.status.value))
        if ticket_filter.flag is not None:
            query = query.where(filter=FieldFilter(ticket_filter.flag, "==", True))
        window = ticket_filter.window
        return query.where(filter=FieldFilter(PERIOD_FIELD, ">=", window.start)).where(
            filter=FieldFilter(PERIOD_FIELD, "<", window.end)
        )

    @staticmethod
    def _aggregate(aggregation_query: Any, at: datetime) -> float:
        # get() returns one list of results per response; an empty sum comes back as 0.
        for results in aggregation_query.get(read_time=at):
            for result in results:
                if result.alias == _ALIAS:
                    return float(result.value or 0)
        return 0.0

    def _run(self, filters: Sequence[TicketFilter], one: Callable[[TicketFilter], T]) -> list[T]:
        started = time.monotonic()
        if len(filters) <= 1:
            values = [one(f) for f in filters]
        else:
            with ThreadPoolExecutor(max_workers=min(self._workers, len(filters))) as pool:
                values = list(pool.map(one, filters))
        logger.debug(
            "dashboard: %d aggregation queries in %.0f ms",
            len(filters),
            (time.monotonic() - started) * 1000,
        )
        return values


def dashboard_source_from_settings(settings: Settings) -> FirestoreDashboardSource:
    """The dashboards' source on the settings' Firestore database."""
    client = firestore.Client(
        project=settings.google_cloud_project, database=settings.firestore_database
    )
    return FirestoreDashboardSource(client)
