"""A local stand-in for Meta's WhatsApp Cloud API (Graph API) and the webhooks it sends.

It plays Meta in both directions:

* it answers the pipeline's Graph API calls (send message, mark as read, media upload, media
  URL lookup, media download and delete) with the bodies and error envelopes Meta documents;
* it POSTs signed webhooks to the pipeline: `sent`, `delivered` and `read` status receipts for
  every message it accepted, and customer messages injected through its test API: text, or an
  image (JSON with `image_base64`, multipart with a `file` part, or a raw `image/*` body) that
  it then serves through the media endpoints; `POST /_sim/receipt` sends a rendered photo of a
  store receipt, the OCR demo's sample.

A test/control API under `/_sim/` lists what the pipeline sent, injects customer messages and
queues faults; `GET /` serves a phone-like chat page for trying the pipeline by hand.

It also stands in for the analysts' Google Chat space: `POST /_chat/webhook` is an incoming
webhook (the local value of the secret `google-chat-webhook-url`) that records each message it
accepts, `GET /_chat/cards` lists them, and `POST /_chat/faults` fails the next posts.

Run it with `python -m shared.localstack.whatsapp_sim --port 8081`, or in-process::

    with WhatsAppSimulator(port=0, webhook_url="http://127.0.0.1:8080/") as sim:
        ...  # point the pipeline's Graph API base URL at sim.url
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import hmac
import ipaddress
import itertools
import json
import logging
import os
import re
import secrets
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.client import HTTPException
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "DEFAULT_DISPLAY_PHONE_NUMBER",
    "DEFAULT_PHONE_NUMBER_ID",
    "DEFAULT_WABA_ID",
    "WhatsAppSimulator",
    "main",
    "sign_body",
]

logger = logging.getLogger(__name__)

DEFAULT_WABA_ID = "100000000000000"
DEFAULT_PHONE_NUMBER_ID = "100000000000001"
DEFAULT_DISPLAY_PHONE_NUMBER = "5511400000000"

_STATIC_DIR = Path(__file__).resolve().parent / "static"
_VERSION = r"v\d+\.\d+"
_MESSAGES_PATH = re.compile(rf"^/{_VERSION}/(?P<phone_number_id>[^/]+)/messages/?$")
_MEDIA_UPLOAD_PATH = re.compile(rf"^/{_VERSION}/(?P<phone_number_id>[^/]+)/media/?$")
_MEDIA_OBJECT_PATH = re.compile(rf"^/{_VERSION}/(?P<media_id>[^/]+)/?$")
_SIM_MEDIA_PATH = re.compile(r"^/_sim/media/(?P<media_id>[^/]+)/?$")

_MESSAGE_TYPES = frozenset(
    {
        "text",
        "template",
        "interactive",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "reaction",
    }
)
_MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
_MAX_TEXT_BODY = 4096
_STATUS_CEILING = 600
_STATUS_SEQUENCE = ("sent", "delivered", "read")

# Message and details Meta uses for the error codes a fault is likely to ask for.
_KNOWN_ERRORS: dict[int, tuple[str, str]] = {
    4: ("(#4) Application request limit reached", "API Too Many Calls"),
    100: ("(#100) Invalid parameter", "Invalid parameter"),
    190: (
        "Error validating access token: Session has expired.",
        "Access token has expired",
    ),
    80007: (
        "(#80007) Rate limit issues",
        "The WhatsApp Business Account has reached its rate limit.",
    ),
    130429: ("(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
    131000: (
        "(#131000) Something went wrong",
        "Message failed to send because of an unknown error. Please try again later.",
    ),
    131005: ("(#131005) Access denied", "Permission is either not granted or has been removed."),
    131026: ("(#131026) Message undeliverable", "Message Undeliverable."),
    131047: (
        "(#131047) Re-engagement message",
        (
            "Message failed to send because more than 24 hours have passed since the "
            "customer last replied to this number."
        ),
    ),
    131056: (
        "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        (
            "Message failed to send because there were too many messages sent from this "
            "phone number to the same phone number in a short period of time."
        ),
    ),
    132001: (
        "(#132001) Template name does not exist in the translation",
        "Template name does not exist in the translation.",
    ),
}
_ERROR_SUBCODES: dict[int, int] = {130429: 2494055}
# The `status` Google APIs put in an error envelope, by HTTP status (the Chat stand-in).
_GOOGLE_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_CHAT_SPACE = "spaces/AAAALOCAL"
_CHAT_REPLY_OPTIONS = frozenset(
    {
        "MESSAGE_REPLY_OPTION_UNSPECIFIED",
        "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
        "REPLY_MESSAGE_OR_FAIL",
    }
)
# The Graph error code a fault gets when the test names only an HTTP status.
_FAULT_CODES: dict[int, int] = {
    HTTPStatus.UNAUTHORIZED: 190,
    HTTPStatus.FORBIDDEN: 131005,
    HTTPStatus.TOO_MANY_REQUESTS: 130429,
}


def sign_body(body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` header value Meta sends for a raw webhook body."""
    digest = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _is_error_status(status: int) -> bool:
    return HTTPStatus.BAD_REQUEST <= status < _STATUS_CEILING


def _digits(value: object) -> str:
    return "".join(ch for ch in str(value) if ch.isdigit())


def _redact(wa_id: object) -> str:
    """A short, stable pseudonym of a phone number, safe for logs."""
    return hashlib.sha256(_digits(wa_id).encode("utf-8")).hexdigest()[:10]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _unix_now() -> str:
    return str(int(time.time()))


