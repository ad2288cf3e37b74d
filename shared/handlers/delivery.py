"""Run a Pub/Sub handler on a push delivery: ack, retry, or park it as a dead letter."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.handlers.pubsub_event import (
    PoisonMessage,
    PubSubMessage,
    decode_push,
    send_to_dead_letter,
)
from shared.tracing import consume

if TYPE_CHECKING:
    from shared.ports import Publisher

__all__ = ["deliver"]

logger = logging.getLogger(__name__)


def deliver(
    event_data: object,
    *,
    source: str,
    handle: Callable[[PubSubMessage], str],
    publisher: Callable[[], Publisher],
    dead_letter_topic: str,
) -> str:
    """Returning acknowledges; an exception makes Pub/Sub redeliver with backoff."""
    try:
        message = decode_push(event_data)
    except PoisonMessage as error:
        message = PubSubMessage(data=json.dumps(event_data, default=str).encode(), message_id="")
        handle = _refuse(error)
    # The function's span, a child of the publish that sent the message.
    with consume(source, message) as current:
        try:
            outcome = handle(message)
        except PoisonMessage as error:
            send_to_dead_letter(
                publisher(), dead_letter_topic, message, reason=str(error), source=source
            )
            outcome = "dead-lettered"
        current.set_attribute("atende.outcome", outcome)
        return outcome


def _refuse(error: PoisonMessage) -> Callable[[PubSubMessage], str]:
    """A handler for an event that could not be decoded: it is poison, with that reason."""

    def refuse(message: PubSubMessage) -> str:
        raise error

    return refuse
