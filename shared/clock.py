"""Clocks: the real one, and a manual one that only moves when told (tests, fast demos)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

__all__ = ["ManualClock", "SystemClock"]


class SystemClock:
    """Wall-clock time in UTC and real sleeps."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        return datetime.now(tz=UTC)

    def sleep(self, seconds: float) -> None:
        """Block for `seconds`."""
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that starts where it is told and advances only by `sleep` or `advance`."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.current = start

    def now(self) -> datetime:
        """The clock's current time."""
        return self.current

    def sleep(self, seconds: float) -> None:
        """Move time forward instead of waiting."""
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (never back)."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.current += timedelta(seconds=seconds)
