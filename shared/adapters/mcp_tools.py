"""BusinessTools through the MCP hub (McpBusinessTools), or in-process (LocalBusinessTools).

McpBusinessTools reaches the hub through langchain-mcp-adapters, as the project's card asks:
a `MultiServerMCPClient` on the hub's streamable HTTP endpoint lists its tools as LangChain
`BaseTool`s, and each call invokes one of them. The same tools can be bound to a model
(`langchain_tools()`), so a Gemini agent and the graph's plain calls share one path. The
adapters 0.3.x import `mcp.server.fastmcp`, which mcp 2 removed, hence mcp is pinned below 2.

The graph is synchronous, so the async client runs on one background event loop per instance
and each `call` waits for its result with a deadline. Every tool call opens a short MCP
session (initialize, then the call): the hub is stateless, so there is no session to keep
alive across Cloud Run instances. In the cloud every request carries a Google identity token
whose audience is the hub's URL; Cloud Run checks it and the caller's roles/run.invoker.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from langchain_core.messages import ToolMessage
from langchain_core.messages.tool import tool_call
from langchain_core.tools import BaseTool
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.sessions import StreamableHttpConnection
from pydantic import BaseModel

from shared.domain.models import ToolResult
from shared.ports import BusinessData, BusinessTools
from shared.settings import Settings
from shared.tools_hub.tools import run_tool

__all__ = [
    "GoogleIdTokens",
    "HubTool",
    "LocalBusinessTools",
    "McpBusinessTools",
    "business_tools_from_settings",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Fetch a new identity token this long before the current one expires (they last an hour).
_REFRESH_MARGIN_SECONDS = 300.0
# When a token's expiry cannot be read, assume the shortest usual lifetime minus the margin.
_FALLBACK_LIFETIME_SECONDS = 3000.0


def _fetch_google_id_token(audience: str) -> str:
    """A Google-signed identity token for the audience (service account or metadata server)."""
    import google.auth.transport.requests
    import google.oauth2.id_token

    token: str = google.oauth2.id_token.fetch_id_token(  # type: ignore[no-untyped-call]
        google.auth.transport.requests.Request(), audience
    )
    return token


def _expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying it (only to know when to refresh)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return None


class GoogleIdTokens:
    """Identity tokens for one audience, cached and fetched again shortly before expiry."""

    def __init__(
        self,
        audience: str,
        *,
        fetch: Callable[[str], str] = _fetch_google_id_token,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.audience = audience
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def token(self) -> str:
        """A token valid for at least a few more minutes."""
        with self._lock:
            now = self._clock()
            if self._token is None or now >= self._refresh_at:
                token = self._fetch(self.audience)
                expires = _expiry(token) or now + _FALLBACK_LIFETIME_SECONDS
                self._token = token
                self._refresh_at = expires - _REFRESH_MARGIN_SECONDS
            return self._token

    def invalidate(self) -> None:
        """Forget the token (the hub refused it), so the next call fetches a new one."""
        with self._lock:
            self._token = None


class HubTool:
    """A tool as the hub lists it: name, description and JSON schema of its arguments."""

    __slots__ = ("description", "input_schema", "name")

    def __init__(self, name: str, description: str, input_schema: dict[str, Any]) -> None:
        self.name = name
        self.description = description
        self.input_schema = input_schema

    def __repr__(self) -> str:
        return f"HubTool({self.name!r})"


class _Unavailable(Exception):
    """The hub could not be reached or did not answer; the message is the cause."""


def _run_until_stopped(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_forever()
    loop.close()


class _BackgroundLoop:
    """One event loop on a daemon thread, for running coroutines from synchronous code."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule a coroutine on the loop, starting the loop on first use."""
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_run_until_stopped, args=(loop,), name="mcp-tools-loop", daemon=True
                )
                thread.start()
                self._loop = loop
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coroutine, loop)

    def close(self) -> None:
        """Stop the loop (tests; an instance simply exits)."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _http_statuses(error: BaseException) -> list[int]:
    """The HTTP error statuses the hub answered, read off the transport's errors."""
    return [
        leaf.response.status_code
        for leaf in _leaves(error)
        if isinstance(leaf, httpx.HTTPStatusError)
    ]


def _describe(error: BaseException) -> str:
    """What went wrong, for the log: HTTP statuses seen and the innermost errors."""
    parts = [f"HTTP {status}" for status in dict.fromkeys(_http_statuses(error))]
    for leaf in _leaves(error):
        # httpx's messages run on to a second line of advice; the first says what happened.
        first_line = (str(leaf).splitlines() or [""])[0]
        text = f"{type(leaf).__name__}: {first_line}".rstrip(": ")
        if text not in parts:
            parts.append(text)
    return "; ".join(parts) or type(error).__name__


_SCHEMA_ERROR = re.compile(r"^Error executing tool \S+: \d+ validation errors? for ")
_BRACKETED = re.compile(r"\s*\[type=.*$")


