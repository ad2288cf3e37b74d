"""A debt's reminder trail: when each notice is due, quiet hours, and what a tick should do.

Pure functions over a snapshot the adapter reads inside its transaction: `decide` returns what
to do with one debt at one instant (send a step, wait, or stop), and the adapter writes it
atomically. Nothing here reads a clock: `now` is always passed in.

Schedule: step k is due at anchor + cadence[k], where the anchor is the start of the due date
in the debtor's time zone, or the moment the debt was imported when that is later (a debt
imported already overdue starts its trail at once instead of finding every step in the past).
A promise to pay pushes the next step to the morning after the promised date. When ticks were
missed and several steps are overdue, only the latest is sent: the debtor gets one message,
not a burst. When the billing system reports a payment, `payment_receipt` thanks a debtor the
trail has written to, inside quiet hours too.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from shared.domain.billing import Debt, TrailStatus, format_brl
from shared.domain.models import OutboundMessage, conversation_id_for
from shared.domain.whatsapp_templates import TemplateError, TemplateStatus, WhatsAppTemplate

__all__ = [
    "CUSTOMER_SERVICE_WINDOW",
    "Receipt",
    "SendWindow",
    "TrailDecision",
    "TrailPolicy",
    "TrailSnapshot",
    "decide",
    "parse_cadence",
    "parse_days",
    "payment_receipt",
    "template_parameters",
    "undeliverable_reason",
]

# WhatsApp lets a business write free text only this long after the customer's last message.
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)
# How long to wait before looking again at a trail that cannot go on right now.
_RETRY_LATER = timedelta(hours=1)

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_cadence(text: str) -> tuple[timedelta, ...]:
    """`0d,2d,5d,10d` (also h, m, s; a bare number is days) as offsets from the anchor."""
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    offsets: list[timedelta] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([dhms]?)", part.lower())
        if not match:
            raise ValueError(f"cadence: {part!r} is not like 2d, 12h, 30m or 45s")
        offsets.append(timedelta(**{units[match[2] or "d"]: float(match[1])}))
    if not offsets:
        raise ValueError("cadence: give at least one step, for example 0d,2d,5d,10d")
    if any(b <= a for a, b in itertools.pairwise(offsets)):
        raise ValueError("cadence: each step must come after the one before")
    return tuple(offsets)


def parse_days(text: str) -> frozenset[int]:
    """`mon-sat` or `mon,wed,fri` (ranges may wrap: `sat-mon`) as weekday numbers, Monday 0."""
    days: set[int] = set()
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        first, _, last = part.partition("-")
        try:
            start = _DAY_NAMES.index(first.strip()[:3])
            end = _DAY_NAMES.index((last or first).strip()[:3])
        except ValueError:
            raise ValueError(f"days: {part!r} is not like mon-sat or mon,wed,fri") from None
        days.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)])
    if not days:
        raise ValueError("days: give at least one day, for example mon-sat")
    return frozenset(days)


@lru_cache(maxsize=16)
def _public_holidays(country: str, subdivision: str | None) -> Mapping[date, str]:
    import holidays

    calendar: Mapping[date, str] = holidays.country_holidays(country, subdiv=subdivision)
    return calendar


@dataclass(frozen=True, slots=True)
class SendWindow:
    """When a debtor may be messaged, in their own time zone (quiet hours are the rest)."""

    start: time = time(8, 0)
    # Exclusive; time(0, 0) as the end means midnight (a window open all day).
    end: time = time(20, 0)
    days: frozenset[int] = frozenset(range(6))
    # "BR" or "BR-SP" (python-holidays' country and subdivision codes); None for none.
    holidays_region: str | None = "BR"
    extra_holidays: frozenset[date] = frozenset()

    def is_holiday(self, day: date) -> bool:
        """A public holiday of the region, or one of the extra days off."""
        if day in self.extra_holidays:
            return True
        if not self.holidays_region:
            return False
        country, _, subdivision = self.holidays_region.partition("-")
        return day in _public_holidays(country, subdivision or None)

    def _open_day(self, day: date) -> bool:
        return day.weekday() in self.days and not self.is_holiday(day)

    def _closes(self, day: date, zone: ZoneInfo) -> datetime:
        if self.end == time(0, 0):
            return datetime.combine(day + timedelta(days=1), time(0, 0), zone)
        return datetime.combine(day, self.end, zone)

    def allows(self, at: datetime, zone: ZoneInfo) -> bool:
        """May a message go out at `at` (aware)?"""
        local = at.astimezone(zone)
        opens = datetime.combine(local.date(), self.start, zone)
        return self._open_day(local.date()) and opens <= local < self._closes(local.date(), zone)

    def next_open(self, at: datetime, zone: ZoneInfo) -> datetime:
        """`at` if a message may go out then, else when the window next opens."""
        if self.allows(at, zone):
            return at
        local = at.astimezone(zone)
        day = local.date()
        if local >= datetime.combine(day, self.start, zone):
            day += timedelta(days=1)
        for _ in range(400):
            if self._open_day(day):
                return datetime.combine(day, self.start, zone)
            day += timedelta(days=1)
        raise ValueError("the send window never opens: check FOLLOWUP_SEND_DAYS and holidays")


@dataclass(frozen=True, slots=True)
class TrailPolicy:
    """The deployment's trail: cadence, templates per step, attempts and quiet hours."""

    cadence: tuple[timedelta, ...] = (
        timedelta(days=0),
        timedelta(days=2),
        timedelta(days=5),
        timedelta(days=10),
    )
    # Step k uses templates[k], the last one for every later step.
    templates: tuple[str, ...] = ("cobranca_aviso", "cobranca_lembrete")
    language: str = "pt_BR"
    max_attempts: int = 6
    window: SendWindow = field(default_factory=SendWindow)
    time_zone: str = "America/Sao_Paulo"
    # Thanks for a payment (first name, invoice, amount paid); "" sends none.
    receipt_template: str = "cobranca_pagamento"

    def template_for(self, step: int) -> str:
        """The template name of a step."""
        return self.templates[min(step, len(self.templates) - 1)]

    def zone_of(self, debt: Debt) -> ZoneInfo:
        """The debtor's time zone, or the deployment's."""
        return ZoneInfo(debt.time_zone or self.time_zone)

    def anchor(self, debt: Debt, started_at: datetime) -> datetime:
        """Day zero of the trail: the due date's start, or the import if it came later."""
        due = datetime.combine(debt.due_date, time(0, 0), self.zone_of(debt))
        return max(due, started_at)

    def step_due(self, debt: Debt, started_at: datetime, step: int) -> datetime:
        """When step `step` falls due, before quiet hours are applied."""
        return self.anchor(debt, started_at) + self.cadence[step]

    def after_promise(self, debt: Debt, promised_for: date) -> datetime:
        """The morning after the promised date, in the debtor's zone."""
        return datetime.combine(
            promised_for + timedelta(days=1), self.window.start, self.zone_of(debt)
        )

    def first_due(self, debt: Debt, started_at: datetime) -> datetime:
        """When a new trail's first notice may go out."""
        zone = self.zone_of(debt)
        return self.window.next_open(self.step_due(debt, started_at, 0), zone)


