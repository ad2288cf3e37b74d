"""Cloud Function `handoff_notifier` (Pub/Sub push, topic handoffs): post the analysts' card."""

import functions_framework
from cloudevents.http.event import CloudEvent

from shared.bootstrap import handoff_notifier_service, publisher
from shared.handlers.delivery import deliver
from shared.settings import get_settings


@functions_framework.cloud_event
def handoff_notifier(cloud_event: CloudEvent) -> None:
    """One card to Google Chat; a 429, a 5xx or a timeout raises so that Pub/Sub retries."""
    deliver(
        cloud_event.data,
        source="handoff_notifier",
        handle=handoff_notifier_service().handle,
        publisher=publisher,
        dead_letter_topic=get_settings().topic_dead_letter,
    )
