"""Cloud Function `intake` (Pub/Sub push, topic inbound): store, dedupe, wake the agent."""

import functions_framework
from cloudevents.http.event import CloudEvent

from shared.bootstrap import intake_service, publisher
from shared.handlers.delivery import deliver
from shared.settings import get_settings


@functions_framework.cloud_event
def intake(cloud_event: CloudEvent) -> None:
    """One inbound event: a message, an echo or a status receipt."""
    deliver(
        cloud_event.data,
        source="intake",
        handle=intake_service().handle,
        publisher=publisher,
        dead_letter_topic=get_settings().topic_dead_letter,
    )
