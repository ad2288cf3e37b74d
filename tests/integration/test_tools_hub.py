"""The MCP tools hub over real streamable HTTP: the server in-process under uvicorn, the real
client (McpBusinessTools, through langchain-mcp-adapters), identity tokens, a hub that is down
or hangs, and the Cloud Function entry point under functions-framework. No emulator needed."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import functions_framework
import langchain_mcp_adapters.tools
import pytest
import uvicorn
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langchain_mcp_adapters.sessions import create_session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.adapters.business_json import DEFAULT_BUSINESS_DATA, JsonBusinessData
from shared.adapters.mcp_tools import GoogleIdTokens, LocalBusinessTools, McpBusinessTools
from shared.tools_hub.server import create_app
from shared.tools_hub.tools import TOOL_NAMES

FUNCTION_SOURCE = Path(__file__).resolve().parents[2] / "functions" / "tools_hub" / "main.py"

TICKET = {
    "reason": "troca de produto",
    "summary": "Cliente recebeu o fone com defeito e quer trocar.",
    "customer_phone": "5511988887777",
    "idempotency_key": "turn-it-1",
}
# (tool, arguments): every tool, found and not found, and arguments the tools refuse.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("order_status", {"order_number": "482913"}),
    ("order_status", {"order_number": 731205}),
    ("order_status", {"order_number": "000001"}),
    ("order_status", {"order_number": "12"}),
    ("invoice_copy", {"customer_phone": "5511988887777"}),
    ("invoice_copy", {"customer_phone": "5511977776666"}),
    ("invoice_copy", {"customer_phone": "5511988887777", "invoice_id": "FAT-2026-0002"}),
    ("invoice_copy", {"customer_phone": "123"}),
    ("store_info", {"query": "Campinas"}),
    ("store_info", {"query": "sao paulo"}),
    ("store_info", {"query": "Recife"}),
    ("open_ticket", TICKET),
    ("open_ticket", {**TICKET, "reason": "x"}),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free port in a thread; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def hub_url() -> Iterator[str]:
    """The hub over the sample data, on 127.0.0.1, for the whole module."""
    with serve(create_app(JsonBusinessData.from_path(DEFAULT_BUSINESS_DATA))) as base:
        yield base


@pytest.fixture
def hub(hub_url: str) -> Iterator[McpBusinessTools]:
    """The real client of the hub."""
    tools = McpBusinessTools(f"{hub_url}/mcp", timeout_seconds=5)
    yield tools
    tools.close()


def test_every_tool_answers_over_http_as_it_does_in_process(hub: McpBusinessTools) -> None:
    local = LocalBusinessTools(JsonBusinessData.from_path(DEFAULT_BUSINESS_DATA))
    for tool, arguments in CASES:
        remote, here = hub.call(tool, arguments), local.call(tool, arguments)
        assert (remote.ok, remote.error, remote.data) == (here.ok, here.error, here.data), tool
        assert remote.tool == tool and remote.arguments == arguments


def test_the_right_data_comes_back(hub: McpBusinessTools) -> None:
    order = hub.call("order_status", {"order_number": "482913"}).data["order"]
    assert (order["status_label"], order["expected_delivery"], order["total"]) == (
        "Em trânsito",
        "2026-11-28",
        "189.90",
    )
    delivered = hub.call("order_status", {"order_number": "731205"}).data["order"]
    assert delivered["status_label"] == "Entregue"
    [invoice] = hub.call("invoice_copy", {"customer_phone": "5511988887777"}).data["invoices"]
    assert (invoice["status"], invoice["amount"], invoice["due_date"]) == (
        "overdue",
        "249.90",
        "2026-11-10",
    )
    assert invoice["boleto_line"] and invoice["pix_code"] and invoice["payment_link"]
    [open_one] = hub.call("invoice_copy", {"customer_phone": "5511977776666"}).data["invoices"]
    assert open_one["status"] == "open"
    stores = hub.call("store_info", {"query": "Moema"}).data["stores"]
    assert [s["store_id"] for s in stores] == ["SP-02"]
    first = hub.call("open_ticket", {**TICKET, "idempotency_key": "turn-it-2"})
    again = hub.call("open_ticket", {**TICKET, "idempotency_key": "turn-it-2"})
    assert first.data["protocol"].startswith("ATD-") and again.data == first.data


def test_arguments_the_schema_refuses_are_invalid_without_their_values(
    hub: McpBusinessTools, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        missing = hub.call("open_ticket", {"reason": "troca", "customer_phone": "5511988887777"})
    assert (missing.ok, missing.error) == (False, "invalid")
    assert "summary: Field required" in missing.data["detail"]
    assert "5511988887777" not in missing.data["detail"]
    assert "5511988887777" not in caplog.text


def test_the_tool_list_is_fetched_once_and_describes_every_tool(hub: McpBusinessTools) -> None:
    listed = hub.tools()
    assert [t.name for t in listed] == [
        "order_status",
        "invoice_copy",
        "store_info",
        "open_ticket",
    ]
    for tool in listed:
        assert len(tool.description) > 80 and tool.input_schema["type"] == "object"
    by_name = {t.name: t for t in listed}
    assert by_name["open_ticket"].input_schema["required"] == [
        "reason",
        "summary",
        "customer_phone",
        "idempotency_key",
    ]
    # Cached: an unknown tool is answered without a round trip.
    started = time.monotonic()
    result = hub.call("drop_tables", {})
    assert (result.ok, result.error) == (False, "unknown tool: drop_tables")
    assert time.monotonic() - started < 0.05


def test_calls_go_through_langchain_mcp_adapters(
    hub_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []

    @asynccontextmanager
    async def counting(connection: Any, **kwargs: Any) -> AsyncIterator[Any]:
        opened.append(connection["url"])
        async with create_session(connection, **kwargs) as session:
            yield session

    # Every MCP session of the adapters' tools (listing and calls) opens here.
    monkeypatch.setattr(langchain_mcp_adapters.tools, "create_session", counting)
    tools = McpBusinessTools(f"{hub_url}/mcp", timeout_seconds=5)
    try:
        result = tools.call("order_status", {"order_number": "482913"})
        assert result.ok and result.data["order"]["status_label"] == "Em trânsito"
        # One session to list the tools, one for the call, both opened by the adapters.
        assert opened == [f"{hub_url}/mcp"] * 2

        listed = tools.langchain_tools()
        assert [t.name for t in listed] == list(TOOL_NAMES)
        for tool in listed:
            assert isinstance(tool, BaseTool)
            assert tool.response_format == "content_and_artifact"
            assert tool.description == tools.tools()[TOOL_NAMES.index(tool.name)].description
        # The same tools work on another event loop, as a model's tool-calling loop would.
        store_info = listed[TOOL_NAMES.index("store_info")]
        call = {"type": "tool_call", "id": "t1", "name": "store_info", "args": {"query": "Moema"}}
        message = asyncio.run(store_info.ainvoke(call))
        assert isinstance(message, ToolMessage) and message.status == "success"
        expected = tools.call("store_info", {"query": "Moema"}).data
        assert message.artifact["structured_content"] == expected
        assert len(opened) == 4
    finally:
        tools.close()


def test_the_health_route(hub_url: str) -> None:
    import httpx

    answer = httpx.get(f"{hub_url}/healthz", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["tools"] == ["order_status", "invoice_copy", "store_info", "open_ticket"]


# --------------------------------------------------------------------------- identity tokens


class _RequireToken:
    """Stands in for Cloud Run's IAM check: 401 unless the bearer token is `fresh`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            authorization = headers.get(b"authorization", b"").decode()
            self.seen.append(authorization)
            if authorization != "Bearer fresh":
                await PlainTextResponse("unauthorized", status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def test_a_refused_token_is_fetched_again(caplog: pytest.LogCaptureFixture) -> None:
    guarded = _RequireToken(create_app(JsonBusinessData.from_path(DEFAULT_BUSINESS_DATA)))
    issued = iter(["stale", "fresh"])
    audiences: list[str] = []

    def fetch(audience: str) -> str:
        audiences.append(audience)
        return next(issued)

    with serve(guarded) as base:
        tools = McpBusinessTools(
            f"{base}/mcp",
            timeout_seconds=5,
            id_tokens=GoogleIdTokens("https://tools-hub.example", fetch=fetch),
        )
        with caplog.at_level(logging.WARNING):
            refused = tools.call("store_info", {"query": "Curitiba"})
        accepted = tools.call("store_info", {"query": "Curitiba"})
        tools.close()
    assert (refused.ok, refused.error) == (False, "unavailable")
    assert "tools hub unavailable for store_info: HTTP 401" in caplog.text
    assert accepted.ok and accepted.data["total"] == 2
    assert audiences == ["https://tools-hub.example"] * 2
    assert guarded.seen[0] == "Bearer stale"
    assert set(guarded.seen[1:]) == {"Bearer fresh"}


# --------------------------------------------------------------------------- hub down or slow


def test_a_hub_that_is_down_is_unavailable_at_once(caplog: pytest.LogCaptureFixture) -> None:
    tools = McpBusinessTools(f"http://127.0.0.1:{_free_port()}/mcp", timeout_seconds=3)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        result = tools.call("order_status", {"order_number": "482913"})
    elapsed = time.monotonic() - started
    tools.close()
    assert (result.ok, result.error) == (False, "unavailable")
    assert elapsed < 1.5
    assert "tools hub unavailable for order_status: ConnectError" in caplog.text


def test_a_stopped_hub_is_unavailable_within_the_timeout() -> None:
    with serve(create_app(JsonBusinessData.from_path(DEFAULT_BUSINESS_DATA))) as base:
        tools = McpBusinessTools(f"{base}/mcp", timeout_seconds=2)
        assert tools.call("order_status", {"order_number": "482913"}).ok
    started = time.monotonic()
    result = tools.call("order_status", {"order_number": "482913"})
    tools.close()
    assert result.error == "unavailable"
    assert time.monotonic() - started < 2


def test_a_hub_that_hangs_is_unavailable_after_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()

    async def hang(request: Request) -> Response:
        while not release.is_set():
            await asyncio.sleep(0.05)
        return PlainTextResponse("too late")

    app = Starlette(routes=[Route("/mcp", hang, methods=["GET", "POST", "DELETE"])])
    with serve(app) as base:
        tools = McpBusinessTools(f"{base}/mcp", timeout_seconds=1)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING):
            result = tools.call("order_status", {"order_number": "482913"})
        elapsed = time.monotonic() - started
        release.set()
        tools.close()
    assert result.error == "unavailable"
    assert 0.9 < elapsed < 2.5
    assert "tools hub unavailable for order_status:" in caplog.text


