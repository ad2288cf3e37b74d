"""Follow-ups: on each tick, send what the reminder trails have due and do the housekeeping.

Cloud Scheduler publishes a tick on topic `followup-ticks` every few minutes (locally the stack
does). A tick carries no work of its own: the work is whatever is due at the function's clock,
so a late tick does it late, a doubled tick finds it claimed, and a missed tick's work is done
by the next one.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.domain.models import AgentTurnRequest, OutboundMessage
from shared.domain.trail import TrailDecision, TrailPolicy, decide
from shared.handlers.pubsub_event import PoisonMessage, PubSubMessage
from shared.observability import pseudonym

if TYPE_CHECKING:
    from shared.ports import (
        Clock,
        DebtStore,
        KnowledgeStore,
        MaintenanceStore,
        Publisher,
        TemplateStore,
    )
    from shared.settings import Settings

__all__ = ["FollowUpService", "Tick", "TickReport"]

logger = logging.getLogger(__name__)


class Tick(BaseModel):
    """The payload Cloud Scheduler publishes (shared.topology.TICK_PAYLOAD)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job: Literal["followups"]
    source: str = "cloud-scheduler"


@dataclass
class TickReport:
    """What one tick did, as counts (logged as `event: followups_tick`)."""

    republished: int = 0
    sent: int = 0
    templates: int = 0
    skipped_steps: int = 0
    waited: int = 0
    stopped: int = 0
    # Due, but the deployment has no billing number to send from.
    blocked: int = 0
    finished_idle: int = 0
    purged_kb: int = 0
    freed_leases: int = 0
    requeued: int = 0
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """`sent:3 waited:1 ...`, the counts that are not zero."""
        counts = {k: v for k, v in vars(self).items() if k != "failures" and v}
        return " ".join(f"{k}:{v}" for k, v in counts.items()) or "nothing-due"


class TickFailed(RuntimeError):
    """A part of the tick failed: Pub/Sub redelivers it, and every part is safe to redo."""


@dataclass(frozen=True, slots=True)
class FollowUpService:
    """Handles one delivery from topic `followup-ticks`."""

    debts: DebtStore
    maintenance: MaintenanceStore
    publisher: Publisher
    templates: TemplateStore
    clock: Clock
    settings: Settings
    policy: TrailPolicy
    # Built only when the tick purges (the KB adapter may need a network client).
    knowledge: Callable[[], KnowledgeStore] | None = None

    def handle(self, message: PubSubMessage) -> str:
        """Run the tick; raise TickFailed if any part failed, after trying every part."""
        try:
            Tick.model_validate_json(message.data)
        except ValidationError as error:
            problems = error.errors(include_input=False, include_url=False)[:3]
            raise PoisonMessage(f"not a follow-up tick: {problems}") from error
        report = self.run()
        if report.failures:
            raise TickFailed("; ".join(report.failures))
        return report.summary()

    def run(self) -> TickReport:
        """Every part of a tick, each on its own: one failing does not stop the others."""
        report = TickReport()
        parts: list[tuple[str, Callable[[TickReport], None]]] = [
            ("republish", self._republish),
            ("trails", self._trails),
            ("idle tickets", self._finish_idle),
            ("knowledge base", self._purge_kb),
            ("leases", self._free_leases),
        ]
        for name, part in parts:
            try:
                part(report)
            except Exception as error:  # reported; the redelivered tick redoes it safely
                logger.exception("follow-up tick: %s failed", name)
                report.failures.append(f"{name}: {type(error).__name__}: {error}")
        logger.info(
            "follow-up tick: %s",
            report.summary(),
            extra={"fields": {"event": "followups_tick", **vars(report)}},
        )
        return report

    # ------------------------------------------------------------------- parts

    def _republish(self, report: TickReport) -> None:
        for invoice_id, notice in self.debts.unpublished_notices(
            now=self.clock.now(), limit=self.settings.followup_batch
        ):
            self._publish(invoice_id, notice)
            report.republished += 1

    def _trails(self, report: TickReport) -> None:
        now = self.clock.now()
        due = self.debts.due_trails(now, limit=self.settings.followup_batch)
        if not due:
            return
        # Overlapping ticks would otherwise walk the same list in step, each transaction
        # waiting on the other's lock; shuffled, they mostly claim different trails.
        random.shuffle(due)
        try:
            number = self.settings.billing_number
        except ValueError as error:
            # A setting, not a message, is wrong: retrying the tick cannot fix it, so the
            # trails wait (nothing is lost) and every tick says why.
            logger.error("follow-up tick: %d trail(s) due but not sent: %s", len(due), error)
            report.blocked = len(due)
            return
        assistant = self.settings.billing_assistant
        # One read per template for the whole batch.
        template = functools.cache(self.templates.template)

        for invoice_id in due:
            decision = self.debts.advance_trail(
                invoice_id,
                now=now,
                phone_number_id=number,
                assistant=assistant,
                decide=lambda snapshot: decide(
                    snapshot, now=now, policy=self.policy, templates=template
                ),
            )
            self._count(invoice_id, decision, report)

    def _count(self, invoice_id: str, decision: TrailDecision, report: TickReport) -> None:
        if decision.action == "send" and decision.message is not None:
            self._publish(invoice_id, decision.message)
            report.sent += 1
            report.templates += decision.message.kind == "template"
            report.skipped_steps += decision.skipped_steps
            logger.info(
                "trail %s: step %s sent to %s as %s%s",
                invoice_id,
                decision.step,
                pseudonym(decision.message.to),
                decision.message.kind,
                f" ({decision.skipped_steps} overdue step(s) not sent)"
                if decision.skipped_steps
                else "",
            )
        elif decision.action == "wait":
            report.waited += 1
            level = logging.INFO if decision.reason == "quiet hours" else logging.WARNING
            logger.log(
                level,
                "trail %s waits until %s: %s",
                invoice_id,
                decision.next_due_at,
                decision.reason,
            )
        elif decision.action == "stop":
            report.stopped += 1
            logger.info("trail %s stopped: %s", invoice_id, decision.reason)

    def _publish(self, invoice_id: str, notice: OutboundMessage) -> None:
        self.publisher.publish(
            self.settings.topic_outbound,
            notice.model_dump_json().encode(),
            ordering_key=notice.conversation_id,
            attributes={"invoice_id": invoice_id},
        )
        self.debts.mark_notice_published(invoice_id, notice.idempotency_key)

    def _finish_idle(self, report: TickReport) -> None:
        now = self.clock.now()
        cutoff = now - timedelta(hours=self.settings.idle_finish_hours)
        report.finished_idle = self.maintenance.finish_idle_tickets(
            cutoff=cutoff, now=now, limit=self.settings.followup_batch
        )

    def _purge_kb(self, report: TickReport) -> None:
        if self.knowledge is not None:
            report.purged_kb = self.knowledge().purge_expired(self.clock.now())

    def _free_leases(self, report: TickReport) -> None:
        freed, waiting = self.maintenance.free_stale_leases(
            now=self.clock.now(), limit=self.settings.followup_batch
        )
        report.freed_leases = freed
        for conversation_id in waiting:
            # The turn that held the lease died with these messages unanswered: wake another.
            self.publisher.publish(
                self.settings.topic_agent_turns,
                AgentTurnRequest(conversation_id=conversation_id, message_id="maintenance")
                .model_dump_json()
                .encode(),
                ordering_key=conversation_id,
            )
            report.requeued += 1
