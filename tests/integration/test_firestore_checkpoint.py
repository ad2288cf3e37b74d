"""FirestoreCheckpointSaver against the Firestore emulator, alone and under a real StateGraph."""

from __future__ import annotations

import asyncio
import operator
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypedDict

import pytest
from google.cloud import firestore
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, CheckpointMetadata, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import ERROR
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel

from shared.adapters.firestore_checkpoint import (
    CHECKPOINTS_SUBCOLLECTION,
    WRITES_SUBCOLLECTION,
    CheckpointTooLargeError,
    FirestoreCheckpointSaver,
    checkpoint_saver_from_settings,
)
from shared.observability import pseudonym
from shared.settings import Settings

COLLECTION = "agent_checkpoints"
# Conversation ids are `{phone_number_id}:{wa_id}`; some callers keep the `+` of an E.164 number.
THREAD = "100000000000001:+5511988887777"


# --------------------------------------------------------------------------------- helpers


def _saver(db: firestore.Client, **kwargs: Any) -> FirestoreCheckpointSaver:
    return FirestoreCheckpointSaver(db, collection=COLLECTION, **kwargs)


def _cold_saver(project: str, **kwargs: Any) -> FirestoreCheckpointSaver:
    """A saver on a new client, as a freshly started Cloud Functions instance builds it."""
    return _saver(firestore.Client(project=project), **kwargs)


def _config(thread_id: str = THREAD, ns: str = "", checkpoint_id: str | None = None) -> Any:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def _checkpoint(values: dict[str, Any] | None = None) -> Checkpoint:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid6(clock_seq=0))
    checkpoint["channel_values"] = dict(values or {})
    checkpoint["channel_versions"] = dict.fromkeys(checkpoint["channel_values"], "1")
    return checkpoint


def _put_chain(
    saver: FirestoreCheckpointSaver,
    count: int,
    *,
    thread_id: str = THREAD,
    ns: str = "",
    source: str = "loop",
) -> list[Any]:
    """`count` checkpoints, each the child of the previous one; returns their configs."""
    configs = []
    parent = _config(thread_id, ns)
    for step in range(count):
        metadata: CheckpointMetadata = {"source": source, "step": step}  # type: ignore[typeddict-item]
        parent = saver.put(parent, _checkpoint({"step": step}), metadata, {})
        configs.append(parent)
    return configs


def _all_docs(db: firestore.Client) -> list[Any]:
    """Every document the saver wrote: parent documents and both subcollections."""
    docs = list(db.collection(COLLECTION).stream())
    for name in (CHECKPOINTS_SUBCOLLECTION, WRITES_SUBCOLLECTION):
        docs.extend(db.collection_group(name).stream())
    return docs


# --------------------------------------------------------------------------------- the API


def test_put_then_get_round_trips_the_checkpoint_and_metadata(db: firestore.Client) -> None:
    saver = _saver(db)
    assert saver.get_tuple(_config()) is None
    checkpoint = _checkpoint({"question": "Vocês aceitam PIX?", "count": 2})
    metadata: CheckpointMetadata = {"source": "input", "step": -1, "parents": {}}
    returned = saver.put(
        {"configurable": {"thread_id": THREAD, "checkpoint_ns": "", "assistant": "sac"}},
        checkpoint,
        metadata,
        {},
    )
    assert returned == _config(checkpoint_id=checkpoint["id"])

    found = saver.get_tuple(_config())
    assert found is not None
    assert found.config == returned
    assert found.checkpoint == checkpoint
    # Like langgraph's savers, plain configurable values join the metadata.
    assert found.metadata == {**metadata, "assistant": "sac"}
    assert found.parent_config is None
    assert found.pending_writes == []


