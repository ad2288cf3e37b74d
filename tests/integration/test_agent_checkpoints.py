"""The agent graph on Firestore checkpoints: memory across cold instances, crashed turns resumed."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from google.cloud import firestore

from shared.adapters.firestore_checkpoint import FirestoreCheckpointSaver
from shared.agents.brain import GraphBrain
from shared.agents.offline import OfflineReasoner
from shared.domain.models import BrainRequest
from tests.unit.agent_fakes import (
    HANDOFF,
    MIN_SCORE,
    FakeTools,
    ScriptedKB,
    conversation,
    kb_hit,
    message,
)


class Crash(RuntimeError):
    """The instance went away mid-turn."""


class CrashingTools(FakeTools):
    """The first order lookup dies with the instance; the next one answers."""

    crashed: bool = False

    def call(self, tool: str, arguments: Any) -> Any:
        if tool == "order_status" and not self.crashed:
            self.crashed = True
            raise Crash("instance gone")
        return super().call(tool, arguments)


def _brain(db: firestore.Client, offline: OfflineReasoner, tools: FakeTools) -> GraphBrain:
    """A brain as a fresh instance builds it: new client objects, same database."""
    kb = ScriptedKB(default={"sac": [kb_hit("sac-pix", "Sim, aceitamos PIX.", 0.8)]})
    return GraphBrain(
        knowledge_base=kb,
        tools=tools,
        images=None,
        reasoner=offline,
        min_score=MIN_SCORE,
        handoff_message=HANDOFF,
        checkpointer=FirestoreCheckpointSaver(db, collection="agent_checkpoints"),
    )


def _turn(brain: GraphBrain, text: str, index: int) -> Any:
    return brain.answer(
        BrainRequest(
            conversation=conversation(), pending=[message(text, index)], turn_id=f"t-{index}"
        )
    )


def test_an_order_number_asked_on_one_instance_is_understood_on_another(
    db: firestore.Client, offline: OfflineReasoner
) -> None:
    tools = FakeTools()
    first = _turn(_brain(db, offline, tools), "meu pedido ainda não chegou", 1)
    assert "número do pedido" in first.texts[0]
    # A cold instance: nothing in memory, only what Firestore holds.
    second = _turn(_brain(db, offline, tools), "é o 482913", 2)
    assert tools.calls == [("order_status", {"order_number": "482913"})]
    assert "Em trânsito" in second.texts[0]


def test_a_turn_that_crashed_mid_graph_resumes_on_a_new_instance(
    db: firestore.Client, offline: OfflineReasoner, caplog: pytest.LogCaptureFixture
) -> None:
    tools = CrashingTools()
    with pytest.raises(Crash):
        _turn(_brain(db, offline, tools), "qual o status do pedido 482913?", 7)
    stored = list(db.collection("agent_checkpoints").stream())
    assert len(stored) == 1
    with caplog.at_level(logging.WARNING, logger="shared.agents.brain"):
        reply = _turn(_brain(db, offline, tools), "qual o status do pedido 482913?", 7)
    # It picked up at the node that crashed, not from the start.
    assert "turn t-7 of" in caplog.text and "resumes at data" in caplog.text
    assert "Em trânsito" in reply.texts[0]
    assert reply.route == "data"
