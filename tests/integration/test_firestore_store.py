"""FirestoreStore against the Firestore emulator: dedupe, tickets, leases, sends, receipts."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from conftest import text_message
from google.cloud import firestore

from shared.adapters.firestore_store import ContentionError, FirestoreStore
from shared.domain.models import (
    Holder,
    InboundMessage,
    OutboundMessage,
    Recorded,
    SendClaim,
    SendOutcome,
    SendResult,
    StatusReceipt,
    TicketStatus,
    Turn,
)

NOW = datetime.now(tz=UTC)


def _outbound(key: str = "turn-1:0") -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key,
        conversation_id="100000000000001:5511988887777",
        phone_number_id="100000000000001",
        to="5511988887777",
        text="Olá",
    )


def test_a_message_is_recorded_once_even_when_delivered_concurrently(
    store: FirestoreStore, db: firestore.Client
) -> None:
    message = text_message("wamid.dup")
    results: list[Recorded] = []

    def deliver() -> None:
        # A delivery whose transaction keeps aborting raises, and Pub/Sub delivers it again;
        # on a loaded machine the emulator's lock timeouts make that happen here too.
        # Pub/Sub keeps redelivering (up to the subscription's max delivery attempts).
        for _attempt in range(20):
            try:
                results.append(store.record_inbound(message, assistant="sac"))
                return
            except ContentionError:
                continue

    # Daemon threads, bounded: the emulator can deadlock concurrent transactions on one
    # document for good (firebase/firebase-tools#2452), which production Firestore does not.
    deliveries = [threading.Thread(target=deliver, daemon=True) for _ in range(4)]
    for thread in deliveries:
        thread.start()
    deadline = time.monotonic() + 150
    for thread in deliveries:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in deliveries):
        pytest.skip(
            "the Firestore emulator deadlocked concurrent transactions (firebase-tools#2452)"
        )
    assert len(results) == 4, "a delivery never got through"
    assert sum(r.new for r in results) == 1
    assert all(r.pending for r in results)
    contact = db.collection("contacts").document("5511988887777").get()
    assert contact.get("name") == "Maria"
    tickets = list(db.collection("tickets").stream())
    assert len(tickets) == 1
    assert tickets[0].get("status") == TicketStatus.AWAITING_AI.value


def test_a_second_message_reuses_the_open_ticket(
    store: FirestoreStore, db: firestore.Client
) -> None:
    store.record_inbound(text_message("wamid.a"), assistant="sac")
    store.record_inbound(text_message("wamid.b", "e no domingo?"), assistant="sac")
    assert len(list(db.collection("tickets").stream())) == 1
    conversation = store.get_conversation("100000000000001:5511988887777")
    assert conversation is not None
    assert conversation.assistant == "sac"
    assert conversation.last_inbound_at is not None
    assert [m.message_id for m in store.pending_messages(conversation.conversation_id)] == [
        "wamid.a",
        "wamid.b",
    ]


def test_a_reaction_is_stored_but_opens_no_ticket_and_waits_for_no_one(
    store: FirestoreStore, db: firestore.Client
) -> None:
    reaction = text_message("wamid.r").model_copy(
        update={"type": "reaction", "text": "", "wakes_agent": False}
    )
    recorded = store.record_inbound(reaction, assistant="sac")
    assert recorded.new and not recorded.pending
    assert list(db.collection("tickets").stream()) == []
    assert db.collection("messages").document("wamid.r").get().exists


def test_an_echo_hands_the_conversation_to_a_human(
    store: FirestoreStore, db: firestore.Client
) -> None:
    store.record_inbound(text_message("wamid.q"), assistant="sac")
    echo = InboundMessage(
        message_id="wamid.echo",
        wa_id="5511988887777",
        phone_number_id="100000000000001",
        type="text",
        timestamp=NOW,
        text="Oi, aqui é a Ana da loja",
        is_echo=True,
    )
    assert store.record_echo(echo) is True
    assert store.record_echo(echo) is False
    conversation = store.get_conversation(echo.conversation_id)
    assert conversation is not None and conversation.holder == Holder.HUMAN
    after = store.record_inbound(text_message("wamid.after"), assistant="sac")
    assert after.new and not after.pending
    ticket = db.collection("tickets").document(conversation.open_ticket_id or "").get()
    assert ticket.get("status") == TicketStatus.TRANSFERRED_TO_ANALYST.value


def test_only_one_of_many_concurrent_turns_gets_the_lease(store: FirestoreStore) -> None:
    owners = [f"owner-{i}" for i in range(10)]

    def turn(owner: str) -> bool:
        # A turn that lost to contention while nobody held the lease raises, and Pub/Sub
        # delivers it again; each answer it finally gets is the one that counts.
        for _attempt in range(5):
            try:
                return store.acquire_lease("c1", owner, now=NOW, seconds=60)
            except ContentionError:
                continue
        raise AssertionError(f"{owner} never got an answer")

    with ThreadPoolExecutor(max_workers=10) as pool:
        won = list(pool.map(turn, owners))
    assert sum(won) == 1
    winner = owners[won.index(True)]
    assert store.acquire_lease("c1", "late", now=NOW, seconds=60) is False
    store.release_lease("c1", "late")  # not the owner: no effect
    assert store.acquire_lease("c1", "late", now=NOW, seconds=60) is False
    store.release_lease("c1", winner)
    assert store.acquire_lease("c1", "late", now=NOW, seconds=60) is True


def test_a_lease_lost_to_contention_is_busy_only_when_someone_holds_it(
    store: FirestoreStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always_aborted(*_args: object, **_kwargs: object) -> bool:
        raise ContentionError("transaction kept aborting")

    assert store.acquire_lease("c3", "first", now=NOW, seconds=60)
    monkeypatch.setattr(store, "_run", always_aborted)
    # Someone holds it: the turn is not needed.
    assert store.acquire_lease("c3", "second", now=NOW, seconds=60) is False
    # Nobody holds it (expired): every contender may have aborted, so the turn must be
    # delivered again rather than dropped.
    with pytest.raises(ContentionError):
        store.acquire_lease("c3", "second", now=NOW + timedelta(seconds=61), seconds=60)
    with pytest.raises(ContentionError):
        store.acquire_lease("c4", "second", now=NOW, seconds=60)


def test_an_expired_lease_can_be_taken_over(store: FirestoreStore) -> None:
    assert store.acquire_lease("c2", "crashed", now=NOW, seconds=5)
    assert not store.acquire_lease("c2", "next", now=NOW + timedelta(seconds=4), seconds=5)
    assert store.acquire_lease("c2", "next", now=NOW + timedelta(seconds=6), seconds=5)


def test_a_turn_claims_its_messages_once(store: FirestoreStore, db: firestore.Client) -> None:
    store.record_inbound(text_message("wamid.t1"), assistant="sac")
    cid = "100000000000001:5511988887777"
    turn = Turn(
        turn_id="turn-x",
        conversation_id=cid,
        message_ids=["wamid.t1"],
        replies=[_outbound("turn-x:0")],
        route="knowledge_base",
        ticket_status=TicketStatus.AI_REPLIED,
    )
    answered_at = datetime.now(tz=UTC)
    assert store.claim_turn(turn, now=answered_at) is True
    assert store.pending_messages(cid) == []
    assert [t.turn_id for t in store.unpublished_turns(cid)] == ["turn-x"]
    # A retry of the same turn before it was published may publish it again...
    assert store.claim_turn(turn, now=NOW) is True
    store.mark_turn_published(turn)
    # ...but never after.
    assert store.claim_turn(turn, now=NOW) is False
    assert store.unpublished_turns(cid) == []
    other = turn.model_copy(update={"turn_id": "turn-y"})
    assert store.claim_turn(other, now=NOW) is False
    ticket = next(iter(db.collection("tickets").stream()))
    assert ticket.get("status") == TicketStatus.AI_REPLIED.value
    assert ticket.get("ai_messages") == 1
    assert store.history(cid) == [("customer", "Vocês aceitam PIX?"), ("assistant", "Olá")]


def test_a_send_is_claimed_once_and_a_transient_failure_frees_it(store: FirestoreStore) -> None:
    message = _outbound()
    assert store.claim_send(message, now=NOW, claim_seconds=60) is SendClaim.SEND
    assert store.claim_send(message, now=NOW, claim_seconds=60) is SendClaim.BUSY
    # A claim whose holder died is taken over after it expires.
    later = NOW + timedelta(seconds=61)
    assert store.claim_send(message, now=later, claim_seconds=60) is SendClaim.SEND
    store.release_send_claim(message.idempotency_key, "HTTP 500")
    assert store.claim_send(message, now=later, claim_seconds=60) is SendClaim.SEND
    store.record_send_result(
        message, SendResult(outcome=SendOutcome.SENT, wamid="wamid.out", http_status=200)
    )
    assert store.claim_send(message, now=later, claim_seconds=60) is SendClaim.DONE


def test_receipts_apply_in_any_order_even_before_the_send_is_recorded(
    store: FirestoreStore, db: firestore.Client
) -> None:
    message = _outbound("turn-r:0")
    store.claim_send(message, now=NOW, claim_seconds=60)

    def receipt(status: str) -> StatusReceipt:
        return StatusReceipt(
            message_id="wamid.early",
            status=status,
            timestamp=NOW,
            recipient_id="5511988887777",
            phone_number_id="100000000000001",
        )

    store.record_status(receipt("delivered"))  # raced ahead of the send's own record
    store.record_send_result(
        message, SendResult(outcome=SendOutcome.SENT, wamid="wamid.early", http_status=200)
    )
    store.record_status(receipt("read"))
    store.record_status(receipt("read"))  # a repeat changes nothing
    doc = db.collection("outbound_messages").document("turn-r:0").get()
    assert set(doc.get("delivery")) == {"delivered", "read"}
    assert doc.get("status") == SendOutcome.SENT.value


def test_a_dead_letter_is_recorded_with_its_reason(
    store: FirestoreStore, db: firestore.Client
) -> None:
    store.record_dead_letter("m-1", {"data_base64": "e30="}, "payload is not JSON", "intake")
    doc = db.collection("dead_letters").document("m-1").get()
    assert doc.get("reason") == "payload is not JSON"
    assert doc.get("source") == "intake"
