"""The Pub/Sub topics and subscriptions of the pipeline, as one declaration.

The local stack creates exactly these on the emulator; Terraform declares the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FUNCTIONS",
    "PULL_SUBSCRIPTIONS",
    "PUSH_SUBSCRIPTIONS",
    "TICK_PAYLOAD",
    "TOPICS",
    "PushSubscription",
]

TOPICS = ("inbound", "agent-turns", "outbound", "handoffs", "followup-ticks", "dead-letter")

# What Cloud Scheduler publishes on topic followup-ticks (terraform: the job's pubsub_target
# data); the local stack publishes the very same bytes on its own, faster, schedule.
TICK_PAYLOAD = b'{"job":"followups","source":"cloud-scheduler"}'


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """A push subscription that delivers a topic to one function."""

    name: str
    topic: str
    function: str
    ordered: bool = True
    ack_deadline_seconds: int = 60
    dead_letter: bool = True


PUSH_SUBSCRIPTIONS = (
    PushSubscription("inbound-intake", "inbound", "intake"),
    # A turn waits for the customer's quiet period before answering.
    PushSubscription(
        "agent-turns-agent-turn", "agent-turns", "agent_turn", ack_deadline_seconds=600
    ),
    PushSubscription("outbound-outbound", "outbound", "outbound"),
    # Cards carry no ordering key: each ticket's card stands alone.
    PushSubscription("handoffs-handoff-notifier", "handoffs", "handoff_notifier", ordered=False),
    # Ticks carry no ordering key; a tick's work can take minutes (a batch of trails).
    PushSubscription(
        "followup-ticks-followups",
        "followup-ticks",
        "followups",
        ordered=False,
        ack_deadline_seconds=600,
    ),
    # The recorder of dead letters has no dead letter of its own: its failures retry.
    PushSubscription(
        "dead-letter-recorder", "dead-letter", "dead_letter", ordered=False, dead_letter=False
    ),
)

# name -> topic; read by people and (later) the console, so messages wait for them.
PULL_SUBSCRIPTIONS = {"handoffs-console": "handoffs", "dead-letter-inspect": "dead-letter"}

# function directory -> entry point (the same name).
FUNCTIONS = (
    "webhook",
    "intake",
    "agent_turn",
    "outbound",
    "dead_letter",
    "handoff_notifier",
    "followups",
)
