"""The console's HTTP surface: JSON API under /api, server-rendered pt-BR pages elsewhere.

| route | does |
|---|---|
| `GET /api/me` | who is signed in, and the CSRF token for their forms |
| `GET /api/queue?assistant=&category=` | transferred tickets, the longest waiting first |
| `GET /api/tickets/{id}` | the ticket, its conversation and handoff card |
| `POST /api/tickets/{id}/{action}` | reply, add-to-kb, answer, transfer, take-over, |
|   | return-to-ai, close |
| `GET /api/dashboard?assistant=&days=\\|from=&to=` | shared.metrics.Dashboards as JSON |
| `GET /api/audit?ticket=` | the audit trail (admins) |
| `GET/POST /api/templates`, `POST/DELETE /api/templates/{name}/{language}` | WhatsApp |
|   | templates: everyone reads, admins write |
| `GET /api/feedback/export` | verdicts on AI answers as evaluation cases, JSONL (admins) |
| `GET/POST /login`, `POST /logout` | the dev login (ATENDE_ENV local or test only) |
| `/`, `/queue`, `/tickets/{id}`, `/dashboard` | the pages; forms post to `/tickets/{id}/{action}` |
| `/templates` | the templates' list and form (posts to itself, deletes to `.../delete`) |
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flask import Request, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule

from shared.adapters.graph_api import MediaDownloadError
from shared.adapters.image_reader import MediaSource
from shared.console.auth import SESSION_COOKIE, Authenticator
from shared.console.prompts import PromptsService
from shared.console.service import ConsoleService
from shared.console.wa_templates import TemplateService
from shared.domain.console import ACTIONS, ConsoleError, Identity, allowed
from shared.domain.dashboard import (
    format_brl,
    format_count,
    format_hours,
    format_number,
    format_percent,
)
from shared.observability import pseudonym
from shared.ports import Clock, DashboardSource

__all__ = ["ConsoleWeb", "dashboards_from"]

logger = logging.getLogger(__name__)

_TEMPLATES = Path(__file__).with_name("templates")
_ROUTES = Map(
    [
        Rule("/healthz", endpoint="health"),
        Rule("/", endpoint="home"),
        Rule("/login", endpoint="login", methods=["GET", "POST"]),
        Rule("/logout", endpoint="logout", methods=["POST"]),
        Rule("/queue", endpoint="queue_page"),
        Rule("/tickets/<ticket_id>", endpoint="ticket_page"),
        Rule("/tickets/<ticket_id>/<action>", endpoint="action_form", methods=["POST"]),
        Rule("/dashboard", endpoint="dashboard_page"),
        Rule("/media/<media_id>", endpoint="media"),
        Rule("/api/me", endpoint="api_me"),
        Rule("/api/queue", endpoint="api_queue"),
        Rule("/api/tickets/<ticket_id>", endpoint="api_ticket"),
        Rule("/api/tickets/<ticket_id>/<action>", endpoint="api_action", methods=["POST"]),
        Rule("/api/dashboard", endpoint="api_dashboard"),
        Rule("/api/audit", endpoint="api_audit"),
        Rule("/templates", endpoint="templates_page", methods=["GET", "POST"]),
        Rule(
            "/templates/<name>/<language>/delete",
            endpoint="template_delete_form",
            methods=["POST"],
        ),
        Rule("/api/templates", endpoint="api_templates", methods=["GET", "POST"]),
        Rule(
            "/api/templates/<name>/<language>", endpoint="api_template", methods=["POST", "DELETE"]
        ),
        Rule("/api/feedback/export", endpoint="api_feedback_export"),
        # Prompt versions (shared.console.prompts_web): the page, its forms, and the API.
        Rule("/prompts/<assistant>", endpoint="prompts", defaults={"op": "view"}),
        Rule(
            "/prompts/<assistant>/drafts",
            endpoint="prompts",
            methods=["POST"],
            defaults={"op": "draft"},
        ),
        Rule(
            "/prompts/<assistant>/drafts/<int:number>", endpoint="prompts", defaults={"op": "view"}
        ),
        Rule(
            "/prompts/<assistant>/drafts/<int:number>/<any(try,publish):op>",
            endpoint="prompts",
            methods=["POST"],
        ),
        Rule(
            "/prompts/<assistant>/rollback",
            endpoint="prompts",
            methods=["POST"],
            defaults={"op": "rollback"},
        ),
        Rule("/api/prompts/<assistant>", endpoint="api_prompts", defaults={"op": "view"}),
        Rule(
            "/api/prompts/<assistant>/drafts",
            endpoint="api_prompts",
            methods=["POST"],
            defaults={"op": "draft"},
        ),
        Rule(
            "/api/prompts/<assistant>/drafts/<int:number>/<any(try,publish):op>",
            endpoint="api_prompts",
            methods=["POST"],
        ),
        Rule(
            "/api/prompts/<assistant>/rollback",
            endpoint="api_prompts",
            methods=["POST"],
            defaults={"op": "rollback"},
        ),
    ],
    strict_slashes=False,
)
_STATUS_LABELS = {
    "F": "Finalizado pela IA",
    "TA": "Transferido para analista",
    "TAF": "Transferido pelo analista",
    "IAR": "Respondido pela IA",
    "IAN": "Aguardando IA",
}

# Builds the dashboards for (assistant, days, from, to); raises PeriodError on a bad period.
DashboardBuilder = Callable[[str | None, int | None, date | None, date | None], Any]


@dataclass(frozen=True, slots=True)
class ConsoleWeb:
    """Routes a Flask request to the console's use cases and renders the answer."""

    service: ConsoleService
    auth: Authenticator
    dashboards: DashboardBuilder
    secure_cookies: bool = True
    templates: TemplateService | None = None
    prompts: PromptsService | None = None
    # The customers' images, fetched from the WhatsApp media API for the ticket page.
    media: MediaSource | None = None

    def handle(self, request: Request) -> Response:
        """One request in, one response out; every refusal is a 4xx with a message."""
        adapter = _ROUTES.bind("localhost", script_name=None)
        api = request.path.startswith("/api/")
        try:
            endpoint, args = adapter.match(request.path, method=request.method)
            handler = getattr(self, "_" + endpoint)
            response: Response = handler(request, **args)
            return response
        except ConsoleError as error:
            if not api and error.status == 401 and self.auth.dev_login:
                return _redirect("/login")
            return self._error(request, api, error.status, error.message)
        except HTTPException as error:
            return self._error(request, api, error.code or 400, error.description or "bad request")

    # ------------------------------------------------------------------ auth

    def _who(self, request: Request, action: str) -> Identity:
        if action not in ACTIONS:
            raise ConsoleError(404, f"unknown action {action!r}")
        headers = {k.lower(): v for k, v in request.headers.items()}
        who = self.auth.identify(headers, request.cookies.get(SESSION_COOKIE))
        if not allowed(who.role, action):
            raise ConsoleError(403, f"the {who.role.value} role may not {action}")
        if request.method == "POST" and who.via != "bearer":
            token = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
            if not self.auth.sessions.csrf_ok(who.email, token):
                raise ConsoleError(403, "missing or wrong CSRF token: reload the page")
        return who

    def _health(self, request: Request) -> Response:
        return _json({"ok": True})

    def _home(self, request: Request) -> Response:
        return _redirect("/queue")

    def _login(self, request: Request) -> Response:
        if not self.auth.dev_login:
            raise ConsoleError(404, "the dev login exists only locally; sign in with Google")
        if request.method == "GET":
            return self._page("login.html", None, status=200)
        email = (request.form.get("email") or _body(request).get("email") or "").strip().lower()
        if "@" not in email:
            return self._page("login.html", None, status=400, error="Informe um e-mail válido.")
        try:
            who = self.auth.identity(email, "session")
        except ConsoleError as error:
            return self._page("login.html", None, status=error.status, error=error.message)
        logger.info("console dev login by %s", pseudonym(who.email))
        response = _redirect("/queue")
        response.set_cookie(
            SESSION_COOKIE,
            self.auth.sessions.dumps(who.email),
            httponly=True,
            samesite="Lax",
            secure=self.secure_cookies,
            max_age=12 * 3600,
        )
        return response

    def _logout(self, request: Request) -> Response:
        response = _redirect("/login" if self.auth.dev_login else "/")
        response.delete_cookie(SESSION_COOKIE)
        return response

    # ------------------------------------------------------------------- API

    def _api_me(self, request: Request) -> Response:
        who = self._who(request, "view")
        return _json({**who.model_dump(mode="json"), "csrf_token": self._csrf(who)})

    def _api_queue(self, request: Request) -> Response:
        self._who(request, "view")
        items = self.service.queue(
            assistant=request.args.get("assistant") or None,
            category=request.args.get("category") or None,
        )
        return _json({"tickets": [i.model_dump(mode="json") for i in items]})

    def _media(self, request: Request, media_id: str) -> Response:
        """A customer's image, through the console (the media URL needs the access token)."""
        self._who(request, "view")
        if self.media is None:
            raise ConsoleError(404, "images are not available in this console")
        try:
            info = self.media.info(media_id)
            if not info.mime_type.startswith("image/"):
                raise ConsoleError(404, "that media is not an image")
            content = self.media.fetch(info)
        except MediaDownloadError as error:
            # The reason only: the cause may carry the media URL.
            raise ConsoleError(502, f"could not fetch the image: {error.reason}") from error
        response = Response(content, mimetype=info.mime_type)
        # Private: a customer's photo must not sit in a shared cache.
        response.headers["Cache-Control"] = "private, max-age=300"
        return response

    def _api_ticket(self, request: Request, ticket_id: str) -> Response:
        self._who(request, "view")
        return _json(self.service.ticket(ticket_id).model_dump(mode="json"))

    def _api_action(self, request: Request, ticket_id: str, action: str) -> Response:
        who = self._who(request, action)
        if not request.is_json:
            raise ConsoleError(415, "send the action's body as application/json")
        return _json(self.service.run(who, ticket_id, action, _body(request)))

    def _api_dashboard(self, request: Request) -> Response:
        self._who(request, "dashboard")
        return _json(self._build_dashboards(request).model_dump(mode="json"))

    def _prompts(
        self, request: Request, assistant: str, op: str, number: int | None = None
    ) -> Response:
        from shared.console.prompts_web import prompts_endpoint

        return prompts_endpoint(self, request, op, assistant, number, page=True)

    def _api_prompts(
        self, request: Request, assistant: str, op: str, number: int | None = None
    ) -> Response:
        from shared.console.prompts_web import prompts_endpoint

        return prompts_endpoint(self, request, op, assistant, number, page=False)

    def _api_audit(self, request: Request) -> Response:
        who = self._who(request, "audit")
        records = self.service.audit_trail(who, ticket_id=request.args.get("ticket") or None)
        return _json({"actions": [r.model_dump(mode="json") for r in records]})

    def _api_templates(self, request: Request) -> Response:
        if request.method == "GET":
            self._who(request, "templates")
            return _json({"templates": [t.model_dump(mode="json") for t in self._catalog().list()]})
        who = self._who(request, "template-write")
        if not request.is_json:
            raise ConsoleError(415, "send the template as application/json")
        created = self._catalog().create(who, _body(request))
        return _json(created.model_dump(mode="json"), status=201)

    def _api_template(self, request: Request, name: str, language: str) -> Response:
        who = self._who(request, "template-write")
        if request.method == "DELETE":
            self._catalog().delete(who, name, language)
            return _json({"ok": True, "deleted": f"{name}.{language}"})
        if not request.is_json:
            raise ConsoleError(415, "send the template as application/json")
        updated = self._catalog().update(who, name, language, _body(request))
        return _json(updated.model_dump(mode="json"))

    def _api_feedback_export(self, request: Request) -> Response:
        who = self._who(request, "feedback-export")
        text, skipped = self.service.export_feedback(who)
        return Response(
            text,
            content_type="application/x-ndjson; charset=utf-8",
            # Verdicts on turns without customer text (an image alone) make no case.
            headers={"X-Skipped": str(skipped)},
        )

    # ----------------------------------------------------------------- pages

    def _queue_page(self, request: Request) -> Response:
        who = self._who(request, "view")
        assistant = request.args.get("assistant") or ""
        category = request.args.get("category") or ""
        items = self.service.queue(assistant=assistant or None, category=category or None)
        return self._page("queue.html", who, items=items, assistant=assistant, category=category)

    def _ticket_page(self, request: Request, ticket_id: str, **extra: Any) -> Response:
        who = self._who(request, "view")
        view = self.service.ticket(ticket_id)
        return self._page(
            "ticket.html",
            who,
            status=extra.pop("status", 200),
            ticket=view,
            turns=self.service.turns(ticket_id),
            wa_templates=[t for t in self.templates.list() if t.status == "approved"]
            if self.templates
            else [],
            action_id=uuid.uuid4().hex,
            notice=request.args.get("ok"),
            **extra,
        )

    def _templates_page(self, request: Request) -> Response:
        if request.method == "GET":
            who = self._who(request, "templates")
            return self._page(
                "templates.html",
                who,
                templates=self._catalog().list(),
                notice=request.args.get("ok"),
            )
        who = self._who(request, "template-write")
        body = {k: v for k, v in request.form.items() if k != "csrf_token"}
        catalog = self._catalog()
        try:
            # One form for both: an existing name and language is an update.
            if catalog.templates.template(body.get("name", ""), body.get("language", "")):
                catalog.update(who, body.get("name", ""), body.get("language", ""), body)
            else:
                catalog.create(who, body)
        except ConsoleError as error:
            return self._page(
                "templates.html",
                who,
                status=error.status,
                templates=catalog.list(),
                error=error.message,
                form=body,
            )
        return _redirect("/templates?ok=saved")

    def _template_delete_form(self, request: Request, name: str, language: str) -> Response:
        who = self._who(request, "template-write")
        self._catalog().delete(who, name, language)
        return _redirect("/templates?ok=deleted")

    def _catalog(self) -> TemplateService:
        if self.templates is None:
            raise ConsoleError(404, "templates are not configured")
        return self.templates

    def _action_form(self, request: Request, ticket_id: str, action: str) -> Response:
        who = self._who(request, action)
        body = {k: v for k, v in request.form.items() if k != "csrf_token"}
        if "expires_at" in body:
            body["expires_at"] = _local_datetime(body["expires_at"], body.pop("tz", ""))
        else:
            body.pop("tz", None)
        try:
            self.service.run(who, ticket_id, action, body)
        except ConsoleError as error:
            if error.status == 404:
                raise
            # The form again, with what was typed and why it was refused.
            return self._ticket_page(
                request, ticket_id, status=error.status, error=error.message, form=body
            )
        return _redirect(f"/tickets/{ticket_id}?ok={action}")

    def _dashboard_page(self, request: Request) -> Response:
        who = self._who(request, "dashboard")
        dashboards = self._build_dashboards(request)
        return self._page(
            "dashboard.html",
            who,
            d=dashboards,
            chart=_chart(dashboards),
            assistant=request.args.get("assistant") or "",
            days=request.args.get("days") or "",
            start=request.args.get("from") or "",
            end=request.args.get("to") or "",
        )

    # --------------------------------------------------------------- helpers

    def _build_dashboards(self, request: Request) -> Any:
        from shared.domain.dashboard import PeriodError

        try:
            days_text = request.args.get("days") or None
            days = int(days_text) if days_text else None
            start = _date(request.args.get("from"), "from")
            end = _date(request.args.get("to"), "to")
            return self.dashboards(request.args.get("assistant") or None, days, start, end)
        except PeriodError as error:
            raise ConsoleError(400, str(error)) from error
        except ValueError as error:
            raise ConsoleError(400, f"days: {error}") from error

    def _csrf(self, who: Identity) -> str:
        return self.auth.sessions.csrf_token(who.email)

    def _page(
        self, name: str, who: Identity | None, *, status: int = 200, **context: Any
    ) -> Response:
        html = (
            _env()
            .get_template(name)
            .render(
                who=who,
                csrf=self._csrf(who) if who else "",
                dev_login=self.auth.dev_login,
                labels=_STATUS_LABELS,
                **context,
            )
        )
        return Response(html, status=status, content_type="text/html; charset=utf-8")

    def _error(self, request: Request, api: bool, status: int, message: str) -> Response:
        if api or "text/html" not in request.headers.get("Accept", ""):
            return _json({"error": message}, status=status)
        return self._page("error.html", None, status=status, message=message, code=status)


