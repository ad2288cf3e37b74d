"""Helpers to drive the whole local stack as Meta and a customer would."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined]
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.signature import sign
from shared.localstack.stack import LocalStack

T = TypeVar("T")
APP_SECRET = "dev-app-secret"
PHONE_NUMBER_ID = "100000000000001"


def wait_for(check: Callable[[], T], *, timeout: float = 30.0, what: str = "condition") -> T:
    """Poll until `check` returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


@dataclass
class Pipeline:
    """The running stack, seen from outside."""

    stack: LocalStack
    http: httpx.Client
    db: firestore.Client

    @property
    def webhook(self) -> str:
        return self.stack.config.webhook_url

    @property
    def sim(self) -> str:
        return self.stack.config.sim_url

    def post_update(self, raw: bytes, *, signature: str | None = "valid") -> httpx.Response:
        """POST raw bytes to the webhook, signed as Meta signs them unless told otherwise."""
        headers = {"Content-Type": "application/json"}
        if signature == "valid":
            headers["X-Hub-Signature-256"] = sign(raw, APP_SECRET)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return self.http.post(self.webhook, content=raw, headers=headers)

    def customer_says(self, wa_id: str, text: str, *, message_id: str | None = None) -> str:
        """A customer message through the simulator (signed like Meta); returns its id."""
        body: dict[str, Any] = {"from": wa_id, "text": text, "name": "Cliente Teste"}
        if message_id:
            body["message_id"] = message_id
        reply = self.http.post(f"{self.sim}/_sim/inbound", json=body).json()
        assert reply["webhook_status"] == 200, reply
        return str(reply["message_id"])

    def customer_sends_receipt(self, wa_id: str, order_number: str) -> str:
        """A photographed receipt naming an order, as an image message; returns its id."""
        body = {"from": wa_id, "order_number": order_number, "name": "Cliente Teste"}
        reply = self.http.post(f"{self.sim}/_sim/receipt", json=body).json()
        assert reply["webhook_status"] == 200, reply
        return str(reply["message_id"])

    def turns_of(self, wa_id: str) -> list[dict[str, Any]]:
        """The agent's recorded turns in this customer's conversation."""
        cid = f"{PHONE_NUMBER_ID}:{wa_id}"
        query = self.db.collection("turns").where(filter=FieldFilter("conversation_id", "==", cid))
        return [snap.to_dict() or {} for snap in query.stream()]

    def sent_to(self, wa_id: str) -> list[dict[str, Any]]:
        """What the pipeline sent to this customer."""
        return list(self.http.get(f"{self.sim}/_sim/messages", params={"to": wa_id}).json())

    def attempts_to(self, wa_id: str) -> list[dict[str, Any]]:
        """Every send attempt to this customer, refused ones included."""
        return [a for a in self.http.get(f"{self.sim}/_sim/attempts").json() if a["to"] == wa_id]

    def fault(self, wa_id: str, status: int, count: int = 1) -> None:
        """The next `count` sends to this customer fail with `status`."""
        response = self.http.post(
            f"{self.sim}/_sim/faults", json={"status": status, "count": count, "to": wa_id}
        )
        response.raise_for_status()

    def conversation(self, wa_id: str) -> dict[str, Any]:
        snap = self.db.collection("conversations").document(f"{PHONE_NUMBER_ID}:{wa_id}").get()
        return snap.to_dict() or {}

    def message(self, message_id: str) -> dict[str, Any]:
        return self.db.collection("messages").document(message_id).get().to_dict() or {}

    def outbound_for(self, wa_id: str) -> list[dict[str, Any]]:
        query = self.db.collection("outbound_messages").where(filter=FieldFilter("to", "==", wa_id))
        return [snap.to_dict() or {} for snap in query.stream()]

    def quiet_after(self, seconds: float = 4.0) -> None:
        """Give the pipeline time to do something it should not do."""
        time.sleep(seconds)


@pytest.fixture(scope="session")
def pipeline(local_stack: LocalStack) -> Iterator[Pipeline]:
    env = local_stack.config.emulator_env()
    os.environ["FIRESTORE_EMULATOR_HOST"] = env["FIRESTORE_EMULATOR_HOST"]
    os.environ["PUBSUB_EMULATOR_HOST"] = env["PUBSUB_EMULATOR_HOST"]
    with httpx.Client(timeout=30) as http:
        yield Pipeline(
            stack=local_stack,
            http=http,
            db=firestore.Client(project=local_stack.config.project),
        )


@pytest.fixture
def wa_id() -> str:
    """A customer nobody else in the run writes as."""
    return "55119" + str(uuid.uuid4().int)[:8]


@pytest.fixture
def inbound_probe(pipeline: Pipeline) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Read what reaches topic inbound from now on (as decoded envelopes)."""
    project = pipeline.stack.config.project
    subscriber = pubsub_v1.SubscriberClient()
    name = subscriber.subscription_path(project, f"probe-{uuid.uuid4().hex[:8]}")
    subscriber.create_subscription(
        request={"name": name, "topic": f"projects/{project}/topics/inbound"}
    )

    def pull() -> list[dict[str, Any]]:
        response = subscriber.pull(request={"subscription": name, "max_messages": 100}, timeout=5)
        if response.received_messages:
            subscriber.acknowledge(
                request={
                    "subscription": name,
                    "ack_ids": [m.ack_id for m in response.received_messages],
                }
            )
        return [json.loads(m.message.data) for m in response.received_messages]

    yield pull
    subscriber.delete_subscription(request={"subscription": name})
    subscriber.close()


def text_update(wa_id: str, text: str, message_id: str) -> bytes:
    """A WhatsApp Business Account update carrying one text message."""
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "100000000000000",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "5511400000000",
                                    "phone_number_id": PHONE_NUMBER_ID,
                                },
                                "contacts": [{"profile": {"name": "Cliente"}, "wa_id": wa_id}],
                                "messages": [
                                    {
                                        "from": wa_id,
                                        "id": message_id,
                                        "timestamp": str(int(time.time())),
                                        "type": "text",
                                        "text": {"body": text},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        },
        indent=2,
    ).encode()


FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "whatsapp"
