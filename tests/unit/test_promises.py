"""Promises to pay read off Portuguese messages: which are promises, and the day each names."""

from __future__ import annotations

from datetime import date

import pytest

from shared.domain.promises import PromiseReading, mentioned_date, promised_date, read_promise

# Wednesday.
TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Relative days.
        ("vou pagar hoje", date(2026, 11, 25)),
        ("consigo pagar amanhã", date(2026, 11, 26)),
        ("CONSIGO PAGAR AMANHA", date(2026, 11, 26)),
        ("pago depois de amanhã", date(2026, 11, 27)),
        ("vou pagar daqui a 3 dias", date(2026, 11, 28)),
        # Weekdays: the next one to come; today's weekday is a week later.
        ("pago sexta", date(2026, 11, 27)),
        ("eu pago na sexta-feira", date(2026, 11, 27)),
        ("pago sexta feira", date(2026, 11, 27)),
        ("vou pagar segunda", date(2026, 11, 30)),
        ("pago sábado", date(2026, 11, 28)),
        ("vou pagar quarta", date(2026, 12, 2)),
        # "dia N": this month while it is ahead, next month once passed.
        ("vou pagar dia 30", date(2026, 11, 30)),
        ("vou pagar dia 25", date(2026, 11, 25)),
        ("vou pagar dia 5", date(2026, 12, 5)),
        ("pago dia 1º", date(2026, 12, 1)),
        ("pago dia primeiro", date(2026, 12, 1)),
        ("vou pagar dia 28 do mês que vem", date(2026, 12, 28)),
        # Written dates.
        ("posso pagar no dia 05/12", date(2026, 12, 5)),
        ("posso pagar no dia 05/12?", date(2026, 12, 5)),
        ("pago 5/12", date(2026, 12, 5)),
        ("pago 10-12", date(2026, 12, 10)),
        ("vou pagar 05/12/2026", date(2026, 12, 5)),
        ("vou pagar 05/12/26", date(2026, 12, 5)),
        ("vou pagar dia 10 de dezembro", date(2026, 12, 10)),
        ("vou pagar 2 de janeiro", date(2027, 1, 2)),
        # Year rollover: a day and month already past this year is next year's.
        ("consigo pagar 10/01", date(2027, 1, 10)),
        ("só consigo quitar em 20/11", date(2027, 11, 20)),
        # A day ruled out is not the promised one.
        ("hoje não dá, pago sexta", date(2026, 11, 27)),
        ("ainda não paguei, mas pago amanhã", date(2026, 11, 26)),
        # Other ways of committing.
        ("semana que vem não, mas dia 2 eu pago", date(2026, 12, 2)),
        ("pagarei dia 30", date(2026, 11, 30)),
        ("faço o pix amanhã", date(2026, 11, 26)),
        ("dá pra pagar dia 10?", date(2026, 12, 10)),
        ("quero a segunda via, pago segunda", date(2026, 11, 30)),
    ],
)
def test_promised_dates(text: str, expected: date) -> None:
    assert promised_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text",
    [
        # Past payments: a dispute, not a promise.
        "paguei dia 10",
        "já paguei ontem",
        "o boleto foi pago dia 10",
        "já está pago desde sexta",
        # Refusals.
        "não vou pagar dia 30",
        "nao consigo pagar amanha",
        "não pago sexta",
        # No commitment.
        "sexta",
        "meu boleto vence dia 30?",
        "preciso do pix copia e cola pra pagar a fatura do cartao",
        "posso pagar a divida usando o saldo de cashback do app?",
        "meu boleto venceu semana passada, o banco ainda aceita?",
        "quero a segunda via do boleto",
        "vou pagar",
        # Ordinals are not weekdays.
        "vou pagar a segunda via",
        "pago a quarta parcela",
        # Impossible days: the promise has no date (asked again).
        "vou pagar dia 31",
        "vou pagar 30/02",
        "vou pagar dia 32",
    ],
)
def test_no_promised_date(text: str) -> None:
    assert promised_date(text, TODAY) is None


@pytest.mark.parametrize(
    "text",
    [
        "semana que vem eu pago",
        "vou pagar semana que vem, pode ser?",
        "pago no fim do mês",
        "pago quando receber o salário",
        "consigo pagar mês que vem",
        "vou pagar dia 31",
    ],
)
def test_a_promise_without_a_day(text: str) -> None:
    assert read_promise(text, TODAY) == PromiseReading(None)


@pytest.mark.parametrize(
    "text",
    ["paguei semana passada", "quero a segunda via", "sexta", "obrigado", "não pago mês que vem"],
)
def test_no_promise_at_all(text: str) -> None:
    assert read_promise(text, TODAY) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sexta", PromiseReading(date(2026, 11, 27))),
        ("dia 5", PromiseReading(date(2026, 12, 5))),
        ("05/12", PromiseReading(date(2026, 12, 5))),
        ("amanhã", PromiseReading(date(2026, 11, 26))),
        ("semana que vem", PromiseReading(None)),
        ("quero a segunda via", None),
    ],
)
def test_an_answer_to_which_day_needs_no_verb(text: str, expected: PromiseReading | None) -> None:
    assert read_promise(text, TODAY, asked=True) == expected


def test_month_rollover_at_the_end_of_the_year() -> None:
    new_years_eve = date(2026, 12, 31)
    assert promised_date("vou pagar dia 5", new_years_eve) == date(2027, 1, 5)
    assert promised_date("pago amanhã", new_years_eve) == date(2027, 1, 1)
    assert promised_date("pago 02/01", new_years_eve) == date(2027, 1, 2)


def test_a_day_missing_from_next_month_is_no_date() -> None:
    # On 31 January "dia 30" has passed, and February has no 30th.
    assert promised_date("vou pagar dia 30", date(2027, 1, 31)) is None
    assert promised_date("vou pagar dia 29", date(2028, 1, 30)) == date(2028, 2, 29)


def test_mentioned_date_reads_the_first_day_named() -> None:
    assert mentioned_date("dia 30 ou sexta", TODAY) == date(2026, 11, 30)
    assert mentioned_date("nada aqui", TODAY) is None
