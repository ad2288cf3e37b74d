"""Google Chat through a space's incoming webhook: the analysts' handoff cards.

`GoogleChatWebhook` POSTs a `cardsV2` message to the webhook URL (the secret
`google-chat-webhook-url`, which carries the space, `key` and `token`), adding
`messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD` and `thread.threadKey` = the ticket
id, so every later card of the same ticket lands in the same thread.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import httpx

from shared.domain.handoff_notice import ChatPost, HandoffNotice
from shared.domain.models import SendOutcome
from shared.tracing import SpanKind, span

__all__ = ["REPLY_OPTION", "GoogleChatWebhook", "chat_message", "classify_chat_response"]

logger = logging.getLogger(__name__)

REPLY_OPTION = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
# Chat refuses a message over 32,000 bytes; the long fields are cut well below that.
_MAX_FIELD_CHARS = 4000
_MAX_ERROR_CHARS = 300


def _text(value: str, limit: int = _MAX_FIELD_CHARS) -> str:
    """Customer text as card text: Chat reads card text as HTML, so it is escaped."""
    value = value.strip()
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return html.escape(value, quote=False)


def _field(label: str, value: str, icon: str | None = None) -> dict[str, Any]:
    decorated: dict[str, Any] = {"topLabel": label, "text": value, "wrapText": True}
    if icon:
        decorated["startIcon"] = {"knownIcon": icon}
    return {"decoratedText": decorated}


def chat_message(notice: HandoffNotice) -> dict[str, Any]:
    """The Chat message of one notice: a fallback text, the thread, and one card.

    Labels are pt-BR: the analysts read them.
    """
    customer = _text(notice.customer_name, 200) if notice.customer_name else "(sem nome)"
    ticket = _text(notice.ticket_id, 200)
    sections: list[dict[str, Any]] = [
        {
            "header": "Cliente",
            "widgets": [
                _field("Nome", customer, "PERSON"),
                _field("Telefone", notice.customer_phone or "(sem número)", "PHONE"),
            ],
        },
        {
            "header": "Pergunta reformulada",
            "widgets": [{"textParagraph": {"text": _text(notice.question) or "(vazia)"}}],
        },
        {
            "header": "Resumo",
            "widgets": [{"textParagraph": {"text": _text(notice.summary) or "(vazio)"}}],
        },
    ]
    if notice.ticket_url:
        sections.append(
            {
                "widgets": [
                    {
                        "buttonList": {
                            "buttons": [
                                {
                                    "text": "Abrir o ticket no console",
                                    "onClick": {"openLink": {"url": notice.ticket_url}},
                                }
                            ]
                        }
                    }
                ]
            }
        )
    subtitle = f"{_text(notice.assistant, 100)} · {_text(notice.category, 100)}"
    return {
        # What the space's notifications show; the card holds the rest.
        "text": f"Transferência para analista: ticket {ticket} ({subtitle})",
        "thread": {"threadKey": notice.ticket_id},
        "cardsV2": [
            {
                "cardId": "handoff",
                "card": {
                    "header": {"title": f"Ticket {ticket}", "subtitle": subtitle},
                    "sections": sections,
                },
            }
        ],
    }


def classify_chat_response(status: int, payload: dict[str, Any]) -> ChatPost:
    """2xx posted; 408, 429 and 5xx may pass later; any other answer never will."""
    if 200 <= status < 300:
        return ChatPost(
            outcome=SendOutcome.SENT, http_status=status, message_name=str(payload.get("name", ""))
        )
    raw_error = payload.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    detail = str(error.get("message") or error.get("status") or "no error message")
    transient = status in (408, 429) or status >= 500
    return ChatPost(
        outcome=SendOutcome.TRANSIENT_FAILURE if transient else SendOutcome.PERMANENT_FAILURE,
        http_status=status,
        error=f"HTTP {status}: {detail}"[:_MAX_ERROR_CHARS],
    )


class GoogleChatWebhook:
    """Posts notices to one Chat space through its incoming-webhook URL."""

    def __init__(
        self,
        *,
        webhook_url: str,
        timeout_seconds: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        url = httpx.URL(webhook_url.strip())
        if url.scheme not in ("http", "https") or not url.host:
            # Without quoting it: the URL's key and token are the secret.
            raise ValueError("google-chat-webhook-url is not an http(s) URL")
        self._url = url.copy_set_param("messageReplyOption", REPLY_OPTION)
        # Short values (a flag, a version) would blank out ordinary words of an error.
        self._secrets = [str(url), *(v for _, v in url.params.multi_items() if len(v) >= 8)]
        self._client = client or httpx.Client(timeout=timeout_seconds, follow_redirects=False)

    def post(self, notice: HandoffNotice) -> ChatPost:
        """One POST; never raises for the answer or the network, the outcome says it all."""
        # The host and a template only: the path names the space, the query holds the token.
        with span(
            "google_chat.post",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "POST",
                "server.address": self._url.host,
                "url.template": "/v1/spaces/{space}/messages",
                "atende.ticket_id": notice.ticket_id,
            },
        ) as current:
            try:
                response = self._client.post(
                    self._url,
                    json=chat_message(notice),
                    headers={"Content-Type": "application/json; charset=UTF-8"},
                )
            except httpx.HTTPError as error:
                current.set_attributes(
                    {
                        "error.type": type(error).__qualname__,
                        "atende.send_outcome": SendOutcome.TRANSIENT_FAILURE.value,
                    }
                )
                return ChatPost(
                    outcome=SendOutcome.TRANSIENT_FAILURE,
                    error=f"network: {type(error).__name__}: {self._scrub(str(error))}"[
                        :_MAX_ERROR_CHARS
                    ],
                )
            result = classify_chat_response(response.status_code, _json(response))
            if result.error:
                result = ChatPost(
                    outcome=result.outcome,
                    http_status=result.http_status,
                    error=self._scrub(result.error),
                )
            current.set_attributes(
                {
                    "http.response.status_code": response.status_code,
                    "atende.send_outcome": result.outcome.value,
                }
            )
            return result

    def _scrub(self, text: str) -> str:
        """An error's text without the webhook URL or its key and token."""
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return text


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
