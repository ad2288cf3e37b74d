"""A billing trail through the whole local stack: the billing API, ticks, the agent, payments.

The stack ticks every 2 s and spaces the trail's steps 10 s apart (tests/conftest.py), so one
test sees a first notice, replies handled by the billing agent, a payment, an opt-out and the
next round of reminders reaching only the debtor still due.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import Pipeline, wait_for

from shared.adapters.firestore_debts import trail_ticket_id

BILLING_NUMBER = "100000000000002"


def _debtor(run: str, index: int, name: str, amount: str) -> dict[str, Any]:
    return {
        "invoice_id": f"E2E-{run}-{index}",
        "customer": name,
        "phone": f"55219{run[:6]}{index:02d}",
        "amount": amount,
        "due_date": "2026-11-02",
        "pix_code": f"00020126PIX{run}{index}",
        "payment_link": f"https://pagar.exemplo.com.br/{run}/{index}",
    }


@pytest.fixture
def api(pipeline: Pipeline) -> str:
    url: str = pipeline.stack.config.billing_api_url
    return url


def _debt(pipeline: Pipeline, api: str, invoice_id: str) -> dict[str, Any]:
    reply = pipeline.http.get(f"{api}/debts/{invoice_id}")
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def _ticket(pipeline: Pipeline, invoice_id: str) -> dict[str, Any]:
    snap = pipeline.db.collection("tickets").document(trail_ticket_id(invoice_id)).get()
    return snap.to_dict() or {}


def _says(pipeline: Pipeline, debtor: dict[str, Any], text: str) -> None:
    reply = pipeline.http.post(
        f"{pipeline.sim}/_sim/inbound",
        json={"from": debtor["phone"], "name": debtor["customer"], "text": text},
    ).json()
    assert reply["webhook_status"] == 200, reply
    # The simulator sends the reply to the number that wrote: the billing number.
    assert reply["phone_number_id"] == BILLING_NUMBER


def test_a_trail_from_import_to_payment_opt_out_and_promise(pipeline: Pipeline, api: str) -> None:
    run = str(uuid.uuid4().int)[:8]
    carla = _debtor(run, 1, "Carla Dias", "75.50")
    bruno = _debtor(run, 2, "Bruno Lima", "420.00")
    diego = _debtor(run, 3, "Diego Rocha", "1250.00")
    ana = _debtor(run, 4, "Ana Souza", "189.90")
    everyone = (carla, bruno, diego, ana)
    imported = pipeline.http.post(f"{api}/debts", json={"debts": list(everyone)})
    assert imported.status_code == 200 and imported.json()["created"] == 4
    again = pipeline.http.post(f"{api}/debts", json=list(everyone))
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 4}

    for debtor in everyone:
        first = wait_for(
            lambda d=debtor: pipeline.sent_to(d["phone"]), timeout=30, what="first notice"
        )
        assert [m["template"] for m in first] == ["cobranca_aviso"]
        assert first[0]["phone_number_id"] == BILLING_NUMBER
    ticket = _ticket(pipeline, carla["invoice_id"])
    assert ticket["assistant"] == "cobranca" and ticket["amount_communicated"] == 75.5

    _says(pipeline, carla, "PARAR")
    told = wait_for(lambda: pipeline.sent_to(carla["phone"])[1:], timeout=40, what="opt-out")
    assert "não vai mais receber" in told[0]["text"]
    assert wait_for(
        lambda: _debt(pipeline, api, carla["invoice_id"])["trail_status"] == "opted_out",
        what="the opt-out applied",
    )

    promised = (datetime.now(tz=ZoneInfo("America/Sao_Paulo")) + timedelta(days=3)).date()
    _says(pipeline, bruno, f"vou pagar dia {promised:%d/%m}")
    told = wait_for(lambda: pipeline.sent_to(bruno["phone"])[1:], timeout=40, what="promise")
    assert f"{promised:%d/%m/%Y}" in told[0]["text"]
    trail = wait_for(
        lambda: (d := _debt(pipeline, api, bruno["invoice_id"]))["promised_for"] and d,
        what="the promise applied",
    )
    assert trail["promised_for"] == promised.isoformat()
    assert trail["next_due_at"] > f"{promised.isoformat()}T"
    assert _ticket(pipeline, bruno["invoice_id"])["customer_replied"] is True

    paid = pipeline.http.post(f"{api}/payments", json={"invoice_id": diego["invoice_id"]})
    assert paid.json() == {"invoice_id": diego["invoice_id"], "result": "recorded"}
    ticket = _ticket(pipeline, diego["invoice_id"])
    assert (ticket["paid"], ticket["amount_recovered"], ticket["status"]) == (True, 1250.0, "F")
    # Diego never wrote: his thanks is the approved template, on the next tick.
    thanked = wait_for(lambda: pipeline.sent_to(diego["phone"])[1:], timeout=30, what="thanks")
    assert thanked[0]["template"] == "cobranca_pagamento"

    # The next round reaches Ana only: 10 s after the first notice, ticked every 2 s.
    reminded = wait_for(
        lambda: pipeline.sent_to(ana["phone"])[1:], timeout=40, what="Ana's reminder"
    )
    assert reminded[0]["template"] == "cobranca_lembrete"
    pipeline.quiet_after(4)
    assert len(pipeline.sent_to(carla["phone"])) == 2  # the notice and the confirmation
    assert len(pipeline.sent_to(bruno["phone"])) == 2
    assert len(pipeline.sent_to(diego["phone"])) == 2  # the notice and the thanks
    assert _debt(pipeline, api, ana["invoice_id"])["attempts"] >= 2


def test_the_billing_api_refuses_bad_requests_with_a_reason(pipeline: Pipeline, api: str) -> None:
    bad_json = pipeline.http.post(
        f"{api}/debts", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and "not JSON" in bad_json.json()["error"]
    unknown = pipeline.http.get(f"{api}/debts/NO-SUCH-DEBT")
    assert unknown.status_code == 404 and "NO-SUCH-DEBT" in unknown.json()["error"]
    invalid = pipeline.http.post(f"{api}/debts", json={"invoice_id": "X-1"})
    assert invalid.status_code == 400
    assert {p["index"] for p in invalid.json()["problems"]} == {0}
