"""One customer message, one trace: the local stack's functions append their spans to a file."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from conftest import Pipeline, wait_for

HOPS = {"webhook", "intake", "agent_turn", "outbound"}


def _spans(pipeline: Pipeline) -> list[dict[str, Any]]:
    path = pipeline.stack.log_dir / "spans.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _trace_of_message(pipeline: Pipeline, message_id: str) -> list[dict[str, Any]]:
    """Every span of the trace whose intake stored this message, once outbound has sent."""
    spans = _spans(pipeline)
    intakes = [
        s
        for s in spans
        if s["name"] == "intake" and s["attributes"].get("whatsapp.message.id") == message_id
    ]
    if not intakes:
        return []
    trace_id = intakes[0]["context"]["trace_id"]
    found = [s for s in spans if s["context"]["trace_id"] == trace_id]
    names = {s["name"] for s in found}
    return found if HOPS | {"graph_api.send"} <= names else []


def test_one_customer_message_is_one_trace_from_webhook_to_send(
    pipeline: Pipeline, wa_id: str
) -> None:
    text = "Vocês aceitam pix?"
    message_id = pipeline.customer_says(wa_id, text)
    wait_for(lambda: pipeline.sent_to(wa_id), what="an answer")
    spans = wait_for(
        lambda: _trace_of_message(pipeline, message_id), what="the message's spans", timeout=30
    )
    names = Counter(s["name"] for s in spans)
    expected = HOPS | {"publish inbound", "publish agent-turns", "publish outbound", "brain.answer"}
    assert set(names) >= expected, names
    # One root, the webhook; every other span's parent is in the same trace.
    ids = {s["context"]["span_id"] for s in spans}
    roots = [s for s in spans if s["parent_id"] is None]
    assert [r["name"] for r in roots] == ["webhook"]
    assert all(s["parent_id"] in ids for s in spans if s["parent_id"] is not None)
    by_id = {s["context"]["span_id"]: s for s in spans}

    def parent(name: str) -> str:
        (span,) = [s for s in spans if s["name"] == name]
        return str(by_id[span["parent_id"]]["name"])

    assert parent("intake") == "publish inbound"
    assert parent("agent_turn") == "publish agent-turns"
    assert parent("outbound") == "publish outbound"
    assert parent("graph_api.send") == "outbound"
    # Neither the customer's number nor what they wrote is on any span.
    shown = json.dumps([s["attributes"] for s in spans], ensure_ascii=False).lower()
    assert wa_id not in shown
    assert text.lower() not in shown
