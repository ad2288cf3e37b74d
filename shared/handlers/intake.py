"""Intake: store each inbound event once, keep tickets right, wake the agent when due."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.inbound import BadEnvelope, parse_envelope
from shared.domain.models import AgentTurnRequest, StatusReceipt
from shared.handlers.pubsub_event import PoisonMessage, PubSubMessage
from shared.observability import pseudonym
from shared.tracing import annotate

if TYPE_CHECKING:
    from shared.ports import ConversationStore, Publisher
    from shared.settings import Settings

__all__ = ["IntakeService"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IntakeService:
    """Handles one delivery from topic `inbound`."""

    store: ConversationStore
    publisher: Publisher
    settings: Settings

    def handle(self, message: PubSubMessage) -> str:
        """Process the event; returns what happened (for logs and tests)."""
        try:
            record = parse_envelope(message.json())
        except BadEnvelope as error:
            raise PoisonMessage(str(error)) from error
        annotate({"whatsapp.message.id": record.message_id})
        if isinstance(record, StatusReceipt):
            self.store.record_status(record)
            logger.info("status %s for %s", record.status, record.message_id)
            return f"status:{record.status}"
        customer = pseudonym(record.wa_id)
        annotate({"atende.customer": customer})
        if record.is_echo:
            new = self.store.record_echo(record)
            logger.info(
                "business echo %s for %s: a human holds the conversation",
                record.message_id,
                customer,
            )
            return "echo" if new else "duplicate"
        assistant = self.settings.assistant_for(record.phone_number_id)
        recorded = self.store.record_inbound(record, assistant=assistant)
        if not recorded.new:
            logger.info("duplicate message %s from %s", record.message_id, customer)
        if not recorded.pending:
            if recorded.new:
                logger.info(
                    "stored %s message %s from %s, no agent turn",
                    record.type,
                    record.message_id,
                    customer,
                )
            return "stored" if recorded.new else "duplicate"
        # Published again on a duplicate that is still pending: the first delivery may have
        # died between its write and its publish. The agent turn is idempotent.
        request = AgentTurnRequest(
            conversation_id=record.conversation_id, message_id=record.message_id
        )
        self.publisher.publish(
            self.settings.topic_agent_turns,
            request.model_dump_json().encode(),
            ordering_key=record.conversation_id,
        )
        logger.info("message %s from %s wakes the agent", record.message_id, customer)
        return "woke" if recorded.new else "rewoke"
