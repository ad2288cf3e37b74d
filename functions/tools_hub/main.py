"""Cloud Function `tools_hub` (HTTP, private): the MCP hub of the business tools.

functions-framework 3.10 serves ASGI: an entry point decorated with
`@functions_framework.aio.http` makes `create_app` return a Starlette app, run by uvicorn
workers under gunicorn. The entry point hands every request, whatever its path, to the hub's
own ASGI app (MCP at /mcp, /healthz), whose MCP session manager starts on the first request.

Only callers with roles/run.invoker on this function's Cloud Run service get in (agent_turn's
service account), each request carrying a Google identity token whose audience is the hub's
URL; Cloud Run checks both before the code runs.
"""

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from shared.bootstrap import business_data, secrets
from shared.tools_hub.server import ForwardTo, LifespanOnFirstRequest, create_app

# Logging and the pseudonym key first: the hub logs pseudonyms of customers' numbers.
secrets()
# Read while the instance starts: a broken data file fails the start, not a customer's turn.
# Any host but 127.0.0.1: Cloud Run's IAM, not a Host-header check, guards this endpoint.
_HUB = LifespanOnFirstRequest(create_app(business_data(), host="0.0.0.0"))


@functions_framework.aio.http
async def tools_hub(request: Request) -> Response:
    """Every request goes to the hub: MCP (streamable HTTP) at /mcp, health at /healthz."""
    return ForwardTo(_HUB)
