"""Dead letters: record every message that could not be processed, with the reason."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.handlers.pubsub_event import PubSubMessage
from shared.tracing import annotate, consume

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
        # A child of the span that parked it (its attributes keep the trace context).
        with consume("dead_letter", message):
            return self._record(message)

    def _record(self, message: PubSubMessage) -> str:
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
        # The reason is left out: it can quote an API's error message.
        annotate({"atende.dead_letter.source": source, "atende.dead_letter.id": doc_id})
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