def _fbtrace_id() -> str:
    return "A" + secrets.token_urlsafe(16)[:22]


def _new_wamid(wa_id: str) -> str:
    """A fresh message id shaped like Meta's (base64 of a small protobuf naming the peer)."""
    peer = (_digits(wa_id) or "0")[:100].encode("ascii")
    token = secrets.token_hex(9).upper().encode("ascii")
    raw = b"\x1c\x18" + bytes([len(peer)]) + peer + b"\x15\x02\x00\x11\x18\x12" + token + b"\x00"
    return "wamid." + base64.b64encode(raw).decode("ascii")


def _new_media_id() -> str:
    return str(10**15 + secrets.randbelow(9 * 10**15))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Meta does not follow redirects from a webhook, so a 3xx counts as a failed delivery."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Refuse every redirect."""


# No ProxyHandler settings: a developer's HTTP(S)_PROXY must not capture loopback webhooks.
# urllib rather than httpx because an httpx client costs ~30 ms of TLS setup per webhook.
_WEBHOOK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
_WEBHOOK_ERRORS = (OSError, HTTPException)


def _serialize_webhook(payload: Mapping[str, Any]) -> bytes:
    # Meta sends compact JSON with non-ASCII and "/" escaped; a receiver that re-serialises
    # before checking the signature fails here just as it would against Meta.
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode("ascii")


def _error_envelope(
    message: str,
    code: int,
    *,
    details: str | None = None,
    subcode: int | None = None,
    error_type: str = "OAuthException",
) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = _fbtrace_id()
    return {"error": error}


