"""BusinessData with the imported debts among a customer's invoices (the billing agent's tool).

The ERP's invoices come from the wrapped source; the debts the billing system imported
(collection `debts`) are added as invoices, so `invoice_copy` returns the PIX code and payment
link the trail's notices refer to. A debt the ERP also knows (same invoice id) is shown once,
as the ERP has it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from shared.domain.billing import DebtRecord, TrailStatus
from shared.domain.business import Invoice, InvoiceStatus, Order, ServiceRequest, Store
from shared.ports import BusinessData, Clock, DebtStore

__all__ = ["WithImportedDebts"]

_ZONE = ZoneInfo("America/Sao_Paulo")


def _as_invoice(record: DebtRecord, now: datetime) -> Invoice | None:
    if record.trail_status is TrailStatus.CANCELLED:
        return None
    debt = record.debt
    if record.trail_status is TrailStatus.PAID:
        status = InvoiceStatus.PAID
    elif debt.due_date < now.astimezone(_ZONE).date():
        status = InvoiceStatus.OVERDUE
    else:
        status = InvoiceStatus.OPEN
    return Invoice(
        invoice_id=debt.invoice_id,
        customer_phone=debt.phone,
        description="Fatura em cobrança",
        amount=debt.amount,
        due_date=debt.due_date,
        status=status,
        pix_code=debt.pix_code or "",
        payment_link=debt.payment_link or "",
    )


class WithImportedDebts:
    """A BusinessData whose invoices include the customer's imported debts."""

    def __init__(self, base: BusinessData, debts: DebtStore, clock: Clock) -> None:
        self._base = base
        self._debts = debts
        self._clock = clock

    def order(self, order_number: str) -> Order | None:
        """As the wrapped source has it."""
        return self._base.order(order_number)

    def invoices(self, customer_phone: str) -> list[Invoice]:
        """The ERP's invoices, then the imported debts it does not already list."""
        invoices = self._base.invoices(customer_phone)
        known = {i.invoice_id.casefold() for i in invoices}
        now = self._clock.now()
        for record in self._debts.debts_of(customer_phone):
            invoice = _as_invoice(record, now)
            if invoice is not None and invoice.invoice_id.casefold() not in known:
                invoices.append(invoice)
        return invoices

    def stores(self, query: str) -> list[Store]:
        """As the wrapped source has it."""
        return self._base.stores(query)

    def open_ticket(self, request: ServiceRequest) -> str:
        """As the wrapped source does it."""
        return self._base.open_ticket(request)
