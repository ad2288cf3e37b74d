"""Analysts' verdicts on AI answers as evaluation cases (lines of samples/eval.jsonl's schema).

A "right" answer expects what the AI did; a "wrong" one what the analyst says it should have
done. The case's messages are the customer's texts of that turn; the customer's number is
left out (EvalCase's default stands in), and so is the analyst's note (EvalCase has no field
for it). shared.evaluation.EvalCase is not imported here: it drags the whole harness (LangGraph,
OCR) into the console; the tests validate every line against it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from shared.agents.assistants import ROUTES
from shared.domain.feedback import AnswerFeedback

__all__ = ["ASSISTANTS", "eval_case", "export_jsonl"]

# EvalCase.assistant's values.
ASSISTANTS = ("sac", "saf", "cobranca")
_OUTCOMES = ("answer", "handoff", "partial", "ask", "close", "reply")
# Routes whose case is named after the route itself.
_KIND_OF_ROUTE = {
    "human": "human",
    "small_talk": "small_talk",
    "out_of_scope": "out_of_scope",
    "image": "image",
}


def eval_case(feedback: AnswerFeedback) -> dict[str, Any] | None:
    """The EvalCase for this verdict, or None when the turn cannot make one (no customer
    text, an assistant or route the evaluation does not know)."""
    if feedback.verdict == "right":
        route, outcome = feedback.turn_route, feedback.turn_outcome
    else:
        route, outcome = feedback.expected_route or "", feedback.expected_outcome or ""
    messages = [t for t in feedback.customer_texts if t.strip()]
    if (
        not messages
        or feedback.assistant not in ASSISTANTS
        or route not in ROUTES
        or outcome not in _OUTCOMES
    ):
        return None
    return {
        "id": "fb-" + hashlib.sha256(feedback.turn_id.encode()).hexdigest()[:16],
        "kind": _kind(route, outcome, len(messages)),
        "assistant": feedback.assistant,
        "messages": messages,
        "expect": {"route": route, "outcome": outcome},
    }


def export_jsonl(verdicts: Iterable[AnswerFeedback]) -> tuple[str, int]:
    """The JSONL text of every verdict that makes a case, and how many did not."""
    lines: list[str] = []
    skipped = 0
    for feedback in verdicts:
        case = eval_case(feedback)
        if case is None:
            skipped += 1
            continue
        lines.append(json.dumps(case, ensure_ascii=False))
    return "".join(line + "\n" for line in lines), skipped


def _kind(route: str, outcome: str, messages: int) -> str:
    if route in _KIND_OF_ROUTE:
        return _KIND_OF_ROUTE[route]
    if outcome in ("handoff", "partial"):
        return "must_handoff"
    if route in ("billing", "data"):
        return "tool"
    return "multi_message" if messages > 1 else "answerable"
