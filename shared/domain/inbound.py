"""Turn an envelope from topic `inbound` into a domain message or status receipt."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.domain.models import InboundMessage, StatusReceipt

__all__ = ["BadEnvelope", "parse_envelope", "summarize_content"]

# Types that never call for an answer: they change or annotate something already said,
# or are WhatsApp's own notices.
_SILENT_TYPES = {"reaction", "edit", "revoke", "system", "request_welcome", "ephemeral"}
_MEDIA_TYPES = {"image", "audio", "video", "document", "sticker"}
_MEDIA_LABELS = {
    "image": "imagem",
    "audio": "áudio",
    "video": "vídeo",
    "document": "documento",
    "sticker": "figurinha",
}


class BadEnvelope(ValueError):
    """The event cannot be understood; retrying will not help."""


def parse_envelope(envelope: object) -> InboundMessage | StatusReceipt:
    """The domain record an `inbound` envelope carries."""
    if not isinstance(envelope, dict) or envelope.get("v") != 1:
        raise BadEnvelope("not a version-1 inbound envelope")
    item = envelope.get("item")
    kind = envelope.get("kind")
    phone_number_id = str(envelope.get("phone_number_id") or "")
    wa_id = str(envelope.get("wa_id") or "")
    if not isinstance(item, dict) or not item.get("id"):
        raise BadEnvelope("envelope has no item with an id")
    if not phone_number_id or not wa_id:
        raise BadEnvelope("envelope lacks the business number or the customer id")
    if kind == "status":
        return StatusReceipt(
            message_id=str(item["id"]),
            status=str(item.get("status", "")),
            timestamp=_timestamp(item.get("timestamp")),
            recipient_id=wa_id,
            phone_number_id=phone_number_id,
            errors=[e for e in item.get("errors", []) if isinstance(e, dict)],
        )
    if kind not in ("message", "echo"):
        raise BadEnvelope(f"unknown envelope kind {kind!r}")
    contact = _dict(envelope.get("contact"))
    profile = _dict(contact.get("profile"))
    message_type = str(item.get("type", "unknown"))
    text = summarize_content(item)
    is_echo = kind == "echo"
    return InboundMessage(
        message_id=str(item["id"]),
        wa_id=wa_id,
        phone_number_id=phone_number_id,
        type=message_type,
        timestamp=_timestamp(item.get("timestamp")),
        text=text,
        contact_name=profile.get("name"),
        media_id=_media_id(item),
        wakes_agent=not is_echo and _calls_for_answer(item),
        is_echo=is_echo,
        raw=item,
    )


def summarize_content(item: dict[str, Any]) -> str:
    """What the customer said, as text the agent can read (Portuguese markers for media)."""
    message_type = item.get("type")
    body = item.get(message_type) if isinstance(message_type, str) else None
    body = body if isinstance(body, dict) else {}
    if message_type == "text":
        return str(body.get("body", ""))
    if message_type in _MEDIA_TYPES:
        caption = body.get("caption") or body.get("filename") or ""
        label = f"[{_MEDIA_LABELS[message_type]}]"
        return f"{label} {caption}".strip()
    if message_type == "location":
        place = " - ".join(str(body[k]) for k in ("name", "address") if body.get(k))
        return f"[localização] {place}".strip()
    if message_type == "contacts":
        names = [
            str(c.get("name", {}).get("formatted_name", ""))
            for c in item.get("contacts", [])
            if isinstance(c, dict)
        ]
        return "[contato] " + ", ".join(n for n in names if n)
    if message_type == "interactive":
        for key in ("button_reply", "list_reply"):
            reply = body.get(key)
            if isinstance(reply, dict):
                return " - ".join(str(reply[k]) for k in ("title", "description") if reply.get(k))
        nfm = body.get("nfm_reply")
        if isinstance(nfm, dict):
            return str(nfm.get("body") or "[formulário respondido]")
        return ""
    if message_type == "button":
        return str(body.get("text", ""))
    if message_type == "order":
        items = body.get("product_items", [])
        note = body.get("text") or ""
        return f"[pedido com {len(items) if isinstance(items, list) else 0} itens] {note}".strip()
    return ""


def _calls_for_answer(item: dict[str, Any]) -> bool:
    message_type = item.get("type")
    if message_type in _SILENT_TYPES:
        return False
    if message_type == "interactive":
        body = item.get("interactive")
        # A reply to a call-permission request is a yes/no the call flow consumes.
        return not (isinstance(body, dict) and body.get("type") == "call_permission_reply")
    # "unsupported" carries something the customer meant to say that we cannot read:
    # it gets an answer asking them to write it out.
    return True


def _media_id(item: dict[str, Any]) -> str | None:
    message_type = item.get("type")
    body = item.get(message_type) if isinstance(message_type, str) else None
    if message_type in _MEDIA_TYPES and isinstance(body, dict) and body.get("id"):
        return str(body["id"])
    return None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _timestamp(value: object) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return datetime.now(tz=UTC)