class TrailSnapshot(BaseModel):
    """What `decide` needs of a debt, its conversation, its ticket and its debtor."""

    model_config = ConfigDict(frozen=True)

    debt: Debt
    status: TrailStatus
    started_at: datetime
    next_step: int = 0
    next_due_at: datetime | None = None
    attempts: int = 0
    promised_for: date | None = None
    phone_number_id: str
    # The trail's ticket, once its first notice went out.
    ticket_id: str | None = None
    # The ticket went to an analyst (handoff, transfer or a console take-over) at some point.
    ticket_with_human: bool = False
    # Who holds the conversation now (ai, human), if it exists.
    holder: str | None = None
    opted_out: bool = False
    last_customer_message_at: datetime | None = None
    # Why the last notice could not be delivered to this number, if it could not.
    undeliverable: str = ""


class TrailDecision(BaseModel):
    """What one tick does with one debt."""

    model_config = ConfigDict(frozen=True)

    action: Literal["send", "wait", "stop", "skip"]
    reason: str = ""
    # Status after the decision (stop: why it stopped; send: active or exhausted).
    status: TrailStatus = TrailStatus.ACTIVE
    step: int | None = None
    # Steps overdue that were not sent (a missed tick's work is done once, by the next).
    skipped_steps: int = 0
    message: OutboundMessage | None = None
    next_step: int | None = None
    next_due_at: datetime | None = None


