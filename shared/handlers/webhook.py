"""The WhatsApp webhook: Meta's verification handshake and signed updates.

Import-light on purpose (the standard library and the OpenTelemetry API only): it runs on
every cold start of the function Meta calls, and a slow answer makes Meta retry.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.signature import verify_signature
from shared.domain.whatsapp_update import NotAWhatsAppUpdate, split_update
from shared.tracing import SpanKind, annotate, span

if TYPE_CHECKING:
    from shared.ports import Publisher

__all__ = ["WebhookConfig", "WebhookReply", "handle_update", "handle_verification"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """An HTTP answer: status and plain-text body."""

    status: int
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookConfig:
    """What the webhook needs to know, resolved once per instance."""

    app_secret: str
    verify_token: str
    inbound_topic: str
    max_body_bytes: int


def handle_verification(params: Mapping[str, str], config: WebhookConfig) -> WebhookReply:
    """Echo `hub.challenge` when Meta subscribes with our verify token."""
    mode = params.get("hub.mode")
    token = params.get("hub.verify_token", "")
    challenge = params.get("hub.challenge", "")
    if mode == "subscribe" and hmac.compare_digest(token.encode(), config.verify_token.encode()):
        return WebhookReply(200, challenge)
    logger.warning("webhook verification refused (mode=%s)", mode)
    return WebhookReply(403, "verification failed")


def handle_update(
    raw_body: bytes,
    signature: str | None,
    config: WebhookConfig,
    publisher: Publisher,
) -> WebhookReply:
    """Verify, split and publish an update; 200 only once every event is confirmed."""
    # The root of the trace every event of this update carries to intake and beyond.
    with span(
        "webhook",
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.request.body.size": len(raw_body)},
    ) as current:
        reply = _accept(raw_body, signature, config, publisher)
        current.set_attribute("http.response.status_code", reply.status)
        return reply


def _accept(
    raw_body: bytes, signature: str | None, config: WebhookConfig, publisher: Publisher
) -> WebhookReply:
    if len(raw_body) > config.max_body_bytes:
        logger.warning("webhook body of %d bytes over the cap", len(raw_body))
        return WebhookReply(413, "payload too large")
    if not verify_signature(raw_body, signature, config.app_secret):
        logger.warning("webhook signature missing or wrong")
        return WebhookReply(401, "invalid signature")
    try:
        events = split_update(json.loads(raw_body))
    except (ValueError, UnicodeDecodeError) as error:
        # NotAWhatsAppUpdate is a ValueError, as is a JSON decoding error.
        reason = str(error) if isinstance(error, NotAWhatsAppUpdate) else "body is not JSON"
        logger.warning("webhook body rejected: %s", reason)
        return WebhookReply(400, f"not a WhatsApp Business Account update: {reason}")
    if not events:
        return WebhookReply(200, "ok")
    received_at = time.time()
    annotate({"atende.events": len(events)})
    items = []
    for event in events:
        envelope = {**event.envelope, "received_at": received_at}
        data = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
        attributes = {"kind": event.kind, "event_id": event.event_id}
        items.append((data, event.ordering_key, attributes))
    try:
        publisher.publish_many(config.inbound_topic, items)
    except Exception:
        # Meta retries a non-2xx answer for days; that is our durability guarantee here.
        logger.exception("could not publish %d inbound event(s)", len(items))
        return WebhookReply(503, "could not accept the update, retry later")
    logger.info("accepted %d inbound event(s)", len(items))
    return WebhookReply(200, "ok")
