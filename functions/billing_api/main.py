"""Cloud Function `billing_api` (HTTP, private): the billing system's debts and payments."""

import functions_framework
from flask import Request

from shared.bootstrap import billing_api_service
from shared.handlers.billing_api import MAX_BODY_BYTES


@functions_framework.http
def billing_api(request: Request) -> tuple[str, int, dict[str, str]]:
    """POST /debts, POST /payments, GET /debts/ID; refusals are 4xx with a JSON error."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return '{"error": "the body is too large"}', 413, headers
    # Bounded read: a chunked body without a length cannot exhaust memory either.
    body = request.stream.read(MAX_BODY_BYTES + 1) if request.method == "POST" else b""
    reply = billing_api_service().handle(request.method, request.path, body)
    return reply.json(), reply.status, headers
