"""Cloud Function `followups` (Pub/Sub push, topic followup-ticks): the scheduled work."""

import functions_framework
from cloudevents.http.event import CloudEvent

from shared.bootstrap import followup_service, publisher
from shared.handlers.delivery import deliver
from shared.settings import get_settings


@functions_framework.cloud_event
def followups(cloud_event: CloudEvent) -> None:
    """Send the trails' due notices and do the housekeeping; a failed part raises to retry."""
    deliver(
        cloud_event.data,
        source="followups",
        handle=followup_service().handle,
        publisher=publisher,
        dead_letter_topic=get_settings().topic_dead_letter,
    )
