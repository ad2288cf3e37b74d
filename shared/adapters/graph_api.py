"""The WhatsApp Cloud API (Graph API): sending messages and downloading customers' media.

`GraphApiSender` posts to `/{version}/{phone_number_id}/messages`; `GraphApiMedia` looks up a
media id (`GET /{version}/{media_id}`) and downloads the URL it names.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from shared.domain.models import OutboundMessage, SendOutcome, SendResult
from shared.tracing import SpanKind, span

__all__ = [
    "MAX_IMAGE_BYTES",
    "GraphApiMedia",
    "GraphApiSender",
    "MediaDownloadError",
    "MediaInfo",
    "classify_response",
    "request_body",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

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
        self._host = httpx.URL(self._base).host
        self._version = version
        self._client = client or httpx.Client(
            timeout=timeout_seconds,
            headers={"Authorization": f"Bearer {access_token}"},
        )

    def send(self, message: OutboundMessage) -> SendResult:
        """One POST; classifies the answer as sent, permanent or transient failure."""
        url = f"{self._base}/{self._version}/{message.phone_number_id}/messages"
        # The URL template, not the URL: the span needs no number id, only where it went.
        with span(
            "graph_api.send",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "POST",
                "server.address": self._host,
                "url.template": "/{version}/{phone_number_id}/messages",
            },
        ) as current:
            try:
                response = self._client.post(url, json=request_body(message))
            except httpx.HTTPError as error:
                current.set_attributes(
                    {
                        "error.type": type(error).__qualname__,
                        "atende.send_outcome": SendOutcome.TRANSIENT_FAILURE.value,
                    }
                )
                return SendResult(
                    outcome=SendOutcome.TRANSIENT_FAILURE, error_message=f"network: {error!r}"
                )
            result = classify_response(response.status_code, _json(response))
            current.set_attributes(
                {
                    "http.response.status_code": response.status_code,
                    "atende.send_outcome": result.outcome.value,
                    **({"whatsapp.message.id": result.wamid} if result.wamid else {}),
                    **({"whatsapp.error_code": result.error_code} if result.error_code else {}),
                }
            )
            return result


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


# Media: `GET /{version}/{media_id}` gives a short-lived URL, `GET url` gives the bytes; both
# with the bearer token. Meta keeps a customer's media for 30 days and the URL for 5 minutes.

# WhatsApp accepts images of at most 5 MB.
MAX_IMAGE_BYTES = 5 * 1024 * 1024
_CAUSE_CHARS = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaInfo:
    """What the Graph API says about a media id: where to fetch it, its type, size and hash."""

    media_id: str
    url: str
    mime_type: str
    sha256: str = ""
    file_size: int | None = None


class MediaDownloadError(Exception):
    """A media lookup or download that failed; `reason` is an ImageReading reason."""

    def __init__(self, reason: str, cause: str, *, http_status: int | None = None) -> None:
        super().__init__(f"{reason}: {cause}")
        self.reason = reason
        self.cause = cause
        self.http_status = http_status


class GraphApiMedia:
    """Looks up and downloads a customer's media with a bearer token, with a size cap."""

    def __init__(
        self,
        *,
        base_url: str,
        version: str,
        access_token: str,
        timeout_seconds: float = 10.0,
        max_bytes: int = MAX_IMAGE_BYTES,
        retries: int = 1,
        retry_delay_seconds: float = 0.3,
        client: httpx.Client | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._version = version
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self.max_bytes = max_bytes
        self._retries = retries
        self._retry_delay = retry_delay_seconds
        self._timeout = timeout_seconds
        # Redirects are followed: httpx drops the Authorization header on a cross-origin hop.
        self._client = client or httpx.Client(timeout=timeout_seconds, follow_redirects=True)

    def info(self, media_id: str, *, phone_number_id: str = "") -> MediaInfo:
        """The media's URL, MIME type, hash and size; raises MediaDownloadError."""
        if not media_id or "/" in media_id:
            raise MediaDownloadError("download-failed", "invalid media id")
        url = f"{self._base}/{self._version}/{media_id}"
        # Meta checks that the media belongs to this business number when it is given.
        params = {"phone_number_id": phone_number_id} if phone_number_id else None
        status, payload = self._get_json(url, params, what="media lookup")
        if not 200 <= status < 300:
            raise _graph_failure("media lookup", status, payload)
        media_url = payload.get("url")
        if not isinstance(media_url, str) or not media_url:
            raise MediaDownloadError("download-failed", "media lookup answered without a url")
        if self._base.startswith("https://") and not media_url.startswith("https://"):
            # The bearer token must not travel in clear to wherever the answer points.
            raise MediaDownloadError("download-failed", "media url is not https")
        return MediaInfo(
            media_id=str(payload.get("id") or media_id),
            url=media_url,
            mime_type=str(payload.get("mime_type") or "").lower(),
            sha256=str(payload.get("sha256") or ""),
            file_size=_as_int(payload.get("file_size")),
        )

    def fetch(self, info: MediaInfo) -> bytes:
        """The media's bytes, at most `max_bytes`, checked against its hash."""
        if info.file_size is not None and info.file_size > self.max_bytes:
            raise MediaDownloadError(
                "too-large", f"media is {info.file_size} bytes, the cap is {self.max_bytes}"
            )
        content = self._with_retries(lambda: self._stream(info.url), what="media download")
        if info.sha256 and not _hash_matches(content, info.sha256):
            raise MediaDownloadError("download-failed", "sha256 of the download does not match")
        return content

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    # internals

    def _get_json(
        self, url: str, params: dict[str, str] | None, *, what: str
    ) -> tuple[int, dict[str, Any]]:
        def attempt() -> tuple[int, dict[str, Any]]:
            response = self._client.get(url, params=params, headers=self._headers)
            if response.status_code >= 500 or response.status_code == 429:
                raise _graph_failure(what, response.status_code, _json(response))
            return response.status_code, _json(response)

        return self._with_retries(attempt, what=what)

    def _stream(self, url: str) -> bytes:
        with self._client.stream("GET", url, headers=self._headers) as response:
            if not 200 <= response.status_code < 300:
                response.read()
                raise _graph_failure("media download", response.status_code, _json(response))
            declared = _as_int(response.headers.get("content-length"))
            if declared is not None and declared > self.max_bytes:
                raise MediaDownloadError(
                    "too-large", f"media is {declared} bytes, the cap is {self.max_bytes}"
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise MediaDownloadError(
                        "too-large", f"media exceeds the cap of {self.max_bytes} bytes"
                    )
                chunks.append(chunk)
            return b"".join(chunks)

    def _with_retries(self, call: Callable[[], _T], *, what: str) -> _T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except httpx.TimeoutException as error:
                failure = MediaDownloadError(
                    "download-failed", f"{what} timed out after {self._timeout:g}s"
                )
                failure.__cause__ = error
            except httpx.HTTPError as error:
                failure = MediaDownloadError(
                    "download-failed", f"{what} network error: {type(error).__name__}"
                )
                failure.__cause__ = error
            except MediaDownloadError as error:
                transient = error.http_status is not None and (
                    error.http_status >= 500 or error.http_status == 429
                )
                if not transient:
                    raise
                failure = error
            if attempt > self._retries:
                raise failure
            logger.info("%s attempt %d failed (%s); retrying", what, attempt, failure.cause)
            time.sleep(self._retry_delay * attempt)


def _graph_failure(what: str, status: int, payload: dict[str, Any]) -> MediaDownloadError:
    """Name the cause of a failed media call from its HTTP status and Graph error envelope."""
    raw_error = payload.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    code = error.get("code")
    detail = f"HTTP {status}" + (f", code {code}" if code is not None else "")
    if status in (401, 403) or code == 190:
        cause = f"{what}: access token rejected ({detail})"
    elif status in (400, 404, 410):
        # Graph answers an expired or deleted media id with 400/404 and code 100.
        cause = f"{what}: media not found or expired ({detail})"
    elif status == 429:
        cause = f"{what}: rate limited ({detail})"
    elif status >= 500:
        cause = f"{what}: server error ({detail})"
    else:
        cause = f"{what}: unexpected answer ({detail})"
    return MediaDownloadError("download-failed", cause[:_CAUSE_CHARS], http_status=status)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _hash_matches(content: bytes, expected: str) -> bool:
    """Meta gives the media's SHA-256 in hex here and in base64 in the webhook: accept both."""
    digest = hashlib.sha256(content).digest()
    expected = expected.strip()
    return expected.lower() == digest.hex() or expected == base64.b64encode(digest).decode()