def _known_error(code: int, details: str | None = None) -> dict[str, Any]:
    message, default_details = _KNOWN_ERRORS.get(
        code, (f"(#{code}) Simulated error", "Simulated error.")
    )
    return _error_envelope(
        message, code, details=details or default_details, subcode=_ERROR_SUBCODES.get(code)
    )


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class _HttpError(Exception):
    """Aborts a request with an error response."""

    def __init__(self, status: int, envelope: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.envelope = envelope


def _json_response(payload: object, status: int = 200) -> _Response:
    return _Response(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def _chat_error(status: int, message: str) -> _HttpError:
    """An error as Google APIs answer one: `{"error": {"code", "message", "status"}}`."""
    google_status = _GOOGLE_STATUS.get(status, "UNKNOWN")
    return _HttpError(
        status, {"error": {"code": status, "message": message, "status": google_status}}
    )


def _invalid(details: str) -> _HttpError:
    return _HttpError(400, _error_envelope("(#100) Invalid parameter", 100, details=details))


def _sim_error(status: int, message: str) -> _HttpError:
    return _HttpError(status, _error_envelope(message, status, error_type="SimulatorException"))


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _HttpError(
            400,
            _error_envelope(
                "(#100) Invalid parameter", 100, details=f"Request body is not valid JSON: {exc}"
            ),
        ) from exc


def _parse_json_object(body: bytes) -> dict[str, Any]:
    data = _parse_json(body)
    if not isinstance(data, dict):
        raise _invalid("Request body must be a JSON object.")
    return data


@dataclass
class _Part:
    headers: dict[str, str]
    params: dict[str, str]
    content: bytes


def _parse_multipart(body: bytes, content_type: str) -> dict[str, _Part]:
    """The named parts of a multipart/form-data body (the stdlib `cgi` module is deprecated)."""
    match = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', content_type)
    if match is None:
        raise _invalid("multipart/form-data body without a boundary.")
    delimiter = b"--" + (match.group(1) or match.group(2)).encode("latin-1")
    parts: dict[str, _Part] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, separator, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            continue
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        params = {
            key.lower(): quoted if quoted is not None else bare
            for key, quoted, bare in re.findall(
                r'(\w+)=(?:"([^"]*)"|([^;\s]*))', headers.get("content-disposition", "")
            )
        }
        if "name" in params:
            parts[params["name"]] = _Part(headers, params, content.removesuffix(b"\r\n"))
    return parts


@dataclass
class _Fault:
    status: int
    remaining: int
    to: str | None
    code: int
    details: str | None

    def describe(self) -> dict[str, Any]:
        return {"status": self.status, "count": self.remaining, "to": self.to, "code": self.code}


@dataclass
class _Media:
    content: bytes
    mime_type: str
    sha256_hex: str
    sha256_b64: str
    filename: str | None = None

    @classmethod
    def of(cls, content: bytes, mime_type: str, filename: str | None = None) -> _Media:
        digest = hashlib.sha256(content).digest()
        return cls(
            content=content,
            mime_type=mime_type,
            sha256_hex=digest.hex(),
            sha256_b64=base64.b64encode(digest).decode("ascii"),
            filename=filename,
        )


class _SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simulator: WhatsAppSimulator) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection so `close_connections` can end idle keep-alives."""
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget a connection its handler is done with."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads parked on keep-alive connections so they exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle would hold the body for ~40 ms.
    disable_nagle_algorithm = True
    # An idle keep-alive connection is dropped after this many seconds.
    timeout = 60
    server_version = "WhatsAppSim/1.0"
    sys_version = ""

    def do_GET(self) -> None:
        """Serve a GET."""
        self._handle()

    def do_POST(self) -> None:
        """Serve a POST."""
        self._handle()

    def do_DELETE(self) -> None:
        """Serve a DELETE."""
        self._handle()

    def do_PUT(self) -> None:
        """Serve a PUT."""
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section ends with an empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        server = self.server
        if not isinstance(server, _SimHTTPServer):
            raise TypeError("handler bound to a foreign server")
        simulator = server.simulator
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            response = _json_response(_error_envelope("Malformed request body", 400), 400)
        else:
            split = urlsplit(self.path)
            request = _Request(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query),
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
            )
            response = simulator.handle(request)
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log the method, path (never the query, which may hold phone numbers) and status."""
        logger.debug("%s %s -> %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, fmt: str, *args: Any) -> None:
        """Route the server's own diagnostics to logging, with phone-like numbers masked."""
        logger.debug("http: %s", re.sub(r"\d{8,}", "<redacted>", fmt % args))


class WhatsAppSimulator:
    """An in-memory WhatsApp Cloud API that also sends Meta's webhooks to the pipeline."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8081,
        webhook_url: str = "http://127.0.0.1:8080/",
        app_secret: str = "dev-app-secret",
        access_token: str = "dev-access-token",
        status_delay_seconds: float = 0.2,
        send_statuses: bool = True,
        waba_id: str = DEFAULT_WABA_ID,
        phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
        display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
        webhook_timeout_seconds: float = 10.0,
        webhook_retries: int = 3,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.access_token = access_token
        self.status_delay_seconds = status_delay_seconds
        self.send_statuses = send_statuses
        self.waba_id = waba_id
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number
        self.webhook_timeout_seconds = webhook_timeout_seconds
        self.webhook_retries = webhook_retries
        if urlsplit(webhook_url).scheme not in ("http", "https"):
            raise ValueError("webhook_url must be an http(s) URL")

        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self._generation = 0
        self._messages: list[dict[str, Any]] = []
        self._attempts: list[dict[str, Any]] = []
        self._reads: list[dict[str, Any]] = []
        self._inbound: list[dict[str, Any]] = []
        # wa_id -> the business number that last wrote to them: their replies go there, as on
        # a phone where each business number is its own chat (the billing trail writes from
        # its own number).
        self._reply_to: dict[str, str] = {}
        self._faults: list[_Fault] = []
        self._media: dict[str, _Media] = {}
        self._chat_messages: list[dict[str, Any]] = []
        self._chat_threads: dict[str, str] = {}
        self._chat_faults: list[int] = []

        self._server: _SimHTTPServer | None = None
        self._bound_port = 0
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # lifecycle

    @property
    def port(self) -> int:
        """The port listened on (the real one once started with port 0)."""
        return self._bound_port or self._requested_port

    @property
    def url(self) -> str:
        """Base URL of the simulator, without a trailing slash."""
        host = self.host
        with contextlib.suppress(ValueError):
            if not host or ipaddress.ip_address(host).is_unspecified:
                host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Listen and serve in a background thread; returns once the socket is bound."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._stopping.clear()
        self._server = _SimHTTPServer((self.host, self._requested_port), self)
        self._bound_port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"whatsapp-sim:{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("WhatsApp simulator listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving, abandon pending webhooks and release the port."""
        self._stopping.set()
        with self._lock:
            # A status thread still asleep would otherwise resume after a restart.
            self._generation += 1
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
            # Otherwise a client's keep-alive connection would go on being served.
            server.close_connections()
        if thread is not None:
            thread.join(timeout=5)
        logger.info("WhatsApp simulator stopped")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # in-process access to the recorded state

    def sent_messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Messages the pipeline sent successfully, oldest first, optionally for one recipient."""
        wanted = _digits(to) if to else None
        with self._lock:
            return [dict(m) for m in self._messages if wanted is None or _digits(m["to"]) == wanted]

    def attempts(self) -> list[dict[str, Any]]:
        """Every send attempt, including rejected and faulted ones."""
        with self._lock:
            return [dict(a) for a in self._attempts]

    def read_receipts(self) -> list[dict[str, Any]]:
        """Mark-as-read calls the pipeline made."""
        with self._lock:
            return [dict(r) for r in self._reads]

    def inbound_messages(self, from_: str | None = None) -> list[dict[str, Any]]:
        """Customer messages injected through the simulator, oldest first."""
        wanted = _digits(from_) if from_ else None
        with self._lock:
            return [dict(m) for m in self._inbound if wanted is None or m["from"] == wanted]

    def add_fault(
        self,
        status: int,
        *,
        count: int = 1,
        to: str | None = None,
        code: int | None = None,
        details: str | None = None,
    ) -> None:
        """Fail the next `count` send attempts (to `to`, if given) with `status`."""
        if not _is_error_status(status):
            raise ValueError("fault status must be an HTTP error status (400-599)")
        if count < 1:
            raise ValueError("fault count must be at least 1")
        if code is None:
            code = _default_fault_code(status)
        fault = _Fault(status, count, _digits(to) if to else None, code, details)
        with self._lock:
            self._faults.append(fault)

    def pending_faults(self) -> list[dict[str, Any]]:
        """Faults still queued, in the order they will fire."""
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def chat_cards(self, thread_key: str | None = None) -> list[dict[str, Any]]:
        """Messages posted to the Chat stand-in, oldest first, optionally of one thread key."""
        with self._lock:
            return [
                dict(m)
                for m in self._chat_messages
                if thread_key is None or m["thread"]["threadKey"] == thread_key
            ]

    def add_chat_fault(self, status: int, *, count: int = 1) -> None:
        """Fail the next `count` posts to the Chat stand-in with `status`."""
        if not _is_error_status(status):
            raise ValueError("fault status must be an HTTP error status (400-599)")
        if count < 1:
            raise ValueError("fault count must be at least 1")
        with self._lock:
            self._chat_faults.extend([status] * count)

    def pending_chat_faults(self) -> list[int]:
        """The statuses the next posts to the Chat stand-in will fail with, in order."""
        with self._lock:
            return list(self._chat_faults)

    def reset(self) -> None:
        """Forget messages, attempts, read receipts, faults, injected messages, media, cards."""
        with self._lock:
            # Status webhooks still pending for earlier messages check this and give up.
            self._generation += 1
            self._messages.clear()
            self._attempts.clear()
            self._reads.clear()
            self._inbound.clear()
            self._reply_to.clear()
            self._faults.clear()
            self._media.clear()
            self._chat_messages.clear()
            self._chat_threads.clear()
            self._chat_faults.clear()

    # request dispatch

    def handle(self, request: _Request) -> _Response:
        """Answer one HTTP request."""
        try:
            return self._route(request)
        except _HttpError as exc:
            return _json_response(exc.envelope, exc.status)
        except Exception:
            logger.exception("simulator failed on %s %s", request.method, request.path)
            return _json_response(_known_error(131000), 500)

    def _route(self, request: _Request) -> _Response:
        method, path = request.method, request.path
        if path.startswith("/_sim/"):
            return self._route_sim(request)
        if path.startswith("/_chat/"):
            return self._route_chat(request)
        if method == "GET" and path in ("/", "/index.html", "/phone", "/phone.html"):
            return self._phone_page()
        if method == "POST":
            if match := _MESSAGES_PATH.match(path):
                return self._post_message(request, match["phone_number_id"])
            if match := _MEDIA_UPLOAD_PATH.match(path):
                return self._upload_media(request)
        if method in ("GET", "DELETE") and (match := _MEDIA_OBJECT_PATH.match(path)):
            self._authorize(request)
            if method == "GET":
                return self._media_info(match["media_id"], request.headers.get("host"))
            return self._delete_media(match["media_id"])
        raise _HttpError(404, _error_envelope(f"Unknown path components: {path}", 2500))

    def _route_sim(self, request: _Request) -> _Response:
        method, path = request.method, request.path.rstrip("/")
        routes: dict[tuple[str, str], Callable[[_Request], object]] = {
            ("GET", "/_sim/health"): lambda _: {"ok": True},
            ("GET", "/_sim/messages"): lambda r: self.sent_messages(r.param("to")),
            ("GET", "/_sim/attempts"): lambda _: self.attempts(),
            ("GET", "/_sim/reads"): lambda _: self.read_receipts(),
            ("GET", "/_sim/faults"): lambda _: self.pending_faults(),
            ("POST", "/_sim/faults"): self._queue_fault,
            ("DELETE", "/_sim/faults"): lambda _: self._ok(self.clear_faults),
            ("POST", "/_sim/reset"): lambda _: self._ok(self.reset),
            ("GET", "/_sim/inbound"): lambda r: self.inbound_messages(r.param("from")),
            ("POST", "/_sim/inbound"): self._inject_inbound,
            ("POST", "/_sim/receipt"): self._inject_receipt,
        }
        route = routes.get((method, path))
        if route is not None:
            result = route(request)
            return result if isinstance(result, _Response) else _json_response(result)
        if method == "GET" and (match := _SIM_MEDIA_PATH.match(path)):
            self._authorize(request)
            return self._download_media(match["media_id"])
        raise _sim_error(404, f"Unknown simulator path: {method} {path}")

    def _route_chat(self, request: _Request) -> _Response:
        method, path = request.method, request.path.rstrip("/")
        routes: dict[tuple[str, str], Callable[[_Request], object]] = {
            ("POST", "/_chat/webhook"): self._post_chat,
            ("GET", "/_chat/cards"): lambda r: self.chat_cards(r.param("thread_key")),
            ("GET", "/_chat/faults"): lambda _: self.pending_chat_faults(),
            ("POST", "/_chat/faults"): self._queue_chat_fault,
        }
        route = routes.get((method, path))
        if route is None:
            raise _chat_error(404, f"Unknown Chat stand-in path: {method} {path}")
        result = route(request)
        return result if isinstance(result, _Response) else _json_response(result)

    @staticmethod
    def _ok(action: Callable[[], None]) -> dict[str, bool]:
        action()
        return {"ok": True}

    def _phone_page(self) -> _Response:
        try:
            page = (_STATIC_DIR / "phone.html").read_bytes()
        except OSError as exc:
            raise _sim_error(404, "phone.html is missing") from exc
        return _Response(200, page, "text/html; charset=utf-8", {"Cache-Control": "no-store"})

    def _authorize(self, request: _Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            token = request.param("access_token") or ""
        token = token.strip()
        if not token:
            raise _HttpError(
                401,
                _error_envelope("Invalid OAuth access token - Cannot parse access token", 190),
            )
        if not hmac.compare_digest(token.encode("utf-8"), self.access_token.encode("utf-8")):
            raise _HttpError(
                401,
                _error_envelope(
                    "Error validating access token: The session has been invalidated.",
                    190,
                    subcode=460,
                ),
            )

    # Graph API: messages

    def _post_message(self, request: _Request, phone_number_id: str) -> _Response:
        lenient: Any = None
        with contextlib.suppress(UnicodeDecodeError, json.JSONDecodeError):
            lenient = json.loads(request.body.decode("utf-8")) if request.body else None
        try:
            self._authorize(request)
            data = _parse_json_object(request.body)
            if data.get("status") == "read" or "typing_indicator" in data:
                return self._mark_read(data, phone_number_id)
            to, message_type = _validate_send(data)
            fault = self._take_fault(to)
            if fault is not None:
                raise _HttpError(fault.status, _known_error(fault.code, fault.details))
        except _HttpError as exc:
            self._record_attempt(lenient, exc.status, exc.envelope["error"].get("code"))
            logger.info(
                "rejected send to %s with HTTP %d",
                _redact(lenient["to"]) if isinstance(lenient, dict) and lenient.get("to") else "-",
                exc.status,
            )
            raise

        wa_id = _digits(to)
        message_id = _new_wamid(wa_id)
        message_entry: dict[str, Any] = {"id": message_id}
        if message_type == "template":
            message_entry["message_status"] = "accepted"
        response = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": wa_id}],
            "messages": [message_entry],
        }
        text_body = data["text"]["body"] if message_type == "text" else None
        template_name = data["template"]["name"] if message_type == "template" else None
        with self._lock:
            generation = self._generation
            self._reply_to[wa_id] = phone_number_id
            self._messages.append(
                {
                    "id": message_id,
                    "to": to,
                    "type": message_type,
                    "text": text_body,
                    "template": template_name,
                    "phone_number_id": phone_number_id,
                    "time": _now_iso(),
                    "seq": next(self._seq),
                    "status": "accepted",
                    "body": data,
                }
            )
        self._record_attempt(data, 200, None, message_id=message_id)
        logger.info("accepted %s message %s to %s", message_type, message_id, _redact(wa_id))
        if self.send_statuses:
            threading.Thread(
                target=self._deliver_statuses,
                args=(generation, message_id, wa_id, phone_number_id, message_type),
                name=f"whatsapp-sim-status:{message_id[-8:]}",
                daemon=True,
            ).start()
        return _json_response(response)

    def _mark_read(self, data: dict[str, Any], phone_number_id: str) -> _Response:
        if data.get("messaging_product") != "whatsapp":
            raise _invalid('messaging_product must be "whatsapp".')
        message_id = data.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise _invalid("The parameter message_id is required.")
        with self._lock:
            self._reads.append(
                {
                    "message_id": message_id,
                    "phone_number_id": phone_number_id,
                    "typing_indicator": data.get("typing_indicator"),
                    "time": _now_iso(),
                    "body": data,
                }
            )
        return _json_response({"success": True})

    def _record_attempt(
        self,
        body: Any,
        status_code: int,
        error_code: int | None,
        *,
        message_id: str | None = None,
    ) -> None:
        fields = body if isinstance(body, dict) else {}
        to = fields.get("to")
        with self._lock:
            self._attempts.append(
                {
                    "to": str(to) if to is not None else None,
                    "type": fields.get("type", "text") if fields else None,
                    "status_code": status_code,
                    "error_code": error_code,
                    "message_id": message_id,
                    "time": _now_iso(),
                    "body": body,
                }
            )

    def _take_fault(self, to: str) -> _Fault | None:
        wa_id = _digits(to)
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.to is None or fault.to == wa_id:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._faults[index]
                    return fault
        return None

    def _queue_fault(self, request: _Request) -> _Response:
        data = _parse_json_object(request.body)
        status, count, code = data.get("status", 500), data.get("count", 1), data.get("code")
        to, details = data.get("to"), data.get("details")
        if not isinstance(status, int) or not _is_error_status(status):
            raise _sim_error(400, "status must be an HTTP error status (400-599)")
        if not isinstance(count, int) or count < 1:
            raise _sim_error(400, "count must be a positive integer")
        if code is not None and not isinstance(code, int):
            raise _sim_error(400, "code must be an integer")
        if to is not None and not _digits(to):
            raise _sim_error(400, "to must be a phone number")
        self.add_fault(
            status,
            count=count,
            to=str(to) if to is not None else None,
            code=code,
            details=str(details) if details is not None else None,
        )
        return _json_response({"ok": True, "pending": self.pending_faults()})

    # Google Chat stand-in: an incoming webhook of one space

    def _post_chat(self, request: _Request) -> _Response:
        """Create a message as Chat's webhook does; the same thread key keeps one thread."""
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _chat_error(400, f"Invalid JSON payload received. {exc}") from exc
        if not isinstance(data, dict):
            raise _chat_error(400, "Invalid JSON payload received. Expected an object.")
        with self._lock:
            fault = self._chat_faults.pop(0) if self._chat_faults else None
        if fault is not None:
            raise _chat_error(fault, "Simulated failure of the Chat stand-in.")
        cards = data.get("cardsV2")
        if not data.get("text") and not cards:
            raise _chat_error(400, "Message cannot be empty. Discarded empty message.")
        if cards is not None and not (
            isinstance(cards, list)
            and all(isinstance(c, dict) and isinstance(c.get("card"), dict) for c in cards)
        ):
            raise _chat_error(400, "Invalid value at 'message.cards_v2'.")
        option = request.param("messageReplyOption") or "MESSAGE_REPLY_OPTION_UNSPECIFIED"
        if option not in _CHAT_REPLY_OPTIONS:
            raise _chat_error(400, f"Invalid value at 'message_reply_option' ({option}).")
        thread = data.get("thread")
        thread_key = thread.get("threadKey") if isinstance(thread, dict) else None
        with self._lock:
            seq = next(self._seq)
            # Without a reply option Chat starts a new thread whatever the key says.
            replies = option != "MESSAGE_REPLY_OPTION_UNSPECIFIED" and bool(thread_key)
            existing = self._chat_threads.get(str(thread_key)) if replies else None
            thread_name = existing or f"{_CHAT_SPACE}/threads/t{seq}"
            if thread_key and existing is None:
                self._chat_threads[str(thread_key)] = thread_name
            message = {
                "name": f"{_CHAT_SPACE}/messages/m{seq}",
                "space": {"name": _CHAT_SPACE},
                "thread": {"name": thread_name, "threadKey": thread_key},
                "threadReply": existing is not None,
                "text": data.get("text", ""),
                "cardsV2": cards or [],
                "createTime": _now_iso(),
                "messageReplyOption": option,
            }
            self._chat_messages.append(message)
        return _json_response(message)

    def _queue_chat_fault(self, request: _Request) -> _Response:
        data = _parse_json_object(request.body)
        status, count = data.get("status", 500), data.get("count", 1)
        if not isinstance(status, int) or not _is_error_status(status):
            raise _chat_error(400, "status must be an HTTP error status (400-599)")
        if not isinstance(count, int) or count < 1:
            raise _chat_error(400, "count must be a positive integer")
        self.add_chat_fault(status, count=count)
        return _json_response({"ok": True, "pending": self.pending_chat_faults()})

    # Graph API: media

    def _upload_media(self, request: _Request) -> _Response:
        self._authorize(request)
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise _invalid("Media upload must be multipart/form-data.")
        parts = _parse_multipart(request.body, content_type)
        product = parts.get("messaging_product")
        if product is None or product.content.decode("utf-8", "replace").strip() != "whatsapp":
            raise _invalid("The parameter messaging_product is required.")
        file_part = parts.get("file")
        if file_part is None:
            raise _invalid("The parameter file is required.")
        type_part = parts.get("type")
        mime_type = (
            type_part.content.decode("utf-8", "replace").strip() if type_part is not None else ""
        ) or file_part.headers.get("content-type", "application/octet-stream")
        media_id = _new_media_id()
        with self._lock:
            self._media[media_id] = _Media.of(
                file_part.content, mime_type, file_part.params.get("filename")
            )
        logger.info("stored media %s (%d bytes)", media_id, len(file_part.content))
        return _json_response({"id": media_id})

    def _get_media(self, media_id: str) -> _Media:
        with self._lock:
            media = self._media.get(media_id)
        if media is None:
            raise _HttpError(
                404,
                _error_envelope(
                    f"Unsupported get request. Object with ID '{media_id}' does not exist, "
                    "cannot be loaded due to missing permissions, or does not support this "
                    "operation.",
                    100,
                    subcode=33,
                    error_type="GraphMethodException",
                ),
            )
        return media

    def _media_info(self, media_id: str, host_header: str | None) -> _Response:
        media = self._get_media(media_id)
        # The Host the caller used reaches us even when we bound 0.0.0.0 inside a container.
        base = f"http://{host_header}" if host_header else self.url
        return _json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{base}/_sim/media/{media_id}",
                "mime_type": media.mime_type,
                "sha256": media.sha256_hex,
                "file_size": len(media.content),
                "id": media_id,
            }
        )

    def _download_media(self, media_id: str) -> _Response:
        media = self._get_media(media_id)
        headers = {}
        if media.filename:
            headers["Content-Disposition"] = f'attachment; filename="{media.filename}"'
        return _Response(200, media.content, media.mime_type, headers)

    def _delete_media(self, media_id: str) -> _Response:
        self._get_media(media_id)
        with self._lock:
            self._media.pop(media_id, None)
        return _json_response({"success": True})

    # webhooks

    def _envelope(
        self, phone_number_id: str, display: str, value: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": self.waba_id,
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": display,
                                    "phone_number_id": phone_number_id,
                                },
                                **value,
                            },
                            "field": "messages",
                        }
                    ],
                }
            ],
        }

    def _post_signed(self, raw: bytes) -> int:
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign_body(raw, self.app_secret),
            "User-Agent": "facebookexternalua",
        }
        request = urllib.request.Request(self.webhook_url, data=raw, headers=headers, method="POST")
        try:
            with _WEBHOOK_OPENER.open(request, timeout=self.webhook_timeout_seconds) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)

    def _post_with_retries(self, raw: bytes, what: str) -> bool:
        backoff = 0.1
        for attempt in range(1, self.webhook_retries + 2):
            try:
                status = self._post_signed(raw)
            except _WEBHOOK_ERRORS as exc:
                logger.warning(
                    "webhook %s attempt %d failed: %s", what, attempt, type(exc).__name__
                )
            else:
                if HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
                    return True
                logger.warning("webhook %s attempt %d answered HTTP %d", what, attempt, status)
            if attempt <= self.webhook_retries and self._stopping.wait(backoff):
                return False
            backoff *= 2
        logger.error("webhook %s gave up after %d attempts", what, self.webhook_retries + 1)
        return False

    def _deliver_statuses(
        self,
        generation: int,
        message_id: str,
        wa_id: str,
        phone_number_id: str,
        message_type: str,
    ) -> None:
        # Templates open business-initiated conversations; anything else answers the customer.
        category = "utility" if message_type == "template" else "service"
        conversation_id = secrets.token_hex(16)
        expiration = str(int(time.time()) + 24 * 3600)
        for status in _STATUS_SEQUENCE:
            if self._stopping.wait(self.status_delay_seconds):
                return
            with self._lock:
                if self._generation != generation:
                    return
                for message in self._messages:
                    if message["id"] == message_id:
                        message["status"] = status
            conversation: dict[str, Any] = {"id": conversation_id}
            if status == "sent":
                conversation["expiration_timestamp"] = expiration
            conversation["origin"] = {"type": category}
            receipt = {
                "id": message_id,
                "status": status,
                "timestamp": _unix_now(),
                "recipient_id": wa_id,
                "conversation": conversation,
                "pricing": {"billable": True, "pricing_model": "CBP", "category": category},
            }
            payload = self._envelope(
                phone_number_id, self.display_phone_number, {"statuses": [receipt]}
            )
            self._post_with_retries(_serialize_webhook(payload), f"status {status} {message_id}")

    def _inbound_content(
        self,
        data: dict[str, Any],
        message_type: str,
        message: dict[str, Any],
        upload: bytes | None = None,
    ) -> tuple[str | None, str | None]:
        """Fill the type-specific part of an injected message; returns its text and media id."""
        if message_type == "text":
            text = data.get("text")
            if not isinstance(text, str) or not text:
                raise _sim_error(400, "text must be a non-empty string")
            message["text"] = {"body": text}
            return text, None
        if message_type != "image":
            raise _sim_error(400, "type must be text or image")
        content = upload
        if content is None:
            try:
                content = base64.b64decode(str(data.get("image_base64") or ""), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise _sim_error(400, "image_base64 must be base64") from exc
        if not content:
            raise _sim_error(400, "image_base64 is required for an image")
        mime_type = str(data.get("mime_type") or "image/jpeg")
        caption = str(data["caption"]) if data.get("caption") else None
        media = _Media.of(content, mime_type)
        media_id = _new_media_id()
        with self._lock:
            self._media[media_id] = media
        image: dict[str, Any] = {"caption": caption} if caption else {}
        image.update({"mime_type": mime_type, "sha256": media.sha256_b64, "id": media_id})
        message["image"] = image
        return caption, media_id

    def _inbound_request(self, request: _Request) -> tuple[dict[str, Any], bytes | None]:
        """The fields of an injection and its uploaded image, whatever the body's encoding.

        JSON (`image_base64` for an image), multipart/form-data (a `file` part and form
        fields), or a raw image body with the fields in the query string.
        """
        content_type = request.headers.get("content-type", "").lower()
        if content_type.startswith("multipart/form-data"):
            parts = _parse_multipart(request.body, request.headers.get("content-type", ""))
            fields: dict[str, Any] = {
                name: part.content.decode("utf-8", "replace").strip()
                for name, part in parts.items()
                if name != "file"
            }
            file_part = parts.get("file")
            if file_part is None:
                return fields, None
            fields.setdefault("type", "image")
            fields.setdefault("mime_type", file_part.headers.get("content-type", ""))
            return fields, file_part.content
        if content_type.startswith(("image/", "application/octet-stream")):
            fields = {name: values[0] for name, values in request.query.items() if values}
            fields.setdefault("type", "image")
            if content_type.startswith("image/"):
                fields.setdefault("mime_type", content_type.split(";")[0].strip())
            return fields, request.body
        return _parse_json_object(request.body), None

    def _inject_inbound(self, request: _Request) -> _Response:
        data, upload = self._inbound_request(request)
        return self._inject(data, upload)

    def _inject_receipt(self, request: _Request) -> _Response:
        """A photo of a store receipt, sent as the customer's image (the demo's OCR sample)."""
        from shared.localstack.receipts import render_receipt

        data = _parse_json_object(request.body) if request.body.strip() else {}
        options: dict[str, Any] = {
            key: str(data[key])
            for key in ("order_number", "total", "date")
            if data.get(key) is not None
        }
        try:
            rotate = float(data.get("rotate", 2.0))
        except (TypeError, ValueError) as exc:
            raise _sim_error(400, "rotate must be a number of degrees") from exc
        photo = render_receipt(**options, rotate=rotate)
        fields = {key: value for key, value in data.items() if key not in options}
        fields.update(type="image", mime_type="image/jpeg")
        return self._inject(fields, photo)

    def _inject(self, data: dict[str, Any], upload: bytes | None = None) -> _Response:
        wa_id = _digits(data.get("from", ""))
        if not wa_id:
            raise _sim_error(400, "from must be a phone number")
        message_type = data.get("type") or "text"
        name = str(data.get("name") or "Cliente")
        with self._lock:
            replying_to = self._reply_to.get(wa_id)
        phone_number_id = str(data.get("phone_number_id") or replying_to or self.phone_number_id)
        display = str(data.get("display_phone_number") or self.display_phone_number)
        message_id = str(data.get("message_id") or _new_wamid(wa_id))
        message: dict[str, Any] = {"from": wa_id, "id": message_id, "timestamp": _unix_now()}
        text, media_id = self._inbound_content(data, message_type, message, upload)
        message["type"] = message_type
        payload = self._envelope(
            phone_number_id,
            display,
            {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]},
        )
        record: dict[str, Any] = {
            "id": message_id,
            "from": wa_id,
            "name": name,
            "text": text,
            "type": message_type,
            "media_id": media_id,
            "phone_number_id": phone_number_id,
            "time": _now_iso(),
            "webhook_status": None,
        }
        with self._lock:
            record["seq"] = next(self._seq)
            # Logged before the POST so the phone page shows it even while the webhook works.
            self._inbound.append(record)
        try:
            status = self._post_signed(_serialize_webhook(payload))
        except _WEBHOOK_ERRORS as exc:
            logger.warning(
                "inbound %s from %s: webhook unreachable (%s)",
                message_id,
                _redact(wa_id),
                type(exc).__name__,
            )
            return _json_response(
                {
                    "error": {
                        "message": f"Webhook {self.webhook_url} unreachable: {type(exc).__name__}",
                        "code": 502,
                    },
                    "message_id": message_id,
                    "media_id": media_id,
                    "webhook_status": None,
                },
                502,
            )
        with self._lock:
            record["webhook_status"] = status
        logger.info(
            "injected %s message %s from %s, webhook answered %d",
            message_type,
            message_id,
            _redact(wa_id),
            status,
        )
        answer: dict[str, Any] = {
            "message_id": message_id,
            "webhook_status": status,
            "phone_number_id": phone_number_id,
        }
        if media_id is not None:
            answer["media_id"] = media_id
        return _json_response(answer)


