"""The reminder trail's schedule, quiet hours and per-tick decision, with fixed instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shared.billing_policy import trail_policy
from shared.domain.billing import Debt, TrailStatus
from shared.domain.trail import (
    Receipt,
    SendWindow,
    TrailPolicy,
    TrailSnapshot,
    decide,
    parse_cadence,
    parse_days,
    payment_receipt,
    template_parameters,
    undeliverable_reason,
)
from shared.domain.whatsapp_templates import (
    TemplateCategory,
    TemplateStatus,
    WhatsAppTemplate,
    read_templates,
)
from shared.settings import Settings

SP = ZoneInfo("America/Sao_Paulo")
BODY = "Olá, {{1}}! A fatura {{2}} de {{3}} venceu em {{4}}."
NAMES = ["nome", "fatura", "valor", "vencimento"]


def _template(name: str, status: TemplateStatus = TemplateStatus.APPROVED) -> WhatsAppTemplate:
    return WhatsAppTemplate(
        name=name,
        category=TemplateCategory.UTILITY,
        body=BODY,
        parameters=NAMES,
        status=status,
    )


TEMPLATES = {
    ("cobranca_aviso", "pt_BR"): _template("cobranca_aviso"),
    ("cobranca_lembrete", "pt_BR"): _template("cobranca_lembrete"),
    ("cobranca_pagamento", "pt_BR"): WhatsAppTemplate(
        name="cobranca_pagamento",
        category=TemplateCategory.UTILITY,
        body="{{1}}, recebemos {{3}} da fatura {{2}}. Obrigada!",
        parameters=["nome", "fatura", "valor"],
        status=TemplateStatus.APPROVED,
    ),
}


def _lookup(name: str, language: str) -> WhatsAppTemplate | None:
    return TEMPLATES.get((name, language))


def sp(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """An instant given in São Paulo time."""
    return datetime(year, month, day, hour, minute, tzinfo=SP)


DEBT = Debt(
    invoice_id="FAT-1",
    customer="Ana Souza",
    phone="5511988880101",
    amount=Decimal("189.90"),
    due_date=date(2026, 11, 23),  # a Monday
    pix_code="000201PIX",
)
POLICY = TrailPolicy()


def _snapshot(**changes: object) -> TrailSnapshot:
    started = sp(2026, 11, 20, 9)
    values: dict[str, object] = {
        "debt": DEBT,
        "status": TrailStatus.ACTIVE,
        "started_at": started,
        "next_step": 0,
        "next_due_at": POLICY.first_due(DEBT, started),
        "phone_number_id": "100000000000002",
    }
    values.update(changes)
    return TrailSnapshot.model_validate(values)


def test_cadence_and_days_parse_what_the_settings_hold() -> None:
    assert parse_cadence("0d,2d,5d,10d") == tuple(timedelta(days=d) for d in (0, 2, 5, 10))
    assert parse_cadence("0s, 30s, 1m, 2h") == (
        timedelta(0),
        timedelta(seconds=30),
        timedelta(minutes=1),
        timedelta(hours=2),
    )
    assert parse_days("mon-sat") == frozenset(range(6))
    assert parse_days("mon,wed,fri") == frozenset({0, 2, 4})
    assert parse_days("sat-mon") == frozenset({5, 6, 0})
    for bad in ("", "2x", "2d,1d"):
        with pytest.raises(ValueError, match="cadence"):
            parse_cadence(bad)
    with pytest.raises(ValueError, match="days"):
        parse_days("funday")


def test_the_default_window_is_08_to_20_monday_to_saturday_without_holidays() -> None:
    window = SendWindow()
    assert window.allows(sp(2026, 11, 24, 8, 0), SP)  # Tuesday 08:00
    assert window.allows(sp(2026, 11, 28, 19, 59), SP)  # Saturday 19:59
    assert not window.allows(sp(2026, 11, 24, 20, 0), SP)
    assert not window.allows(sp(2026, 11, 24, 7, 59), SP)
    assert not window.allows(sp(2026, 11, 29, 12), SP)  # Sunday
    assert not window.allows(sp(2026, 12, 25, 12), SP)  # Christmas, a Friday
    assert not window.allows(sp(2026, 11, 20, 12), SP)  # Black Awareness Day (national)
    # Quiet hours are the debtor's: 10:00 in São Paulo is 13:00 UTC.
    assert window.allows(datetime(2026, 11, 24, 13, 0, tzinfo=UTC), SP)
    assert not window.allows(datetime(2026, 11, 24, 13, 0, tzinfo=UTC), ZoneInfo("Asia/Tokyo"))


def test_next_open_skips_the_night_sundays_and_holidays() -> None:
    window = SendWindow()
    assert window.next_open(sp(2026, 11, 24, 22), SP) == sp(2026, 11, 25, 8)
    assert window.next_open(sp(2026, 11, 24, 6), SP) == sp(2026, 11, 24, 8)
    assert window.next_open(sp(2026, 11, 28, 21), SP) == sp(2026, 11, 30, 8)  # Sat → Mon
    # Thursday night before Christmas: Friday is a holiday, Saturday opens.
    assert window.next_open(sp(2026, 12, 24, 21), SP) == sp(2026, 12, 26, 8)
    extra = SendWindow(extra_holidays=frozenset({date(2026, 11, 26)}), holidays_region=None)
    assert extra.next_open(sp(2026, 11, 25, 21), SP) == sp(2026, 11, 27, 8)
    always = SendWindow(start=time(0, 0), end=time(0, 0), days=frozenset(range(7)))
    assert always.allows(sp(2026, 11, 29, 3), SP)


def test_settings_build_the_policy_and_name_a_bad_one() -> None:
    policy = trail_policy(
        Settings(
            followup_cadence="0d,3d",
            followup_send_window="09:00-18:00",
            followup_send_days="mon-fri",
            followup_holidays="BR-SP",
            followup_extra_holidays="2026-12-24",  # type: ignore[arg-type]
        )
    )
    assert policy.cadence == (timedelta(0), timedelta(days=3))
    assert policy.window.start == time(9) and policy.window.end == time(18)
    assert policy.window.is_holiday(date(2026, 7, 9))  # São Paulo's own holiday
    assert policy.window.is_holiday(date(2026, 12, 24))
    with pytest.raises(ValueError, match="FOLLOWUP_SEND_WINDOW"):
        trail_policy(Settings(followup_send_window="20:00-08:00"))


def test_a_due_step_outside_the_window_is_sent_as_the_template() -> None:
    now = sp(2026, 11, 23, 8, 5)
    decision = decide(_snapshot(), now=now, policy=POLICY, templates=_lookup)
    assert decision.action == "send" and decision.step == 0
    message = decision.message
    assert message is not None
    assert message.kind == "template" and message.template_name == "cobranca_aviso"
    assert message.template_parameters == ["Ana", "FAT-1", "R$ 189,90", "23/11/2026"]
    assert message.to == "5511988880101"
    assert message.conversation_id == "100000000000002:5511988880101"
    assert message.idempotency_key == "trail:FAT-1:1"
    # The next step is D+2 from the due date, at the window's opening at the earliest.
    assert decision.next_step == 1
    assert decision.next_due_at == sp(2026, 11, 25, 8)


def test_inside_the_24_hour_window_the_notice_is_free_text() -> None:
    now = sp(2026, 11, 25, 9)
    snapshot = _snapshot(
        next_step=1,
        next_due_at=sp(2026, 11, 25, 8),
        attempts=1,
        last_customer_message_at=now - timedelta(hours=23),
    )
    decision = decide(snapshot, now=now, policy=POLICY, templates=_lookup)
    assert decision.message is not None and decision.message.kind == "text"
    assert decision.message.text == "Olá, Ana! A fatura FAT-1 de R$ 189,90 venceu em 23/11/2026."
    stale = snapshot.model_copy(update={"last_customer_message_at": now - timedelta(hours=25)})
    decision = decide(stale, now=now, policy=POLICY, templates=_lookup)
    assert decision.message is not None and decision.message.kind == "template"
    assert decision.message.template_name == "cobranca_lembrete"


def test_quiet_hours_make_a_due_step_wait_for_the_morning() -> None:
    decision = decide(_snapshot(), now=sp(2026, 11, 23, 21), policy=POLICY, templates=_lookup)
    assert decision.action == "wait" and decision.reason == "quiet hours"
    assert decision.next_due_at == sp(2026, 11, 24, 8)
    assert decision.message is None


def test_a_step_not_yet_due_is_left_alone() -> None:
    decision = decide(_snapshot(), now=sp(2026, 11, 22, 10), policy=POLICY, templates=_lookup)
    assert decision.action == "skip" and decision.reason == "not due"


def test_missed_ticks_send_only_the_latest_overdue_step() -> None:
    # D+0 was sent; the ticks of D+2 and D+5 were all missed; it is now D+6.
    snapshot = _snapshot(next_step=1, next_due_at=sp(2026, 11, 25, 8), attempts=1)
    decision = decide(snapshot, now=sp(2026, 11, 29 + 1, 10), policy=POLICY, templates=_lookup)
    assert decision.action == "send"
    assert decision.step == 2 and decision.skipped_steps == 1
    assert decision.next_step == 3
    assert decision.next_due_at == sp(2026, 12, 3, 8)


def test_a_promise_defers_the_next_step_without_counting_it_missed() -> None:
    # Promised for 27/11: the step after the promise waits for the morning of the 28th.
    snapshot = _snapshot(
        next_step=1,
        next_due_at=sp(2026, 11, 28, 8),
        attempts=1,
        promised_for=date(2026, 11, 27),
    )
    assert decide(snapshot, now=sp(2026, 11, 27, 19), policy=POLICY, templates=_lookup).action == (
        "skip"
    )
    decision = decide(snapshot, now=sp(2026, 11, 28, 8), policy=POLICY, templates=_lookup)
    assert decision.action == "send" and decision.step == 1 and decision.skipped_steps == 0
    assert POLICY.after_promise(DEBT, date(2026, 11, 27)) == sp(2026, 11, 28, 8)


def test_opt_out_and_a_human_stop_the_trail() -> None:
    now = sp(2026, 11, 23, 10)
    opted = decide(_snapshot(opted_out=True), now=now, policy=POLICY, templates=_lookup)
    assert (opted.action, opted.status) == ("stop", TrailStatus.OPTED_OUT)
    taken = decide(
        _snapshot(ticket_id="T-1", ticket_with_human=True),
        now=now,
        policy=POLICY,
        templates=_lookup,
    )
    assert (taken.action, taken.status) == ("stop", TrailStatus.HUMAN)
    # Before the trail started, an analyst talking to the debtor only delays it.
    busy = decide(_snapshot(holder="human"), now=now, policy=POLICY, templates=_lookup)
    assert busy.action == "wait" and busy.next_due_at == now + timedelta(hours=1)
    paid = decide(_snapshot(status=TrailStatus.PAID), now=now, policy=POLICY, templates=_lookup)
    assert paid.action == "skip"


def test_the_last_step_or_the_attempt_cap_exhausts_the_trail() -> None:
    now = sp(2026, 12, 3, 10)
    last = _snapshot(next_step=3, next_due_at=sp(2026, 12, 3, 8), attempts=3)
    decision = decide(last, now=now, policy=POLICY, templates=_lookup)
    assert decision.action == "send" and decision.status is TrailStatus.EXHAUSTED
    assert decision.next_due_at is None
    capped = TrailPolicy(max_attempts=2)
    decision = decide(
        _snapshot(next_step=1, next_due_at=sp(2026, 11, 25, 8), attempts=2),
        now=sp(2026, 11, 25, 9),
        policy=capped,
        templates=_lookup,
    )
    assert (decision.action, decision.status) == ("stop", TrailStatus.EXHAUSTED)


def test_an_unapproved_template_holds_the_step_and_says_which() -> None:
    pending = {("cobranca_aviso", "pt_BR"): _template("cobranca_aviso", TemplateStatus.PENDING)}
    decision = decide(
        _snapshot(),
        now=sp(2026, 11, 23, 10),
        policy=POLICY,
        templates=lambda name, language: pending.get((name, language)),
    )
    assert decision.action == "wait"
    assert "cobranca_aviso" in decision.reason and "approved" in decision.reason
    assert decision.next_due_at == sp(2026, 11, 23, 11)


def test_a_debt_imported_overdue_starts_its_trail_at_once() -> None:
    imported = sp(2026, 11, 25, 15)
    assert POLICY.anchor(DEBT, imported) == imported
    assert POLICY.first_due(DEBT, imported) == imported
    assert POLICY.step_due(DEBT, imported, 1) == imported + timedelta(days=2)
    # Due in the future: day zero is the due date, the first notice at the window's opening.
    later = DEBT.model_copy(update={"due_date": date(2026, 12, 1)})
    assert POLICY.first_due(later, imported) == sp(2026, 12, 1, 8)
    assert template_parameters(later)[3] == "01/12/2026"


def test_an_unreachable_number_stops_the_trail_and_other_failures_do_not() -> None:
    assert "131026" in undeliverable_reason({"status": "failed", "error_code": 131026})
    assert "131026" in undeliverable_reason({"delivery_errors": [{"code": 131026}]})
    assert undeliverable_reason({"status": "failed", "error_code": 132000}) == ""
    assert undeliverable_reason({"status": "sent", "error_code": 131026}) == ""
    assert undeliverable_reason({}) == ""
    decision = decide(
        _snapshot(undeliverable="WhatsApp could not deliver to this number (131026)"),
        now=sp(2026, 11, 23, 10),
        policy=POLICY,
        templates=_lookup,
    )
    assert (decision.action, decision.status) == ("stop", TrailStatus.UNDELIVERABLE)


def test_the_sample_templates_fit_the_billing_values(tmp_path: Path) -> None:
    samples = read_templates(
        Path(__file__).resolve().parents[2] / "samples/whatsapp_templates.jsonl"
    )
    assert [t.name for t in samples] == [*POLICY.templates, POLICY.receipt_template]
    for template in samples:
        assert template.status is TemplateStatus.APPROVED
    for template in samples[:-1]:
        assert "R$ 189,90" in template.fill(template_parameters(DEBT))
    thanks = payment_receipt(
        _snapshot(attempts=1),
        amount=Decimal("150"),
        now=sp(2026, 11, 24, 10),
        policy=POLICY,
        templates=lambda name, _language: samples[-1] if name == samples[-1].name else None,
    )
    assert isinstance(thanks, Receipt)
    assert thanks.message.template_parameters == ["Ana", "FAT-1", "R$ 150,00"]
    broken = tmp_path / "t.jsonl"
    broken.write_text(samples[0].model_dump_json() + "\n\n" + '{"name": "Bad Name"}\n')
    with pytest.raises(ValueError, match=r"t\.jsonl:3: name: String should match"):
        read_templates(broken)


def test_a_payment_is_thanked_as_text_in_the_window_and_as_the_template_outside() -> None:
    now = sp(2026, 11, 24, 10)
    wrote = _snapshot(attempts=1, last_customer_message_at=now - timedelta(hours=2))
    thanks = payment_receipt(
        wrote, amount=Decimal("150.00"), now=now, policy=POLICY, templates=_lookup
    )
    assert isinstance(thanks, Receipt)
    assert thanks.not_before == now
    assert thanks.message.kind == "text"
    assert thanks.message.text == "Ana, recebemos R$ 150,00 da fatura FAT-1. Obrigada!"
    assert thanks.message.idempotency_key == "trail:FAT-1:paid"
    assert thanks.message.conversation_id == "100000000000002:5511988880101"
    silent = payment_receipt(
        _snapshot(attempts=2), amount=Decimal("189.90"), now=now, policy=POLICY, templates=_lookup
    )
    assert isinstance(silent, Receipt) and silent.message.kind == "template"
    assert silent.message.template_name == "cobranca_pagamento"
    assert silent.message.template_parameters == ["Ana", "FAT-1", "R$ 189,90"]


def test_a_payment_reported_at_night_is_thanked_in_the_morning() -> None:
    night = sp(2026, 11, 24, 23, 30)
    # She wrote at 09:00: the window is still open at 08:00, so the morning's thanks is text.
    snapshot = _snapshot(attempts=1, last_customer_message_at=sp(2026, 11, 24, 9))
    thanks = payment_receipt(
        snapshot, amount=Decimal("1"), now=night, policy=POLICY, templates=_lookup
    )
    assert isinstance(thanks, Receipt)
    assert thanks.not_before == sp(2026, 11, 25, 8)
    assert thanks.message.kind == "text"
    # Wrote at 07:00: by 08:00 the next day the window has closed; the template goes.
    early = snapshot.model_copy(update={"last_customer_message_at": sp(2026, 11, 24, 7)})
    thanks = payment_receipt(
        early, amount=Decimal("1"), now=night, policy=POLICY, templates=_lookup
    )
    assert isinstance(thanks, Receipt) and thanks.message.kind == "template"


@pytest.mark.parametrize(
    ("changes", "policy", "reason"),
    [
        ({"attempts": 0}, POLICY, "the trail never wrote to this debtor"),
        ({"opted_out": True}, POLICY, "debtor opted out"),
        ({"holder": "human"}, POLICY, "a human holds the conversation"),
        (
            {"undeliverable": "WhatsApp could not deliver to this number (131026)"},
            POLICY,
            "WhatsApp could not deliver to this number (131026)",
        ),
        ({}, TrailPolicy(receipt_template=""), "receipts are turned off"),
        (
            {},
            TrailPolicy(receipt_template="cobranca_obrigado"),
            "template cobranca_obrigado (pt_BR) is not registered as approved",
        ),
    ],
)
def test_no_thanks_where_it_would_not_be_welcome_or_cannot_go(
    changes: dict[str, object], policy: TrailPolicy, reason: str
) -> None:
    snapshot = _snapshot(**({"attempts": 1} | changes))
    thanks = payment_receipt(
        snapshot, amount=Decimal("1"), now=sp(2026, 11, 24, 10), policy=policy, templates=_lookup
    )
    assert thanks == reason
