"""How many tokens the Gemini path sends per step and per turn, measured on the evaluation set.

Every case of samples/eval.jsonl runs through the real graph with the Gemini reasoner (the real
ChatVertexAI client) pointed at the local Vertex AI stand-in. The stand-in answers every step
with one JSON that fits every step's schema (route sac, a short grounded answer, supported),
so the graph takes its usual path: rewrite when there is history or several messages, route,
draft, verify, and summarize on a handoff. The prompts are the real ones, with the real
knowledge-base hits, tool results and OCR text; the stand-in counts input tokens (system
instruction, messages and response schema) as characters / 4, close to Gemini's tokenizer on
Portuguese prose but not equal to it. Output lengths are assumptions (ASSUMED_OUTPUT).

    .venv/bin/python bench/prompt_tokens.py [--cases samples/eval.jsonl]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.adapters.vertex import cost_usd  # noqa: E402
from shared.evaluation import build_evaluation, load_cases  # noqa: E402
from shared.localstack.vertex_standin import VertexStandIn  # noqa: E402
from shared.settings import Settings  # noqa: E402

# One reply that validates as every step's schema (pydantic ignores the other fields).
EVERY_STEP = json.dumps(
    {
        "question": "O cliente quer saber se a loja aceita PIX.",
        "route": "sac",
        "confidence": 0.9,
        "reason": "pagamento",
        "answer": "Sim, aceitamos PIX no totem.",
        "can_answer": True,
        "used_sources": [],
        "supported": True,
        "problems": "",
        "category": "pagamento",
        "summary": "O cliente perguntou sobre formas de pagamento.",
    },
    ensure_ascii=False,
)


# What each step writes back (structured JSON), in tokens: the stand-in's canned reply says
# nothing about real output lengths, so these are stated, not measured.
ASSUMED_OUTPUT = {"rewrite": 30, "route": 25, "draft": 90, "verify": 15, "summarize": 70}


def main(argv: list[str] | None = None) -> int:
    """Run the cases through the Gemini path and print tokens per step and per turn."""
    parser = argparse.ArgumentParser(prog="bench/prompt_tokens.py")
    parser.add_argument("--cases", type=Path, default=ROOT / "samples" / "eval.jsonl")
    args = parser.parse_args(argv)
    cases = load_cases(args.cases)
    with VertexStandIn(port=0, default_text=EVERY_STEP) as standin:
        settings = Settings(
            llm_backend="vertex",
            vertex_endpoint=standin.url,
            vertex_project="bench",
            llm_max_retries=0,
        )
        evaluation = build_evaluation(settings, kb_path=ROOT / "samples" / "kb.jsonl", llm="vertex")
        evaluation.brain.warm_up()
        per_step: dict[str, list[int]] = defaultdict(list)
        per_turn: list[list[tuple[str, int]]] = []
        for result in evaluation.run(cases):
            calls = [(str(c["step"]), int(c["input_tokens"])) for c in result.reply.llm_calls]
            for step, tokens in calls:
                per_step[step].append(tokens)
            per_turn.append(calls)
    model = settings.vertex_chat_model
    print(f"{len(per_turn)} turns (the last turn of each case); input tokens ~ characters / 4\n")
    print(f"{'step':10} {'calls':>5} {'input p50':>10} {'input max':>10} {'output (assumed)':>17}")
    for step in ("rewrite", "route", "draft", "verify", "summarize"):
        rows = per_step.get(step, [])
        if rows:
            print(
                f"{step:10} {len(rows):>5} {statistics.median(rows):>10.0f} {max(rows):>10} "
                f"{ASSUMED_OUTPUT[step]:>17}"
            )
    inputs = [sum(t for _, t in calls) for calls in per_turn]
    outputs = [sum(ASSUMED_OUTPUT[s] for s, _ in calls) for calls in per_turn]
    costs = [cost_usd(model, i, o) for i, o in zip(inputs, outputs, strict=True)]
    print(
        f"\nper turn: {statistics.mean(len(c) for c in per_turn):.2f} calls,"
        f" input mean {statistics.mean(inputs):.0f} (p50 {statistics.median(inputs):.0f}),"
        f" output mean {statistics.mean(outputs):.0f} (assumed);"
        f" {model} list price US$ {statistics.mean(costs):.6f} per turn,"
        f" US$ {statistics.mean(costs) * 1000:.2f} per 1,000 turns"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
