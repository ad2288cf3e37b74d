"""Cloud Function `webhook` (HTTP): WhatsApp Cloud API verification and updates."""

import functions_framework
from flask import Request

from shared.bootstrap import webhook_runtime
from shared.handlers.webhook import handle_update, handle_verification


@functions_framework.http
def webhook(request: Request) -> tuple[str, int, dict[str, str]]:
    """GET: Meta's handshake. POST: a signed update, published to topic inbound."""
    config, publisher = webhook_runtime()
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if request.method == "GET":
        reply = handle_verification(request.args, config)
    elif request.method == "POST":
        if (request.content_length or 0) > config.max_body_bytes:
            return "payload too large", 413, headers
        # Bounded read: a chunked body without a length cannot exhaust memory either.
        raw = request.stream.read(config.max_body_bytes + 1)
        signature = request.headers.get("X-Hub-Signature-256")
        reply = handle_update(raw, signature, config, publisher)
    else:
        return "method not allowed", 405, {**headers, "Allow": "GET, POST"}
    return reply.body, reply.status, headers
