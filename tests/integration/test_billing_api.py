"""The billing system's API on the Firestore emulator: imports, payment events, refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from google.cloud import firestore

from shared.adapters.firestore_debts import FirestoreDebts
from shared.adapters.firestore_templates_feedback import FirestoreTemplateStore
from shared.billing_policy import trail_policy
from shared.clock import ManualClock
from shared.handlers.billing_api import MAX_DEBTS_PER_REQUEST, BillingApi
from shared.settings import Settings

pytestmark = pytest.mark.integration


def _debt(invoice_id: str = "FAT-9", **changes: Any) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "customer": "Bruno Lima",
        "phone": "5511988880102",
        "amount": 420.0,
        "due_date": "2026-11-12",
        "payment_link": "https://pagar.exemplo.com.br/FAT-9",
        **changes,
    }


@pytest.fixture
def api(db: firestore.Client) -> BillingApi:
    clock = ManualClock(datetime(2026, 11, 24, 13, 0, tzinfo=UTC))
    return BillingApi(
        debts=FirestoreDebts(db),
        clock=clock,
        policy=trail_policy(Settings()),
        templates=FirestoreTemplateStore(db),
    )


def _post(api: BillingApi, path: str, body: object) -> tuple[int, dict[str, Any]]:
    reply = api.handle("POST", path, json.dumps(body).encode())
    return reply.status, json.loads(reply.json())


def test_debts_come_in_once_by_invoice_id(api: BillingApi) -> None:
    assert _post(api, "/debts", _debt()) == (200, {"created": 1, "updated": 0, "unchanged": 0})
    assert _post(api, "/debts", [_debt(), _debt("FAT-10")]) == (
        200,
        {"created": 1, "updated": 0, "unchanged": 1},
    )
    changed = _post(api, "/debts", {"debts": [_debt(amount=400)]})
    assert changed == (200, {"created": 0, "updated": 1, "unchanged": 0})
    reply = api.handle("GET", "/debts/FAT-9", b"")
    shown = json.loads(reply.json())
    assert reply.status == 200
    assert shown["debt"]["amount"] == "400.00" and shown["trail_status"] == "active"
    assert shown["next_due_at"].startswith("2026-11-24T13:00:00")


def test_one_bad_debt_refuses_the_whole_request_and_says_which(api: BillingApi) -> None:
    status, body = _post(
        api, "/debts", [_debt("OK-1"), _debt("BAD", phone="12"), _debt("OK-1"), {"x": 1}]
    )
    assert status == 400 and body["error"] == "3 debt(s) are invalid; nothing was imported"
    problems = {p["index"]: p["problem"] for p in body["problems"]}
    assert "phone" in problems[1] and "12" not in problems[1].split("E.164")[0]
    assert problems[2] == "invoice_id OK-1 repeats"
    assert "invoice_id" in problems[3] and "customer" in problems[3]
    assert api.handle("GET", "/debts/OK-1", b"").status == 404


def test_payment_events_stop_the_trail_and_repeat_harmlessly(api: BillingApi) -> None:
    _post(api, "/debts", _debt())
    assert _post(api, "/payments", {"invoice_id": "FAT-9", "amount_paid": 420}) == (
        200,
        {"invoice_id": "FAT-9", "result": "recorded"},
    )
    assert _post(api, "/payments", {"invoice_id": "FAT-9"})[1]["result"] == "already"
    shown = json.loads(api.handle("GET", "/debts/FAT-9", b"").json())
    assert shown["trail_status"] == "paid" and shown["amount_paid"] == "420.00"
    assert shown["next_due_at"] is None
    assert _post(api, "/payments", {"invoice_id": "NOPE"}) == (
        404,
        {"error": "no debt with invoice_id NOPE"},
    )
    status, body = _post(api, "/payments", {"invoice_id": "FAT-9", "status": "refunded"})
    assert status == 400 and body["error"].startswith("not a payment event: status")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/debts", b"{not json", 400, "the body is not JSON"),
        ("POST", "/debts", b"[]", 400, "send a debt, a list of debts"),
        ("POST", "/debts", b'"text"', 400, "send a debt, a list of debts"),
        ("GET", "/debts", b"", 405, "use POST /debts"),
        ("DELETE", "/debts/FAT-9", b"", 405, "use GET /debts/ID"),
        ("GET", "/payments", b"", 405, "use POST /payments"),
        ("POST", "/refunds", b"{}", 404, "no route POST /refunds"),
        ("GET", "/debts/NOPE", b"", 404, "no debt with invoice_id NOPE"),
    ],
)
def test_bad_requests_get_a_4xx_that_says_what_is_wrong(
    api: BillingApi, method: str, path: str, body: bytes, status: int, error: str
) -> None:
    reply = api.handle(method, path, body)
    assert reply.status == status
    assert json.loads(reply.json())["error"].startswith(error)


def test_too_many_debts_in_one_request_is_413(api: BillingApi) -> None:
    many = [_debt(f"N-{i}") for i in range(MAX_DEBTS_PER_REQUEST + 1)]
    status, body = _post(api, "/debts", many)
    assert status == 413 and str(MAX_DEBTS_PER_REQUEST) in body["error"]
