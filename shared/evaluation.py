"""`make eval`: run the evaluation set through the real agent graph and print its figures."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from shared.adapters.local_embeddings import LocalEmbedder
from shared.adapters.memory_kb import InMemoryKnowledgeBase
from shared.agents.kb_assistant import GraphBrain
from shared.domain.knowledge import read_entries
from shared.domain.models import BrainRequest, Conversation, InboundMessage, TicketStatus
from shared.settings import Settings

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]


def _request(question: str, namespace: str, index: int) -> BrainRequest:
    conversation = Conversation(
        conversation_id=f"eval:{index}", wa_id="eval", phone_number_id="eval", assistant=namespace
    )
    message = InboundMessage(
        message_id=f"eval-{index}",
        wa_id="eval",
        phone_number_id="eval",
        type="text",
        timestamp=datetime.now(tz=UTC),
        text=question,
        wakes_agent=True,
    )
    return BrainRequest(conversation=conversation, pending=[message])


def main(argv: list[str] | None = None) -> int:
    """Print answer precision, handoff recall and latency of the graph on a labelled set."""
    parser = argparse.ArgumentParser(prog="make eval")
    parser.add_argument("--kb", type=Path, default=ROOT / "samples" / "kb.jsonl")
    parser.add_argument("--cases", type=Path, default=ROOT / "samples" / "eval.jsonl")
    parser.add_argument("--min-score", type=float, default=Settings().kb_min_score)
    args = parser.parse_args(argv)
    kb = InMemoryKnowledgeBase(LocalEmbedder())
    kb.upsert(read_entries(args.kb))
    brain = GraphBrain.from_settings(kb, Settings(kb_min_score=args.min_score))
    cases = [json.loads(line) for line in args.cases.read_text().splitlines() if line.strip()]
    outcomes = {
        "right answer": 0,
        "wrong answer": 0,
        "right handoff": 0,
        "missed handoff": 0,
        "needless handoff": 0,
    }
    latencies = []
    for index, case in enumerate(cases):
        started = time.perf_counter()
        reply = brain.answer(_request(case["question"], case.get("namespace", "sac"), index))
        latencies.append((time.perf_counter() - started) * 1000)
        handed_off = reply.ticket_status == TicketStatus.TRANSFERRED_TO_ANALYST
        expected = case["expect"]
        if expected == "handoff":
            kind = "right handoff" if handed_off else "missed handoff"
        elif handed_off:
            kind = "needless handoff"
        else:
            kind = "right answer" if expected in reply.summary else "wrong answer"
        outcomes[kind] += 1
        if kind not in ("right answer", "right handoff"):
            print(f"  {kind:16} {case['question']!r}: {reply.summary}")
    answered = outcomes["right answer"] + outcomes["wrong answer"] + outcomes["missed handoff"]
    should_handoff = outcomes["right handoff"] + outcomes["missed handoff"]
    print(f"\ncases {len(cases)}  (threshold {args.min_score:.2f}, model {LocalEmbedder.model_id})")
    for kind, count in outcomes.items():
        print(f"  {kind:16} {count}")
    correct = outcomes["right answer"] + outcomes["right handoff"]
    print(f"accuracy          {correct / len(cases):.0%}")
    if answered:
        print(
            f"answer precision  {outcomes['right answer'] / answered:.0%}"
            "  (answers that were the right entry)"
        )
    if should_handoff:
        print(
            f"handoff recall    {outcomes['right handoff'] / should_handoff:.0%}"
            "  (unanswerable questions handed off)"
        )
    handoffs = outcomes["right handoff"] + outcomes["needless handoff"]
    print(f"fallback rate     {handoffs / len(cases):.0%}  (turns handed to a human)")
    print(
        f"latency ms        p50 {statistics.median(latencies):.1f}  max {max(latencies):.1f}"
        "  (first case includes loading the model)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
