"""The MCP server of the business tools, over streamable HTTP (stateless, JSON responses).

`create_app(data)` is the ASGI app: `POST /mcp` speaks MCP, `GET /healthz` answers when the
hub is up. Locally `python -m shared.tools_hub.server --port 8087` serves it with uvicorn on
127.0.0.1; in the cloud functions/tools_hub/main.py serves it as a private Cloud Function.

Stateless: every request stands alone, so any instance can answer any call and nothing is
lost when Cloud Run scales to zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import MutableMapping
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.fastmcp import FastMCP
from mcp.types import CallToolResult, TextContent
from pydantic import Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.domain.models import ToolResult
from shared.ports import BusinessData
from shared.tools_hub.tools import TOOL_NAMES, run_tool

__all__ = [
    "DEFAULT_PORT",
    "ForwardTo",
    "LifespanOnFirstRequest",
    "build_server",
    "create_app",
    "main",
]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8087
MCP_PATH = "/mcp"

ORDER_STATUS = (
    "Consulta um pedido pelo número de 6 dígitos (ex.: 482913): situação em português "
    "(status_label, ex. 'Em trânsito'), itens, valor total e previsão de entrega. "
    "Use quando o cliente pergunta onde está o pedido, quando chega ou o que contém. "
    "/ Looks up an order by its 6-digit number: status, items, total, expected delivery. "
    "found=false means no order has that number."
)
INVOICE_COPY = (
    "Segunda via de boleto: as faturas em aberto ou vencidas do cliente, com linha "
    "digitável do boleto, PIX copia e cola e link de pagamento (ou uma fatura pelo "
    "invoice_id). Use quando o cliente pede a segunda via, o boleto, o PIX ou quanto deve. "
    "/ Copy of a customer's open and overdue invoices with boleto line, PIX code and "
    "payment link. customer_phone must be the WhatsApp number of this conversation, never "
    "a number the customer typed."
)
STORE_INFO = (
    "Endereço, bairro, horário de funcionamento e telefone das lojas (próprias e "
    "franquias) por cidade, bairro, sigla do estado ou nome da loja, ex.: 'Campinas', "
    "'Moema', 'Rio de Janeiro', 'Atende Batel'. "
    "/ Store addresses, opening hours and phone numbers by city, neighbourhood, state or "
    "store name."
)
OPEN_TICKET = (
    "Abre um chamado para um analista humano e devolve o número de protocolo (ex.: "
    "ATD-1A2B3C4D) para informar ao cliente. Use quando o caso precisa de uma pessoa: "
    "reclamação, troca ou devolução, contestação de cobrança, pedido extraviado. "
    "/ Opens a ticket for a human analyst and returns its protocol number. Calling again "
    "with the same idempotency_key returns the same protocol instead of a second ticket."
)


def _as_call_result(result: ToolResult) -> CallToolResult:
    """A ToolResult on the wire: the data as JSON text (and structured), or an error."""
    if result.ok:
        text = json.dumps(result.data, ensure_ascii=False)
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structuredContent=result.data
        )
    # The error code travels as JSON so the client can tell "invalid" from a tool's message.
    payload = {"error": result.error, **result.data}
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(payload, ensure_ascii=False))],
        isError=True,
    )


async def _call(data: BusinessData, tool: str, arguments: dict[str, object]) -> CallToolResult:
    """Run one tool in a worker thread and put its ToolResult on the wire.

    FastMCP 1.x calls a synchronous tool on the event loop itself, so a slow ERP would hold
    up every other request of the instance; a worker thread keeps the loop free.
    """
    result = await anyio.to_thread.run_sync(run_tool, data, tool, arguments)
    return _as_call_result(result)


def build_server(data: BusinessData, *, host: str = "127.0.0.1") -> FastMCP:
    """An MCP server with the four tools bound to one BusinessData (stateless, JSON).

    On 127.0.0.1 the SDK checks Host and Origin against DNS rebinding; in the cloud (any
    other `host`) Cloud Run's IAM check on the identity token guards the hub instead.
    """
    # FastMCP calls logging.basicConfig, a no-op once shared.observability has configured
    # the root logger, as `main` and the Cloud Function do before building the app.
    server = FastMCP(
        "atende-tools-hub",
        instructions=(
            "Ferramentas de negócio da rede Atende: pedidos, faturas, lojas e chamados. "
            "Respostas em JSON; textos para o cliente em português do Brasil."
        ),
        host=host,
        streamable_http_path=MCP_PATH,
        # Stateless: any instance answers any request; JSON: one response per POST, no SSE.
        stateless_http=True,
        json_response=True,
    )

    @server.tool(name="order_status", title="Status do pedido", description=ORDER_STATUS)
    async def order_status(
        order_number: Annotated[
            str | int, Field(description="Número do pedido, 6 dígitos, ex. '482913'.")
        ],
    ) -> CallToolResult:
        return await _call(data, "order_status", {"order_number": order_number})

    @server.tool(name="invoice_copy", title="Segunda via de boleto", description=INVOICE_COPY)
    async def invoice_copy(
        customer_phone: Annotated[
            str,
            Field(description="WhatsApp number of the conversation, E.164 digits: 5511988887777."),
        ],
        invoice_id: Annotated[
            str | None, Field(description="Uma fatura específica, ex. 'FAT-2026-0001'.")
        ] = None,
    ) -> CallToolResult:
        arguments: dict[str, object] = {"customer_phone": customer_phone}
        if invoice_id is not None:
            arguments["invoice_id"] = invoice_id
        return await _call(data, "invoice_copy", arguments)

    @server.tool(name="store_info", title="Lojas", description=STORE_INFO)
    async def store_info(
        query: Annotated[
            str, Field(description="Cidade, bairro, UF ou nome da loja, ex. 'Moema'.")
        ],
    ) -> CallToolResult:
        return await _call(data, "store_info", {"query": query})

    @server.tool(name="open_ticket", title="Abrir chamado", description=OPEN_TICKET)
    async def open_ticket(
        reason: Annotated[
            str, Field(description="Motivo curto, ex. 'troca de produto com defeito'.")
        ],
        summary: Annotated[str, Field(description="Resumo do caso para o analista, em português.")],
        customer_phone: Annotated[
            str, Field(description="WhatsApp number of the conversation, E.164 digits.")
        ],
        idempotency_key: Annotated[
            str, Field(description="Stable key of this request, e.g. the agent turn id.")
        ],
    ) -> CallToolResult:
        arguments: dict[str, object] = {
            "reason": reason,
            "summary": summary,
            "customer_phone": customer_phone,
            "idempotency_key": idempotency_key,
        }
        return await _call(data, "open_ticket", arguments)

    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "tools": list(TOOL_NAMES)})

    return server


def create_app(data: BusinessData, *, host: str = "127.0.0.1") -> Starlette:
    """The hub's ASGI app: MCP at /mcp (stateless, JSON responses) and /healthz.

    Its lifespan runs the MCP session manager, which must be running before /mcp answers.
    """
    return build_server(data, host=host).streamable_http_app()


class LifespanOnFirstRequest:
    """Runs an ASGI app's lifespan (startup) on its first request.

    The MCP session manager starts in the app's lifespan, but functions-framework's ASGI
    server wraps our app in its own and never sends it lifespan events. The startup runs
    in a task that lives as long as the event loop, as it would under uvicorn.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._lock = asyncio.Lock()
        self._started = False
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start the app once, then hand it the request."""
        if scope["type"] == "lifespan":
            # A host that does send lifespan events drives it itself.
            self._started = True
            await self._app(scope, receive, send)
            return
        if not self._started:
            await self._start()
        await self._app(scope, receive, send)

    async def _start(self) -> None:
        async with self._lock:
            if self._started:
                return
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[None] = loop.create_future()
            messages: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
            messages.put_nowait({"type": "lifespan.startup"})

            async def lifespan_receive() -> MutableMapping[str, Any]:
                # After startup this waits forever: no shutdown is ever announced.
                return await messages.get()

            async def lifespan_send(message: MutableMapping[str, Any]) -> None:
                if ready.done():
                    return
                if message["type"] == "lifespan.startup.complete":
                    ready.set_result(None)
                elif message["type"] == "lifespan.startup.failed":
                    ready.set_exception(RuntimeError(message.get("message", "startup failed")))

            scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

            async def run_lifespan() -> None:
                await self._app(scope, lifespan_receive, lifespan_send)

            def ended(task: asyncio.Task[None]) -> None:
                if not ready.done():
                    ready.set_exception(RuntimeError("the app's lifespan ended during startup"))

            self._task = loop.create_task(run_lifespan())
            self._task.add_done_callback(ended)
            await ready
            self._started = True


class ForwardTo(Response):
    """A Response that hands the whole request to another ASGI app.

    functions-framework's `@functions_framework.aio.http` entry points return a Response,
    which Starlette then calls as an ASGI app; this one calls the hub instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        super().__init__()
        self._target = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with the target app."""
        await self._target(scope, receive, send)


def main(argv: list[str] | None = None) -> int:
    """`python -m shared.tools_hub.server [--port 8087] [--data FILE]`: serve with uvicorn."""
    import uvicorn

    from shared.adapters.business_json import JsonBusinessData
    from shared.bootstrap import business_data
    from shared.observability import configure_logging

    parser = argparse.ArgumentParser(prog="python -m shared.tools_hub.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--data", help="business data JSON (default: BUSINESS_DATA_PATH)")
    args = parser.parse_args(argv)
    configure_logging()
    data = JsonBusinessData.from_path(args.data) if args.data else business_data()
    logger.info("tools hub on http://%s:%d%s", args.host, args.port, MCP_PATH)
    uvicorn.run(
        create_app(data, host=args.host), host=args.host, port=args.port, log_level="warning"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
