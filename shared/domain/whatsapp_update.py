"""Split a WhatsApp Business Account webhook update into the events the pipeline publishes.

Kept to the standard library: the webhook imports it on every cold start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["InboundEvent", "NotAWhatsAppUpdate", "split_update"]

logger = logging.getLogger(__name__)

# Fields whose values carry customer traffic; everything else (account, template, call
# and preference updates) is acknowledged and ignored for now.
_MESSAGE_FIELDS = {"messages", "smb_message_echoes"}


class NotAWhatsAppUpdate(ValueError):
    """The body is not a WhatsApp Business Account webhook update."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundEvent:
    """One message, echo or status receipt, ready to publish on topic `inbound`."""

    kind: str  # "message" | "echo" | "status"
    event_id: str
    ordering_key: str
    envelope: dict[str, Any]


def split_update(body: object) -> list[InboundEvent]:
    """Every message, echo and status in an update; raises NotAWhatsAppUpdate on a bad shape."""
    if not isinstance(body, dict) or body.get("object") != "whatsapp_business_account":
        raise NotAWhatsAppUpdate("object must be 'whatsapp_business_account'")
    entries = body.get("entry")
    if not isinstance(entries, list):
        raise NotAWhatsAppUpdate("entry must be a list")
    events: list[InboundEvent] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes", []), list):
            raise NotAWhatsAppUpdate("each entry must be an object with a list of changes")
        for change in entry.get("changes", []):
            if not isinstance(change, dict):
                raise NotAWhatsAppUpdate("each change must be an object")
            field = change.get("field")
            value = change.get("value")
            if field not in _MESSAGE_FIELDS or not isinstance(value, dict):
                logger.info("ignoring webhook field %s", field)
                continue
            events.extend(_events_of(str(entry.get("id", "")), field, value))
    return events


def _events_of(waba_id: str, field: str, value: dict[str, Any]) -> Iterator[InboundEvent]:
    metadata = _dict(value.get("metadata"))
    base = {
        "v": 1,
        "field": field,
        "waba_id": waba_id,
        "phone_number_id": str(metadata.get("phone_number_id", "")),
        "display_phone_number": str(metadata.get("display_phone_number", "")),
    }
    contacts = {
        str(c.get("wa_id")): c for c in _dicts(value.get("contacts")) if c.get("wa_id") is not None
    }
    for message in _dicts(value.get("messages")):
        wa_id = _customer_id(message, "from", "from_user_id")
        yield _event("message", base, wa_id, message, contacts.get(wa_id), ordered=True)
    for echo in _dicts(value.get("message_echoes")):
        wa_id = _customer_id(echo, "to", "to_user_id")
        yield _event("echo", base, wa_id, echo, contacts.get(wa_id), ordered=True)
    for status in _dicts(value.get("statuses")):
        wa_id = _customer_id(status, "recipient_id", "recipient_user_id")
        # Receipts are applied commutatively, so they ride without an ordering key:
        # a receipt that fails and retries must never hold back the customer's messages.
        yield _event("status", base, wa_id, status, None, ordered=False)


def _event(
    kind: str,
    base: dict[str, Any],
    wa_id: str,
    item: dict[str, Any],
    contact: dict[str, Any] | None,
    *,
    ordered: bool,
) -> InboundEvent:
    item_id = str(item.get("id", ""))
    event_id = f"status:{item_id}:{item.get('status', '')}" if kind == "status" else item_id
    envelope = {**base, "kind": kind, "wa_id": wa_id, "item": item, "contact": contact}
    return InboundEvent(
        kind=kind, event_id=event_id, ordering_key=wa_id if ordered else "", envelope=envelope
    )


def _customer_id(item: dict[str, Any], *keys: str) -> str:
    # Meta's business-scoped user ids may replace the phone number in some updates.
    for candidate in keys:
        if item.get(candidate):
            return str(item[candidate])
    return ""


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