# --------------------------------------------------------------------------- the Cloud Function


def _function_app() -> Any:
    return functions_framework.create_app("tools_hub", str(FUNCTION_SOURCE))  # type: ignore[no-untyped-call]


def test_the_function_serves_the_hub_under_the_framework_test_client() -> None:
    app = _function_app()
    assert isinstance(app, Starlette), "functions-framework should serve it as ASGI"
    headers = {"Accept": "application/json, text/event-stream"}
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "order_status", "arguments": {"order_number": "482913"}},
    }
    with TestClient(app) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        answer = client.post("/mcp", json=call, headers=headers)
        assert answer.status_code == 200
        result = answer.json()["result"]
        assert result["structuredContent"]["order"]["status_label"] == "Em trânsito"
        assert client.get("/").status_code == 404


def test_the_function_serves_every_tool_to_the_real_client() -> None:
    local = LocalBusinessTools(JsonBusinessData.from_path(DEFAULT_BUSINESS_DATA))
    with serve(_function_app()) as base:
        tools = McpBusinessTools(f"{base}/mcp", timeout_seconds=5)
        for tool, arguments in CASES:
            remote, here = tools.call(tool, arguments), local.call(tool, arguments)
            assert (remote.ok, remote.error, remote.data) == (here.ok, here.error, here.data)
        tools.close()
