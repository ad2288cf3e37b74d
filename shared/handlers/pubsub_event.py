"""Decode a Pub/Sub push delivery (as functions-framework hands it over) and dead-letter it."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.ports import Publisher

__all__ = ["PoisonMessage", "PubSubMessage", "decode_push", "send_to_dead_letter"]

logger = logging.getLogger(__name__)


class PoisonMessage(ValueError):
    """A message no retry can help; it goes to the dead-letter topic with this reason."""


@dataclass(frozen=True, slots=True)
class PubSubMessage:
    """The parts of a Pub/Sub message the handlers use."""

    data: bytes
    message_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    ordering_key: str = ""

    def json(self) -> Any:
        """The payload parsed as JSON; a PoisonMessage if it is not."""
        try:
            return json.loads(self.data)
        except (ValueError, UnicodeDecodeError) as error:
            raise PoisonMessage(f"payload is not JSON: {error}") from error


def decode_push(event_data: object) -> PubSubMessage:
    """The message inside a CloudEvent's data (`{"message": {...}, "subscription": ...}`)."""
    if not isinstance(event_data, dict) or not isinstance(event_data.get("message"), dict):
        raise PoisonMessage("event carries no Pub/Sub message")
    message = event_data["message"]
    try:
        data = base64.b64decode(message.get("data") or b"", validate=True)
    except (binascii.Error, ValueError) as error:
        raise PoisonMessage("message data is not base64") from error
    attributes = message.get("attributes") or {}
    return PubSubMessage(
        data=data,
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
        attributes={str(k): str(v) for k, v in attributes.items()},
        ordering_key=str(message.get("orderingKey") or message.get("ordering_key") or ""),
    )


def _fit(text: str, max_bytes: int) -> str:
    """Cut to a byte budget: Pub/Sub caps attribute values at 1024 bytes, not characters."""
    return text.encode()[:max_bytes].decode(errors="ignore")


def send_to_dead_letter(
    publisher: Publisher,
    topic: str,
    message: PubSubMessage,
    *,
    reason: str,
    source: str,
) -> None:
    """Park a poison message on the dead-letter topic with why, so that nothing is lost."""
    attributes = {
        **message.attributes,
        "atende_reason": _fit(reason, 1000),
        "atende_source": source,
        "atende_original_message_id": message.message_id,
    }
    publisher.publish(topic, message.data, attributes=attributes)
    logger.error("dead-lettered message %s from %s: %s", message.message_id, source, reason)
