"""Dead letters: record every message that could not be processed, with the reason."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.handlers.pubsub_event import PubSubMessage

if TYPE_CHECKING:
    from shared.ports import ConversationStore

__all__ = ["DeadLetterService"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetterService:
    """Handles one delivery from topic `dead-letter`."""

    store: ConversationStore

    def handle(self, message: PubSubMessage) -> str:
        """Store the dead letter; idempotent by message id."""
        attrs = message.attributes
        if "atende_reason" in attrs:
            reason = attrs["atende_reason"]
            source = attrs.get("atende_source", "unknown")
        else:
            # Parked by Pub/Sub itself after the subscription's delivery attempts ran out.
            source = attrs.get("CloudPubSubDeadLetterSourceSubscription", "unknown")
            attempts = attrs.get("CloudPubSubDeadLetterSourceDeliveryCount", "?")
            reason = f"delivery attempts exhausted ({attempts}) on {source}"
        doc_id = attrs.get("atende_original_message_id") or message.message_id
        self.store.record_dead_letter(
            doc_id,
            {
                "data_base64": base64.b64encode(message.data).decode(),
                "attributes": attrs,
                "ordering_key": message.ordering_key,
            },
            reason,
            source,
        )
        logger.error("dead letter %s from %s: %s", doc_id, source, reason)
        return "recorded"
