"""Cloud Function `outbound` (Pub/Sub push, topic outbound): send through the Graph API."""

import functions_framework
from cloudevents.http.event import CloudEvent

from shared.bootstrap import outbound_service, publisher
from shared.handlers.delivery import deliver
from shared.settings import get_settings


@functions_framework.cloud_event
def outbound(cloud_event: CloudEvent) -> None:
    """One reply or template; a transient API failure raises so that Pub/Sub retries."""
    deliver(
        cloud_event.data,
        source="outbound",
        handle=outbound_service().handle,
        publisher=publisher,
        dead_letter_topic=get_settings().topic_dead_letter,
    )