# Meta's codes for a recipient no message can reach: the number is not on WhatsApp, has not
# accepted the terms, or blocked the business. Other failures (a template's parameters, rate
# limits) are the business's to fix and do not stop a debtor's trail.
_UNDELIVERABLE_CODES = {131026: "WhatsApp could not deliver to this number (131026)"}


def undeliverable_reason(send_record: Mapping[str, object]) -> str:
    """Why outbound's record of a notice says the number cannot be reached; "" if it does not.

    Meta answers the send itself with the error, or accepts it and reports a `failed` status
    later; outbound keeps the first as `error_code` and the second as `delivery_errors`.
    """
    codes: list[object] = []
    if send_record.get("status") == "failed":
        codes.append(send_record.get("error_code"))
    errors = send_record.get("delivery_errors")
    if isinstance(errors, list):
        codes.extend(e.get("code") for e in errors if isinstance(e, dict))
    for code in codes:
        if isinstance(code, int) and code in _UNDELIVERABLE_CODES:
            return _UNDELIVERABLE_CODES[code]
    return ""


def template_parameters(debt: Debt) -> list[str]:
    """The values of the billing templates: first name, invoice, amount, due date."""
    first_name = debt.customer.split()[0] if debt.customer.split() else debt.customer
    return [
        first_name,
        debt.invoice_id,
        format_brl(debt.amount),
        debt.due_date.strftime("%d/%m/%Y"),
    ]


def decide(
    snapshot: TrailSnapshot,
    *,
    now: datetime,
    policy: TrailPolicy,
    templates: Callable[[str, str], WhatsAppTemplate | None],
) -> TrailDecision:
    """What to do with this trail now: send its due step, wait, or stop it for good."""
    if snapshot.status is not TrailStatus.ACTIVE:
        return TrailDecision(action="skip", status=snapshot.status, reason="trail not active")
    if snapshot.next_due_at is None or snapshot.next_due_at > now:
        return TrailDecision(action="skip", reason="not due")
    if snapshot.opted_out:
        return TrailDecision(action="stop", status=TrailStatus.OPTED_OUT, reason="debtor opted out")
    if snapshot.undeliverable:
        return TrailDecision(
            action="stop", status=TrailStatus.UNDELIVERABLE, reason=snapshot.undeliverable
        )
    if snapshot.ticket_id is not None and (
        snapshot.ticket_with_human or snapshot.holder == "human"
    ):
        return TrailDecision(action="stop", status=TrailStatus.HUMAN, reason="a human took over")
    if snapshot.attempts >= policy.max_attempts or snapshot.next_step >= len(policy.cadence):
        return TrailDecision(
            action="stop", status=TrailStatus.EXHAUSTED, reason="no steps or attempts left"
        )
    zone = policy.zone_of(snapshot.debt)
    if snapshot.holder == "human":
        # An analyst is talking to this debtor about something else: do not talk over them.
        return TrailDecision(
            action="wait",
            reason="a human holds the conversation",
            next_step=snapshot.next_step,
            next_due_at=policy.window.next_open(now + _RETRY_LATER, zone),
        )
    if not policy.window.allows(now, zone):
        return TrailDecision(
            action="wait",
            reason="quiet hours",
            next_step=snapshot.next_step,
            next_due_at=policy.window.next_open(now, zone),
        )
    step = _step_to_send(snapshot, now=now, policy=policy)
    message = _message(snapshot, step=step, now=now, policy=policy, templates=templates)
    if isinstance(message, str):
        return TrailDecision(
            action="wait",
            reason=message,
            next_step=snapshot.next_step,
            next_due_at=policy.window.next_open(now + _RETRY_LATER, zone),
        )
    following = step + 1
    attempts = snapshot.attempts + 1
    if following >= len(policy.cadence) or attempts >= policy.max_attempts:
        return TrailDecision(
            action="send",
            status=TrailStatus.EXHAUSTED,
            reason="last step",
            step=step,
            skipped_steps=step - snapshot.next_step,
            message=message,
            next_step=following,
        )
    due = policy.step_due(snapshot.debt, snapshot.started_at, following)
    if snapshot.promised_for is not None:
        due = max(due, policy.after_promise(snapshot.debt, snapshot.promised_for))
    return TrailDecision(
        action="send",
        step=step,
        skipped_steps=step - snapshot.next_step,
        message=message,
        next_step=following,
        next_due_at=policy.window.next_open(max(due, now), zone),
    )


