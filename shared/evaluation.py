"""`make eval`: the evaluation set through the real agent graph, and the figures it earns.

Each case (samples/eval.jsonl) is one customer turn, optionally after earlier turns of the same
conversation, with a photographed receipt when it says so. The graph runs with the sample
knowledge base in memory, the business tools in-process over samples/business.json, the real
OCR on a rendered receipt, and the offline reasoner (or Gemini with `--llm vertex`).

Figures: AI finalization rate (turns the AI resolved without a human), correct-handoff rate
(must-hand-off cases handed off), wrong-answer rate (answered when it should have handed off,
answered with the wrong entry or without an expected fact, or stated a number no source has),
route accuracy, latency p50/p95 and tokens.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.memory import InMemorySaver
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.adapters.business_json import DEFAULT_BUSINESS_DATA, JsonBusinessData
from shared.adapters.graph_api import MediaDownloadError, MediaInfo
from shared.adapters.image_reader import WhatsAppImageReader
from shared.adapters.local_embeddings import LocalEmbedder
from shared.adapters.mcp_tools import LocalBusinessTools
from shared.adapters.memory_kb import InMemoryKnowledgeBase
from shared.adapters.ocr import RapidOcr
from shared.agents.assistants import Route
from shared.agents.brain import GraphBrain
from shared.agents.facts import unsupported_facts
from shared.agents.offline import OfflineReasoner
from shared.agents.reasoning import Reasoner, ResilientReasoner
from shared.domain.knowledge import read_entries
from shared.domain.models import (
    BrainReply,
    BrainRequest,
    Conversation,
    InboundMessage,
    TicketStatus,
)
from shared.localstack.receipts import render_receipt
from shared.settings import Settings

__all__ = [
    "EvalCase",
    "Evaluation",
    "Expectation",
    "Kind",
    "Outcome",
    "Receipt",
    "ToolName",
    "build_evaluation",
    "judge",
    "load_cases",
    "main",
    "outcome_of",
    "score",
]

ROOT = Path(__file__).resolve().parents[1]
PHONE_NUMBER_ID = "100000000000001"

Outcome = Literal["answer", "handoff", "partial", "ask", "close", "reply"]
Kind = Literal[
    "answerable",
    "must_handoff",
    "tool",
    "image",
    "multi_message",
    "small_talk",
    "out_of_scope",
    "human",
    "memory",
]
ToolName = Literal["order_status", "store_info", "invoice_copy", "open_ticket"]


class Receipt(BaseModel):
    """A photographed receipt the turn carries (shared.localstack.receipts.render_receipt)."""

    model_config = ConfigDict(extra="forbid")

    # Empty: a photo with no order number on it.
    order_number: str = Field(default="482913", pattern=r"^(\d{6})?$")
    total: str = Field(default="189,90", pattern=r"^\d{1,3}(\.\d{3})*,\d{2}$")
    date: str = Field(default="12/11/2026", pattern=r"^\d{2}/\d{2}/\d{4}$")


class Expectation(BaseModel):
    """What a careful human agent would have done with the turn."""

    model_config = ConfigDict(extra="forbid")

    route: Route
    outcome: Outcome
    entry: str | None = None
    tools: list[ToolName] = Field(default_factory=list)
    contains: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_blank(self) -> Expectation:
        if any(not s.strip() for s in self.contains):
            raise ValueError("contains holds a blank string")
        if len(set(self.tools)) != len(self.tools):
            raise ValueError("a tool is listed twice")
        return self


class EvalCase(BaseModel):
    """One line of samples/eval.jsonl."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    kind: Kind
    assistant: Literal["sac", "saf", "cobranca"] = "sac"
    phone: str = Field(default="5511988887777", pattern=r"^\d{12,15}$")
    before: list[list[str]] = Field(default_factory=list)
    messages: list[str]
    image: Receipt | None = None
    expect: Expectation

    @model_validator(mode="after")
    def _turns_have_content(self) -> EvalCase:
        if not self.messages and self.image is None:
            raise ValueError("a turn without an image needs at least one message")
        for burst in [*self.before, self.messages]:
            if any(not m.strip() for m in burst):
                raise ValueError("a message is blank")
        if any(not burst for burst in self.before):
            raise ValueError("an earlier burst is empty")
        return self


