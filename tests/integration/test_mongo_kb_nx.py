"""MongoKnowledgeBase against nx-27017, a MongoDB wire-protocol server over SQLite.

What a real server must do and a mock cannot show: upserts that stay idempotent, the unique
index, export, purge, re-embedding and the TTL index. nx-27017 has no Atlas Search, so
`ensure_indexes()` must skip the search indexes and `search()` must fail cleanly.
Needs no emulator: these tests start their own server and touch no shared fixture.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.adapters.mongo_kb import NEVER_EXPIRES, KnowledgeBaseUnavailable, MongoKnowledgeBase
from shared.domain.knowledge import KnowledgeEntry

pytest.importorskip("nx_27017", reason="nx-27017 is a dev dependency")

Document = dict[str, Any]

# nx-27017's SQL update path stores the dates of a `$set` on an existing document as strings
# (an upsert that inserts keeps them dates); its pure-Python path keeps them dates, like
# MongoDB. Forcing that path makes re-imports comparable with Atlas. Same server otherwise.
_BOOT = (
    "import sys\n"
    "from neosqlite.collection.query_helper.utils import set_force_fallback\n"
    "set_force_fallback(True)\n"
    "from nx_27017.nx_27017 import main\n"
    "sys.argv[0] = 'nx-27017'\n"
    "main()\n"
)
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class FakeEmbedder:
    """Four deterministic dimensions per text; `model_id` tells two of them apart."""

    dimensions = 4

    def __init__(self, model_id: str = "fake-a", salt: int = 0) -> None:
        self.model_id = model_id
        self._salt = salt

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text."""
        return [
            [float((sum(map(ord, t)) * (i + 1) + self._salt) % 97) / 97.0 for i in range(4)]
            for t in texts
        ]


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime = T0) -> None:
        self.moment = now

    def now(self) -> datetime:
        """The current test time."""
        return self.moment

    def sleep(self, seconds: float) -> None:
        """Move on without waiting."""
        self.moment += timedelta(seconds=seconds)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def nx_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An nx-27017 server on a free port with a throw-away data dir, stopped at the end."""
    home = tmp_path_factory.mktemp("nx27017")
    port = _free_port()
    log = home / "nx.log"
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _BOOT,
            "--data-dir",
            str(home / "data"),
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "--log-file",
            str(log),
            "--pid-file",
            str(home / "nx.pid"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        _wait_for_ping(uri, server, log)
        yield uri
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def _wait_for_ping(uri: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"nx-27017 exited with {server.returncode}: {_tail(log)}")
        client: MongoClient[Document] = MongoClient(uri, serverSelectionTimeoutMS=300)
        try:
            client.admin.command("ping")
            return
        except PyMongoError:
            time.sleep(0.1)
        finally:
            client.close()
    pytest.fail(f"nx-27017 did not answer ping within 30 s: {_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


@pytest.fixture(scope="module")
def client(nx_uri: str) -> Iterator[MongoClient[Document]]:
    """One client for the module."""
    mongo: MongoClient[Document] = MongoClient(nx_uri, tz_aware=True)
    yield mongo
    mongo.close()


@pytest.fixture
def collection(client: MongoClient[Document]) -> Iterator[Collection[Document]]:
    """A fresh collection for each test."""
    coll = client.atende[f"kb_{uuid.uuid4().hex[:10]}"]
    yield coll
    coll.drop()


@pytest.fixture
def clock() -> Clock:
    """Test time, starting at T0."""
    return Clock()


@pytest.fixture
def kb(collection: Collection[Document], clock: Clock) -> MongoKnowledgeBase:
    """The adapter under test, with the first fake embedder."""
    return MongoKnowledgeBase(collection, FakeEmbedder(), clock=clock)


def entry(entry_id: str = "sac-pix", **fields: Any) -> KnowledgeEntry:
    """A knowledge entry with defaults."""
    return KnowledgeEntry.model_validate(
        {
            "id": entry_id,
            "question": f"Pergunta {entry_id}?",
            "paraphrases": [f"{entry_id} de outro jeito", f"{entry_id}, e aí?"],
            "answer": f"Resposta de {entry_id}.",
            "category": "pagamento",
            "tags": ["pix", entry_id],
            "source": "curated",
            "author": "equipe",
            **fields,
        }
    )


def stored(collection: Collection[Document]) -> dict[str, Document]:
    """Every stored variant by _id."""
    return {doc["_id"]: doc for doc in collection.find()}


# ---------------------------------------------------------------------------- feed


def test_importing_twice_leaves_the_same_documents(
    kb: MongoKnowledgeBase, collection: Collection[Document], clock: Clock
) -> None:
    entries = [entry("sac-pix"), entry("sac-cartao", paraphrases=[]), entry("sac-vale")]
    assert kb.upsert(entries) == 3
    first = stored(collection)
    clock.sleep(60)
    assert kb.upsert(entries) == 3
    second = stored(collection)

    assert (
        sorted(first)
        == sorted(second)
        == [
            "sac-cartao~0",
            "sac-pix~0",
            "sac-pix~1",
            "sac-pix~2",
            "sac-vale~0",
            "sac-vale~1",
            "sac-vale~2",
        ]
    )
    for doc_id, doc in second.items():
        assert doc["updated_at"] == T0 + timedelta(seconds=60)
        assert {**doc, "updated_at": None} == {**first[doc_id], "updated_at": None}
    assert second["sac-pix~1"]["variant"] == "sac-pix de outro jeito"
    assert second["sac-pix~0"]["expires_at"] == NEVER_EXPIRES
    assert second["sac-pix~0"]["embedding_model"] == "fake-a"
    assert len(second["sac-pix~0"]["embedding"]) == 4


def test_a_changed_answer_updates_and_created_at_stays(
    kb: MongoKnowledgeBase, collection: Collection[Document], clock: Clock
) -> None:
    kb.upsert([entry()])
    clock.sleep(3600)
    kb.upsert([entry(answer="Sim, aceitamos PIX.")])

    docs = stored(collection).values()
    assert {d["answer"] for d in docs} == {"Sim, aceitamos PIX."}
    assert {d["created_at"] for d in docs} == {T0}
    assert {d["updated_at"] for d in docs} == {T0 + timedelta(hours=1)}


def test_a_shrunk_paraphrase_list_removes_the_stale_variants(
    kb: MongoKnowledgeBase, collection: Collection[Document]
) -> None:
    kb.upsert([entry(paraphrases=["um", "dois", "três"]), entry("outra")])
    assert len(stored(collection)) == 4 + 3

    kb.upsert([entry(paraphrases=["dois"])])

    docs = stored(collection)
    assert sorted(k for k in docs if k.startswith("sac-pix")) == ["sac-pix~0", "sac-pix~1"]
    assert docs["sac-pix~1"]["variant"] == "dois"
    assert docs["sac-pix~0"]["paraphrases"] == ["dois"]
    assert len([k for k in docs if k.startswith("outra")]) == 3  # other entries untouched


def test_delete_removes_every_variant_of_one_entry(
    kb: MongoKnowledgeBase, collection: Collection[Document]
) -> None:
    kb.upsert([entry("sac-pix"), entry("sac-cartao")])

    assert kb.delete("sac-pix") == 3
    assert sorted(stored(collection)) == ["sac-cartao~0", "sac-cartao~1", "sac-cartao~2"]


def test_a_large_import_stays_whole_across_write_batches(
    kb: MongoKnowledgeBase, collection: Collection[Document]
) -> None:
    many = [entry(f"e{n:03d}", paraphrases=[]) for n in range(230)]

    assert kb.upsert(many) == 230
    assert collection.count_documents({}) == 230
    assert [e.id for e in kb.export()] == [e.id for e in many]


def test_the_unique_index_refuses_a_second_copy_of_a_variant(
    kb: MongoKnowledgeBase, collection: Collection[Document]
) -> None:
    kb.ensure_indexes()
    kb.upsert([entry()])

    with pytest.raises(DuplicateKeyError):
        collection.insert_one({"_id": "stray", "entry_id": "sac-pix", "variant_index": 0})


def test_export_round_trips(
    kb: MongoKnowledgeBase, client: MongoClient[Document], clock: Clock
) -> None:
    created = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
    entries = [
        entry("sac-pix"),
        entry(
            "sac-promo",
            namespace="sac",
            expires_at=datetime(2026, 12, 1, 3, 0, tzinfo=UTC),
            created_at=created,
            author=None,
            source="analyst",
            tags=[],
        ),
        entry("vendas-frete", namespace="vendas", category="entrega"),
    ]
    kb.upsert(entries)

    exported = list(kb.export())
    assert [e.id for e in exported] == ["sac-pix", "sac-promo", "vendas-frete"]
    for original, back in zip(entries, exported, strict=True):
        assert back.model_dump(exclude={"created_at", "updated_at"}) == original.model_dump(
            exclude={"created_at", "updated_at"}
        )
        assert back.updated_at == T0
    assert exported[0].created_at == T0
    assert exported[1].created_at == created
    assert exported[1].expires_at == datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert exported[0].expires_at is None
    assert [e.id for e in kb.export("vendas")] == ["vendas-frete"]

    # Importing the export elsewhere gives back the same export.
    copy = MongoKnowledgeBase(
        client.atende[f"kb_{uuid.uuid4().hex[:10]}"], FakeEmbedder(), clock=clock
    )
    try:
        copy.upsert(exported)
        assert list(copy.export()) == exported
    finally:
        copy._collection.drop()


def test_purge_expired_deletes_only_expired_variants(
    kb: MongoKnowledgeBase, collection: Collection[Document]
) -> None:
    kb.upsert(
        [
            entry("velha", expires_at=T0 - timedelta(hours=1)),  # 3 variants
            entry("agora", expires_at=T0, paraphrases=[]),  # expiring now counts
            entry("nova", expires_at=T0 + timedelta(hours=1)),
            entry("sempre"),
        ]
    )

    assert kb.purge_expired(T0) == 4
    assert [e.id for e in kb.export()] == ["nova", "sempre"]
    assert kb.purge_expired(T0) == 0
    assert len(stored(collection)) == 6


def test_reembed_moves_other_models_variants_to_the_current_one(
    collection: Collection[Document], clock: Clock
) -> None:
    old = MongoKnowledgeBase(collection, FakeEmbedder("fake-a"), clock=clock)
    old.upsert(
        [entry("sac-pix"), entry("sac-cartao", paraphrases=[]), entry("v", namespace="vendas")]
    )
    new_embedder = FakeEmbedder("fake-b", salt=13)
    new = MongoKnowledgeBase(collection, new_embedder, clock=clock)

    assert new.reembed("sac") == 4
    docs = stored(collection)
    for doc in docs.values():
        if doc["namespace"] == "sac":
            assert doc["embedding_model"] == "fake-b"
            assert doc["embedding"] == new_embedder.embed([doc["variant"]])[0]
        else:
            assert doc["embedding_model"] == "fake-a"
    assert new.reembed() == 3  # the other namespace
    assert new.reembed() == 0
    assert {d["embedding_model"] for d in stored(collection).values()} == {"fake-b"}


# ------------------------------------------------------------------------- indexes


def test_ensure_indexes_makes_the_plain_indexes_and_skips_search_ones(
    kb: MongoKnowledgeBase, collection: Collection[Document], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.adapters.mongo_kb")
    kb.ensure_indexes()
    kb.ensure_indexes()  # idempotent

    indexes = {tuple(ix["key"]): ix for ix in collection.list_indexes()}
    assert indexes[("entry_id", "variant_index")]["unique"] is True
    assert indexes[("expires_at",)]["expireAfterSeconds"] == 0
    told = [r for r in caplog.records if "no Atlas Search" in r.getMessage()]
    assert len(told) == 1
    # Nothing half-made: the vector index, sent first, failed before the text one was tried.
    assert list(collection.list_search_indexes()) == []


def test_the_ttl_index_removes_an_expired_entry(collection: Collection[Document]) -> None:
    # nx-27017 has no TTL monitor thread: it purges a collection's expired documents before
    # each read of it (find, count, aggregate, distinct), comparing SQLite datetime() values,
    # which drop the fraction of a second: a document goes once the clock is a whole second
    # past its expiry. (MongoDB's monitor runs every 60 s, so it is not tested on Atlas.)
    kb = MongoKnowledgeBase(collection, FakeEmbedder())  # the real clock: the server's TTL
    kb.ensure_indexes()
    soon = datetime.now(tz=UTC) + timedelta(seconds=1)
    kb.upsert([entry("promo", expires_at=soon), entry("sempre")])
    assert collection.count_documents({"entry_id": "promo"}) == 3

    time.sleep(max(0.0, (soon - datetime.now(tz=UTC)).total_seconds()) + 1.1)

    assert collection.count_documents({"entry_id": "promo"}) == 0
    assert collection.count_documents({"entry_id": "sempre"}) == 3  # the sentinel never expires


def test_search_on_a_server_without_vector_search_is_unavailable(kb: MongoKnowledgeBase) -> None:
    kb.upsert([entry()])

    with pytest.raises(KnowledgeBaseUnavailable, match=r"\$vectorSearch.*not supported"):
        kb.search("sac", "Pergunta sac-pix?")
