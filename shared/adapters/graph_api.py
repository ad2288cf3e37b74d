"""WhatsAppSender over the WhatsApp Cloud API (`POST /{version}/{phone_number_id}/messages`)."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from shared.domain.models import OutboundMessage, SendOutcome, SendResult

__all__ = ["GraphApiSender", "request_body"]

logger = logging.getLogger(__name__)

# Graph error codes that a later attempt can clear: throughput, spam-rate and pair-rate
# limits, temporary service errors, and an expired token that operators will rotate.
_RETRYABLE_CODES = {4, 80007, 130429, 131048, 131056, 131000, 131016, 190, 2}


def request_body(message: OutboundMessage) -> dict[str, Any]:
    """The JSON body Meta documents for a text or template message."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to,
    }
    if message.kind == "template":
        template: dict[str, Any] = {
            "name": message.template_name,
            "language": {"code": message.template_language},
        }
        if message.template_parameters:
            template["components"] = [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": p} for p in message.template_parameters
                    ],
                }
            ]
        body.update(type="template", template=template)
    else:
        body.update(type="text", text={"preview_url": False, "body": message.text})
    return body


class GraphApiSender:
    """Sends messages with a bearer token to a configurable Graph API base URL."""

    def __init__(
        self,
        *,
        base_url: str,
        version: str,
        access_token: str,
        timeout_seconds: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._version = version
        self._client = client or httpx.Client(
            timeout=timeout_seconds,
            headers={"Authorization": f"Bearer {access_token}"},
        )

    def send(self, message: OutboundMessage) -> SendResult:
        """One POST; classifies the answer as sent, permanent or transient failure."""
        url = f"{self._base}/{self._version}/{message.phone_number_id}/messages"
        try:
            response = self._client.post(url, json=request_body(message))
        except httpx.HTTPError as error:
            return SendResult(
                outcome=SendOutcome.TRANSIENT_FAILURE, error_message=f"network: {error!r}"
            )
        return classify_response(response.status_code, _json(response))


def classify_response(status: int, payload: dict[str, Any]) -> SendResult:
    """Map an HTTP status and Graph error envelope to an outcome."""
    if 200 <= status < 300:
        messages = payload.get("messages") or [{}]
        wamid = messages[0].get("id") if isinstance(messages[0], dict) else None
        if wamid:
            return SendResult(outcome=SendOutcome.SENT, wamid=str(wamid), http_status=status)
        return SendResult(
            outcome=SendOutcome.TRANSIENT_FAILURE,
            http_status=status,
            error_message="2xx without a message id",
        )
    raw_error = payload.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    message = str(error.get("message") or f"HTTP {status}")
    transient = status == 429 or status >= 500 or code in _RETRYABLE_CODES
    return SendResult(
        outcome=SendOutcome.TRANSIENT_FAILURE if transient else SendOutcome.PERMANENT_FAILURE,
        http_status=status,
        error_code=code,
        error_message=message[:500],
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
