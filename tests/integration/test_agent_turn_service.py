"""AgentTurnService on the emulators: leases, coalescing, and messages that arrive mid-turn."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from conftest import pull_all, text_message

from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.pubsub import PubSubPublisher
from shared.clock import SystemClock
from shared.domain.models import (
    AgentTurnRequest,
    BrainReply,
    BrainRequest,
    TicketStatus,
)
from shared.handlers.agent_turn import AgentTurnService
from shared.settings import Settings

CID = "100000000000001:5511988887777"


class ScriptedBrain:
    """Answers with the texts it was given, optionally holding until released."""

    def __init__(self, *, hold: bool = False) -> None:
        self.requests: list[BrainRequest] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def warm_up(self) -> None:
        """Nothing to load."""

    def answer(self, request: BrainRequest) -> BrainReply:
        self.requests.append(request)
        self.entered.set()
        assert self.release.wait(30)
        joined = " + ".join(m.text for m in request.pending)
        return BrainReply(
            texts=[f"resposta: {joined}"], route="scripted", ticket_status=TicketStatus.AI_REPLIED
        )


def _service(
    store: FirestoreStore, publisher: PubSubPublisher, brain: ScriptedBrain, project: str
) -> AgentTurnService:
    settings = Settings(
        google_cloud_project=project, quiet_period_seconds=0.3, max_wait_seconds=2.0
    )
    return AgentTurnService(
        store=store, publisher=publisher, brain=brain, clock=SystemClock(), settings=settings
    )


def test_a_burst_gets_one_answer(
    store: FirestoreStore,
    publisher: PubSubPublisher,
    topics: dict[str, str],
    emulator_project: str,
) -> None:
    for i, text in enumerate(["Oi", "queria saber", "vocês aceitam PIX?"]):
        store.record_inbound(text_message(f"wamid.burst{i}", text), assistant="sac")
    brain = ScriptedBrain()
    service = _service(store, publisher, brain, emulator_project)
    assert service.handle(AgentTurnRequest(conversation_id=CID, message_id="wamid.burst2")) == (
        "answered:1"
    )
    # Redelivery of any of the burst's events finds nothing pending.
    assert service.handle(AgentTurnRequest(conversation_id=CID, message_id="wamid.burst0")) == (
        "nothing-pending"
    )
    sent = pull_all(topics["outbound"])
    assert len(sent) == 1
    assert json.loads(sent[0].data)["text"] == "resposta: Oi + queria saber + vocês aceitam PIX?"
    assert sent[0].ordering_key == CID
    assert len(brain.requests) == 1


def test_a_message_arriving_mid_turn_is_answered_by_the_running_turn(
    store: FirestoreStore,
    publisher: PubSubPublisher,
    topics: dict[str, str],
    emulator_project: str,
) -> None:
    store.record_inbound(text_message("wamid.first", "qual o horário?"), assistant="sac")
    brain = ScriptedBrain(hold=True)
    service = _service(store, publisher, brain, emulator_project)
    outcome: list[str] = []
    running = threading.Thread(
        target=lambda: outcome.append(
            service.handle(AgentTurnRequest(conversation_id=CID, message_id="wamid.first"))
        )
    )
    running.start()
    assert brain.entered.wait(20), "the first turn never reached the brain"
    # The first turn is thinking; a new message arrives and its own event finds the lease held.
    store.record_inbound(text_message("wamid.second", "e no domingo?"), assistant="sac")
    second = service.handle(AgentTurnRequest(conversation_id=CID, message_id="wamid.second"))
    assert second == "busy"
    brain.release.set()
    running.join(30)
    assert outcome == ["answered:2"]
    texts = [json.loads(m.data)["text"] for m in pull_all(topics["outbound"])]
    assert texts == ["resposta: qual o horário?", "resposta: e no domingo?"]
    assert store.pending_messages(CID) == []


def test_a_turn_that_died_before_publishing_is_published_by_the_next(
    store: FirestoreStore,
    publisher: PubSubPublisher,
    topics: dict[str, str],
    emulator_project: str,
) -> None:
    store.record_inbound(text_message("wamid.crash", "vocês aceitam PIX?"), assistant="sac")
    brain = ScriptedBrain()
    service = _service(store, publisher, brain, emulator_project)

    class Outage(Exception):
        pass

    class DownPublisher:
        def publish_many(self, topic: str, items: object) -> list[str]:
            raise Outage(topic)

        def publish(self, topic: str, data: bytes, **kwargs: object) -> str:
            raise Outage(topic)

    dying = AgentTurnService(
        store=store,
        publisher=DownPublisher(),
        brain=brain,
        clock=SystemClock(),
        settings=service.settings,
    )
    with pytest.raises(Outage):
        dying.handle(AgentTurnRequest(conversation_id=CID, message_id="wamid.crash"))
    # The lease was released on the way out.
    assert store.acquire_lease(CID, "probe", now=datetime.now(tz=UTC), seconds=1)
    store.release_lease(CID, "probe")
    assert pull_all(topics["outbound"]) == []
    # Pub/Sub redelivers; the recorded turn is published, the brain is not asked again.
    assert (
        service.handle(AgentTurnRequest(conversation_id=CID, message_id="wamid.crash"))
        == "nothing-pending"
    )
    sent = pull_all(topics["outbound"])
    assert [json.loads(m.data)["text"] for m in sent] == ["resposta: vocês aceitam PIX?"]
    assert len(brain.requests) == 1


def test_a_conversation_held_by_a_human_gets_no_ai_answer(
    store: FirestoreStore,
    publisher: PubSubPublisher,
    topics: dict[str, str],
    emulator_project: str,
) -> None:
    store.record_inbound(text_message("wamid.h1"), assistant="sac")
    # The analyst took over after the message was stored as pending.
    store._conversations().document(CID).update({"holder": "human"})
    brain = ScriptedBrain()
    service = _service(store, publisher, brain, emulator_project)
    assert service.handle(AgentTurnRequest(conversation_id=CID, message_id="wamid.h1")) == (
        "nothing-pending"
    )
    assert brain.requests == []
    assert pull_all(topics["outbound"]) == []
    assert store.pending_messages(CID) == []
