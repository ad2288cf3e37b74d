"""The real clock; tests pass their own."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["SystemClock"]


class SystemClock:
    """Wall-clock time in UTC and real sleeps."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        return datetime.now(tz=UTC)

    def sleep(self, seconds: float) -> None:
        """Block for `seconds`."""
        if seconds > 0:
            time.sleep(seconds)