_jinja: list[Environment] = []


def _env() -> Environment:
    if not _jinja:
        env = Environment(
            loader=FileSystemLoader(str(_TEMPLATES)),
            autoescape=select_autoescape(["html"]),
        )
        env.filters["waiting"] = _waiting
        env.filters["when"] = lambda d: d.astimezone().strftime("%d/%m/%Y %H:%M") if d else ""
        # The seed's number formats (R$ 5.027,16, 72.3%, 24.8 h), as `atende metrics` prints.
        env.filters["brl"] = format_brl
        env.filters["percent"] = format_percent
        env.filters["hours"] = format_hours
        env.filters["number"] = format_number
        env.filters["count"] = format_count
        _jinja.append(env)
    return _jinja[0]


def _waiting(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"


def _json(payload: object, *, status: int = 200) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False),
        status=status,
        content_type="application/json; charset=utf-8",
    )


def _redirect(location: str) -> Response:
    return Response("", status=303, headers={"Location": location})


def _body(request: Request) -> dict[str, Any]:
    if not request.is_json:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ConsoleError(400, "the body must be a JSON object")
    return data


def _date(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise ConsoleError(400, f"{name}: not a date (YYYY-MM-DD): {text!r}") from error


def _local_datetime(value: str, tz: str) -> str:
    """A datetime-local input (no zone) with the browser's UTC offset in minutes (`tz`)."""
    if not value.strip() or not tz.strip():
        return value
    try:
        offset = -int(tz)  # JS getTimezoneOffset(): minutes *behind* UTC
    except ValueError:
        return value
    sign = "+" if offset >= 0 else "-"
    return f"{value}{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"


def _chart(dashboards: Any) -> dict[str, Any]:
    """Stacked bars of tickets per day by status, as numbers for an inline SVG."""
    days = dashboards.sac_saf.tickets_per_day
    statuses = ["F", "TA", "TAF", "IAR", "IAN"]
    rows = []
    for day in days:
        counts = day.counts.model_dump(by_alias=True)
        rows.append(
            {"day": day.day.isoformat(), "counts": [int(counts.get(s, 0)) for s in statuses]}
        )
    top = max([sum(r["counts"]) for r in rows] + [1])
    return {
        "rows": rows,
        "statuses": statuses,
        "max": top,
        "generated": datetime.now(UTC).isoformat(),
    }


def dashboards_from(source: DashboardSource, clock: Clock) -> DashboardBuilder:
    """The dashboards use case (shared.metrics) bound to a source; days are São Paulo days."""
    from shared.domain.dashboard import today_in
    from shared.metrics import build_dashboards, period_from

    def build(assistant: str | None, days: int | None, start: date | None, end: date | None) -> Any:
        period = period_from(days=days, start=start, end=end, today=today_in(clock.now()))
        return build_dashboards(source, period, assistant=assistant)

    return build
