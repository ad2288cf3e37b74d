"""Business records the tools hub serves: orders, invoices, stores and service requests.

These are what an ERP or CRM knows; `shared.ports.BusinessData` is where one plugs in. The
demo's records live in samples/business.json (shared.adapters.business_json).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    computed_field,
)

__all__ = [
    "INVOICE_STATUS_LABELS",
    "ORDER_STATUS_LABELS",
    "Invoice",
    "InvoiceStatus",
    "Money",
    "Order",
    "OrderItem",
    "OrderStatus",
    "ServiceRequest",
    "Store",
    "brl",
    "fold_text",
    "normalize_phone",
]

_CENT = Decimal("0.01")


def _two_places(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("an amount cannot be negative")
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


# Reais with two decimals; serialized as the string "189.90" so no float ever rounds it.
Money = Annotated[
    Decimal,
    AfterValidator(_two_places),
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str),
]


def brl(amount: Decimal) -> str:
    """An amount as Brazilians write it: `R$ 1.249,90`."""
    whole, cents = f"{amount:,.2f}".split(".")
    return f"R$ {whole.replace(',', '.')},{cents}"


def fold_text(text: str) -> str:
    """Lower case without accents, so `São Paulo` and `sao paulo` compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalize_phone(value: str) -> str | None:
    """E.164 digits (`5511988887777`) from what a person or a model may write, or None.

    A Brazilian number without the country code (10 or 11 digits) gets `55` in front.
    """
    digits = re.sub(r"\D", "", value)
    if len(digits) in (10, 11) and not digits.startswith("55"):
        digits = "55" + digits
    return digits if 12 <= len(digits) <= 15 else None


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderStatus(StrEnum):
    """Where an order is, as the ERP codes it."""

    AWAITING_PAYMENT = "awaiting_payment"
    PAYMENT_APPROVED = "payment_approved"
    PREPARING = "preparing"
    INVOICED = "invoiced"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    READY_FOR_PICKUP = "ready_for_pickup"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    CANCELLED = "cancelled"
    RETURNED = "returned"


ORDER_STATUS_LABELS: dict[OrderStatus, str] = {
    OrderStatus.AWAITING_PAYMENT: "Aguardando pagamento",
    OrderStatus.PAYMENT_APPROVED: "Pagamento aprovado",
    OrderStatus.PREPARING: "Em separação",
    OrderStatus.INVOICED: "Faturado",
    OrderStatus.IN_TRANSIT: "Em trânsito",
    OrderStatus.OUT_FOR_DELIVERY: "Saiu para entrega",
    OrderStatus.READY_FOR_PICKUP: "Pronto para retirada na loja",
    OrderStatus.DELIVERED: "Entregue",
    OrderStatus.DELIVERY_FAILED: "Tentativa de entrega sem sucesso",
    OrderStatus.CANCELLED: "Cancelado",
    OrderStatus.RETURNED: "Devolvido",
}


class OrderItem(_Record):
    """One line of an order."""

    description: str = Field(min_length=1)
    quantity: int = Field(ge=1)


class Order(_Record):
    """A customer's order as the ERP tracks it."""

    order_number: str = Field(pattern=r"^\d{6}$")
    status: OrderStatus
    placed_at: datetime
    updated_at: datetime
    expected_delivery: date | None = None
    store_id: str
    items: list[OrderItem] = Field(min_length=1)
    total: Money

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str:
        """The status as the customer reads it (pt-BR)."""
        return ORDER_STATUS_LABELS[self.status]


class InvoiceStatus(StrEnum):
    """Whether an invoice still waits for payment."""

    OPEN = "open"
    PAID = "paid"
    OVERDUE = "overdue"


INVOICE_STATUS_LABELS: dict[InvoiceStatus, str] = {
    InvoiceStatus.OPEN: "Em aberto",
    InvoiceStatus.PAID: "Paga",
    InvoiceStatus.OVERDUE: "Vencida",
}


class Invoice(_Record):
    """A bill (boleto/PIX) issued to a customer."""

    invoice_id: str = Field(min_length=1)
    customer_phone: str = Field(pattern=r"^\d{12,15}$")
    description: str = ""
    amount: Money
    due_date: date
    status: InvoiceStatus
    # Linha digitável of the boleto: 47 digits, usually written in groups.
    boleto_line: str = ""
    # PIX "copia e cola" (EMV BR Code).
    pix_code: str = ""
    payment_link: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str:
        """The status as the customer reads it (pt-BR)."""
        return INVOICE_STATUS_LABELS[self.status]

    @property
    def payable(self) -> bool:
        """Open or overdue: the customer still has something to pay."""
        return self.status is not InvoiceStatus.PAID


class Store(_Record):
    """A store of the network, owned or franchised."""

    store_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    kind: Literal["own", "franchise"]
    address: str
    neighbourhood: str = ""
    city: str
    state: str = Field(pattern=r"^[A-Z]{2}$")
    opening_hours: str
    phone: str

    def haystack(self) -> str:
        """Folded text a search query is matched against."""
        return fold_text(
            " ".join((self.store_id, self.name, self.neighbourhood, self.city, self.state))
        )


class ServiceRequest(_Record):
    """What `open_ticket` asks a CRM to record: a case for a human analyst."""

    reason: str = Field(min_length=3, max_length=120)
    summary: str = Field(min_length=3, max_length=2000)
    customer_phone: str = Field(pattern=r"^\d{12,15}$")
    # The caller's key (for example the agent turn id): the same key opens one ticket only.
    idempotency_key: str = Field(min_length=1, max_length=200)
