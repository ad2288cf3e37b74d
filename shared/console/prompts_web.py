"""The prompts routes of ConsoleWeb (shared.console.prompts has the rules and the routes' table).

Kept apart from shared.console.web so that the prompts' API and page change in one place.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from flask import Request, Response

from shared.console.prompts import PromptsService
from shared.console.web import _body, _json, _redirect
from shared.domain.console import ConsoleError
from shared.domain.prompts import PROMPT_KEYS

if TYPE_CHECKING:
    from shared.console.web import ConsoleWeb

__all__ = ["prompts_endpoint"]

# The action each operation is checked (role, CSRF) and audited as.
_ACTION = {
    "view": "prompts",
    "draft": "prompt-draft",
    "try": "prompt-try",
    "publish": "prompt-publish",
    "rollback": "prompt-rollback",
}


def prompts_endpoint(
    web: ConsoleWeb, request: Request, op: str, assistant: str, number: int | None, page: bool
) -> Response:
    """One prompts request: JSON under /api, the page (and its forms) elsewhere."""
    service: PromptsService | None = web.prompts
    if service is None:
        raise ConsoleError(404, "prompt versions are not configured in this console")
    who = web._who(request, _ACTION[op])
    if page:
        return _page(web, service, request, who, op, assistant, number)
    if op == "view":
        return _json(service.overview(assistant))
    if not request.is_json:
        raise ConsoleError(415, "send the body as application/json")
    body = _body(request)
    if op == "draft":
        saved = service.save_draft(who, assistant, body)
        return _json(
            {"ok": True, **saved.model_dump(mode="json"), "label": saved.label}, status=201
        )
    if op == "try":
        return _json(service.try_draft(who, assistant, _number(number), body))
    if op == "publish":
        live = service.publish(who, assistant, _number(number), body)
    else:
        live = service.rollback(who, assistant, body)
    return _json({"ok": True, **live.model_dump(mode="json"), "label": live.label})


def _number(number: int | None) -> int:
    if number is None:
        raise ConsoleError(404, "no version in the path")
    return number


def _page(
    web: ConsoleWeb,
    service: PromptsService,
    request: Request,
    who: Any,
    op: str,
    assistant: str,
    number: int | None,
) -> Response:
    form = {k: v for k, v in request.form.items() if k != "csrf_token"}
    extra: dict[str, Any] = {}
    status = 200
    try:
        if op == "draft":
            texts = {k: form[k] for k in PROMPT_KEYS if k in form}
            body: dict[str, Any] = {"texts": texts, "action_id": form.get("action_id") or None}
            if form.get("version"):
                body["version"] = _int(form["version"], "version")
            saved = service.save_draft(who, assistant, body)
            return _redirect(f"/prompts/{assistant}?ok=draft&v={saved.number}")
        if op == "try":
            lines = [line for line in form.get("messages", "").splitlines() if line.strip()]
            extra["tried"] = service.try_draft(who, assistant, _number(number), {"messages": lines})
            extra["tried_messages"] = form.get("messages", "")
        elif op == "publish":
            service.publish(who, assistant, _number(number), {})
            return _redirect(f"/prompts/{assistant}?ok=publish")
        elif op == "rollback":
            service.rollback(who, assistant, {"version": _int(form.get("version", ""), "version")})
            return _redirect(f"/prompts/{assistant}?ok=rollback")
    except ConsoleError as error:
        if error.status == 404 and op == "view":
            raise
        status, extra["error"] = error.status, error.message
    overview = service.overview(assistant)
    drafts = overview["drafts"]
    editing = drafts[0] if drafts else None
    if number is not None:
        editing = next((d for d in drafts if d["number"] == number), editing)
    current = (editing or overview["published"] or {}).get("texts") or overview["defaults"]
    return web._page(
        "prompts.html",
        who,
        status=status,
        p=overview,
        editing=editing,
        current=current,
        action_id=uuid.uuid4().hex,
        notice=request.args.get("ok"),
        **extra,
    )


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError as error:
        raise ConsoleError(400, f"{name}: not a number: {text!r}") from error
