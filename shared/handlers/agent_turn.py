"""Agent turn: one answer per burst of customer messages, never two for the same message."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from shared.domain.models import (
    AgentTurnRequest,
    BrainRequest,
    Conversation,
    HandoffCard,
    Holder,
    OutboundMessage,
    TicketStatus,
    Turn,
    wa_id_of,
)
from shared.observability import pseudonym
from shared.tracing import annotate, span

if TYPE_CHECKING:
    from shared.domain.trail import TrailPolicy
    from shared.ports import AgentBrain, Clock, ConversationStore, DebtStore, Publisher
    from shared.settings import Settings

__all__ = ["AgentTurnService", "turn_id_for"]

logger = logging.getLogger(__name__)


def turn_id_for(conversation_id: str, message_ids: list[str]) -> str:
    """Same messages, same turn: a retried turn reuses its replies' idempotency keys."""
    digest = hashlib.sha256("\n".join([conversation_id, *sorted(message_ids)]).encode())
    return "turn-" + digest.hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class AgentTurnService:
    """Handles one delivery from topic `agent-turns`."""

    store: ConversationStore
    publisher: Publisher
    brain: AgentBrain
    clock: Clock
    settings: Settings
    # Where what a debtor agreed to (opt-out, promise, instalments) is applied; None when the
    # deployment has no billing.
    debts: DebtStore | None = None
    trail: TrailPolicy | None = None

    def handle(self, request: AgentTurnRequest) -> str:
        """Answer what is pending in the conversation, unless another turn is already on it."""
        cid = request.conversation_id
        owner = uuid.uuid4().hex
        if not self.store.acquire_lease(
            cid, owner, now=self.clock.now(), seconds=self.settings.lease_seconds
        ):
            logger.info("turn for %s skipped: another turn holds the lease", pseudonym(cid))
            return "busy"
        answered = 0
        try:
            self._finish_unpublished(cid)
            # Messages that arrive while we answer find the lease held and are answered here.
            while self._one_turn(cid):
                answered += 1
        finally:
            self.store.release_lease(cid, owner)
        # A message stored after our last look but whose own event saw the lease held would
        # otherwise wait for the customer to write again: hand it to a fresh turn.
        if self.store.pending_messages(cid):
            self.publisher.publish(
                self.settings.topic_agent_turns,
                request.model_copy(update={"message_id": "requeue"}).model_dump_json().encode(),
                ordering_key=cid,
            )
            return "requeued"
        return f"answered:{answered}" if answered else "nothing-pending"

    def _finish_unpublished(self, cid: str) -> None:
        for turn in self.store.unpublished_turns(cid):
            logger.warning("republishing turn %s left unpublished", turn.turn_id)
            self._publish(turn)

    def _wait_for_quiet(self, cid: str) -> Conversation | None:
        """Let a burst of messages finish: quiet period since the last one, bounded."""
        started = self.clock.now()
        deadline = started + timedelta(seconds=self.settings.max_wait_seconds)
        quiet = timedelta(seconds=self.settings.quiet_period_seconds)
        while True:
            conversation = self.store.get_conversation(cid)
            now = self.clock.now()
            if conversation is None or conversation.last_inbound_at is None:
                return conversation
            remaining = (conversation.last_inbound_at + quiet - now).total_seconds()
            if remaining <= 0 or now >= deadline:
                return conversation
            self.clock.sleep(min(remaining, (deadline - now).total_seconds()))

    def _one_turn(self, cid: str) -> bool:
        """Answer the pending messages once; False when there was nothing to answer."""
        conversation = self._wait_for_quiet(cid)
        pending = self.store.pending_messages(cid)
        if conversation is None or not pending:
            return False
        ids = [m.message_id for m in pending]
        if conversation.holder == Holder.HUMAN:
            self.store.release_to_human(cid, ids)
            return False
        started = time.perf_counter()
        turn_id = turn_id_for(cid, ids)
        annotate({"atende.customer": pseudonym(conversation.wa_id), "atende.turn_id": turn_id})
        with span(
            "brain.answer",
            attributes={
                "atende.turn_id": turn_id,
                "atende.assistant": conversation.assistant,
                "atende.messages": len(pending),
            },
        ) as answering:
            reply = self.brain.answer(
                BrainRequest(
                    conversation=conversation,
                    pending=pending,
                    history=self.store.history(cid),
                    turn_id=turn_id,
                )
            )
            answering.set_attributes(
                {
                    "atende.route": reply.route,
                    "atende.model": reply.model,
                    "atende.llm_calls": len(reply.llm_calls),
                    "atende.replies": len(reply.texts),
                    "atende.ticket_status": reply.ticket_status.value,
                }
            )
        replies = [
            OutboundMessage(
                idempotency_key=f"{turn_id}:{i}",
                conversation_id=cid,
                phone_number_id=conversation.phone_number_id,
                to=conversation.wa_id,
                text=text,
                ticket_id=conversation.open_ticket_id,
                turn_id=turn_id,
                last_customer_message_at=conversation.last_customer_message_at,
            )
            for i, text in enumerate(reply.texts)
        ]
        handoff = None
        if reply.ticket_status == TicketStatus.TRANSFERRED_TO_ANALYST:
            handoff = HandoffCard(
                ticket_id=conversation.open_ticket_id or turn_id,
                conversation_id=cid,
                assistant=conversation.assistant,
                category=reply.handoff_category or "geral",
                customer_wa_id=conversation.wa_id,
                customer_name=conversation.contact_name,
                question=reply.question,
                summary=reply.summary,
                turn_id=turn_id,
            )
        turn = Turn(
            turn_id=turn_id,
            conversation_id=cid,
            message_ids=ids,
            replies=replies,
            route=reply.route,
            ticket_status=reply.ticket_status,
            handoff=handoff,
            model=reply.model,
            latency_ms=(time.perf_counter() - started) * 1000,
            prompt_version=reply.prompt_version,
            outcome=reply.outcome,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cost_usd=reply.cost_usd,
            llm_calls=len(reply.llm_calls),
            tools=reply.tools,
            actions=reply.actions,
        )
        if not self.store.claim_turn(turn, now=self.clock.now()):
            logger.warning("turn %s lost its messages to another turn", turn_id)
            return False
        self._publish(turn)
        logger.info(
            "turn %s answered %d message(s) of %s via %s in %.0f ms",
            turn_id,
            len(ids),
            pseudonym(conversation.wa_id),
            reply.route,
            turn.latency_ms,
            extra={
                "fields": {
                    "event": "turn",
                    "assistant": conversation.assistant,
                    "route": reply.route,
                    "outcome": reply.outcome,
                    "status": reply.ticket_status.value,
                    "handoff": handoff is not None,
                    "model": reply.model,
                    "prompt_version": reply.prompt_version,
                    "llm_calls": len(reply.llm_calls),
                    "input_tokens": turn.input_tokens,
                    "output_tokens": turn.output_tokens,
                    "cost_usd": turn.cost_usd,
                    "latency_ms": round(turn.latency_ms, 1),
                    "tools": turn.tools,
                    "actions": [a.kind for a in turn.actions],
                }
            },
        )
        if handoff is not None:
            logger.info(
                "turn %s hands %s to an analyst via %s (%s)",
                turn_id,
                pseudonym(conversation.wa_id),
                reply.route,
                "partial" if len(reply.texts) > 1 else "full",
            )
        logger.info(
            "ticket of %s enters %s",
            pseudonym(cid),
            reply.ticket_status.value,
            extra={
                "fields": {
                    "event": "ticket_status",
                    "status": reply.ticket_status.value,
                    "assistant": conversation.assistant,
                    "ticket_id": conversation.open_ticket_id or "",
                }
            },
        )
        return True

    def _publish(self, turn: Turn) -> None:
        items = [
            (reply.model_dump_json().encode(), turn.conversation_id, {"turn_id": turn.turn_id})
            for reply in turn.replies
        ]
        if items:
            self.publisher.publish_many(self.settings.topic_outbound, items)
        if turn.handoff is not None:
            self.publisher.publish(
                self.settings.topic_handoffs,
                turn.handoff.model_dump_json().encode(),
                attributes={"ticket_id": turn.handoff.ticket_id},
            )
        self._apply_actions(turn)
        self.store.mark_turn_published(turn)

    def _apply_actions(self, turn: Turn) -> None:
        """The debtor's opt-out, promise or plan reaches their trails before the turn is done.

        Here, with the publishes, so that a turn recovered unpublished applies them too; each
        action sets values rather than adding, so applying one twice changes nothing.
        """
        if not turn.actions:
            return
        if self.debts is None or self.trail is None:
            logger.error(
                "turn %s carries %s but this deployment has no debts store",
                turn.turn_id,
                [a.kind for a in turn.actions],
            )
            return
        phone = wa_id_of(turn.conversation_id)
        for action in turn.actions:
            changed = self.debts.apply_action(
                phone, action, now=self.clock.now(), policy=self.trail
            )
            logger.info(
                "turn %s applied %s to %d trail(s) of %s",
                turn.turn_id,
                action.kind,
                changed,
                pseudonym(phone),
            )
