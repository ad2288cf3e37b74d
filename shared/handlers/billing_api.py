"""The billing system's API: debts in, payment events in, a debt's trail out.

POST /debts      one debt, a list, or {"debts": [...]}; idempotent by invoice_id
POST /payments   {"invoice_id", "status": "paid"|"cancelled", "amount_paid"?, "paid_at"?};
                 a paid debt's debtor is thanked (trail.payment_receipt) on the next tick
GET  /debts/ID   the debt and where its trail is

Every refusal is a 4xx with a JSON `error` saying what is wrong; nothing is written when any
debt of a request is invalid.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shared.domain.billing import Debt, PaymentEvent, validation_problems
from shared.domain.trail import payment_receipt

if TYPE_CHECKING:
    from decimal import Decimal

    from shared.domain.trail import Receipt, TrailPolicy, TrailSnapshot
    from shared.ports import Clock, DebtStore, TemplateStore

__all__ = ["MAX_BODY_BYTES", "MAX_DEBTS_PER_REQUEST", "ApiReply", "BillingApi"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_DEBTS_PER_REQUEST = 1000


@dataclass(frozen=True, slots=True)
class ApiReply:
    """A status and a JSON body."""

    status: int
    body: dict[str, Any]

    def json(self) -> str:
        """The body as JSON text."""
        return json.dumps(self.body, ensure_ascii=False, default=str)


def _error(status: int, message: str, **details: Any) -> ApiReply:
    return ApiReply(status, {"error": message, **details})


@dataclass(frozen=True, slots=True)
class BillingApi:
    """Routes one request of the billing system."""

    debts: DebtStore
    clock: Clock
    policy: TrailPolicy
    templates: TemplateStore

    def handle(self, method: str, path: str, body: bytes) -> ApiReply:
        """Dispatch by method and path."""
        parts = [p for p in path.split("/") if p]
        if parts == ["debts"]:
            return self._import(body) if method == "POST" else _error(405, "use POST /debts")
        if parts == ["payments"]:
            return self._payment(body) if method == "POST" else _error(405, "use POST /payments")
        if len(parts) == 2 and parts[0] == "debts":
            return self._show(parts[1]) if method == "GET" else _error(405, "use GET /debts/ID")
        if not parts and method == "GET":
            return ApiReply(200, {"service": "atende billing api", "status": "ok"})
        return _error(404, f"no route {method} /{'/'.join(parts)}")

    def _body(self, body: bytes) -> Any:
        if len(body) > MAX_BODY_BYTES:
            raise _Refused(_error(413, f"the body is over {MAX_BODY_BYTES} bytes"))
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise _Refused(_error(400, f"the body is not JSON: {error}")) from None

    def _import(self, body: bytes) -> ApiReply:
        try:
            payload = self._body(body)
        except _Refused as refused:
            return refused.reply
        items = (
            payload.get("debts") if isinstance(payload, dict) and "debts" in payload else payload
        )
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list) or not items:
            return _error(400, 'send a debt, a list of debts, or {"debts": [...]}')
        if len(items) > MAX_DEBTS_PER_REQUEST:
            return _error(413, f"at most {MAX_DEBTS_PER_REQUEST} debts per request")
        debts: list[Debt] = []
        problems: list[dict[str, Any]] = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            try:
                debt = Debt.model_validate(item)
            except ValidationError as error:
                problems.append({"index": index, "problem": validation_problems(error)})
                continue
            if debt.invoice_id in seen:
                problems.append(
                    {"index": index, "problem": f"invoice_id {debt.invoice_id} repeats"}
                )
                continue
            seen.add(debt.invoice_id)
            debts.append(debt)
        if problems:
            return _error(
                400, f"{len(problems)} debt(s) are invalid; nothing was imported", problems=problems
            )
        counts = self.debts.import_debts(debts, now=self.clock.now(), policy=self.policy)
        logger.info(
            "billing api imported %d debt(s): %d new, %d changed, %d unchanged",
            len(debts),
            counts.created,
            counts.updated,
            counts.unchanged,
        )
        return ApiReply(
            200,
            {"created": counts.created, "updated": counts.updated, "unchanged": counts.unchanged},
        )

    def _payment(self, body: bytes) -> ApiReply:
        try:
            event = PaymentEvent.model_validate(self._body(body))
        except _Refused as refused:
            return refused.reply
        except ValidationError as error:
            return _error(400, f"not a payment event: {validation_problems(error)}")
        outcome = self.record_payment(event)
        if outcome == "unknown":
            return _error(404, f"no debt with invoice_id {event.invoice_id}")
        logger.info("payment event for %s: %s (%s)", event.invoice_id, event.status, outcome)
        return ApiReply(200, {"invoice_id": event.invoice_id, "result": outcome})

    def record_payment(self, event: PaymentEvent) -> str:
        """Record the event; a paid debt's thanks is queued with it."""
        now = self.clock.now()
        # The transaction may run several times: read the template once, not on every try.
        template = functools.cache(self.templates.template)

        def receipt(snapshot: TrailSnapshot, amount: Decimal) -> Receipt | str:
            return payment_receipt(
                snapshot, amount=amount, now=now, policy=self.policy, templates=template
            )

        return self.debts.record_payment(event, now=now, receipt=receipt)

    def _show(self, invoice_id: str) -> ApiReply:
        record = self.debts.debt(invoice_id)
        if record is None:
            return _error(404, f"no debt with invoice_id {invoice_id}")
        return ApiReply(200, record.model_dump(mode="json"))


class _Refused(Exception):
    def __init__(self, reply: ApiReply) -> None:
        super().__init__(reply.body.get("error"))
        self.reply = reply
