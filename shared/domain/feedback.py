"""Analysts' verdicts on the AI's answers, and the turns they judge (no I/O here)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AnswerFeedback", "Outcome", "TurnRecord", "Verdict", "outcome_of_turn"]

Verdict = Literal["right", "wrong"]
# shared.evaluation.Outcome, repeated so the console need not import the evaluation harness
# (LangGraph, OCR); a unit test keeps the two equal.
Outcome = Literal["answer", "handoff", "partial", "ask", "close", "reply"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class TurnRecord(_Frozen):
    """One AI turn as the console judges it: what the customer said and what the AI did."""

    turn_id: str
    ticket_id: str | None = None
    conversation_id: str
    route: str
    outcome: str
    ticket_status: str = ""
    customer_texts: list[str] = Field(default_factory=list)
    replies: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


class AnswerFeedback(_Frozen):
    """An analyst's verdict on one turn (document `answer_feedback/{turn_id}`; re-marking replaces).

    The turn's customer texts and route are copied in, so the export reads one collection.
    """

    turn_id: str
    ticket_id: str
    conversation_id: str
    assistant: str
    verdict: Verdict
    note: str | None = None
    # What the AI should have done; required for a wrong answer.
    expected_route: str | None = None
    expected_outcome: str | None = None
    turn_route: str
    turn_outcome: str
    customer_texts: list[str] = Field(default_factory=list)
    replies: list[str] = Field(default_factory=list)
    by: str
    at: datetime


def outcome_of_turn(explicit: str, ticket_status: str, replies: int) -> str:
    """The turn's outcome in the evaluation's words.

    Turns recorded before `Turn.outcome` existed carry none: the ticket status they set tells
    a close (F) or a handoff (TA) apart; anything else that replied is taken as an answer.
    """
    if explicit:
        return explicit
    if ticket_status == "F":
        return "close"
    if ticket_status == "TA":
        return "handoff"
    return "answer" if replies else "reply"
