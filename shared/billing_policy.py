"""The trail and instalment policies a deployment's settings describe."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

from shared.domain.billing import InstalmentPolicy
from shared.domain.trail import SendWindow, TrailPolicy, parse_cadence, parse_days
from shared.settings import Settings

__all__ = ["instalment_policy", "trail_policy"]


def _window_times(text: str) -> tuple[time, time]:
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"FOLLOWUP_SEND_WINDOW: {text!r} is not like 08:00-20:00")
    try:
        opens = time.fromisoformat(start.strip())
        closes = (
            time(0, 0) if end.strip() in ("24:00", "00:00") else time.fromisoformat(end.strip())
        )
    except ValueError:
        raise ValueError(f"FOLLOWUP_SEND_WINDOW: {text!r} is not like 08:00-20:00") from None
    if closes != time(0, 0) and closes <= opens:
        raise ValueError(f"FOLLOWUP_SEND_WINDOW: {text!r} closes before it opens")
    return opens, closes


def trail_policy(settings: Settings) -> TrailPolicy:
    """The reminder trail of FOLLOWUP_* settings; ValueError names the bad setting."""
    opens, closes = _window_times(settings.followup_send_window)
    try:
        extra = frozenset(date.fromisoformat(d) for d in settings.followup_extra_holidays)
    except ValueError as error:
        raise ValueError(f"FOLLOWUP_EXTRA_HOLIDAYS: {error}") from None
    window = SendWindow(
        start=opens,
        end=closes,
        days=parse_days(settings.followup_send_days),
        holidays_region=settings.followup_holidays.strip() or None,
        extra_holidays=extra,
    )
    return TrailPolicy(
        cadence=parse_cadence(settings.followup_cadence),
        templates=tuple(settings.followup_templates) or TrailPolicy().templates,
        language=settings.followup_template_language,
        receipt_template=settings.followup_receipt_template.strip(),
        max_attempts=settings.followup_max_attempts,
        window=window,
        time_zone=settings.followup_time_zone,
    )


def instalment_policy(settings: Settings) -> InstalmentPolicy:
    """What the billing agent may agree to, from INSTALMENTS_MAX and friends."""
    return InstalmentPolicy(
        max_instalments=settings.instalments_max,
        min_instalment=Decimal(str(settings.instalment_min_amount)).quantize(Decimal("0.01")),
        max_promise_days=settings.promise_max_days,
    )