def outcome_of(reply: BrainReply) -> Outcome:
    """What the turn did, in the evaluation's words."""
    if reply.outcome in ("answer", "handoff", "partial", "ask", "close", "reply"):
        return reply.outcome  # type: ignore[return-value]
    return "handoff" if reply.ticket_status is TicketStatus.TRANSFERRED_TO_ANALYST else "answer"


@dataclass
class Result:
    """One case's reply, judged."""

    case: EvalCase
    reply: BrainReply
    latency_ms: float
    problems: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        """What the graph did."""
        return outcome_of(self.reply)


class ReceiptMedia:
    """A MediaSource that serves rendered receipts by media id, as the Graph API would."""

    def __init__(self) -> None:
        self._images: dict[str, bytes] = {}

    def add(self, media_id: str, content: bytes) -> None:
        """Make an image downloadable under this id."""
        self._images[media_id] = content

    def info(self, media_id: str, *, phone_number_id: str = "") -> MediaInfo:
        """Where the image is, as the lookup call answers."""
        if media_id not in self._images:
            raise MediaDownloadError("download-failed", f"unknown media {media_id}")
        content = self._images[media_id]
        return MediaInfo(
            media_id=media_id,
            url=f"memory://{media_id}",
            mime_type="image/jpeg",
            file_size=len(content),
        )

    def fetch(self, info: MediaInfo) -> bytes:
        """The image's bytes."""
        return self._images[info.media_id]


def load_cases(path: Path) -> list[EvalCase]:
    """The cases of a JSONL file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [EvalCase.model_validate_json(line) for line in lines if line.strip()]


def _messages(
    case: EvalCase, texts: Sequence[str], media_id: str | None, turn: int
) -> list[InboundMessage]:
    start = datetime(2026, 11, 25, 12, 0, tzinfo=UTC) + timedelta(minutes=turn)
    pending = [
        InboundMessage(
            message_id=f"{case.id}.{turn}.{i}",
            wa_id=case.phone,
            phone_number_id=PHONE_NUMBER_ID,
            type="text",
            timestamp=start + timedelta(seconds=i),
            text=text,
            wakes_agent=True,
        )
        for i, text in enumerate(texts)
    ]
    if media_id is not None:
        pending.append(
            InboundMessage(
                message_id=f"{case.id}.{turn}.image",
                wa_id=case.phone,
                phone_number_id=PHONE_NUMBER_ID,
                type="image",
                timestamp=start + timedelta(seconds=len(texts)),
                media_id=media_id,
                wakes_agent=True,
            )
        )
    return pending


def run_case(brain: GraphBrain, media: ReceiptMedia, case: EvalCase) -> Result:
    """Send the earlier turns, then the case's turn; judge the last reply."""
    conversation = Conversation(
        conversation_id=f"{PHONE_NUMBER_ID}:{case.phone}:{case.id}",
        wa_id=case.phone,
        phone_number_id=PHONE_NUMBER_ID,
        assistant=case.assistant,
    )
    history: list[tuple[str, str]] = []
    for turn, texts in enumerate(case.before):
        earlier = brain.answer(
            BrainRequest(
                conversation=conversation,
                pending=_messages(case, texts, None, turn),
                history=history,
                turn_id=f"{case.id}.{turn}",
            )
        )
        history += [("customer", t) for t in texts] + [("assistant", t) for t in earlier.texts]
    media_id = None
    if case.image is not None:
        media_id = f"receipt-{case.id}"
        media.add(media_id, render_receipt(**case.image.model_dump()))
    turn = len(case.before)
    started = time.perf_counter()
    reply = brain.answer(
        BrainRequest(
            conversation=conversation,
            pending=_messages(case, case.messages, media_id, turn),
            history=history,
            turn_id=f"{case.id}.{turn}",
        )
    )
    result = Result(case, reply, (time.perf_counter() - started) * 1000)
    result.problems = judge(case, reply)
    return result


