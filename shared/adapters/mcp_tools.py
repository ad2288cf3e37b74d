"""BusinessTools through the MCP hub (McpBusinessTools), or in-process (LocalBusinessTools).

McpBusinessTools speaks MCP over streamable HTTP with the SDK's own client
(`mcp.client.streamable_http` and `ClientSession`). langchain-mcp-adapters 0.3.1, installed
beside mcp 2.3.0, cannot connect to it: its `tools` module imports `mcp.server.fastmcp`, which
mcp 2 removed, and its streamable HTTP session expects the three values mcp 1 yielded. The
agent graph needs plain calls (tool name in, ToolResult out), which the SDK gives directly.

The graph is synchronous, so the async client runs on one background event loop per instance
and each `call` waits for its result with a deadline. Each call opens a short MCP session
(initialize, then the call): the hub is stateless, so there is no session to keep alive
across Cloud Run instances. In the cloud every request carries a Google identity token whose
audience is the hub's URL; Cloud Run checks it and the caller's roles/run.invoker.
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
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

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


def _describe(error: BaseException, statuses: list[int]) -> str:
    """What went wrong, for the log: HTTP statuses seen and the innermost errors."""
    parts = [f"HTTP {status}" for status in dict.fromkeys(statuses)]
    for leaf in _leaves(error):
        text = f"{type(leaf).__name__}: {leaf}".rstrip(": ")
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


def _to_tool_result(tool: str, arguments: dict[str, Any], result: CallToolResult) -> ToolResult:
    """The hub's answer as a ToolResult: JSON data, or the error code and its details."""
    text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    if result.is_error:
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
    data: Any = result.structured_content
    if not isinstance(data, dict):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    if not isinstance(data, dict):
        data = {"text": text}
    return ToolResult(tool=tool, arguments=arguments, ok=True, data=data)


class McpBusinessTools:
    """BusinessTools over the MCP hub at `url` (streamable HTTP), callable from sync code."""

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
        self._tools: dict[str, HubTool] | None = None

    def call(self, tool: str, arguments: Mapping[str, object]) -> ToolResult:
        """Call one tool on the hub; a hub that is down or slow gives `unavailable`."""
        args = dict(arguments)
        if self._tools is not None and tool not in self._tools:
            return ToolResult(tool=tool, arguments=args, ok=False, error=f"unknown tool: {tool}")
        try:
            result = self._run(lambda token: self._call(tool, args, token))
        except _Unavailable as error:
            logger.warning("tools hub unavailable for %s: %s", tool, error)
            return ToolResult(tool=tool, arguments=args, ok=False, error="unavailable")
        if result is None:
            return ToolResult(tool=tool, arguments=args, ok=False, error=f"unknown tool: {tool}")
        outcome = _to_tool_result(tool, args, result)
        if not outcome.ok:
            logger.info("tool %s answered an error: %s", tool, outcome.error)
        return outcome

    def tools(self) -> list[HubTool]:
        """The hub's tools (listed once per instance), e.g. to describe them to a model."""
        if self._tools is None:
            try:
                self._run(lambda token: self._session_call(self._list_with, token))
            except _Unavailable as error:
                logger.warning("tools hub unavailable for the tool list: %s", error)
                return []
        return list((self._tools or {}).values())

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
            return await asyncio.wait_for(coroutine, self.timeout_seconds)
        except TimeoutError as error:
            raise _Unavailable(f"no answer in {self.timeout_seconds:g} s") from error

    async def _session_call(
        self, action: Callable[[ClientSession], Coroutine[Any, Any, T]], token: str | None
    ) -> T:
        statuses: list[int] = []

        async def record(response: httpx2.Response) -> None:
            if response.status_code >= 400:
                statuses.append(response.status_code)

        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            async with (
                httpx2.AsyncClient(
                    headers=headers,
                    timeout=httpx2.Timeout(self.timeout_seconds),
                    event_hooks={"response": [record]},
                ) as http,
                # A stateless hub has no session to end, so no DELETE on close.
                streamable_http_client(self.url, http_client=http, terminate_on_close=False) as (
                    read,
                    write,
                ),
                ClientSession(read, write, read_timeout_seconds=self.timeout_seconds) as session,
            ):
                await session.initialize()
                return await action(session)
        except Exception as error:
            if 401 in statuses and self._id_tokens is not None:
                self._id_tokens.invalidate()
            raise _Unavailable(_describe(error, statuses)) from error

    async def _list_with(self, session: ClientSession) -> None:
        listed = await session.list_tools()
        self._tools = {
            t.name: HubTool(t.name, t.description or "", dict(t.input_schema)) for t in listed.tools
        }

    async def _call(
        self, tool: str, arguments: dict[str, Any], token: str | None
    ) -> CallToolResult | None:
        async def action(session: ClientSession) -> CallToolResult | None:
            if self._tools is None:
                await self._list_with(session)
            if self._tools is not None and tool not in self._tools:
                return None
            return await session.call_tool(tool, arguments)

        return await self._session_call(action, token)


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
