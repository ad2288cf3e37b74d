"""The `atende` command: chat as a customer, manage the knowledge base, print the dashboards."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.metrics import Dashboards

__all__ = ["main", "render_dashboards"]


def _http_json(method: str, url: str, body: object | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the simulator's local URL
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def chat(sim_url: str, wa_id: str, name: str, wait_seconds: float) -> int:
    """Type as a WhatsApp customer; print the business's answers as they arrive."""
    seen = {m["id"] for m in _http_json("GET", f"{sim_url}/_sim/messages?to={wa_id}")}
    print(f"Chatting as {name} ({wa_id}) through {sim_url}. Ctrl-D or /sair to leave.")
    print("/recibo [PEDIDO] sends a photo of a store receipt (order 482913 by default).")
    while True:
        try:
            text = input("você> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not text:
            continue
        if text in ("/sair", "/quit"):
            return 0
        path, payload = "/_sim/inbound", {"from": wa_id, "name": name, "text": text}
        if text == "/recibo" or text.startswith("/recibo "):
            order = text.removeprefix("/recibo").strip()
            path, payload = "/_sim/receipt", {"from": wa_id, "name": name}
            if order:
                payload["order_number"] = order
        try:
            reply = _http_json("POST", f"{sim_url}{path}", payload)
        except urllib.error.URLError as error:
            print(f"! could not reach the simulator: {error}", file=sys.stderr)
            continue
        if reply.get("webhook_status") != 200:
            print(f"! the webhook answered {reply.get('webhook_status')}", file=sys.stderr)
        deadline = time.monotonic() + wait_seconds
        got_any = False
        while time.monotonic() < deadline:
            fresh = [
                m
                for m in _http_json("GET", f"{sim_url}/_sim/messages?to={wa_id}")
                if m["id"] not in seen
            ]
            for message in fresh:
                seen.add(message["id"])
                body = message.get("text") or f"[template {message.get('template')}]"
                print(f"atende> {body}")
                got_any = True
            # Answers to one burst come together; stop soon after the first arrives.
            if got_any and not fresh:
                break
            time.sleep(0.5)
        if not got_any:
            print("(no answer yet; it will show with your next message)")


def kb_import(path: Path) -> int:
    """Import entries; idempotent by id; reports every line it skipped and why."""
    from shared.bootstrap import knowledge_base
    from shared.domain.knowledge import read_file
    from shared.settings import get_settings

    report = read_file(path, default_namespace=get_settings().default_assistant)
    for line, reason in report.skipped:
        print(f"skipped {path}:{line}: {reason}", file=sys.stderr)
    count = knowledge_base().upsert(report.entries)
    print(f"imported {count} entries from {path}; skipped {len(report.skipped)} line(s)")
    return 1 if report.skipped and not count else 0


def kb_export(namespace: str | None) -> int:
    """Print every entry as JSON lines (the import format)."""
    from shared.bootstrap import knowledge_base

    for entry in knowledge_base().export(namespace):
        print(entry.model_dump_json(exclude_none=True))
    return 0


def kb_maintain(action: str, namespace: str | None) -> int:
    """Purge expired entries, re-embed after a model change, or create Atlas indexes."""
    from datetime import UTC, datetime

    from shared.bootstrap import knowledge_base

    kb = knowledge_base()
    if action == "purge-expired":
        print(f"purged {kb.purge_expired(datetime.now(tz=UTC))} expired variant(s)")
    elif action == "reembed":
        print(f"re-embedded {kb.reembed(namespace)} variant(s)")
    else:
        ensure = getattr(kb, "ensure_indexes", None)
        if ensure is None:
            print("this backend's indexes are declared in Terraform; nothing to do")
        else:
            ensure()
            print("indexes ensured")
    return 0


def debts_import(path: Path) -> int:
    """Import a CSV/JSONL file of debts; nothing is written if any line is bad."""
    from datetime import UTC, datetime

    from shared.billing_policy import trail_policy
    from shared.bootstrap import debt_store
    from shared.domain.billing import read_debts
    from shared.settings import get_settings

    read = read_debts(path)
    for line, reason in read.problems:
        print(f"{path}:{line}: {reason}", file=sys.stderr)
    if read.problems:
        print(f"nothing imported: {len(read.problems)} bad line(s)", file=sys.stderr)
        return 2
    counts = debt_store().import_debts(
        read.debts, now=datetime.now(tz=UTC), policy=trail_policy(get_settings())
    )
    print(
        f"{len(read.debts)} debt(s) in {path}: {counts.created} new, "
        f"{counts.updated} changed, {counts.unchanged} unchanged"
    )
    return 0


def debts_show(invoice_id: str) -> int:
    """Print a debt and where its trail is, as JSON."""
    from shared.bootstrap import debt_store

    record = debt_store().debt(invoice_id)
    if record is None:
        print(f"atende debts: no debt with invoice_id {invoice_id}", file=sys.stderr)
        return 1
    print(record.model_dump_json(indent=2))
    return 0


def debts_pay(invoice_id: str, amount: str | None, cancel: bool) -> int:
    """Record a payment (or a cancellation) as the billing system's event would."""
    from pydantic import ValidationError

    from shared.bootstrap import billing_api_service
    from shared.domain.billing import PaymentEvent, validation_problems

    try:
        event = PaymentEvent.model_validate(
            {
                "invoice_id": invoice_id,
                "status": "cancelled" if cancel else "paid",
                "amount_paid": amount,
            }
        )
    except ValidationError as error:
        print(f"atende debts: {validation_problems(error)}", file=sys.stderr)
        return 2
    outcome = billing_api_service().record_payment(event)
    if outcome == "unknown":
        print(f"atende debts: no debt with invoice_id {invoice_id}", file=sys.stderr)
        return 1
    print(f"{invoice_id}: {event.status} ({outcome})")
    return 0


def followups_tick() -> int:
    """Publish one follow-up tick now, the payload Cloud Scheduler sends."""
    from shared.localstack.ticker import publish_tick
    from shared.settings import get_settings

    settings = get_settings()
    print(publish_tick(settings.google_cloud_project, settings.topic_followup_ticks))
    return 0


def templates_import(path: Path) -> int:
    """Register WhatsApp templates (one JSON object a line) as Meta approved them."""
    from shared.bootstrap import template_store
    from shared.domain.whatsapp_templates import read_templates

    templates = read_templates(path)
    store = template_store()
    for template in templates:
        store.save_template(template, create=False)
    print(f"registered {len(templates)} template(s) from {path}")
    return 0


def metrics(
    assistant: str | None,
    days: int | None,
    start: date | None,
    end: date | None,
    as_json: bool,
) -> int:
    """Print the seed's SAC/SAF and billing dashboards for a period, as a table or JSON."""
    from datetime import UTC, datetime

    from google.api_core import exceptions as gexc

    from shared.adapters.firestore_dashboard import dashboard_source_from_settings
    from shared.domain.dashboard import PeriodError, today_in
    from shared.metrics import build_dashboards, period_from
    from shared.settings import get_settings

    try:
        period = period_from(days=days, start=start, end=end, today=today_in(datetime.now(tz=UTC)))
    except PeriodError as error:
        print(f"atende metrics: {error}", file=sys.stderr)
        return 2
    try:
        dashboards = build_dashboards(
            dashboard_source_from_settings(get_settings()), period, assistant=assistant
        )
    except gexc.GoogleAPICallError as error:
        # A missing composite index says so here, with the link to create it.
        print(f"atende metrics: Firestore refused a query: {error}", file=sys.stderr)
        return 1
    if as_json:
        print(dashboards.model_dump_json(indent=2))
    else:
        print(render_dashboards(dashboards))
    return 0


def render_dashboards(dashboards: Dashboards) -> str:
    """The dashboards as the terminal shows them: the seed's labels and number formats."""
    from shared.domain.dashboard import (
        format_brl,
        format_count,
        format_hours,
        format_number,
        format_percent,
    )

    period, sac, bill = dashboards.period, dashboards.sac_saf, dashboards.billing

    def row(label: str, figure: str, note: str = "") -> str:
        return f"  {label:<34}{figure:>13}   {note}".rstrip()

    by_status = sac.by_status
    handled = format_count(sac.handled)
    lines = [
        f"Período: {period.start.isoformat()} a {period.end.isoformat()} "
        f"({period.days} dias, {period.time_zone})",
        "",
        f"Dashboard SAC/SAF: {sac.assistant or f'todos (SAC/SAF), menos {bill.assistant}'}",
        row("Total de tickets", format_count(sac.tickets), "no período"),
        row("Finalizado pela IA", format_count(by_status.finished), "status F"),
        row("Transferido p/ analista", format_count(by_status.transferred_to_analyst), "status TA"),
        row(
            "Transferido pelo analista",
            format_count(by_status.transferred_by_analyst),
            "status TAF",
        ),
        row("Respondido pela IA", format_count(by_status.ai_replied), "status IAR"),
        row("Aguardando IA", format_count(by_status.awaiting_ai), "status IAN"),
    ]
    for label, rate in (
        ("Taxa de finalização IA", sac.finalization_rate),
        ("Transferidos para analista", sac.transferred_to_analyst),
        ("Transferidos pelo analista", sac.transferred_by_analyst),
    ):
        lines.append(
            row(label, format_percent(rate), f"{format_count(rate.part)} de {handled} tratativas")
        )
    lines += ["", *_render_chart(dashboards), ""]
    lines += [
        f"Dashboard de Cobrança: {bill.assistant}",
        row("Total de tickets", format_count(bill.tickets), "no período"),
        row(
            "Tickets pagos",
            format_count(bill.paid.part),
            f"{format_percent(bill.paid)} pagos/total de tickets",
        ),
        row(
            "Conversão de pago",
            format_percent(bill.paid_conversion),
            f"{format_count(bill.paid.part)} de {format_count(bill.finished)} tickets finalizados",
        ),
        row(
            "Valor recuperado",
            format_brl(bill.amount_recovered),
            f"total comunicado: {format_brl(bill.amount_communicated)}",
        ),
        row("Mensagens da IA", format_count(bill.ai_messages), "no período"),
        row(
            "Esforço humano equivalente",
            format_hours(bill.human_effort_hours),
            f"média: {format_number(bill.ai_messages_per_ticket)} msgs IA/ticket",
        ),
        row(
            "Esforço humano equivalente (pagos)",
            format_hours(bill.human_effort_hours_paid),
            f"média: {format_number(bill.ai_messages_per_paid_ticket)} msgs IA/ticket",
        ),
        row("Conversas ativas", format_count(bill.active_conversations), "em andamento"),
        row("Taxa de resposta", format_percent(bill.response_rate), "clientes que responderam"),
        row("Transferidos", format_count(bill.transferred_to_human), "para humano"),
        row("Intervenções", format_count(bill.interventions), "via console"),
    ]
    return "\n".join(lines)


def _render_chart(dashboards: Dashboards) -> list[str]:
    """Tickets per day by status, with a bar for each day's total."""
    from shared.domain.dashboard import format_count
    from shared.domain.models import TicketStatus

    days = dashboards.sac_saf.tickets_per_day
    codes = [status.value for status in TicketStatus]
    peak = max((d.counts.total for d in days), default=0)
    lines = ["  Tickets por dia" + "".join(f"{code:>7}" for code in codes) + f"{'total':>8}"]
    for day in days:
        by_code = day.counts.by_code()
        bar = "█" * round(30 * day.counts.total / peak) if peak else ""
        figures = "".join(f"{format_count(by_code[code]):>7}" for code in codes)
        total = format_count(day.counts.total)
        lines.append(f"  {day.day.isoformat():<15}{figures}{total:>8}  {bar}".rstrip())
    return lines


def _billing_commands(args: argparse.Namespace) -> int:
    try:
        if args.command == "followups":
            return followups_tick()
        if args.command == "templates":
            return templates_import(args.file)
        if args.debts == "import":
            return debts_import(args.file)
        if args.debts == "show":
            return debts_show(args.invoice)
        return debts_pay(args.invoice, args.amount, args.cancel)
    except (OSError, ValueError) as error:
        print(f"atende {args.command}: {error}", file=sys.stderr)
        return 2


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `atende` command."""
    parser = argparse.ArgumentParser(prog="atende", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    chat_cmd = commands.add_parser("chat", help="chat as a WhatsApp customer")
    chat_cmd.add_argument(
        "--sim", default=os.environ.get("ATENDE_SIM_URL", "http://127.0.0.1:8081")
    )
    chat_cmd.add_argument("--wa-id", default="5511999990001", help="the customer's number")
    chat_cmd.add_argument("--name", default="Cliente Demo")
    chat_cmd.add_argument("--wait", type=float, default=20.0, help="seconds to wait for answers")
    kb = commands.add_parser("kb", help="knowledge base").add_subparsers(dest="kb", required=True)
    kb.add_parser("import", help="import a JSONL or CSV file").add_argument("file", type=Path)
    kb.add_parser("export", help="print entries as JSONL").add_argument("--namespace")
    kb.add_parser("purge-expired", help="delete expired entries now")
    kb.add_parser("reembed", help="re-embed variants made by another model").add_argument(
        "--namespace"
    )
    kb.add_parser("ensure-indexes", help="create MongoDB Atlas indexes (KB_BACKEND=mongodb)")
    figures = commands.add_parser("metrics", help="the SAC/SAF and billing dashboards")
    figures.add_argument("--assistant", help="one assistant's tickets (default: all)")
    figures.add_argument("--days", type=int, help="the last N days, today included (default 30)")
    figures.add_argument("--from", dest="start", type=_day, help="first day, YYYY-MM-DD")
    figures.add_argument("--to", dest="end", type=_day, help="last day, YYYY-MM-DD")
    figures.add_argument("--json", action="store_true", help="print the figures as JSON")
    debts = commands.add_parser("debts", help="debts and their reminder trails")
    debt_commands = debts.add_subparsers(dest="debts", required=True)
    debt_commands.add_parser("import", help="import a CSV or JSONL file of debts").add_argument(
        "file", type=Path
    )
    debt_commands.add_parser("show", help="a debt and its trail, as JSON").add_argument("invoice")
    pay = debt_commands.add_parser("pay", help="record a payment (the billing system's event)")
    pay.add_argument("invoice")
    pay.add_argument("--amount", help="what was paid (default: the debt's amount)")
    pay.add_argument("--cancel", action="store_true", help="the debt was cancelled, not paid")
    followups = commands.add_parser("followups", help="the scheduled follow-ups")
    followups.add_subparsers(dest="followups", required=True).add_parser(
        "tick", help="publish one tick now (what Cloud Scheduler does every few minutes)"
    )
    templates = commands.add_parser("templates", help="WhatsApp message templates")
    templates.add_subparsers(dest="templates", required=True).add_parser(
        "import", help="register templates from a JSONL file"
    ).add_argument("file", type=Path)
    demo = commands.add_parser("demo", help="scripted demos against the running local stack")
    demo_billing = demo.add_subparsers(dest="demo", required=True).add_parser(
        "billing", help="import debts, watch a trail, reply, pay, opt out, print the figures"
    )
    demo_billing.add_argument("--file", type=Path, default=Path("samples/debts.csv"))
    demo_billing.add_argument(
        "--sim", default=os.environ.get("ATENDE_SIM_URL", "http://127.0.0.1:8081")
    )
    demo_billing.add_argument(
        "--api", default=os.environ.get("ATENDE_BILLING_API_URL", "http://127.0.0.1:8091")
    )
    args = parser.parse_args(argv)
    if args.command == "chat":
        return chat(args.sim.rstrip("/"), args.wa_id, args.name, args.wait)
    if os.environ.get("ATENDE_ENV", "local") == "local":
        # The local stack's emulators, unless told otherwise.
        os.environ.setdefault("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8682")
        os.environ.setdefault("PUBSUB_EMULATOR_HOST", "127.0.0.1:8681")
    if args.command == "metrics":
        return metrics(args.assistant, args.days, args.start, args.end, args.json)
    if args.command == "demo":
        from shared.demo_billing import run_billing_demo

        return run_billing_demo(args.file, sim_url=args.sim.rstrip("/"), api_url=args.api)
    if args.command in ("debts", "followups", "templates"):
        return _billing_commands(args)
    try:
        if args.kb == "import":
            return kb_import(args.file)
        if args.kb == "export":
            return kb_export(args.namespace)
        return kb_maintain(args.kb, getattr(args, "namespace", None))
    except (OSError, ValueError) as error:
        print(f"atende kb: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