def test_get_by_id_returns_that_checkpoint_with_its_parent(db: firestore.Client) -> None:
    saver = _saver(db)
    first, second, third = _put_chain(saver, 3)

    latest = saver.get_tuple(_config())
    assert latest is not None
    assert latest.config == third
    assert latest.parent_config == second

    exact = saver.get_tuple(second)
    assert exact is not None
    assert exact.checkpoint["channel_values"] == {"step": 1}
    assert exact.config == second
    assert exact.parent_config == first
    assert saver.get(first) is not None
    assert saver.get_tuple(_config(checkpoint_id=str(uuid6()))) is None
    assert saver.get_tuple(_config(thread_id="someone-else")) is None


def test_list_is_newest_first_with_limit_before_and_filter(db: firestore.Client) -> None:
    saver = _saver(db)
    configs = _put_chain(saver, 5)
    input_config = saver.put(
        configs[-1], _checkpoint({"step": 5}), {"source": "input", "step": 5}, {}
    )
    ids = [c["configurable"]["checkpoint_id"] for c in [*configs, input_config]]

    listed = [t.config["configurable"]["checkpoint_id"] for t in saver.list(_config())]
    assert listed == ids[::-1]
    limited = [t.config["configurable"]["checkpoint_id"] for t in saver.list(_config(), limit=2)]
    assert limited == ids[::-1][:2]
    before = [
        t.config["configurable"]["checkpoint_id"]
        for t in saver.list(_config(), before=configs[2], limit=10)
    ]
    assert before == [ids[1], ids[0]]
    loops = list(saver.list(_config(), filter={"source": "loop"}, limit=3))
    assert [t.metadata["step"] for t in loops] == [4, 3, 2]
    assert [t.metadata["step"] for t in saver.list(_config(), filter={"source": "input"})] == [5]
    assert list(saver.list(_config(), filter={"source": "fork"})) == []
    assert list(saver.list(_config(), limit=0)) == []
    exact = list(saver.list(configs[1]))
    assert [t.config for t in exact] == [configs[1]]


def test_list_without_a_config_spans_threads_and_without_ns_spans_namespaces(
    db: firestore.Client,
) -> None:
    saver = _saver(db)
    _put_chain(saver, 2, thread_id="a")
    _put_chain(saver, 1, thread_id="b")
    _put_chain(saver, 2, thread_id="a", ns="ask:1")
    everything = list(saver.list(None))
    assert Counter(t.config["configurable"]["thread_id"] for t in everything) == {"a": 4, "b": 1}
    assert len(list(saver.list(None, limit=3))) == 3
    thread_a = list(saver.list({"configurable": {"thread_id": "a"}}))
    assert Counter(t.config["configurable"]["checkpoint_ns"] for t in thread_a) == {
        "": 2,
        "ask:1": 2,
    }
    only_root = list(saver.list(_config("a", "")))
    assert {t.config["configurable"]["checkpoint_ns"] for t in only_root} == {""}


def test_put_writes_come_back_as_pending_writes_and_retries_do_not_duplicate(
    db: firestore.Client,
) -> None:
    saver = _saver(db)
    (config,) = _put_chain(saver, 1)
    saver.put_writes(config, [("answer", "Sim, PIX."), ("route", "answer")], "task-b", "~b")
    saver.put_writes(config, [("question", "PIX?")], "task-a", "~a")
    # A retried task: the regular writes keep their first value, no duplicate appears.
    saver.put_writes(config, [("answer", "changed"), ("route", "handoff")], "task-b", "~b")
    found = saver.get_tuple(config)
    assert found is not None
    assert found.pending_writes == [
        ("task-a", "question", "PIX?"),
        ("task-b", "answer", "Sim, PIX."),
        ("task-b", "route", "answer"),
    ]
    # Special channels (errors, interrupts) overwrite, as in InMemorySaver.
    saver.put_writes(config, [(ERROR, "first failure")], "task-c", "~c")
    saver.put_writes(config, [(ERROR, "second failure")], "task-c", "~c")
    found = saver.get_tuple(config)
    assert found is not None
    assert found.pending_writes is not None
    assert [w for w in found.pending_writes if w[0] == "task-c"] == [
        ("task-c", ERROR, "second failure")
    ]
    assert len(found.pending_writes) == 4
    # Writes belong to their checkpoint only.
    (child,) = [saver.put(config, _checkpoint(), {"source": "loop", "step": 1}, {})]
    latest = saver.get_tuple(_config())
    assert latest is not None
    assert latest.config == child
    assert latest.pending_writes == []


