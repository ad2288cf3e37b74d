"""What a follow-up tick costs per trail, against a floor measured in the same run.

Starts the Pub/Sub and Firestore emulators on free ports, imports N debts (default 200, one
tick's batch), and times:

- the floor: per debt, the least a claim-and-send can do: one Firestore transaction that reads
  the debt and writes one field, then one confirmed publish to topic outbound;
- the tick: FollowUpService.run over the same number of due trails (the real claim: debt,
  conversation, ticket and contact read in one transaction, ticket and conversation written,
  the outbox, the publish, the outbox cleared);
- two overlapping ticks over a fresh set, which must publish each notice exactly once.

Prints per-trail milliseconds and the tick/floor ratio, and exits 1 if any notice was lost or
sent twice.

    .venv/bin/python bench/followups_tick.py [--debts 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined]  # noqa: E402

from shared.adapters.firestore_debts import FirestoreDebts, FirestoreMaintenance  # noqa: E402
from shared.adapters.firestore_store import run_transaction  # noqa: E402
from shared.adapters.firestore_templates_feedback import FirestoreTemplateStore  # noqa: E402
from shared.adapters.pubsub import PubSubPublisher  # noqa: E402
from shared.billing_policy import trail_policy  # noqa: E402
from shared.clock import ManualClock  # noqa: E402
from shared.domain.billing import Debt  # noqa: E402
from shared.domain.whatsapp_templates import read_templates  # noqa: E402
from shared.handlers.followups import FollowUpService  # noqa: E402
from shared.localstack.stack import LocalStack, StackConfig, temporary_env  # noqa: E402
from shared.settings import Settings  # noqa: E402

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))


def _debts(prefix: str, count: int) -> list[Debt]:
    return [
        Debt(
            invoice_id=f"{prefix}-{i}",
            customer="Cliente Bench",
            phone=f"55119{i:08d}",
            amount=Decimal("100.00"),
            due_date=NOW.date(),
            pix_code="000201PIX",
        )
        for i in range(count)
    ]


def _drain(project: str, subscription: str) -> list[str]:
    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project, subscription)
    keys: list[str] = []
    while True:
        response = subscriber.pull(request={"subscription": path, "max_messages": 500}, timeout=10)
        if not response.received_messages:
            break
        keys.extend(
            json.loads(m.message.data)["idempotency_key"] for m in response.received_messages
        )
        subscriber.acknowledge(
            request={
                "subscription": path,
                "ack_ids": [m.ack_id for m in response.received_messages],
            }
        )
    subscriber.close()
    return keys


def run(count: int, project: str) -> int:
    """Time the floor and the tick; check overlapping ticks; 0 when nothing was lost."""
    db = firestore.Client(project=project)
    publisher = PubSubPublisher(project)
    subscriber = pubsub_v1.SubscriberClient()
    outbound = subscriber.subscription_path(project, "outbound-bench")
    subscriber.create_subscription(
        request={"name": outbound, "topic": f"projects/{project}/topics/outbound"}
    )
    subscriber.close()
    settings = Settings(
        google_cloud_project=project,
        billing_phone_number_id="100000000000002",
        followup_batch=count,
    )
    policy = trail_policy(settings)
    templates = FirestoreTemplateStore(db)
    for template in read_templates(ROOT / "samples" / "whatsapp_templates.jsonl"):
        templates.save_template(template, create=False)
    debts = FirestoreDebts(db)
    clock = ManualClock(NOW)
    service = FollowUpService(
        debts=debts,
        maintenance=FirestoreMaintenance(db),
        publisher=publisher,
        templates=templates,
        clock=clock,
        settings=settings,
        policy=policy,
    )

    debts.import_debts(_debts("FLOOR", count), now=NOW, policy=policy)
    started = time.perf_counter()
    for i in range(count):
        ref = db.collection("debts").document(f"FLOOR-{i}")

        def claim(txn: object, ref: firestore.DocumentReference = ref) -> None:
            ref.get(transaction=txn)
            txn.update(ref, {"attempts": 1})  # type: ignore[attr-defined]

        run_transaction(db, claim)
        publisher.publish("outbound", b'{"idempotency_key": "floor"}', ordering_key=str(i))
    floor = time.perf_counter() - started
    db.recursive_delete(db.collection("debts"))
    _drain(project, "outbound-bench")

    debts.import_debts(_debts("TICK", count), now=NOW, policy=policy)
    started = time.perf_counter()
    report = service.run()
    tick = time.perf_counter() - started
    sent_once = sorted(_drain(project, "outbound-bench"))

    debts.import_debts(_debts("PAIR", count), now=NOW, policy=policy)
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(service.run())) for _ in range(2)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pair = time.perf_counter() - started
    pair_keys = [k for k in _drain(project, "outbound-bench") if k.startswith("trail:PAIR-")]

    print(f"debts per run        {count}")
    print(f"floor                {floor:7.2f} s   {1000 * floor / count:7.1f} ms/trail")
    per_trail = 1000 * tick / count
    print(f"tick                 {tick:7.2f} s   {per_trail:7.1f} ms/trail   sent {report.sent}")
    print(f"tick / floor         {tick / floor:7.2f}x")
    print(
        f"two overlapping ticks {pair:6.2f} s   sent {sum(r.sent for r in reports)}"
        f" ({' + '.join(str(r.sent) for r in reports)}), published {len(pair_keys)},"
        f" distinct {len(set(pair_keys))}"
    )
    problems = []
    if len(sent_once) != count or report.sent != count:
        problems.append(f"one tick published {len(sent_once)} of {count}")
    if len(pair_keys) != count or len(set(pair_keys)) != count:
        problems.append(f"overlapping ticks published {len(pair_keys)} for {count} trails")
    for problem in problems:
        print(f"WARNING {problem}")
    return 1 if problems else 0


def main() -> int:
    """Start the emulators, run, stop them."""
    parser = argparse.ArgumentParser(prog="bench/followups_tick.py")
    parser.add_argument("--debts", type=int, default=200, help="trails per run (one tick's batch)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        stack = LocalStack(StackConfig.on_free_ports(state_dir=state, project="bench"))
        stack.start_emulators()
        try:
            with temporary_env(stack.config.emulator_env()):
                return run(args.debts, stack.config.project)
        finally:
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
