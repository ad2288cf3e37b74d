"""`atende demo billing`: a billing trail from import to figures, against the running stack.

Imports the sample debts (fresh invoice ids and numbers each run, so runs do not collide),
waits for the first notices, has one debtor ask for the PIX code, one promise to pay, one opt
out, pays the fourth through the billing API (he is thanked), waits for the next reminder
round, and prints the billing dashboard. Everything goes through the real pipeline: the
WhatsApp simulator, the webhook, the agent graph, the follow-up ticks and Firestore.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from shared.domain.billing import Debt, read_debts

__all__ = ["run_billing_demo"]


def _say(text: str) -> None:
    print(text, flush=True)


def _fresh(debts: list[Debt], run: str) -> list[Debt]:
    """The same debts under this run's invoice ids and numbers."""
    return [
        debt.model_copy(
            update={
                "invoice_id": f"{debt.invoice_id}-{run}",
                "phone": debt.phone[:-6] + f"{run[-4:]}{index:02d}",
            }
        )
        for index, debt in enumerate(debts)
    ]


class _Demo:
    def __init__(self, sim_url: str, api_url: str) -> None:
        self.sim = sim_url
        self.api = api_url
        self.http = httpx.Client(timeout=15)

    def messages_to(self, phone: str) -> list[dict[str, Any]]:
        reply = self.http.get(f"{self.sim}/_sim/messages", params={"to": phone})
        reply.raise_for_status()
        return list(reply.json())

    def wait_for(self, phone: str, count: int, seconds: float) -> list[dict[str, Any]]:
        """The messages sent to `phone` once there are `count`, or what there is at the end."""
        deadline = time.monotonic() + seconds
        messages = self.messages_to(phone)
        while len(messages) < count and time.monotonic() < deadline:
            time.sleep(1)
            messages = self.messages_to(phone)
        return messages

    def reply(self, debt: Debt, text: str) -> None:
        self.http.post(
            f"{self.sim}/_sim/inbound",
            json={"from": debt.phone, "name": debt.customer, "text": text},
        ).raise_for_status()

    def trail(self, debt: Debt) -> dict[str, Any]:
        reply = self.http.get(f"{self.api}/debts/{debt.invoice_id}")
        reply.raise_for_status()
        return dict(reply.json())


def _show(message: dict[str, Any]) -> str:
    if message.get("type") == "template":
        components = (message.get("body") or {}).get("template", {}).get("components") or []
        values = [
            p.get("text", "")
            for c in components
            for p in c.get("parameters", [])
            if isinstance(p, dict)
        ]
        return f"[template {message.get('template')}: {', '.join(values)}]"
    return str(message.get("text") or "")


def run_billing_demo(path: Path, *, sim_url: str, api_url: str) -> int:
    """Run the scenario; 0 when every step was seen, 1 otherwise."""
    read = read_debts(path)
    if read.problems or len(read.debts) < 4:
        _say(f"{path} needs four valid debts: {read.problems}")
        return 2
    run = datetime.now(tz=UTC).strftime("%H%M%S")
    ana, bruno, carla, diego = _fresh(read.debts[:4], run)
    demo = _Demo(sim_url, api_url)
    ok = True

    _say(f"1. Importing {path} through the billing API (run {run})")
    imported = demo.http.post(
        f"{api_url}/debts",
        json={"debts": [d.model_dump(mode="json") for d in (ana, bruno, carla, diego)]},
    )
    _say(f"   {imported.status_code} {imported.json()}")
    if imported.status_code != 200:
        return 1

    _say("2. Waiting for the follow-up tick to send each debtor the first notice (D+0)")
    for debt in (ana, bruno, carla, diego):
        sent = demo.wait_for(debt.phone, 1, 60)
        ok &= bool(sent)
        _say(f"   -> {debt.customer}: {_show(sent[0]) if sent else 'nothing sent'}")

    _say("3. Ana asks for the PIX code; the billing agent answers through the invoice tool")
    demo.reply(ana, "oi, me manda o pix por favor")
    answer = demo.wait_for(ana.phone, 2, 45)
    ok &= len(answer) >= 2
    _say(f"   <- {answer[-1]['text'] if len(answer) >= 2 else 'no answer'}")

    promised = (datetime.now(tz=ZoneInfo("America/Sao_Paulo")) + timedelta(days=3)).date()
    _say(f"4. Bruno promises to pay on {promised:%d/%m}; his trail waits until after it")
    demo.reply(bruno, f"vou pagar dia {promised:%d/%m}")
    answer = demo.wait_for(bruno.phone, 2, 45)
    ok &= len(answer) >= 2
    _say(f"   <- {answer[-1]['text'] if len(answer) >= 2 else 'no answer'}")

    _say("5. Carla writes PARAR: the trail stops for good, and she is told so")
    demo.reply(carla, "PARAR")
    answer = demo.wait_for(carla.phone, 2, 45)
    ok &= len(answer) >= 2
    _say(f"   <- {answer[-1]['text'] if len(answer) >= 2 else 'no answer'}")

    _say("6. The billing system reports Diego's payment (POST /payments); the tick thanks him")
    paid = demo.http.post(f"{api_url}/payments", json={"invoice_id": diego.invoice_id})
    _say(f"   {paid.status_code} {paid.json()}")
    ok &= paid.status_code == 200
    thanked = demo.wait_for(diego.phone, 2, 45)
    ok &= len(thanked) >= 2
    _say(f"   -> Diego: {_show(thanked[-1]) if len(thanked) >= 2 else 'no thanks'}")

    _say("7. The next reminder round (D+2): only Ana, who neither paid, promised nor opted out")
    time.sleep(2)
    before = {d.customer: len(demo.messages_to(d.phone)) for d in (ana, bruno, carla, diego)}
    reminded = demo.wait_for(ana.phone, before[ana.customer] + 1, 90)
    ok &= len(reminded) > before[ana.customer]
    _say(f"   -> Ana: {_show(reminded[-1]) if reminded else 'nothing'}")
    time.sleep(6)
    for debt in (bruno, carla, diego):
        extra = len(demo.messages_to(debt.phone)) - before[debt.customer]
        trail = demo.trail(debt)
        ok &= extra == 0
        _say(
            f"   {debt.customer}: {extra} new message(s); trail {trail['trail_status']}"
            + (f", promised for {trail['promised_for']}" if trail.get("promised_for") else "")
        )

    _say("8. The billing dashboard from these records (atende metrics --assistant cobranca):")
    from shared.cli import metrics

    metrics("cobranca", 1, None, None, as_json=False)
    _say("\nDone: every step seen." if ok else "\nSome step was not seen: see .local/logs/.")
    return 0 if ok else 1
