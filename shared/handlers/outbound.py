"""Outbound: send each reply through the WhatsApp Cloud API exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError

from shared.domain.models import OutboundMessage, SendClaim, SendOutcome, SendResult
from shared.handlers.pubsub_event import PoisonMessage, PubSubMessage
from shared.observability import pseudonym
from shared.tracing import annotate

if TYPE_CHECKING:
    from shared.ports import Clock, ConversationStore, WhatsAppSender
    from shared.settings import Settings

__all__ = ["CUSTOMER_SERVICE_WINDOW", "OutboundService", "TransientSendError"]

logger = logging.getLogger(__name__)

# WhatsApp lets a business send free-form messages only this long after the customer's
# last message; after it, only approved templates.
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


class TransientSendError(RuntimeError):
    """The API may accept the message later: let Pub/Sub redeliver with backoff."""


@dataclass(frozen=True, slots=True)
class OutboundService:
    """Handles one delivery from topic `outbound`."""

    store: ConversationStore
    sender: WhatsAppSender
    clock: Clock
    settings: Settings

    def handle(self, message: PubSubMessage) -> str:
        """Send unless already sent; raise TransientSendError to be retried."""
        try:
            outbound = OutboundMessage.model_validate_json(message.data)
        except ValidationError as error:
            # Without the input: it holds the customer's number and text.
            problems = error.errors(include_input=False, include_url=False)[:3]
            raise PoisonMessage(f"not an outbound message: {problems}") from error
        annotate(
            {
                "atende.idempotency_key": outbound.idempotency_key,
                "atende.kind": outbound.kind,
                "atende.customer": pseudonym(outbound.to),
            }
        )
        now = self.clock.now()
        claim = self.store.claim_send(
            outbound, now=now, claim_seconds=self.settings.send_claim_seconds
        )
        if claim is not SendClaim.SEND:
            logger.info("send %s skipped: %s", outbound.idempotency_key, claim.value)
            return claim.value
        last = outbound.last_customer_message_at
        if outbound.kind == "text" and last is not None and now - last > CUSTOMER_SERVICE_WINDOW:
            result = SendResult(
                outcome=SendOutcome.PERMANENT_FAILURE,
                error_message="outside the 24-hour customer-service window: send a template",
            )
        else:
            result = self.sender.send(outbound)
        if result.outcome is SendOutcome.TRANSIENT_FAILURE:
            failure = (
                f"send {outbound.idempotency_key} failed transiently: "
                f"HTTP {result.http_status} code {result.error_code}: {result.error_message}"
            )
            attempts = self.store.release_send_claim(outbound.idempotency_key, failure)
            if attempts >= self.settings.max_send_attempts:
                # Counted here rather than left to the subscription's dead-letter policy so
                # that the dead letter carries the last failure as its reason.
                reason = f"gave up after {attempts} attempts; last: {failure}"
                self.store.give_up_send(outbound.idempotency_key, reason)
                raise PoisonMessage(reason)
            raise TransientSendError(failure)
        self.store.record_send_result(outbound, result)
        if result.outcome is SendOutcome.PERMANENT_FAILURE:
            logger.error(
                "send %s to %s failed permanently: HTTP %s code %s: %s",
                outbound.idempotency_key,
                pseudonym(outbound.to),
                result.http_status,
                result.error_code,
                result.error_message,
            )
        else:
            logger.info(
                "sent %s to %s as %s",
                outbound.idempotency_key,
                pseudonym(outbound.to),
                result.wamid,
            )
        return result.outcome.value
