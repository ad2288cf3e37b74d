"""A local stand-in for the Vertex AI endpoints the pipeline calls (Gemini and text embeddings).

It answers, in the documented REST shapes and only on 127.0.0.1:

* `POST /{v1|v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent`
  (and `:streamGenerateContent`, as a JSON array or, with `?alt=sse`, as server-sent events)
  with the next reply scripted for that model, else a recorded response whose file name is the
  model and a key of the conversation (see `request_key`), else `default_text` if one was
  given, else a 404 naming the recording it looked for;
* `POST .../models/{model}:predict` for text embeddings with deterministic, L2-normalised
  vectors (768 dimensions for text-multilingual-embedding-002) and `statistics.token_count`.

Errors use Google's envelope, `{"error": {"code", "message", "status"}}`, so the real clients
raise the exceptions they raise against Vertex AI (429 -> `TooManyRequests`, 503 ->
`ServiceUnavailable` for the REST transport of `ChatVertexAI`). Every request is recorded
(`standin.requests`) so that tests can assert on what was sent.

Run it with `python -m shared.localstack.vertex_standin --port 8086`, or in-process::

    with VertexStandIn(port=0) as standin:
        standin.script("gemini-2.5-flash", text="Olá!", usage=(12, 3))
        ...  # point the adapter's `endpoint` at standin.url

A control API under `/_standin/` (health, requests, script, reset) serves the same purpose
when it runs as its own process.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import secrets
import signal
import socket
import threading
import unicodedata
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "DEFAULT_RECORDINGS_DIR",
    "EMBEDDING_DIMENSIONS",
    "MAX_EMBEDDING_INSTANCES",
    "RecordedRequest",
    "VertexStandIn",
    "embedding_vector",
    "error_envelope",
    "main",
    "request_key",
]

logger = logging.getLogger(__name__)

# Where the repository keeps recorded responses (absent from an installed package).
DEFAULT_RECORDINGS_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "vertex"

# Full-length output of the text embedding models (gemini-embedding-001 is the exception).
EMBEDDING_DIMENSIONS: dict[str, int] = {
    "text-multilingual-embedding-002": 768,
    "text-embedding-005": 768,
    "text-embedding-004": 768,
    "gemini-embedding-001": 3072,
}
# Vertex AI rejects an embeddings request with more input texts than this.
MAX_EMBEDDING_INSTANCES = 250

_MODEL_PATH = re.compile(
    r"^/(?P<version>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/(?P<publisher>[^/]+)/models/(?P<model>[^/:]+)"
    r":(?P<method>generateContent|streamGenerateContent|predict)$"
)
_CHAT_METHODS = frozenset({"generateContent", "streamGenerateContent"})

# google.rpc.Code names Google puts beside each HTTP status in its error envelope.
_STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULT_MESSAGES: dict[int, str] = {
    429: (
        "Resource exhausted. Please try again later. Please refer to "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
    ),
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "Deadline exceeded.",
}


def error_envelope(status: int, message: str | None = None) -> dict[str, Any]:
    """Google's JSON error body for an HTTP status."""
    return {
        "error": {
            "code": status,
            "message": message or _DEFAULT_MESSAGES.get(status, HTTPStatus(status).phrase),
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }


def _part_texts(content: object) -> list[str]:
    if not isinstance(content, Mapping):
        return []
    texts: list[str] = []
    for part in content.get("parts") or []:
        if isinstance(part, Mapping) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            texts.append(json.dumps(part, sort_keys=True, ensure_ascii=False))
    return texts


def request_key(model: str, body: Mapping[str, Any]) -> str:
    """The key a recorded response is filed under: model, system instruction and turns.

    Only the conversation counts (not the generation config), and only text, so that the
    same conversation sent by `ChatVertexAI` or by google-genai finds the same recording.
    """
    system = body.get("systemInstruction", body.get("system_instruction"))
    turns = [
        [str(content.get("role") or "user"), _part_texts(content)]
        for content in body.get("contents") or []
        if isinstance(content, Mapping)
    ]
    canonical = {"model": model, "system": _part_texts(system), "turns": turns}
    text = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


_WORD = re.compile(r"\w+")


def embedding_vector(text: str, dimensions: int = 768) -> list[float]:
    """A deterministic, L2-normalised vector for a text (hashed words and trigrams).

    Lexical rather than semantic, but texts sharing words do score closer, which keeps a local
    knowledge base usable.
    """
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    words = _WORD.findall(folded)
    features = words + [f"#{w[i : i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
    vector = [0.0] * dimensions
    for feature in features or [f"<empty>{text}"]:
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "big") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


@dataclass(frozen=True)
class _Reply:
    status: int
    text: str | None
    usage: tuple[int, int] | None
    thoughts: int
    error_json: dict[str, Any] | None
    delay: float
    function_call: tuple[str, dict[str, Any]] | None
    finish_reason: str
    model_version: str | None

    def describe(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "text": self.text,
            "usage": list(self.usage) if self.usage else None,
            "delay": self.delay,
            "function_call": self.function_call[0] if self.function_call else None,
        }


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stand-in received, with what it answered."""

    method: str
    model: str
    api_version: str
    project: str
    location: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]
    status: int
    source: str
    """Where the answer came from: script, recording, default, computed or missing."""
    time: str = field(default="")

    @property
    def system_text(self) -> str:
        """The system instruction's text, parts joined by newlines."""
        system = self.body.get("systemInstruction", self.body.get("system_instruction"))
        return "\n".join(_part_texts(system))

    @property
    def turns(self) -> list[tuple[str, str]]:
        """(role, text) of every content of a generateContent request."""
        return [
            (str(c.get("role") or "user"), "\n".join(_part_texts(c)))
            for c in self.body.get("contents") or []
            if isinstance(c, Mapping)
        ]

    @property
    def generation_config(self) -> dict[str, Any]:
        """The request's generationConfig (empty if none)."""
        config = self.body.get("generationConfig", self.body.get("generation_config"))
        return dict(config) if isinstance(config, Mapping) else {}

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly copy (the control API serves these)."""
        return asdict(self)


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=UTF-8"
    delay: float = 0.0


def _json_response(payload: object, status: int = 200, delay: float = 0.0) -> _Response:
    return _Response(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), delay=delay)


class _StandInHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: VertexStandIn) -> None:
        self.standin = standin
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
    disable_nagle_algorithm = True
    timeout = 60
    server_version = "VertexStandIn/1.0"
    sys_version = ""

    def do_GET(self) -> None:
        """Serve a GET."""
        self._handle()

    def do_POST(self) -> None:
        """Serve a POST."""
        self._handle()

    def _handle(self) -> None:
        server = self.server
        if not isinstance(server, _StandInHTTPServer):
            raise TypeError("handler bound to a foreign server")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        response = server.standin.handle(self.command, self.path, headers, body)
        if response.delay > 0 and server.standin.wait_stopping(response.delay):
            self.close_connection = True
            return
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout was shorter than the scripted delay).
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log the method, path and status at debug level."""
        logger.debug("%s %s -> %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, fmt: str, *args: Any) -> None:
        """Route the server's own diagnostics to logging."""
        logger.debug("http: %s", fmt % args)


class VertexStandIn:
    """An in-memory Vertex AI endpoint: scripted or recorded Gemini replies, stable embeddings."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8086,
        recordings_dir: Path | str | None = None,
        default_text: str | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.recordings_dir = Path(recordings_dir) if recordings_dir is not None else None
        self.default_text = default_text
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[_Reply]] = {}
        self._requests: list[RecordedRequest] = []
        self._server: _StandInHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bound_port = 0
        self._stopping = threading.Event()

    # lifecycle

    @property
    def port(self) -> int:
        """The port listened on (the real one once started with port 0)."""
        return self._bound_port or self._requested_port

    @property
    def url(self) -> str:
        """Base URL to give a client as its API endpoint, without a trailing slash."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Listen and serve in a background thread; returns once the socket is bound."""
        if self._server is not None:
            raise RuntimeError("stand-in already started")
        self._stopping.clear()
        self._server = _StandInHTTPServer((self.host, self._requested_port), self)
        self._bound_port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"vertex-standin:{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("Vertex AI stand-in listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving, cut delayed replies short and release the port."""
        self._stopping.set()
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def wait_stopping(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if the stand-in is stopping meanwhile."""
        return self._stopping.wait(seconds)

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

    # scripting and inspection

    def script(
        self,
        model: str,
        *,
        text: str | None = "",
        usage: tuple[int, int] | None = None,
        status: int = 200,
        error_json: dict[str, Any] | None = None,
        delay: float = 0.0,
        function_call: tuple[str, dict[str, Any]] | None = None,
        thoughts: int = 0,
        finish_reason: str = "STOP",
        model_version: str | None = None,
        times: int = 1,
    ) -> None:
        """Queue the next reply(ies) for `model` (`"*"`: any model).

        `usage` is (prompt, completion) tokens, estimated from the texts when omitted;
        `status` other than 200 answers Google's error envelope (or `error_json` verbatim);
        `delay` holds the answer back, to trip a client's timeout. For `:predict` only
        `status`, `error_json` and `delay` matter: the vectors are always computed.
        """
        if not 200 <= status < 600:
            raise ValueError("status must be an HTTP status")
        if times < 1:
            raise ValueError("times must be at least 1")
        reply = _Reply(
            status=status,
            text=text,
            usage=usage,
            thoughts=thoughts,
            error_json=error_json,
            delay=delay,
            function_call=function_call,
            finish_reason=finish_reason,
            model_version=model_version,
        )
        with self._lock:
            self._scripts.setdefault(model, deque()).extend([reply] * times)

    def pending_scripts(self) -> dict[str, list[dict[str, Any]]]:
        """Scripted replies not yet served, by model."""
        with self._lock:
            return {m: [r.describe() for r in q] for m, q in self._scripts.items() if q}

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_for(
        self, model: str | None = None, method: str | None = None
    ) -> list[RecordedRequest]:
        """Requests for one model and/or one method (generateContent, predict, ...)."""
        return [
            r
            for r in self.requests
            if (model is None or r.model == model) and (method is None or r.method == method)
        ]

    def reset(self) -> None:
        """Forget requests and pending scripts."""
        with self._lock:
            self._scripts.clear()
            self._requests.clear()

    def recording_path(self, model: str, body: Mapping[str, Any]) -> Path | None:
        """Where a recorded response for this request would be (None without a directory)."""
        if self.recordings_dir is None:
            return None
        return self.recordings_dir / f"{model}.{request_key(model, body)}.json"

    # request handling

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes
    ) -> _Response:
        """Answer one HTTP request."""
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        try:
            if path.startswith("/_standin/"):
                return self._control(method, path, raw_body)
            match = _MODEL_PATH.match(path)
            if method != "POST" or match is None:
                return _json_response(error_envelope(404, f"Unknown path: {method} {path}"), 404)
            try:
                body = json.loads(raw_body.decode("utf-8") or "{}")
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                return _json_response(error_envelope(400, f"Invalid JSON payload: {exc}"), 400)
            if not isinstance(body, dict):
                return _json_response(error_envelope(400, "Request body must be an object."), 400)
            return self._serve_model(match, query, headers, body)
        except Exception:
            logger.exception("stand-in failed on %s %s", method, path)
            return _json_response(error_envelope(500), 500)

    def _take_script(self, model: str) -> _Reply | None:
        with self._lock:
            for key in (model, "*"):
                queue = self._scripts.get(key)
                if queue:
                    return queue.popleft()
        return None

    def _record(
        self,
        match: re.Match[str],
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: dict[str, Any],
        status: int,
        source: str,
    ) -> None:
        request = RecordedRequest(
            method=match["method"],
            model=match["model"],
            api_version=match["version"],
            project=match["project"],
            location=match["location"],
            path=match.string,
            query=query,
            headers=dict(headers),
            body=body,
            status=status,
            source=source,
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
        )
        with self._lock:
            self._requests.append(request)
        logger.info("%s %s -> %d (%s)", request.method, request.model, status, source)

    def _serve_model(
        self,
        match: re.Match[str],
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: dict[str, Any],
    ) -> _Response:
        model, method = match["model"], match["method"]
        reply = self._take_script(model)
        if reply is not None and reply.status != 200:
            self._record(match, query, headers, body, reply.status, "script")
            payload = reply.error_json or error_envelope(reply.status)
            return _json_response(payload, reply.status, reply.delay)
        if method == "predict":
            return self._predict(match, query, headers, body, reply)
        return self._generate(match, query, headers, body, reply)

    # embeddings

    def _predict(
        self,
        match: re.Match[str],
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: dict[str, Any],
        reply: _Reply | None,
    ) -> _Response:
        delay = reply.delay if reply else 0.0
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            self._record(match, query, headers, body, 400, "computed")
            return _json_response(error_envelope(400, "instances must be a non-empty list."), 400)
        if len(instances) > MAX_EMBEDDING_INSTANCES:
            self._record(match, query, headers, body, 400, "computed")
            message = (
                f"{len(instances)} instances in one request; the limit is "
                f"{MAX_EMBEDDING_INSTANCES}."
            )
            return _json_response(error_envelope(400, message), 400)
        raw_parameters = body.get("parameters")
        parameters: dict[str, Any] = raw_parameters if isinstance(raw_parameters, dict) else {}
        dimensions = int(
            parameters.get("outputDimensionality")
            or parameters.get("output_dimensionality")
            or EMBEDDING_DIMENSIONS.get(match["model"], 768)
        )
        predictions = []
        characters = 0
        for instance in instances:
            text = str(instance.get("content", "")) if isinstance(instance, dict) else ""
            characters += sum(1 for ch in text if not ch.isspace())
            predictions.append(
                {
                    "embeddings": {
                        "statistics": {"truncated": False, "token_count": _estimate_tokens(text)},
                        "values": embedding_vector(text, dimensions),
                    }
                }
            )
        self._record(match, query, headers, body, 200, "script" if reply else "computed")
        payload = {"predictions": predictions, "metadata": {"billableCharacterCount": characters}}
        return _json_response(payload, 200, delay)

    # Gemini

    def _generate(
        self,
        match: re.Match[str],
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: dict[str, Any],
        reply: _Reply | None,
    ) -> _Response:
        model = match["model"]
        if reply is not None:
            chunks = self._reply_chunks(model, body, reply, match["method"])
            source, delay = "script", reply.delay
        else:
            recorded = self._recorded(model, body)
            if recorded is not None:
                chunks, source, delay = [recorded], "recording", 0.0
            elif self.default_text is not None:
                fallback = _Reply(200, self.default_text, None, 0, None, 0.0, None, "STOP", None)
                chunks = self._reply_chunks(model, body, fallback, match["method"])
                source, delay = "default", 0.0
            else:
                path = self.recording_path(model, body)
                message = (
                    f"vertex stand-in: nothing scripted for {model} and no recording "
                    f"{path.name if path else request_key(model, body)}"
                )
                self._record(match, query, headers, body, 404, "missing")
                return _json_response(error_envelope(404, message), 404)
        self._record(match, query, headers, body, 200, source)
        if match["method"] == "generateContent":
            return _json_response(chunks[0], 200, delay)
        if "sse" in query.get("alt", []):
            events = "".join(f"data: {json.dumps(c, ensure_ascii=False)}\r\n\r\n" for c in chunks)
            return _Response(200, events.encode("utf-8"), "text/event-stream", delay)
        return _json_response(chunks, 200, delay)

    def _recorded(self, model: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        path = self.recording_path(model, body)
        if path is None or not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold one GenerateContentResponse object")
        return data

    def _reply_chunks(
        self, model: str, body: Mapping[str, Any], reply: _Reply, method: str
    ) -> list[dict[str, Any]]:
        text = reply.text or ""
        if reply.usage is not None:
            prompt, completion = reply.usage
        else:
            # Gemini bills the system instruction and the response schema as input too.
            contents = body.get("contents") or []
            sent = [t for c in [body.get("systemInstruction"), *contents] for t in _part_texts(c)]
            schema = (body.get("generationConfig") or {}).get("responseSchema")
            if schema:
                sent.append(json.dumps(schema, ensure_ascii=False))
            prompt, completion = _estimate_tokens("\n".join(sent)), _estimate_tokens(text)
        usage: dict[str, Any] = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": completion,
            "totalTokenCount": prompt + completion + reply.thoughts,
            "trafficType": "ON_DEMAND",
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
            "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": completion}],
        }
        if reply.thoughts:
            usage["thoughtsTokenCount"] = reply.thoughts
        pieces = _split_text(text) if method == "streamGenerateContent" else [text]
        response_id = secrets.token_urlsafe(12)
        created = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        chunks: list[dict[str, Any]] = []
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            parts: list[dict[str, Any]] = [{"text": piece}] if piece or not last else []
            if last and reply.function_call is not None:
                name, args = reply.function_call
                parts.append({"functionCall": {"name": name, "args": args}})
            if not parts:
                parts = [{"text": ""}]
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
            if last:
                candidate["finishReason"] = reply.finish_reason
            chunk: dict[str, Any] = {
                "candidates": [candidate],
                "modelVersion": reply.model_version or model,
                "createTime": created,
                "responseId": response_id,
            }
            if last:
                chunk["usageMetadata"] = usage
            chunks.append(chunk)
        return chunks

    # control API

    def _control(self, method: str, path: str, raw_body: bytes) -> _Response:
        path = path.rstrip("/")
        if method == "GET" and path == "/_standin/health":
            return _json_response({"ok": True})
        if method == "GET" and path == "/_standin/requests":
            return _json_response([r.describe() for r in self.requests])
        if method == "GET" and path == "/_standin/scripts":
            return _json_response(self.pending_scripts())
        if method == "POST" and path == "/_standin/reset":
            self.reset()
            return _json_response({"ok": True})
        if method == "POST" and path == "/_standin/script":
            data = json.loads(raw_body.decode("utf-8") or "{}")
            if not isinstance(data, dict) or not isinstance(data.get("model"), str):
                return _json_response(error_envelope(400, "model is required"), 400)
            usage = data.get("usage")
            call = data.get("function_call")
            self.script(
                data["model"],
                text=data.get("text", ""),
                usage=(int(usage[0]), int(usage[1])) if usage else None,
                status=int(data.get("status", 200)),
                error_json=data.get("error_json"),
                delay=float(data.get("delay", 0.0)),
                function_call=(call["name"], call.get("args", {})) if call else None,
                thoughts=int(data.get("thoughts", 0)),
                finish_reason=str(data.get("finish_reason", "STOP")),
                times=int(data.get("times", 1)),
            )
            return _json_response({"ok": True, "pending": self.pending_scripts()})
        return _json_response(error_envelope(404, f"Unknown stand-in path: {method} {path}"), 404)