def judge(case: EvalCase, reply: BrainReply) -> list[str]:
    """What the reply got wrong against the expectation; empty when it is right."""
    expect = case.expect
    problems = []
    outcome = outcome_of(reply)
    if outcome != expect.outcome:
        problems.append(f"outcome {outcome}, expected {expect.outcome}")
    if reply.route != expect.route:
        problems.append(f"route {reply.route}, expected {expect.route}")
    text = "\n".join(reply.texts)
    if (
        expect.entry
        and outcome in ("answer", "partial")
        and expect.entry not in reply.answered_from
    ):
        problems.append(f"answered from {reply.answered_from}, expected {expect.entry}")
    missing_tools = [t for t in expect.tools if t not in reply.tools]
    if missing_tools:
        problems.append(f"tools {reply.tools}, expected {expect.tools}")
    for fact in expect.contains:
        if fact.lower() not in text.lower():
            problems.append(f"reply lacks {fact!r}")
    return problems


def is_wrong_answer(result: Result, kb_texts: Sequence[str], data_text: str) -> bool:
    """Answered when a human was needed, answered wrong, or stated an unsourced number."""
    expect = result.case.expect
    if result.outcome not in ("answer", "partial"):
        return False
    if expect.outcome in ("handoff", "ask", "reply"):
        return True
    grounds = [
        *kb_texts,
        data_text,
        *result.case.messages,
        *[" ".join(b) for b in result.case.before],
    ]
    if result.case.image is not None:
        grounds.append(json.dumps(result.case.image.model_dump()))
    return bool(result.problems) or bool(unsupported_facts("\n".join(result.reply.texts), grounds))


def score(results: Sequence[Result], kb_texts: Sequence[str], data_text: str) -> dict[str, Any]:
    """The figures of a run."""
    total = len(results)
    must_handoff = [r for r in results if r.case.expect.outcome in ("handoff", "partial")]
    handed_off = [r for r in results if r.outcome in ("handoff", "partial")]
    wrong = [r for r in results if is_wrong_answer(r, kb_texts, data_text)]
    routed = [r for r in results if r.reply.route == r.case.expect.route]
    latencies = sorted(r.latency_ms for r in results)
    calls = [c for r in results for c in r.reply.llm_calls]
    return {
        "cases": total,
        "correct": sum(1 for r in results if not r.problems),
        "ai_finalization_rate": (total - len(handed_off)) / total if total else 0.0,
        "correct_handoff_rate": (
            sum(1 for r in must_handoff if r.outcome == r.case.expect.outcome) / len(must_handoff)
            if must_handoff
            else 0.0
        ),
        "wrong_answer_rate": len(wrong) / total if total else 0.0,
        "route_accuracy": len(routed) / total if total else 0.0,
        "latency_ms_p50": statistics.median(latencies) if latencies else 0.0,
        "latency_ms_p95": latencies[max(0, int(len(latencies) * 0.95) - 1)] if latencies else 0.0,
        "llm_calls": len(calls),
        "input_tokens": sum(int(c.get("input_tokens", 0)) for c in calls),
        "output_tokens": sum(int(c.get("output_tokens", 0)) for c in calls),
        "cost_usd": round(sum(float(c.get("cost_usd", 0.0)) for c in calls), 6),
        "by_kind": dict(
            Counter(f"{r.case.kind}:{'ok' if not r.problems else 'miss'}" for r in results)
        ),
    }