def test_keep_last_prunes_older_checkpoints_and_their_writes(db: firestore.Client) -> None:
    saver = _saver(db, keep_last=3)
    configs = []
    parent = _config()
    for step in range(6):
        parent = saver.put(parent, _checkpoint({"step": step}), {"source": "loop"}, {})
        saver.put_writes(parent, [("value", step)], f"task-{step}")
        configs.append(parent)
    # Another namespace is pruned on its own.
    _put_chain(saver, 2, ns="sub:1")

    kept = [t.config for t in saver.list(_config(ns=""))]
    assert kept == configs[:2:-1]
    assert saver.get_tuple(configs[2]) is None
    thread = db.collection(COLLECTION).document(THREAD)
    assert len(list(thread.collection(CHECKPOINTS_SUBCOLLECTION).stream())) == 3 + 2
    writes = [d.to_dict() or {} for d in thread.collection(WRITES_SUBCOLLECTION).stream()]
    assert sorted(w["idx"] for w in writes) == [0, 0, 0]
    assert sorted(w["checkpoint_id"] for w in writes) == sorted(
        c["configurable"]["checkpoint_id"] for c in configs[3:]
    )
    oldest_kept = saver.get_tuple(configs[3])
    assert oldest_kept is not None
    assert oldest_kept.pending_writes == [("task-3", "value", 3)]
    assert len(list(saver.list(_config(ns="sub:1")))) == 2


def test_every_document_expires_after_the_ttl(db: firestore.Client) -> None:
    saver = _saver(db, ttl=timedelta(days=7))
    before = datetime.now(tz=UTC)
    (config,) = _put_chain(saver, 1)
    saver.put_writes(config, [("value", 1), (ERROR, "boom")], "task")
    after = datetime.now(tz=UTC)
    docs = _all_docs(db)
    assert len(docs) == 1 + 1 + 2
    for doc in docs:
        expires_at = doc.get("expires_at")
        assert isinstance(expires_at, datetime)
        assert before + timedelta(days=7) - timedelta(seconds=1) <= expires_at
        assert expires_at <= after + timedelta(days=7) + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("thread_id", "ns"),
    [
        ("100000000000001:+5511988887777", ""),
        ("a/b|c%2F", "parent:task-1|child:task-2"),
        ("__reserved__", "a|b"),
        ("..", "a"),
    ],
)
def test_thread_ids_and_namespaces_with_special_characters_stay_apart(
    db: firestore.Client, thread_id: str, ns: str
) -> None:
    saver = _saver(db)
    (mine,) = _put_chain(saver, 1, thread_id=thread_id, ns=ns)
    saver.put_writes(mine, [("value", "mine")], "task|1")
    # Namespaces that share a prefix with it, and a look-alike thread, stay separate.
    _put_chain(saver, 2, thread_id=thread_id, ns=ns + "|x")
    _put_chain(saver, 2, thread_id=thread_id, ns=ns + "x")
    _put_chain(saver, 2, thread_id=thread_id + "/", ns=ns)

    found = saver.get_tuple(_config(thread_id, ns))
    assert found is not None
    assert found.config == mine
    assert found.pending_writes == [("task|1", "value", "mine")]
    assert [t.config for t in saver.list(_config(thread_id, ns))] == [mine]
    saver.delete_thread(thread_id)
    assert saver.get_tuple(_config(thread_id, ns)) is None
    assert len(list(saver.list(_config(thread_id + "/", ns)))) == 2


