"""Cloud Function `agent_turn` (Pub/Sub push, topic agent-turns): answer a conversation."""

import logging

import functions_framework
from cloudevents.http.event import CloudEvent
from pydantic import ValidationError

from shared.bootstrap import agent_turn_service, publisher
from shared.domain.models import AgentTurnRequest
from shared.handlers.delivery import deliver
from shared.handlers.pubsub_event import PoisonMessage, PubSubMessage
from shared.settings import get_settings


def _handle(message: PubSubMessage) -> str:
    try:
        request = AgentTurnRequest.model_validate_json(message.data)
    except ValidationError as error:
        # Without the input: a conversation id holds the customer's number.
        problems = error.errors(include_input=False, include_url=False)[:3]
        raise PoisonMessage(f"not an agent-turn request: {problems}") from error
    return agent_turn_service().handle(request)


def _warm_up() -> None:
    # Loading the embedding model takes seconds: pay it while the instance starts, before it
    # takes traffic, not inside the first customer's turn. A failure here resurfaces there.
    try:
        agent_turn_service().brain.warm_up()
    except Exception:
        logging.getLogger(__name__).warning("warm-up failed", exc_info=True)


_warm_up()


@functions_framework.cloud_event
def agent_turn(cloud_event: CloudEvent) -> None:
    """Take the lease, wait for quiet, answer everything pending, release."""
    deliver(
        cloud_event.data,
        source="agent_turn",
        handle=_handle,
        publisher=publisher,
        dead_letter_topic=get_settings().topic_dead_letter,
    )