def _default_fault_code(status: int) -> int:
    if status in _FAULT_CODES:
        return _FAULT_CODES[status]
    return 131000 if status >= HTTPStatus.INTERNAL_SERVER_ERROR else 131026


def _validate_send(data: dict[str, Any]) -> tuple[str, str]:
    """Check a send-message body as Meta does; returns the recipient and the message type."""
    if data.get("messaging_product") != "whatsapp":
        raise _invalid('The parameter messaging_product is required and must be "whatsapp".')
    to = data.get("to")
    if isinstance(to, int) and not isinstance(to, bool):
        to = str(to)
    if not isinstance(to, str) or not _digits(to):
        raise _invalid("The parameter to is required.")
    recipient_type = data.get("recipient_type", "individual")
    if recipient_type not in ("individual", "group"):
        raise _invalid(f"Invalid recipient_type: {recipient_type!r}.")
    message_type = data.get("type", "text")
    if not isinstance(message_type, str) or message_type not in _MESSAGE_TYPES:
        raise _invalid(f"Unsupported message type: {message_type!r}.")
    payload = data.get(message_type)
    if not isinstance(payload, dict):
        raise _invalid(f"The parameter {message_type} is required.")
    _validate_content(message_type, payload)
    return to, message_type


def _validate_content(message_type: str, payload: dict[str, Any]) -> None:
    if message_type == "text":
        body = payload.get("body")
        if not isinstance(body, str) or not body.strip():
            raise _invalid("The parameter text['body'] is required.")
        if len(body) > _MAX_TEXT_BODY:
            raise _invalid(f"Param text['body'] must be at most {_MAX_TEXT_BODY} characters long.")
    elif message_type == "template":
        name = payload.get("name")
        language = payload.get("language")
        if not isinstance(name, str) or not name:
            raise _invalid("The parameter template['name'] is required.")
        code = language.get("code") if isinstance(language, dict) else None
        if not isinstance(code, str) or not code:
            raise _invalid("The parameter template['language']['code'] is required.")
    elif message_type in _MEDIA_TYPES:
        if not payload.get("id") and not payload.get("link"):
            raise _invalid(f"Either {message_type}['id'] or {message_type}['link'] is required.")
    elif message_type == "interactive":
        if not payload.get("type") or not isinstance(payload.get("action"), dict):
            raise _invalid("The parameters interactive['type'] and ['action'] are required.")
    elif message_type == "reaction" and not payload.get("message_id"):
        raise _invalid("The parameter reaction['message_id'] is required.")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        return default


