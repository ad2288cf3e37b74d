"""The `atende` command: chat as a customer, manage the knowledge base."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["main"]


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
    args = parser.parse_args(argv)
    if args.command == "chat":
        return chat(args.sim.rstrip("/"), args.wa_id, args.name, args.wait)
    if os.environ.get("ATENDE_ENV", "local") == "local":
        # The local stack's Firestore emulator, unless told otherwise.
        os.environ.setdefault("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8682")
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
