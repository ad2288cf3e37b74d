"""The four business tools as plain functions over BusinessData, returning JSON-able dicts.

The MCP server (shared.tools_hub.server) and the in-process LocalBusinessTools both call
`run_tool`, so an agent gets the same ToolResult whichever way it reaches the tools.
Arguments come from a language model: each tool checks and normalises them, and a bad one is
an `invalid` result whose `detail` says what is expected, never an exception.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from shared.domain.business import (
    Invoice,
    Order,
    ServiceRequest,
    Store,
    brl,
    normalize_phone,
)
from shared.domain.models import ToolResult
from shared.ports import BusinessData

__all__ = [
    "TOOL_NAMES",
    "InvalidArguments",
    "invoice_copy",
    "open_ticket",
    "order_status",
    "run_tool",
    "store_info",
]

logger = logging.getLogger(__name__)

# A query for every store of a state returns a handful; more would flood a WhatsApp reply.
MAX_STORES = 10


class InvalidArguments(ValueError):
    """A tool argument the model got wrong; the message tells it what is expected."""


def _text(value: object, name: str, *, low: int = 1, high: int = 200) -> str:
    if not isinstance(value, str):
        raise InvalidArguments(f"{name} must be a string")
    text = value.strip()
    if not low <= len(text) <= high:
        raise InvalidArguments(f"{name} must have {low} to {high} characters")
    return text


def _order_number(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidArguments("order_number must be a string of 6 digits, e.g. 482913")
    # People write "#482.913" or "482 913"; the ERP knows "482913".
    digits = re.sub(r"[\s#.\-]", "", value)
    if not re.fullmatch(r"\d{6}", digits):
        raise InvalidArguments("order_number must have exactly 6 digits, e.g. 482913")
    return digits


def _phone(value: object) -> str:
    phone = normalize_phone(value) if isinstance(value, str) else None
    if phone is None:
        raise InvalidArguments(
            "customer_phone must be the customer's WhatsApp number in E.164 digits, "
            "e.g. 5511988887777"
        )
    return phone


def _day(value: date | None) -> str | None:
    return value.strftime("%d/%m/%Y") if value else None


def _order_view(order: Order, store: Store | None) -> dict[str, Any]:
    view = order.model_dump(mode="json")
    view["total_display"] = brl(order.total)
    view["expected_delivery_display"] = _day(order.expected_delivery)
    view["store_name"] = store.name if store else None
    return view


def _invoice_view(invoice: Invoice) -> dict[str, Any]:
    view = invoice.model_dump(mode="json", exclude={"customer_phone"})
    view["amount_display"] = brl(invoice.amount)
    view["due_date_display"] = _day(invoice.due_date)
    if not invoice.payable:
        # A paid invoice has nothing left to pay with.
        for key in ("boleto_line", "pix_code", "payment_link"):
            view.pop(key, None)
    return view


def _store_view(store: Store) -> dict[str, Any]:
    view = store.model_dump(mode="json")
    view["kind_label"] = "Loja própria" if store.kind == "own" else "Franquia"
    return view


def order_status(data: BusinessData, order_number: object) -> dict[str, Any]:
    """Status, items, total and expected delivery of an order, by its 6-digit number."""
    number = _order_number(order_number)
    order = data.order(number)
    if order is None:
        return {"found": False, "order_number": number}
    store = next((s for s in data.stores(order.store_id) if s.store_id == order.store_id), None)
    return {"found": True, "order": _order_view(order, store)}


def invoice_copy(
    data: BusinessData, customer_phone: object, invoice_id: object = None
) -> dict[str, Any]:
    """A customer's open and overdue invoices (or one by id) with boleto, PIX and link."""
    phone = _phone(customer_phone)
    wanted = None if invoice_id in (None, "") else _text(invoice_id, "invoice_id", high=40)
    invoices = data.invoices(phone)
    if wanted is not None:
        chosen = [i for i in invoices if i.invoice_id.casefold() == wanted.casefold()]
    else:
        chosen = [i for i in invoices if i.payable]
    return {
        "found": bool(chosen),
        "invoice_id": wanted,
        "invoices": [_invoice_view(i) for i in chosen],
        "paid_invoices": sum(1 for i in invoices if not i.payable),
    }


def store_info(data: BusinessData, query: object) -> dict[str, Any]:
    """Stores matching a city, neighbourhood or store name: address, hours and phone."""
    text = _text(query, "query", low=2, high=100)
    stores = data.stores(text)
    return {
        "found": bool(stores),
        "query": text,
        "total": len(stores),
        "stores": [_store_view(s) for s in stores[:MAX_STORES]],
    }


def open_ticket(
    data: BusinessData,
    reason: object,
    summary: object,
    customer_phone: object,
    idempotency_key: object,
) -> dict[str, Any]:
    """Open a case for a human analyst; the same idempotency key gives the same protocol."""
    try:
        request = ServiceRequest(
            reason=_text(reason, "reason", low=3, high=120),
            summary=_text(summary, "summary", low=3, high=2000),
            customer_phone=_phone(customer_phone),
            idempotency_key=_text(idempotency_key, "idempotency_key"),
        )
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        raise InvalidArguments(f"{first['loc'][0]}: {first['msg']}") from error
    return {"protocol": data.open_ticket(request)}


_TOOLS: dict[str, Callable[..., dict[str, Any]]] = {
    "order_status": order_status,
    "invoice_copy": invoice_copy,
    "store_info": store_info,
    "open_ticket": open_ticket,
}
TOOL_NAMES = tuple(_TOOLS)


def run_tool(data: BusinessData, tool: str, arguments: Mapping[str, object]) -> ToolResult:
    """Call one tool by name; every failure becomes a ToolResult, nothing raises."""
    args = dict(arguments)
    function = _TOOLS.get(tool)
    if function is None:
        return ToolResult(tool=tool, arguments=args, ok=False, error=f"unknown tool: {tool}")
    try:
        inspect.signature(function).bind(data, **args)
    except TypeError as error:
        return ToolResult(
            tool=tool, arguments=args, ok=False, error="invalid", data={"detail": str(error)}
        )
    try:
        result = function(data, **args)
    except InvalidArguments as error:
        logger.info("tool %s: invalid arguments: %s", tool, error)
        return ToolResult(
            tool=tool, arguments=args, ok=False, error="invalid", data={"detail": str(error)}
        )
    except Exception as error:
        # The ERP behind BusinessData failed; the agent hands off instead of guessing.
        logger.exception("tool %s failed", tool)
        return ToolResult(
            tool=tool, arguments=args, ok=False, error=f"{tool} failed: {type(error).__name__}"
        )
    return ToolResult(tool=tool, arguments=args, ok=True, data=result)
