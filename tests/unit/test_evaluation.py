"""The evaluation runner (`make eval`) and a spread of its cases through the real graph.

The cases below are ones the offline graph must keep getting right, one or more of each kind;
the whole set's figures are printed by `make eval`, not asserted here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.evaluation import EvalCase, Evaluation, build_evaluation, load_cases, main
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CASES = {case.id: case for case in load_cases(ROOT / "samples" / "eval.jsonl")}

# One or more per kind and route: answers from each namespace, handoffs, tools, images, bursts,
# small talk, out of scope, explicit requests for a human, memory across turns.
KEPT_RIGHT = sorted(
    {
        "sac-pix-travou-1",
        "saf-minimo-1",
        "cob-juros-1",
        "cob-ho-prescricao",
        "tool-order-transit",
        "tool-order-two",
        "tool-order-notfound",
        "tool-store-campinas",
        "tool-boleto-copy",
        "tool-no-invoice",
        "img-transit",
        "img-no-order",
        "img-not-found",
        "mm-two-known",
        "mm-split-question",
        "mm-order-split",
        "st-thanks-close",
        "st-thumbs-close",
        "oos-futebol",
        "human-atendente",
        "human-cobranca",
        "mem-number-after-ask",
        "mem-followup-same-order",
    }
)


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    return build_evaluation(Settings(), kb_path=ROOT / "samples" / "kb.jsonl", llm="offline")


def test_the_kept_cases_exist() -> None:
    missing = [case_id for case_id in KEPT_RIGHT if case_id not in CASES]
    assert missing == [], f"rename these in KEPT_RIGHT: {missing}"


@pytest.mark.parametrize("case_id", [c for c in KEPT_RIGHT if c in CASES])
def test_case_is_handled_as_a_careful_agent_would(evaluation: Evaluation, case_id: str) -> None:
    (result,) = evaluation.run([CASES[case_id]])
    assert result.problems == [], (result.reply.texts, result.reply.summary)


def test_runner_prints_every_figure_and_scores_a_miss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    right = CASES["sac-pix-travou-1"].model_dump()
    wrong = {**right, "id": "wrong-route", "expect": {**right["expect"], "route": "billing"}}
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(c) for c in (right, wrong)) + "\n")

    assert main(["--cases", str(cases), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["cases"] == 2 and figures["correct"] == 1
    assert figures["route_accuracy"] == 0.5
    for name in (
        "ai_finalization_rate",
        "correct_handoff_rate",
        "wrong_answer_rate",
        "latency_ms_p50",
        "latency_ms_p95",
        "input_tokens",
        "output_tokens",
    ):
        assert name in figures

    assert main(["--cases", str(cases)]) == 0
    out = capsys.readouterr().out
    assert "miss wrong-route" in out and "route sac, expected billing" in out
    for label in ("AI finalization rate", "correct-handoff rate", "wrong-answer rate", "tokens"):
        assert label in out


def test_a_case_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError):
        EvalCase.model_validate({**CASES["sac-pix-travou-1"].model_dump(), "surprise": 1})
