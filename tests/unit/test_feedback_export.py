"""Verdicts on AI answers become valid evaluation cases; Outcome stays the harness's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, get_args

import pytest

from shared import evaluation
from shared.console.feedback import export_jsonl
from shared.domain.feedback import AnswerFeedback, Outcome, outcome_of_turn


def _verdict(**changes: Any) -> AnswerFeedback:
    fields: dict[str, Any] = {
        "turn_id": "t-1",
        "ticket_id": "T-1",
        "conversation_id": "c",
        "assistant": "sac",
        "verdict": "right",
        "turn_route": "sac",
        "turn_outcome": "answer",
        "customer_texts": ["oi", "posso parcelar?"],
        "by": "ana@example.com",
        "at": datetime(2026, 11, 25, tzinfo=UTC),
    }
    return AnswerFeedback(**{**fields, **changes})


def test_outcome_matches_the_evaluation_harness() -> None:
    assert get_args(Outcome) == get_args(evaluation.Outcome)


@pytest.mark.parametrize(
    ("changes", "kind", "route", "outcome"),
    [
        ({}, "multi_message", "sac", "answer"),
        ({"customer_texts": ["posso parcelar?"]}, "answerable", "sac", "answer"),
        (
            {"verdict": "wrong", "expected_route": "billing", "expected_outcome": "answer"},
            "tool",
            "billing",
            "answer",
        ),
        (
            {"verdict": "wrong", "expected_route": "sac", "expected_outcome": "handoff"},
            "must_handoff",
            "sac",
            "handoff",
        ),
        (
            {"turn_route": "small_talk", "turn_outcome": "reply"},
            "small_talk",
            "small_talk",
            "reply",
        ),
    ],
)
def test_export_lines_validate_as_eval_cases(
    changes: dict[str, Any], kind: str, route: str, outcome: str
) -> None:
    text, skipped = export_jsonl([_verdict(**changes)])
    assert skipped == 0
    case = evaluation.EvalCase.model_validate_json(text.strip())
    assert (case.kind, case.expect.route, case.expect.outcome) == (kind, route, outcome)
    assert case.phone == evaluation.EvalCase.model_fields["phone"].default


def test_turns_without_text_or_known_assistant_are_skipped() -> None:
    text, skipped = export_jsonl([_verdict(customer_texts=[]), _verdict(assistant="vendas")])
    assert (text, skipped) == ("", 2)
    assert json.loads(export_jsonl([_verdict()])[0])["id"].startswith("fb-")


def test_outcome_of_older_turns() -> None:
    assert outcome_of_turn("ask", "IAR", 1) == "ask"
    assert outcome_of_turn("", "F", 1) == "close"
    assert outcome_of_turn("", "TA", 1) == "handoff"
    assert outcome_of_turn("", "IAR", 1) == "answer"
