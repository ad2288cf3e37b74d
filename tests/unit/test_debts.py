"""Debts as the billing system sends them: the import files, validation, opt-out words."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.domain.billing import (
    Debt,
    DebtorAction,
    InstalmentPolicy,
    PaymentEvent,
    format_brl,
    is_opt_out,
    read_debts,
    validation_problems,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_the_sample_file_is_four_valid_debts() -> None:
    read = read_debts(SAMPLES / "debts.csv")
    assert read.problems == []
    assert [d.amount for d in read.debts] == [
        Decimal("189.90"),
        Decimal("420.00"),
        Decimal("75.50"),
        Decimal("1250.00"),
    ]
    assert read.debts[2].pix_code is None and read.debts[2].payment_link


def test_csv_and_jsonl_lines_are_checked_one_by_one(tmp_path: Path) -> None:
    csv_file = tmp_path / "debts.csv"
    csv_file.write_text(
        "invoice_id,customer,phone,amount,due_date,payment_link,pix_code\n"
        'A-1,Ana,+55 (11) 98888-0101,"1.234,56",2026-11-10,https://p.example/a,\n'
        "A-2,Bia,123,10,2026-11-10,,PIX\n"
        "A-3,Caio,5511988880103,-5,2026-11-10,,PIX\n"
        "A-4,Duda,5511988880104,10,2026-11-10,,\n"
        "A-1,Ana,5511988880101,10,2026-11-10,,PIX\n"
        "A 5,Eva,5511988880105,10,31/12/2026,ftp://x,PIX\n",
        encoding="utf-8",
    )
    read = read_debts(csv_file)
    assert [(d.invoice_id, d.phone, d.amount) for d in read.debts] == [
        ("A-1", "5511988880101", Decimal("1234.56"))
    ]
    problems = dict(read.problems)
    assert "phone" in problems[3] and "E.164" in problems[3]
    assert "amount" in problems[4]
    assert "payment_link or a pix_code" in problems[5]
    assert "repeats line 2" in problems[6]
    assert all(field in problems[7] for field in ("invoice_id", "due_date", "payment_link"))
    jsonl = tmp_path / "debts.jsonl"
    jsonl.write_text(
        json.dumps(
            {
                "invoice_id": "J-1",
                "customer": "Júlia",
                "phone": "5521999990000",
                "amount": 99.9,
                "due_date": "2026-12-01",
                "pix_code": "PIX",
                "time_zone": "America/Manaus",
            }
        )
        + "\nnot json\n",
        encoding="utf-8",
    )
    read = read_debts(jsonl)
    assert read.debts[0].amount == Decimal("99.90") and read.debts[0].time_zone == "America/Manaus"
    assert read.problems[0][0] == 2 and "not JSON" in read.problems[0][1]


def test_a_problem_never_echoes_the_phone_number() -> None:
    with pytest.raises(ValidationError) as error:
        Debt.model_validate(
            {
                "invoice_id": "X",
                "customer": "X",
                "phone": "99887766",
                "amount": 1,
                "due_date": "2026-01-01",
                "pix_code": "P",
            }
        )

    assert "99887766" not in validation_problems(error.value)


@pytest.mark.parametrize(
    "text",
    [
        "PARAR",
        "parar.",
        "Pare",
        "sair",
        "Stop!",
        "não quero mais receber essas mensagens",
        "Parem de me mandar mensagem",
        "me tire dessa lista",
        "quero sair da lista",
        "NÃO ME MANDEM MAIS NADA",
    ],
)
def test_opt_out_words(text: str) -> None:
    assert is_opt_out(text)


@pytest.mark.parametrize(
    "text",
    [
        "quero pagar",
        "para quando é o vencimento?",
        "vou sair do trabalho e pago",
        "me manda o pix para pagar",
        "posso parar de pagar o plano?",
    ],
)
def test_not_opt_out(text: str) -> None:
    assert not is_opt_out(text)


def test_instalments_stay_within_the_policy() -> None:
    policy = InstalmentPolicy(max_instalments=3, min_instalment=Decimal("50.00"))
    assert policy.allowed(Decimal("420.00")) == 3
    assert policy.allowed(Decimal("120.00")) == 2
    assert policy.allowed(Decimal("75.50")) == 1
    assert policy.instalment_value(Decimal("100.00"), 3) == Decimal("33.33")
    assert format_brl(Decimal("1250")) == "R$ 1.250,00"
    assert format_brl(Decimal("0.5")) == "R$ 0,50"


def test_actions_and_payment_events_are_complete() -> None:
    assert DebtorAction(kind="promise", promised_for=date(2026, 12, 1)).promised_for
    with pytest.raises(ValidationError, match="promised_for"):
        DebtorAction(kind="promise")
    with pytest.raises(ValidationError, match="instalments"):
        DebtorAction(kind="instalments")
    event = PaymentEvent.model_validate({"invoice_id": "A-1", "amount_paid": 10.5})
    assert event.status == "paid" and event.amount_paid == Decimal("10.50")
    with pytest.raises(ValidationError, match="offset"):
        PaymentEvent.model_validate({"invoice_id": "A-1", "paid_at": "2026-11-25T10:00:00"})
    with pytest.raises(ValidationError):
        PaymentEvent.model_validate({"invoice_id": "A-1", "status": "refunded"})
