"""MongoKnowledgeBase on a real Atlas (or Atlas Local) deployment; skipped without MONGODB_URI.

    MONGODB_URI=... .venv/bin/python -m pytest tests/integration/test_mongo_kb_atlas.py

Each run imports the sample knowledge base into a collection of its own (in the database
MONGODB_TEST_DATABASE, default `atende_test`), waits for Atlas to build the search indexes
and drops the collection, with its search indexes, at the end.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

from shared.adapters.local_embeddings import LocalEmbedder
from shared.adapters.mongo_kb import MongoKnowledgeBase
from shared.domain.knowledge import KnowledgeEntry, read_entries
from shared.domain.models import KnowledgeHit

URI = os.environ.get("MONGODB_URI", "")
pytestmark = pytest.mark.skipif(
    not URI, reason="set MONGODB_URI to an Atlas or Atlas Local deployment to run these"
)

SAMPLE_KB = Path(__file__).resolve().parents[2] / "samples" / "kb.jsonl"
# Atlas builds a small index in well under a minute; a shared tier may queue it for longer.
INDEX_WAIT_SECONDS = float(os.environ.get("MONGODB_INDEX_WAIT_SECONDS", "300"))
# mongot follows the oplog: a write reaches the search indexes a moment after it is acked.
SYNC_WAIT_SECONDS = 60.0

Document = dict[str, Any]
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], seconds: float) -> T:
    """Poll `probe` until it returns something truthy, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {seconds:.0f} s waiting for {what}")
        time.sleep(2)


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    """The production embedder (512 dimensions)."""
    return LocalEmbedder()


@pytest.fixture(scope="module")
def collection() -> Iterator[Collection[Document]]:
    """A collection of this run's own, dropped (search indexes too) at the end."""
    client: MongoClient[Document] = MongoClient(
        URI, appname="atende-tests", serverSelectionTimeoutMS=20_000, tz_aware=True
    )
    database = os.environ.get("MONGODB_TEST_DATABASE", "atende_test")
    coll = client[database][f"kb_it_{uuid.uuid4().hex[:12]}"]
    try:
        yield coll
    finally:
        coll.drop()
        client.close()


@pytest.fixture(scope="module")
def entries() -> list[KnowledgeEntry]:
    """The repository's sample knowledge base."""
    return list(read_entries(SAMPLE_KB))


@pytest.fixture(scope="module")
def kb(
    collection: Collection[Document], embedder: LocalEmbedder, entries: list[KnowledgeEntry]
) -> MongoKnowledgeBase:
    """The samples imported, with the search indexes built and queryable."""
    store = MongoKnowledgeBase(collection, embedder)
    store.ensure_indexes()
    assert store.upsert(entries) == len(entries)

    def queryable() -> bool:
        ready = {ix["name"] for ix in collection.list_search_indexes() if ix.get("queryable")}
        return {"kb_vector", "kb_text"} <= ready

    wait_for("kb_vector and kb_text to be queryable", queryable, INDEX_WAIT_SECONDS)
    wait_for(
        "the samples to reach the search indexes",
        lambda: store.search("sac", "Quais formas de pagamento vocês aceitam?"),
        SYNC_WAIT_SECONDS,
    )
    return store


def test_ensure_indexes_runs_again_without_error(kb: MongoKnowledgeBase) -> None:
    kb.ensure_indexes()


def test_pix_question_finds_sac_pagamento_first(
    kb: MongoKnowledgeBase, embedder: LocalEmbedder, entries: list[KnowledgeEntry]
) -> None:
    question = "Vocês aceitam pix?"
    hits = kb.search("sac", question)

    assert hits, "no hit at all"
    assert hits[0].entry_id == "sac-pagamento", [h.entry_id for h in hits]
    assert len(hits) <= 3
    assert len({h.entry_id for h in hits}) == len(hits)
    assert hits[0].keyword_score > 0, "the $search side did not contribute"
    # The reported score is the plain cosine of the closest variant: Atlas's vectorSearchScore
    # (1 + cos) / 2 converted back, comparable with the Firestore adapter's threshold.
    pagamento = next(e for e in entries if e.id == "sac-pagamento")
    (query,) = embedder.embed([question])
    best = max(_cosine(query, v) for v in embedder.embed(pagamento.texts()))
    assert hits[0].score == pytest.approx(best, abs=1e-3)


def test_other_namespaces_stay_out(kb: MongoKnowledgeBase, entries: list[KnowledgeEntry]) -> None:
    sac = {e.id for e in entries if e.namespace == "sac"}
    hits = kb.search("sac", "Como pago o boleto atrasado?", limit=5)

    assert {h.entry_id for h in hits} <= sac


def test_an_expired_entry_is_never_returned(
    kb: MongoKnowledgeBase, entries: list[KnowledgeEntry]
) -> None:
    now = datetime.now(tz=UTC)
    expired = {e.id for e in entries if e.is_expired(now)}
    for question in ("Qual o cupom da Black Friday?", "promoção de volta às aulas"):
        assert not {h.entry_id for h in kb.search("sac", question, limit=5)} & expired

    # One that is live now and expires in a moment: found before, never after, whether or
    # not the TTL monitor (every 60 s) has deleted it yet.
    expires = datetime.now(tz=UTC) + timedelta(seconds=30)
    flash = KnowledgeEntry(
        id="it-relampago",
        namespace="sac",
        question="Como funciona a promoção relâmpago do abacaxi?",
        answer="Abacaxi pela metade do preço por 30 segundos.",
        tags=["abacaxi", "relâmpago"],
        expires_at=expires,
    )
    kb.upsert([flash])
    question = "promoção relâmpago do abacaxi"

    def found() -> list[KnowledgeHit]:
        return [h for h in kb.search("sac", question) if h.entry_id == flash.id]

    wait_for("the new entry to be searchable", found, 25)
    time.sleep(max(0.0, (expires - datetime.now(tz=UTC)).total_seconds()) + 0.5)
    assert found() == []


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))