def test_delete_thread_removes_every_document_of_that_thread_only(db: firestore.Client) -> None:
    saver = _saver(db)
    for ns in ("", "sub:1"):
        for config in _put_chain(saver, 3, ns=ns):
            saver.put_writes(config, [("value", 1), (ERROR, "x")], "task")
    _put_chain(saver, 1, thread_id="other")

    saver.delete_thread(THREAD)

    assert saver.get_tuple(_config()) is None
    assert list(saver.list({"configurable": {"thread_id": THREAD}})) == []
    remaining = _all_docs(db)
    assert {doc.get("thread_id") for doc in remaining} == {"other"}
    saver.delete_thread("never-seen")


def test_a_checkpoint_over_the_document_limit_is_refused_clearly(db: firestore.Client) -> None:
    saver = _saver(db)
    huge = _checkpoint({"blob": "x" * 1_000_000})
    with pytest.raises(CheckpointTooLargeError) as raised:
        saver.put(_config(), huge, {"source": "loop", "step": 0}, {})
    message = str(raised.value)
    assert pseudonym(THREAD) in message
    assert "5511988887777" not in message
    (config,) = _put_chain(saver, 1)
    with pytest.raises(CheckpointTooLargeError):
        saver.put_writes(config, [("blob", b"x" * 1_000_000)], "task")
    assert _all_docs(db) and saver.get_tuple(_config()) == saver.get_tuple(config)


def test_the_async_methods_give_the_same_answers(db: firestore.Client) -> None:
    saver = _saver(db)

    async def scenario() -> None:
        config = await saver.aput(_config(), _checkpoint({"a": 1}), {"source": "loop"}, {})
        await saver.aput_writes(config, [("a", 2)], "task")
        found = await saver.aget_tuple(_config())
        assert found is not None
        assert found.checkpoint["channel_values"] == {"a": 1}
        assert found.pending_writes == [("task", "a", 2)]
        assert [t.config async for t in saver.alist(_config(), limit=5)] == [config]
        await saver.adelete_thread(THREAD)
        assert await saver.aget_tuple(_config()) is None

    asyncio.run(scenario())


def test_the_builder_reads_collection_and_ttl_from_settings(db: firestore.Client) -> None:
    settings = Settings(checkpoints_collection="ckpt_from_settings", checkpoint_ttl_days=2)
    saver = checkpoint_saver_from_settings(db, settings)
    saver.put(_config(), _checkpoint(), {"source": "input", "step": -1}, {})
    parent = db.collection("ckpt_from_settings").document(THREAD).get()
    assert parent.exists
    expires_in = parent.get("expires_at") - datetime.now(tz=UTC)
    assert timedelta(days=2) - timedelta(minutes=1) < expires_in <= timedelta(days=2)


# --------------------------------------------------------------------------------- graphs


class Draft(BaseModel):
    """A pydantic value in the state, as the agents keep their drafts."""

    text: str
    score: float
    at: datetime


class State(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]
    draft: Draft
    seen_at: datetime


