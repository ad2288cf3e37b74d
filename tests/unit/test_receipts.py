"""Facts read off receipt text, and order numbers in customers' messages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from shared.domain.receipts import ReceiptFacts, format_brl, order_numbers_in, receipt_facts

# What RapidOCR gave for shared.localstack.receipts.render_receipt(): spaces dropped here and
# there, a price on a tilted line read as its own box and joined back.
OCR_RECEIPT = """LOJAEXEMPLOCENTRO
CNPJ12.345.678/0001-90
--------------------------------
Pedido:482913
Data:12/11/2026
1x Camiseta basicaR$ 59,90
1x Calca jeans R$ 130,00
Total: R$ 189,90
Pagamento:PIX
Obrigadopela preferencia!"""


def test_facts_of_an_ocr_receipt() -> None:
    facts = receipt_facts(OCR_RECEIPT)
    assert facts.order_numbers == ("482913",)
    assert facts.amounts == (Decimal("59.90"), Decimal("130.00"), Decimal("189.90"))
    assert facts.total == Decimal("189.90")
    assert facts.dates == (date(2026, 11, 12),)
    assert facts.describe() == "Imagem com texto: pedido 482913, total R$ 189,90, data 12/11/2026"


@pytest.mark.parametrize(
    "text",
    [
        "Pedido: 482913",
        "Pedido:482913",
        "PEDIDO Nº 482913",
        "PEDIDONº482913",
        "PEDIDO N°: 482913",
        "Pedido No. 482913",
        "Pedido N.º 482913",
        "Nº do pedido: 482913",
        "N°dopedido 482913",
        "Número do Pedido 482913",
        "pedido n. 482913",
        "Order 482913",
        "ORDER #482913",
        "Order No. 482913",
        "Pedido\n482913",
    ],
)
def test_labelled_order_numbers_on_receipts(text: str) -> None:
    assert receipt_facts(text).order_numbers == ("482913",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("meu pedido é 482913", ("482913",)),
        ("pedido #482913", ("482913",)),
        ("o pedido 482913 não chegou ainda", ("482913",)),
        ("Qual o status do pedido nº 48291377?", ("48291377",)),
        ("o número do meu pedido é 482913", ("482913",)),
        ("pedidos 482913 e 482914", ("482913", "482914")),
        ("pedido 482913, pedido 482913 de novo", ("482913",)),
        ("comprei ontem e nada", ()),
    ],
)
def test_order_numbers_in_customer_messages(text: str, expected: tuple[str, ...]) -> None:
    assert order_numbers_in(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # phone numbers
        "meu telefone é (11) 98765-4321",
        "me liga no 11987654321",
        "pedido feito pelo whats +55 11 98765-4321",
        "pedido 98765-4321",
        "pedido: (11) 98765-4321",
        "pedido 11987654321",
        # CPF and CNPJ
        "meu cpf é 123.456.789-09",
        "cpf 12345678909 do pedido",
        "pedido no CNPJ 12.345.678/0001-90",
        # CEP
        "cep 01310-100",
        "pedido para o cep 01310100",
        # amounts, dates, short numbers, other words
        "pedido no valor de R$ 1.234,56",
        "pedido de 12345 reais",
        "pedido feito em 12/11/2026",
        "pedido n 1234",
        "border 123456",
        "482913",
    ],
)
def test_no_false_order_numbers(text: str) -> None:
    assert order_numbers_in(text) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("482913", ("482913",)),
        ("#482913", ("482913",)),
        ("nº 482913.", ("482913",)),
        # A mobile number without its area code is not taken even when asked.
        ("987654321", ()),
        ("(11) 98765-4321", ()),
        ("123.456.789-09", ()),
        ("é o 482913 eu acho", ()),
    ],
)
def test_bare_number_counts_only_when_asked(text: str, expected: tuple[str, ...]) -> None:
    assert order_numbers_in(text, asked=True) == expected


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("R$ 1.234,56", Decimal("1234.56")),
        ("R$189,90", Decimal("189.90")),
        ("RS 189,90", Decimal("189.90")),
        ("R$ 50", Decimal("50.00")),
        ("R$ 189.90", Decimal("189.90")),
        ("R$ 1.234", Decimal("1234.00")),
        ("valor R$ 89,90, pago", Decimal("89.90")),
    ],
)
def test_amounts(text: str, amount: Decimal) -> None:
    assert receipt_facts(text).amounts == (amount,)


def test_total_skips_subtotal_and_takes_the_last_total() -> None:
    facts = receipt_facts(
        "Subtotal R$ 1.234,56\nDesconto R$ 34,56\nTOTAL A PAGAR 1.200,00\nVolte sempre"
    )
    assert facts.amounts == (Decimal("1234.56"), Decimal("34.56"), Decimal("1200.00"))
    assert facts.total == Decimal("1200.00")


def test_amounts_without_a_total_are_described_as_values() -> None:
    facts = receipt_facts("Camiseta R$ 59,90\nCalça R$ 130,00")
    assert facts.total is None
    assert facts.describe() == "Imagem com texto: valores R$ 59,90 e R$ 130,00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Data:12/11/2026", date(2026, 11, 12)),
        ("emitido em 12/11/26 14:32", date(2026, 11, 12)),
        ("5.1.2026", date(2026, 1, 5)),
        ("12-11-2026", date(2026, 11, 12)),
    ],
)
def test_dates(text: str, expected: date) -> None:
    assert receipt_facts(text).dates == (expected,)


@pytest.mark.parametrize(
    "text", ["31/02/2026", "12/11-2026", "CNPJ 12.345.678/0001-90", "CPF 123.456.789-09"]
)
def test_not_dates(text: str) -> None:
    assert receipt_facts(text).dates == ()


def test_nothing_found() -> None:
    facts = receipt_facts("Obrigado pela preferência!")
    assert facts == ReceiptFacts()
    assert facts.empty
    assert facts.describe() == "Imagem com texto, sem pedido, valor ou data reconhecíveis"


def test_several_orders_are_listed() -> None:
    facts = receipt_facts("Pedido 482913\nPedido 482914\nTotal R$ 10,00")
    assert facts.describe() == "Imagem com texto: pedidos 482913 e 482914, total R$ 10,00"


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("189.9"), "R$ 189,90"),
        (Decimal("1234567.5"), "R$ 1.234.567,50"),
        (Decimal("0.5"), "R$ 0,50"),
    ],
)
def test_format_brl(amount: Decimal, text: str) -> None:
    assert format_brl(amount) == text