def _split_text(text: str) -> list[str]:
    """Two stream chunks at a word boundary (one if the text is a single word)."""
    cut = text.find(" ", len(text) // 2)
    return [text[:cut], text[cut:]] if 0 < cut < len(text) - 1 else [text]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        return default


def main(argv: list[str] | None = None) -> None:
    """Run the stand-in in the foreground until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m shared.localstack.vertex_standin",
        description="Local Vertex AI stand-in (Gemini generateContent and text embeddings).",
    )
    parser.add_argument("--host", default=os.environ.get("VERTEX_STANDIN_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=_env_int("VERTEX_STANDIN_PORT", 8086))
    parser.add_argument(
        "--recordings",
        default=str(DEFAULT_RECORDINGS_DIR) if DEFAULT_RECORDINGS_DIR.is_dir() else None,
        help="directory of recorded generateContent responses ({model}.{key}.json)",
    )
    parser.add_argument(
        "--default-text",
        default="Olá! Esta é uma resposta simulada do Vertex AI local.",
        help="reply when nothing is scripted or recorded ('' to answer 404 instead)",
    )
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=str(args.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    standin = VertexStandIn(
        host=args.host,
        port=args.port,
        recordings_dir=args.recordings,
        default_text=args.default_text or None,
    )
    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    standin.start()
    try:
        while not done.wait(0.5):
            pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
