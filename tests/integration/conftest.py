"""Clients on a fresh emulator project for each test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from google.cloud import firestore, pubsub_v1  # type: ignore[attr-defined]

from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.pubsub import PubSubPublisher
from shared.domain.models import InboundMessage
from shared.topology import TOPICS


@pytest.fixture
def db(emulator_project: str) -> firestore.Client:
    """A Firestore client on an empty database."""
    return firestore.Client(project=emulator_project)


@pytest.fixture
def store(db: firestore.Client) -> FirestoreStore:
    """The store under test."""
    return FirestoreStore(db)


@pytest.fixture
def topics(emulator_project: str) -> Iterator[dict[str, str]]:
    """Every pipeline topic with a pull subscription of its own, to read what was published."""
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    subscriptions = {}
    for topic in TOPICS:
        topic_path = publisher.create_topic(name=publisher.topic_path(emulator_project, topic)).name
        sub = subscriber.subscription_path(emulator_project, f"{topic}-probe")
        subscriber.create_subscription(
            request={"name": sub, "topic": topic_path, "enable_message_ordering": True}
        )
        subscriptions[topic] = sub
    yield subscriptions
    subscriber.close()


@pytest.fixture
def publisher(emulator_project: str, topics: dict[str, str]) -> PubSubPublisher:
    """The real publisher adapter on the emulator."""
    return PubSubPublisher(emulator_project)


def pull_all(subscription: str, *, max_messages: int = 100) -> list[Any]:
    """Everything waiting on a pull subscription, acknowledged."""
    subscriber = pubsub_v1.SubscriberClient()
    received = []
    for _ in range(3):
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": max_messages},
            timeout=5,
        )
        if not response.received_messages:
            break
        received.extend(response.received_messages)
        subscriber.acknowledge(
            request={
                "subscription": subscription,
                "ack_ids": [m.ack_id for m in response.received_messages],
            }
        )
    subscriber.close()
    return [m.message for m in received]


def text_message(
    message_id: str, text: str = "Vocês aceitam PIX?", *, wa_id: str = "5511988887777"
) -> InboundMessage:
    """A customer's text message as intake parses it."""
    return InboundMessage(
        message_id=message_id,
        wa_id=wa_id,
        phone_number_id="100000000000001",
        type="text",
        timestamp=datetime.now(tz=UTC),
        text=text,
        contact_name="Maria",
        wakes_agent=True,
        raw={"id": message_id, "type": "text", "text": {"body": text}},
    )