def _schema_error_detail(text: str) -> str | None:
    """`field: message` pairs of the SDK's argument-validation error, without the values.

    The SDK quotes the arguments (`input_value=...`), which may hold a customer's number.
    """
    lines = text.splitlines()
    if not lines or not _SCHEMA_ERROR.match(lines[0]):
        return None
    problems, field = [], ""
    for line in lines[1:]:
        if not line.startswith(" "):
            field = line.strip()
        elif line.startswith("  ") and not line.startswith("    "):
            problems.append(f"{field}: {_BRACKETED.sub('', line.strip())}")
    return "; ".join(problems) or "arguments do not match the tool's schema"


def _text_of(content: object) -> str:
    """The text blocks of a ToolMessage's content (a string, or LangChain content blocks)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = []
    for block in content:
        if isinstance(block, str):
            texts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            texts.append(str(block.get("text", "")))
    return "\n".join(texts)


def _to_tool_result(tool: str, arguments: dict[str, Any], message: ToolMessage) -> ToolResult:
    """The hub's answer as a ToolResult: JSON data, or the error code and its details.

    The adapters turn the MCP result into a ToolMessage: its content holds the text blocks,
    its artifact the structured content, and `status="error"` marks a result the tool
    flagged as an error.
    """
    text = _text_of(message.content)
    if message.status == "error":
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            error = payload.pop("error")
            return ToolResult(tool=tool, arguments=arguments, ok=False, error=error, data=payload)
        # The SDK's own messages (arguments failing the schema, unknown tool) are plain text.
        detail = _schema_error_detail(text)
        if detail is not None:
            return ToolResult(
                tool=tool, arguments=arguments, ok=False, error="invalid", data={"detail": detail}
            )
        return ToolResult(
            tool=tool, arguments=arguments, ok=False, error=text or "the tool reported an error"
        )
    artifact = message.artifact
    data: Any = artifact.get("structured_content") if isinstance(artifact, dict) else None
    if not isinstance(data, dict):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    if not isinstance(data, dict):
        data = {"text": text}
    return ToolResult(tool=tool, arguments=arguments, ok=True, data=data)


def _input_schema(tool: BaseTool) -> dict[str, Any]:
    """The JSON schema of a tool's arguments (the adapters keep the hub's as a dict)."""
    schema = tool.args_schema
    if isinstance(schema, dict):
        return dict(schema)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    return {"type": "object", "properties": tool.args}


class McpBusinessTools:
    """BusinessTools over the MCP hub at `url` (streamable HTTP), callable from sync code.

    The calls go through langchain-mcp-adapters: `MultiServerMCPClient.get_tools()` lists the
    hub's tools as LangChain BaseTools, and each call is one `BaseTool.ainvoke`.
    """

    SERVER = "hub"

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 10.0,
        id_tokens: GoogleIdTokens | None = None,
    ) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        parts = urlsplit(url)
        if id_tokens is None and parts.scheme == "https":
            # Cloud Run takes the service URL (scheme and host) as the token's audience.
            id_tokens = GoogleIdTokens(f"{parts.scheme}://{parts.netloc}")
        self._id_tokens = id_tokens
        self._loop = _BackgroundLoop()
        # The hub's tool list, kept for the instance's life (names, descriptions, schemas).
        self._tools: dict[str, HubTool] | None = None
        # The adapters' client and its tools carry the identity token in fixed headers, so
        # both are built again when the token changes (about once an hour). Only the
        # background loop touches them.
        self._client: MultiServerMCPClient | None = None
        self._client_token: str | None = None
        self._lc_tools: dict[str, BaseTool] | None = None

    def call(self, tool: str, arguments: Mapping[str, object]) -> ToolResult:
        """Call one tool on the hub; a hub that is down or slow gives `unavailable`."""
        args = dict(arguments)
        if self._tools is not None and tool not in self._tools:
            return ToolResult(tool=tool, arguments=args, ok=False, error=f"unknown tool: {tool}")
        try:
            message = self._run(lambda token: self._call(tool, args, token))
        except _Unavailable as error:
            logger.warning("tools hub unavailable for %s: %s", tool, error)
            return ToolResult(tool=tool, arguments=args, ok=False, error="unavailable")
        if message is None:
            return ToolResult(tool=tool, arguments=args, ok=False, error=f"unknown tool: {tool}")
        outcome = _to_tool_result(tool, args, message)
        if not outcome.ok:
            logger.info("tool %s answered an error: %s", tool, outcome.error)
        return outcome

    def tools(self) -> list[HubTool]:
        """The hub's tools (listed once per instance), e.g. to describe them to a model."""
        if self._tools is None:
            try:
                self._run(self._langchain_tools_for)
            except _Unavailable as error:
                logger.warning("tools hub unavailable for the tool list: %s", error)
                return []
        return list((self._tools or {}).values())

    def langchain_tools(self) -> list[BaseTool]:
        """The hub's tools as the adapters' LangChain BaseTools, e.g. to bind to a model.

        Each opens its own MCP session per call, on whatever event loop awaits it. They carry
        the identity token current when they were built, so take them afresh for each turn
        rather than keeping them for hours. Their own errors come back as a ToolMessage with
        `status="error"`; a hub that cannot be reached raises.
        """
        try:
            tools = self._run(self._langchain_tools_for)
        except _Unavailable as error:
            logger.warning("tools hub unavailable for the tool list: %s", error)
            return []
        return list(tools.values())

    def close(self) -> None:
        """Stop the background loop."""
        self._loop.close()

    # ------------------------------------------------------------------ async side

    def _run(self, make: Callable[[str | None], Coroutine[Any, Any, T]]) -> T:
        """Run `make(identity token)` on the background loop within the timeout."""
        token = None
        if self._id_tokens is not None:
            try:
                # Fetched here, on the caller's thread: it may block on the metadata server.
                token = self._id_tokens.token()
            except Exception as error:
                raise _Unavailable(f"no identity token: {type(error).__name__}: {error}") from error
        future = self._loop.submit(self._bounded(make(token)))
        try:
            # The coroutine has its own deadline; this one only guards against a stuck loop.
            return future.result(timeout=self.timeout_seconds + 5)
        except FutureTimeout as error:
            future.cancel()
            raise _Unavailable(f"no answer in {self.timeout_seconds:g} s") from error

    async def _bounded(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            return await asyncio.wait_for(self._guarded(coroutine), self.timeout_seconds)
        except TimeoutError as error:
            raise _Unavailable(f"no answer in {self.timeout_seconds:g} s") from error

    async def _guarded(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Any failure to reach the hub becomes _Unavailable; a 401 drops the token."""
        try:
            return await coroutine
        except _Unavailable:
            raise
        except Exception as error:
            if 401 in _http_statuses(error) and self._id_tokens is not None:
                self._id_tokens.invalidate()
            raise _Unavailable(_describe(error)) from error

    def _connection(self, token: str | None) -> StreamableHttpConnection:
        seconds = self.timeout_seconds
        return {
            "transport": "streamable_http",
            "url": self.url,
            "headers": {"Authorization": f"Bearer {token}"} if token else None,
            # `timeout` covers connecting and writing; the JSON answer is read under
            # `sse_read_timeout`, so both get the call's deadline.
            "timeout": seconds,
            "sse_read_timeout": seconds,
            # A stateless hub has no session to end, so no DELETE on close.
            "terminate_on_close": False,
            "session_kwargs": {"read_timeout_seconds": timedelta(seconds=seconds)},
        }

    async def _langchain_tools_for(self, token: str | None) -> dict[str, BaseTool]:
        """The adapters' tools with this token's headers, listing them when the token is new."""
        if self._client is None or token != self._client_token:
            self._client = MultiServerMCPClient({self.SERVER: self._connection(token)})
            self._client_token = token
            self._lc_tools = None
        if self._lc_tools is not None:
            return self._lc_tools
        client = self._client
        listed = await client.get_tools(server_name=self.SERVER)
        tools = {t.name: t for t in listed}
        self._tools = {t.name: HubTool(t.name, t.description, _input_schema(t)) for t in listed}
        # A call with a newer token may have replaced the client while this one listed.
        if self._client is client:
            self._lc_tools = tools
        return tools

    async def _call(
        self, tool: str, arguments: dict[str, Any], token: str | None
    ) -> ToolMessage | None:
        tools = await self._langchain_tools_for(token)
        chosen = tools.get(tool)
        if chosen is None:
            return None
        # Invoked with a ToolCall, a content-and-artifact tool answers a ToolMessage: the
        # text, the structured content as artifact, and whether the tool flagged an error.
        # Invoked with bare arguments it would answer the text alone.
        answer = await chosen.ainvoke(
            tool_call(name=tool, args=arguments, id=f"hub-{uuid.uuid4().hex}")
        )
        if isinstance(answer, ToolMessage):
            return answer
        content = answer if isinstance(answer, str | list) else str(answer)
        return ToolMessage(content=content, tool_call_id="hub")


class LocalBusinessTools:
    """BusinessTools in-process over the same tool functions (unit tests, offline evaluation)."""

    def __init__(self, data: BusinessData) -> None:
        self.data = data

    def call(self, tool: str, arguments: Mapping[str, object]) -> ToolResult:
        """Run the tool here; the same results the hub would give."""
        return run_tool(self.data, tool, arguments)


def business_tools_from_settings(settings: Settings) -> BusinessTools:
    """The hub at TOOLS_HUB_URL, or in-process over BUSINESS_DATA_PATH when the URL is blank."""
    if settings.tools_hub_url.strip():
        return McpBusinessTools(
            settings.tools_hub_url, timeout_seconds=settings.tools_hub_timeout_seconds
        )
    from shared.adapters.business_json import JsonBusinessData

    return LocalBusinessTools(JsonBusinessData.from_settings(settings))