def _graph(
    saver: FirestoreCheckpointSaver | InMemorySaver,
    calls: Counter[str],
    *,
    fail_second_once: bool = False,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Two nodes: `understand` then `answer`, counting their runs."""

    def understand(state: State) -> State:
        calls["understand"] += 1
        return {"messages": [f"understood {len(state.get('messages', []))}"]}

    def answer(state: State) -> State:
        calls["answer"] += 1
        if fail_second_once and calls["answer"] == 1:
            raise RuntimeError("the model timed out")
        at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        return {
            "messages": ["answered"],
            "draft": Draft(text="Sim, PIX.", score=0.9, at=at),
            "seen_at": at,
        }

    builder = StateGraph(State)
    builder.add_node("understand", understand)
    builder.add_node("answer", answer)
    builder.add_edge(START, "understand")
    builder.add_edge("understand", "answer")
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=saver)


def _thread(thread_id: str = THREAD) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


def test_a_cold_instance_continues_the_conversation(
    db: firestore.Client, emulator_project: str
) -> None:
    calls: Counter[str] = Counter()
    first = _graph(_saver(db), calls)
    first.invoke({"messages": ["Oi"]}, _thread())

    cold = _graph(_cold_saver(emulator_project), calls)
    assert cold.get_state(_thread()).values["messages"] == ["Oi", "understood 1", "answered"]
    result = cold.invoke({"messages": ["Aceitam PIX?"]}, _thread())
    assert result["messages"] == [
        "Oi",
        "understood 1",
        "answered",
        "Aceitam PIX?",
        "understood 4",
        "answered",
    ]
    # Pydantic models and datetimes in the state come back as themselves.
    assert result["draft"] == Draft(
        text="Sim, PIX.", score=0.9, at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    state = _graph(_cold_saver(emulator_project), calls).get_state(_thread())
    assert isinstance(state.values["draft"], Draft)
    assert state.values["seen_at"] == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert state.values["seen_at"].tzinfo is not None


def test_a_crashed_turn_resumes_at_the_failed_node_without_rerunning_the_first(
    db: firestore.Client, emulator_project: str
) -> None:
    calls: Counter[str] = Counter()
    crashing = _graph(_saver(db), calls, fail_second_once=True)
    with pytest.raises(RuntimeError, match="timed out"):
        crashing.invoke({"messages": ["Aceitam PIX?"]}, _thread())
    assert calls == {"understand": 1, "answer": 1}

    cold = _graph(_cold_saver(emulator_project), calls, fail_second_once=True)
    interrupted = cold.get_state(_thread())
    assert interrupted.next == ("answer",)
    assert interrupted.values["messages"] == ["Aceitam PIX?", "understood 1"]

    result = cold.invoke(None, _thread())
    assert result["messages"] == ["Aceitam PIX?", "understood 1", "answered"]
    assert calls == {"understand": 1, "answer": 2}
    assert cold.get_state(_thread()).next == ()


def test_a_strict_serializer_restores_only_what_its_allowlist_names(
    db: firestore.Client, emulator_project: str
) -> None:
    """Hardening: strict msgpack plus the state's own types, as compile() adds them when
    LANGGRAPH_STRICT_MSGPACK is set (through `with_allowlist`, which copies the saver)."""
    strict = JsonPlusSerializer(allowed_msgpack_modules=None)
    calls: Counter[str] = Counter()
    _graph(_saver(db, serde=strict), calls).invoke({"messages": ["Oi"]}, _thread())

    blocked = _graph(_cold_saver(emulator_project, serde=strict), calls)
    assert not isinstance(blocked.get_state(_thread()).values["draft"], Draft)
    allowed = _cold_saver(emulator_project, serde=strict).with_allowlist(
        [(Draft.__module__, Draft.__name__)]
    )
    assert isinstance(allowed, FirestoreCheckpointSaver)
    restored = _graph(allowed, calls).get_state(_thread()).values
    assert isinstance(restored["draft"], Draft)
    assert restored["seen_at"] == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_state_history_matches_langgraphs_in_memory_saver(db: firestore.Client) -> None:
    """The same turns through both savers leave the same history."""

    def history(saver: FirestoreCheckpointSaver | InMemorySaver) -> list[Any]:
        graph = _graph(saver, Counter())
        graph.invoke({"messages": ["Oi"]}, _thread())
        graph.invoke({"messages": ["PIX?"]}, _thread())
        graph.update_state(_thread(), {"messages": ["analyst note"]})
        return [
            (s.values, s.next, s.metadata and {k: s.metadata.get(k) for k in ("source", "step")})
            for s in graph.get_state_history(_thread())
        ]

    assert history(_saver(db)) == history(InMemorySaver())