def _step_to_send(snapshot: TrailSnapshot, *, now: datetime, policy: TrailPolicy) -> int:
    """The latest step overdue since the trail was last due; the next one at least."""
    assert snapshot.next_due_at is not None
    step = snapshot.next_step
    for later in range(snapshot.next_step + 1, len(policy.cadence)):
        due = policy.step_due(snapshot.debt, snapshot.started_at, later)
        # Steps scheduled before the moment we were due (a promise pushed past them) are
        # not "missed": the trail resumes where it stopped.
        if due <= now and due >= snapshot.next_due_at:
            step = later
    return step


def _message(
    snapshot: TrailSnapshot,
    *,
    step: int,
    now: datetime,
    policy: TrailPolicy,
    templates: Callable[[str, str], WhatsAppTemplate | None],
) -> OutboundMessage | str:
    """The step's notice: free text inside the 24-hour window, the template outside it."""
    return _text_or_template(
        snapshot,
        key=f"trail:{snapshot.debt.invoice_id}:{snapshot.attempts + 1}",
        name=policy.template_for(step),
        values=template_parameters(snapshot.debt),
        at=now,
        policy=policy,
        templates=templates,
    )


class Receipt(NamedTuple):
    """A payment's thanks and the earliest moment it may go out (quiet hours)."""

    message: OutboundMessage
    not_before: datetime


def payment_receipt(
    snapshot: TrailSnapshot,
    *,
    amount: Decimal,
    now: datetime,
    policy: TrailPolicy,
    templates: Callable[[str, str], WhatsAppTemplate | None],
) -> Receipt | str:
    """The thanks for a payment, or why none goes.

    Only a debtor the trail has written to is thanked: one who never heard of the debt here
    would not know what the message is about. A debtor who opted out or cannot be reached
    gets nothing, and neither does a conversation an analyst holds (the AI stays quiet there).
    """
    if not policy.receipt_template:
        return "receipts are turned off"
    if snapshot.attempts == 0:
        return "the trail never wrote to this debtor"
    if snapshot.opted_out:
        return "debtor opted out"
    if snapshot.undeliverable:
        return snapshot.undeliverable
    if snapshot.holder == "human":
        return "a human holds the conversation"
    # Payments settle at night too (bank batches): the thanks waits for the morning.
    not_before = policy.window.next_open(now, policy.zone_of(snapshot.debt))
    message = _text_or_template(
        snapshot,
        key=f"trail:{snapshot.debt.invoice_id}:paid",
        name=policy.receipt_template,
        values=[*template_parameters(snapshot.debt)[:2], format_brl(amount)],
        at=not_before,
        policy=policy,
        templates=templates,
    )
    return message if isinstance(message, str) else Receipt(message, not_before)


def _text_or_template(
    snapshot: TrailSnapshot,
    *,
    key: str,
    name: str,
    values: list[str],
    at: datetime,
    policy: TrailPolicy,
    templates: Callable[[str, str], WhatsAppTemplate | None],
) -> OutboundMessage | str:
    """Free text if the 24-hour window is still open at `at`, else the approved template."""
    template = templates(name, policy.language)
    if template is None or template.status is not TemplateStatus.APPROVED:
        return f"template {name} ({policy.language}) is not registered as approved"
    try:
        text = template.fill(values)
    except TemplateError as error:
        return f"template {name} does not fit the billing values: {error}"
    debt = snapshot.debt
    last = snapshot.last_customer_message_at
    in_window = last is not None and at - last < CUSTOMER_SERVICE_WINDOW
    message = OutboundMessage(
        idempotency_key=key,
        conversation_id=conversation_id_for(snapshot.phone_number_id, debt.phone),
        phone_number_id=snapshot.phone_number_id,
        to=debt.phone,
        text=text,
        last_customer_message_at=last,
    )
    if in_window:
        return message
    return message.model_copy(
        update={
            "kind": "template",
            "template_name": name,
            "template_language": policy.language,
            "template_parameters": values,
        }
    )
