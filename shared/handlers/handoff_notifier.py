"""Handoff notifier: post each handoff card to the analysts' chat space exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from shared.domain.handoff_notice import HandoffNotice
from shared.domain.models import HandoffCard, SendClaim, SendOutcome
from shared.handlers.pubsub_event import PoisonMessage, PubSubMessage
from shared.observability import pseudonym
from shared.tracing import annotate

if TYPE_CHECKING:
    from shared.ports import ChatNotifier, Clock, HandoffNotifications
    from shared.settings import Settings

__all__ = ["HandoffNotifierService", "TransientNotifyError"]

logger = logging.getLogger(__name__)


class TransientNotifyError(RuntimeError):
    """The card may go through later (or another delivery is posting it): let Pub/Sub redeliver."""


@dataclass(frozen=True, slots=True)
class HandoffNotifierService:
    """Handles one delivery from topic `handoffs`."""

    notifications: HandoffNotifications
    chat: ChatNotifier
    clock: Clock
    settings: Settings

    def handle(self, message: PubSubMessage) -> str:
        """Post unless already posted; raise TransientNotifyError to be retried."""
        try:
            card = HandoffCard.model_validate_json(message.data)
        except ValidationError as error:
            # Without the input: it holds the customer's number, name and words.
            problems = error.errors(include_input=False, include_url=False)[:3]
            raise PoisonMessage(f"not a handoff card: {problems}") from error
        notice = HandoffNotice.from_card(card, console_base_url=self.settings.console_base_url)
        customer = pseudonym(card.customer_wa_id)
        annotate(
            {
                "atende.ticket_id": notice.ticket_id,
                "atende.turn_id": notice.turn_id,
                "atende.customer": customer,
            }
        )
        # The claim outlives a post that hangs until its timeout, so a redelivery meanwhile
        # finds it BUSY rather than posting a second card.
        claim = self.notifications.claim(
            notice, now=self.clock.now(), claim_seconds=self.settings.send_claim_seconds
        )
        if claim is SendClaim.DONE:
            logger.info("handoff card %s already posted", notice.key)
            return claim.value
        if claim is SendClaim.BUSY:
            # Not acknowledged: if the holder crashed, a later delivery finds its claim expired.
            raise TransientNotifyError(
                f"handoff card {notice.key} is being posted by another delivery"
            )
        result = self.chat.post(notice)
        if result.outcome is SendOutcome.SENT:
            self.notifications.record_posted(notice.key, result.message_name)
            logger.info(
                "posted handoff card %s of %s (%s, %s) to the analysts' space",
                notice.key,
                customer,
                notice.assistant,
                notice.category,
            )
            return "posted"
        failure = f"handoff card {notice.key}: {result.error or 'no reason given'}"
        if result.outcome is SendOutcome.PERMANENT_FAILURE:
            # A 4xx (a revoked webhook, a card Chat refuses): no retry fixes it; an operator
            # fixes the cause and replays the dead letter.
            self.notifications.give_up(notice.key, failure)
            raise PoisonMessage(failure)
        attempts = self.notifications.release(notice.key, failure)
        if attempts >= self.settings.max_send_attempts:
            # Counted here, not left to the subscription's dead-letter policy, so that the
            # dead letter carries the last failure as its reason.
            reason = f"gave up after {attempts} attempts; last: {failure}"
            self.notifications.give_up(notice.key, reason)
            raise PoisonMessage(reason)
        raise TransientNotifyError(failure)