def main(argv: list[str] | None = None) -> None:
    """Run the simulator in the foreground until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m shared.localstack.whatsapp_sim",
        description="Local WhatsApp Cloud API simulator (Graph API + signed webhooks).",
    )
    parser.add_argument("--host", default=os.environ.get("SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=_env_int("SIM_PORT", 8081))
    parser.add_argument(
        "--webhook-url", default=os.environ.get("WEBHOOK_URL", "http://127.0.0.1:8080/")
    )
    parser.add_argument(
        "--app-secret", default=os.environ.get("WHATSAPP_APP_SECRET", "dev-app-secret")
    )
    parser.add_argument(
        "--access-token", default=os.environ.get("WHATSAPP_ACCESS_TOKEN", "dev-access-token")
    )
    parser.add_argument(
        "--status-delay",
        type=float,
        default=0.2,
        help="seconds before each sent/delivered/read webhook",
    )
    parser.add_argument("--no-statuses", action="store_true", help="do not send status webhooks")
    parser.add_argument("--phone-number-id", default=DEFAULT_PHONE_NUMBER_ID)
    parser.add_argument("--display-phone-number", default=DEFAULT_DISPLAY_PHONE_NUMBER)
    parser.add_argument("--waba-id", default=DEFAULT_WABA_ID)
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=str(args.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    simulator = WhatsAppSimulator(
        host=args.host,
        port=args.port,
        webhook_url=args.webhook_url,
        app_secret=args.app_secret,
        access_token=args.access_token,
        status_delay_seconds=args.status_delay,
        send_statuses=not args.no_statuses,
        waba_id=args.waba_id,
        phone_number_id=args.phone_number_id,
        display_phone_number=args.display_phone_number,
    )
    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    simulator.start()
    logger.info("phone page at %s/ ; webhooks go to %s", simulator.url, simulator.webhook_url)
    try:
        while not done.wait(0.5):
            pass
    finally:
        simulator.stop()


if __name__ == "__main__":
    main()
