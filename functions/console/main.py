"""Cloud Function `console` (HTTP, private): the analysts' queue, tickets, actions, dashboard."""

import functions_framework
from flask import Request, Response

from shared.bootstrap import console_web


@functions_framework.http
def console(request: Request) -> Response:
    """Every route of the console; shared.console.web maps refusals to 4xx with a message."""
    return console_web().handle(request)