@dataclass
class Evaluation:
    """The graph under evaluation and what its answers may be grounded in."""

    brain: GraphBrain
    media: ReceiptMedia
    kb_texts: list[str]
    data_text: str

    def run(self, cases: Sequence[EvalCase]) -> Iterator[Result]:
        """Every case through the graph, in order."""
        for case in cases:
            yield run_case(self.brain, self.media, case)


def build_evaluation(settings: Settings, *, kb_path: Path, llm: str) -> Evaluation:
    """The graph over the sample knowledge base, sample business data and real OCR."""
    embedder = LocalEmbedder()
    kb = InMemoryKnowledgeBase(embedder)
    entries = list(read_entries(kb_path))
    kb.upsert(entries)
    offline = OfflineReasoner(
        embedder,
        min_score=settings.kb_min_score,
        sure_score=settings.kb_sure_score,
        knowledge_base=kb,
    )
    reasoner: Reasoner = offline
    if llm == "vertex":
        from shared.adapters.vertex import (
            FALLBACK_EXCEPTIONS,
            chat_models_from_settings,
            cost_usd,
            usage_of,
        )
        from shared.agents.llm_reasoner import LlmReasoner

        models = chat_models_from_settings(settings)
        primary = LlmReasoner(models, retryable=FALLBACK_EXCEPTIONS, usage=usage_of, price=cost_usd)
        reasoner = ResilientReasoner(primary, offline)
    data_path = Path(settings.business_data_path or DEFAULT_BUSINESS_DATA)
    media = ReceiptMedia()
    brain = GraphBrain(
        knowledge_base=kb,
        tools=LocalBusinessTools(JsonBusinessData.from_path(data_path)),
        images=WhatsAppImageReader(media, RapidOcr()),
        reasoner=reasoner,
        min_score=settings.kb_min_score,
        handoff_message=settings.handoff_message,
        checkpointer=InMemorySaver(),
    )
    return Evaluation(
        brain=brain,
        media=media,
        kb_texts=[f"{e.question}\n{e.answer}" for e in entries],
        data_text=data_path.read_text(encoding="utf-8"),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the set and print its figures (with --json, the figures alone as JSON)."""
    parser = argparse.ArgumentParser(prog="make eval")
    parser.add_argument("--kb", type=Path, default=ROOT / "samples" / "kb.jsonl")
    parser.add_argument("--cases", type=Path, default=ROOT / "samples" / "eval.jsonl")
    parser.add_argument("--min-score", type=float, default=None)
    parser.add_argument("--llm", choices=("offline", "vertex"), default="offline")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.min_score is not None:
        settings = settings.model_copy(update={"kb_min_score": args.min_score})
    cases = load_cases(args.cases)
    evaluation = build_evaluation(settings, kb_path=args.kb, llm=args.llm)
    evaluation.brain.warm_up()
    results = []
    for result in evaluation.run(cases):
        results.append(result)
        if result.problems and not args.json:
            print(f"  miss {result.case.id:28} {'; '.join(result.problems)}")
    figures = score(results, evaluation.kb_texts, evaluation.data_text)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"\ncases {figures['cases']}  correct {figures['correct']}  "
        f"(reasoner {args.llm}, KB scores {settings.kb_min_score:.2f} with keywords, "
        f"{settings.kb_sure_score:.2f} alone)"
    )
    print(f"AI finalization rate   {figures['ai_finalization_rate']:.0%}")
    print(f"correct-handoff rate   {figures['correct_handoff_rate']:.0%}")
    print(f"wrong-answer rate      {figures['wrong_answer_rate']:.0%}")
    print(f"route accuracy         {figures['route_accuracy']:.0%}")
    print(
        f"latency ms             p50 {figures['latency_ms_p50']:.0f}  "
        f"p95 {figures['latency_ms_p95']:.0f}"
    )
    print(
        f"tokens                 in {figures['input_tokens']}  out {figures['output_tokens']}"
        f"  ({figures['llm_calls']} model calls, US$ {figures['cost_usd']:.4f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
