"""Cloud Function `dead_letter` (Pub/Sub push, topic dead-letter): record with the reason."""

import functions_framework
from cloudevents.http.event import CloudEvent

from shared.bootstrap import dead_letter_service
from shared.handlers.pubsub_event import decode_push


@functions_framework.cloud_event
def dead_letter(cloud_event: CloudEvent) -> None:
    """Store the parked message where operators can see it."""
    dead_letter_service().handle(decode_push(cloud_event.data))
