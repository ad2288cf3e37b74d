"""MongoKnowledgeBase on the wire: the exact commands it sends and how it reads the replies.

A MockupDB server plays Atlas: each test runs one adapter call on a thread (`go`), takes the
commands it sends (`receives`), checks them whole and answers them (`replies`/`command_err`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mockupdb import MockupDB, OpMsg, go
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from shared.adapters.mongo_kb import (
    NEVER_EXPIRES,
    KnowledgeBaseUnavailable,
    MongoKnowledgeBase,
    cosine_from_vector_score,
)
from shared.domain.knowledge import KnowledgeEntry

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
# How the dates come back out of a request (MockupDB decodes them naive, in UTC).
NOW_WIRE = NOW.replace(tzinfo=None)
NEVER_WIRE = NEVER_EXPIRES.replace(tzinfo=None)
COLLECTION = "kb_entries"
QUESTION = "Vocês aceitam pix?"


class FakeEmbedder:
    """Four dimensions: known texts get fixed vectors, the rest a vector of their own."""

    dimensions = 4

    def __init__(self, *, model_id: str = "fake-4d", size: int = 4) -> None:
        self.model_id = model_id
        self._size = size
        self.known: dict[str, list[float]] = {QUESTION: [1.0, 0.0, 0.0, 0.0]}
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text."""
        self.calls.append(list(texts))
        return [self.known.get(t) or self._spread(t) for t in texts]

    def _spread(self, text: str) -> list[float]:
        return [float((len(text) + i) % 5) / 4.0 for i in range(self._size)]


class FixedClock:
    """It is always NOW."""

    def now(self) -> datetime:
        """NOW."""
        return NOW

    def sleep(self, seconds: float) -> None:
        """No time passes."""


def plain(value: Any) -> Any:
    """A request's OrderedDicts as dicts, for readable assertion diffs."""
    if isinstance(value, OrderedDict | dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def command(request: Any) -> dict[str, Any]:
    """The command a request carried, as plain dicts."""
    doc: dict[str, Any] = plain(request.doc)
    return doc


def cursor(*docs: dict[str, Any]) -> dict[str, Any]:
    """A one-batch cursor reply."""
    return {"cursor": {"id": 0, "ns": f"atende.{COLLECTION}", "firstBatch": list(docs)}}


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server() -> Iterator[MockupDB]:
    """One mock server for the module: stopping one takes a second (its accept loop polls)."""
    # pymongo 4.20 needs maxWireVersion >= 9 (MongoDB 4.4); 21 is MongoDB 7.0, the first with
    # search index commands. No `helloOk`: the heartbeats stay `isMaster`, which this
    # autoresponder answers, instead of `hello` landing among the test's requests.
    mock = MockupDB(auto_ismaster={"maxWireVersion": 21, "minWireVersion": 0})
    mock.run()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def client(server: MockupDB) -> Iterator[MongoClient[dict[str, Any]]]:
    """A real client on the mock server; no retries, so that one error reply is one error."""
    mongo: MongoClient[dict[str, Any]] = MongoClient(
        server.uri,
        serverSelectionTimeoutMS=2000,
        connectTimeoutMS=2000,
        retryReads=False,
        retryWrites=False,
    )
    yield mongo
    mongo.close()


@pytest.fixture
def mock(server: MockupDB) -> Iterator[MockupDB]:
    """The server, left with no request pending when the test ends, however it ends."""
    yield server
    while server.got(timeout=0.01):
        server.receives().command_err(1, "left over by an earlier test")


@pytest.fixture
def embedder() -> FakeEmbedder:
    """A fresh fake embedder."""
    return FakeEmbedder()


@pytest.fixture
def kb(client: MongoClient[dict[str, Any]], embedder: FakeEmbedder) -> MongoKnowledgeBase:
    """The adapter under test, on the mock server, at NOW."""
    return MongoKnowledgeBase(client.atende[COLLECTION], embedder, clock=FixedClock())


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """What `fn` returns, or the exception it raises, returned rather than raised.

    `go()` re-raises `type(error)(str(error))`, a copy without `.code` or `__cause__`.
    """
    try:
        return fn(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - handed to the test whole
        return error


def no_more_requests(mock: MockupDB) -> bool:
    """Nothing else reached the server."""
    return not mock.got(timeout=0.2)


# ---------------------------------------------------------------------------- search

VECTOR_PIPELINE = [
    {
        "$vectorSearch": {
            "index": "kb_vector",
            "path": "embedding",
            "queryVector": [1.0, 0.0, 0.0, 0.0],
            "numCandidates": 100,
            "limit": 12,
            "filter": {
                "$and": [
                    {"namespace": {"$eq": "sac"}},
                    {"expires_at": {"$gt": NOW_WIRE}},
                ]
            },
        }
    },
    {
        "$project": {
            "_id": 0,
            "entry_id": 1,
            "question": 1,
            "answer": 1,
            "category": 1,
            "expires_at": 1,
            "score": {"$meta": "vectorSearchScore"},
        }
    },
]

TEXT_PIPELINE = [
    {
        "$search": {
            "index": "kb_text",
            "compound": {
                "must": [{"text": {"query": QUESTION, "path": ["variant", "answer", "tags"]}}],
                "filter": [
                    {"equals": {"path": "namespace", "value": "sac"}},
                    {"range": {"path": "expires_at", "gt": NOW_WIRE}},
                ],
            },
        }
    },
    {"$limit": 12},
    {
        "$project": {
            "_id": 0,
            "entry_id": 1,
            "question": 1,
            "answer": 1,
            "category": 1,
            "expires_at": 1,
            "embedding": 1,
            "score": {"$meta": "searchScore"},
        }
    },
]


def hit_doc(entry_id: str, score: float, **extra: Any) -> dict[str, Any]:
    """A variant as the projection returns it."""
    return {
        "entry_id": entry_id,
        "question": f"pergunta {entry_id}",
        "answer": f"resposta {entry_id}",
        "category": "pagamento",
        "expires_at": NEVER_WIRE,
        "score": score,
        **extra,
    }


def answer_search(
    mock: MockupDB,
    vector_docs: Sequence[dict[str, Any]],
    text_docs: Sequence[dict[str, Any]] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Answer the vector aggregation, then the text one (None: fail it); return both requests."""
    vector = mock.receives(OpMsg("aggregate", COLLECTION))
    vector.replies(cursor(*vector_docs))
    text = mock.receives(OpMsg("aggregate", COLLECTION))
    if text_docs is None:
        text.command_err(8, "$search index 'kb_text' not found", codeName="UnknownError")
    else:
        text.replies(cursor(*text_docs))
    return command(vector), command(text)


def test_search_sends_one_vector_and_one_text_aggregation(
    mock: MockupDB, kb: MongoKnowledgeBase
) -> None:
    future = go(kb.search, "sac", QUESTION)
    vector, text = answer_search(mock, [], [])

    assert vector["pipeline"] == VECTOR_PIPELINE
    assert text["pipeline"] == TEXT_PIPELINE
    assert vector["$db"] == text["$db"] == "atende"
    assert future() == []
    assert no_more_requests(mock)


def test_fusion_lets_the_text_winner_overtake_the_vector_winner(
    mock: MockupDB, kb: MongoKnowledgeBase
) -> None:
    future = go(kb.search, "sac", QUESTION)
    answer_search(
        mock,
        [
            hit_doc("sac-cartao", 0.95),
            hit_doc("sac-pix", 0.90),
            hit_doc("sac-pix", 0.85),  # a second variant of the same entry
        ],
        [
            hit_doc("sac-pix", 5.5, embedding=[0.9, 0.1, 0.0, 0.0]),
            hit_doc("sac-pix", 4.0, embedding=[0.8, 0.2, 0.0, 0.0]),
            hit_doc("sac-vale", 3.0, embedding=[0.6, 0.8, 0.0, 0.0]),
        ],
    )
    hits = future()

    # 2nd by vectors but 1st by words beats 1st by vectors alone: 1/62 + 1/61 > 1/61.
    assert [h.entry_id for h in hits] == ["sac-pix", "sac-cartao", "sac-vale"]
    pix, cartao, vale = hits
    assert pix.rank == pytest.approx(1 / 62 + 1 / 61)
    assert cartao.rank == pytest.approx(1 / 61)
    assert vale.rank == pytest.approx(1 / 62)
    # Atlas's (1 + cos) / 2 back to the cosine; words alone: the cosine of the variant found.
    assert pix.score == pytest.approx(0.80)
    assert cartao.score == pytest.approx(0.90)
    assert vale.score == pytest.approx(0.6)
    assert (pix.keyword_score, cartao.keyword_score, vale.keyword_score) == (5.5, 0.0, 3.0)
    assert pix.question == "pergunta sac-pix"
    assert pix.answer == "resposta sac-pix"
    assert pix.category == "pagamento"


def test_limit_caps_the_hits_and_sizes_the_fetch(mock: MockupDB, kb: MongoKnowledgeBase) -> None:
    future = go(kb.search, "sac", QUESTION, limit=1)
    vector, text = answer_search(
        mock,
        [hit_doc("a", 0.9), hit_doc("b", 0.8)],
        [hit_doc("b", 2.0, embedding=[1.0, 0.0, 0.0, 0.0])],
    )

    assert vector["pipeline"][0]["$vectorSearch"]["limit"] == 4
    assert vector["pipeline"][0]["$vectorSearch"]["numCandidates"] == 100
    assert text["pipeline"][1] == {"$limit": 4}
    assert [h.entry_id for h in future()] == ["b"]


def test_expired_variants_are_dropped_even_when_the_server_returns_them(
    mock: MockupDB, kb: MongoKnowledgeBase
) -> None:
    expired = (NOW - timedelta(seconds=1)).replace(tzinfo=None)
    at_now = NOW_WIRE  # expiring at this instant counts as expired
    future = go(kb.search, "sac", QUESTION)
    answer_search(
        mock,
        [
            hit_doc("promo-velha", 0.99, expires_at=expired),
            hit_doc("promo-agora", 0.98, expires_at=at_now),
            hit_doc("sac-pix", 0.90),
            hit_doc("promo-nova", 0.80, expires_at=(NOW + timedelta(days=1)).replace(tzinfo=None)),
        ],
        [hit_doc("promo-velha", 9.0, expires_at=expired, embedding=[1.0, 0.0, 0.0, 0.0])],
    )

    assert [h.entry_id for h in future()] == ["sac-pix", "promo-nova"]


def test_vector_search_failure_is_knowledge_base_unavailable(
    mock: MockupDB, kb: MongoKnowledgeBase
) -> None:
    future = go(outcome, kb.search, "sac", QUESTION)
    mock.receives(OpMsg("aggregate", COLLECTION)).command_err(
        8,
        "PlanExecutor error during aggregation :: caused by :: vector index kb_vector not found",
        codeName="UnknownError",
    )
    error = future()

    assert isinstance(error, KnowledgeBaseUnavailable)
    assert str(error) == (
        "$vectorSearch on index 'kb_vector' failed: PlanExecutor error during aggregation"
        " :: caused by :: vector index kb_vector not found"
    )
    assert error.code == 8
    assert isinstance(error.__cause__, OperationFailure)
    assert no_more_requests(mock)  # no $search after a failed $vectorSearch


def test_vector_search_connection_failure_is_knowledge_base_unavailable(
    mock: MockupDB, kb: MongoKnowledgeBase
) -> None:
    future = go(outcome, kb.search, "sac", QUESTION)
    mock.receives(OpMsg("aggregate", COLLECTION)).hangup()
    error = future()

    assert isinstance(error, KnowledgeBaseUnavailable)
    assert error.code is None
    assert no_more_requests(mock)


def test_text_search_failure_falls_back_to_vectors_with_a_warning(
    mock: MockupDB, kb: MongoKnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.adapters.mongo_kb")
    future = go(kb.search, "sac", QUESTION)
    answer_search(mock, [hit_doc("sac-pix", 0.9), hit_doc("sac-cartao", 0.7)], None)
    hits = future()

    assert [(h.entry_id, h.keyword_score) for h in hits] == [("sac-pix", 0.0), ("sac-cartao", 0.0)]
    assert hits[0].score == pytest.approx(0.8)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "kb_text" in warnings[0].getMessage()
    assert QUESTION not in warnings[0].getMessage()  # customer text stays out of the logs


def test_wrong_query_dimension_is_refused_before_any_command(
    mock: MockupDB, client: MongoClient[dict[str, Any]]
) -> None:
    short = FakeEmbedder(size=3)
    short.known.clear()
    kb = MongoKnowledgeBase(client.atende[COLLECTION], short, clock=FixedClock())
    future = go(kb.search, "sac", QUESTION)

    with pytest.raises(ValueError, match="3 dimensions, not 4"):
        future()
    assert no_more_requests(mock)


def test_blank_question_skips_the_text_side(mock: MockupDB, kb: MongoKnowledgeBase) -> None:
    future = go(kb.search, "sac", "   ")
    mock.receives(OpMsg("aggregate", COLLECTION)).replies(cursor(hit_doc("a", 0.75)))

    assert [h.score for h in future()] == [pytest.approx(0.5)]
    assert no_more_requests(mock)


def test_score_conversion_matches_atlas_formula() -> None:
    # score = (1 + cosine) / 2, so cosine = 2 * score - 1.
    assert cosine_from_vector_score(1.0) == 1.0
    assert cosine_from_vector_score(0.5) == 0.0
    assert cosine_from_vector_score(0.0) == -1.0
    assert cosine_from_vector_score(0.9) == pytest.approx(0.8)


# --------------------------------------------------------------------------- indexes

VECTOR_INDEX = {
    "name": "kb_vector",
    "type": "vectorSearch",
    "definition": {
        "fields": [
            {"type": "vector", "path": "embedding", "numDimensions": 4, "similarity": "cosine"},
            {"type": "filter", "path": "namespace"},
            {"type": "filter", "path": "expires_at"},
        ]
    },
}
TEXT_INDEX = {
    "name": "kb_text",
    "type": "search",
    "definition": {
        "mappings": {
            "dynamic": False,
            "fields": {
                "variant": {"type": "string", "analyzer": "lucene.portuguese"},
                "answer": {"type": "string", "analyzer": "lucene.portuguese"},
                "tags": {"type": "string", "analyzer": "lucene.portuguese"},
                "namespace": {"type": "token"},
                "expires_at": {"type": "date"},
            },
        }
    },
}


def answer_create_indexes(mock: MockupDB) -> dict[str, Any]:
    """Take and acknowledge the plain indexes; return the request."""
    request = mock.receives(OpMsg("createIndexes", COLLECTION))
    request.replies({"numIndexesBefore": 1, "numIndexesAfter": 3})
    return command(request)


def answer_list_search_indexes(mock: MockupDB, *existing: dict[str, Any]) -> dict[str, Any]:
    """Take `$listSearchIndexes` and answer with these indexes; return the request."""
    request = mock.receives(OpMsg("aggregate", COLLECTION))
    request.replies(cursor(*existing))
    return command(request)


def test_ensure_indexes_sends_the_plain_and_the_search_indexes(
    mock: MockupDB, kb: MongoKnowledgeBase
) -> None:
    future = go(kb.ensure_indexes)
    create = answer_create_indexes(mock)
    listing = answer_list_search_indexes(mock)
    search = mock.receives(OpMsg("createSearchIndexes", COLLECTION))
    search.replies(
        {"indexesCreated": [{"id": "1", "name": "kb_vector"}, {"id": "2", "name": "kb_text"}]}
    )
    future()

    assert create["indexes"] == [
        {"key": {"entry_id": 1, "variant_index": 1}, "name": "entry_variant", "unique": True},
        {"key": {"expires_at": 1}, "name": "expires_at_ttl", "expireAfterSeconds": 0},
    ]
    assert listing["pipeline"] == [{"$listSearchIndexes": {}}]
    # The vector index first: a server that cannot build it fails before making anything.
    assert command(search)["indexes"] == [VECTOR_INDEX, TEXT_INDEX]
    assert no_more_requests(mock)


def test_ensure_indexes_leaves_existing_search_indexes_alone(
    mock: MockupDB, kb: MongoKnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.adapters.mongo_kb")
    future = go(kb.ensure_indexes)
    answer_create_indexes(mock)
    answer_list_search_indexes(
        mock,
        {
            "name": "kb_vector",
            "status": "READY",
            "queryable": True,
            "latestDefinition": VECTOR_INDEX["definition"],
        },
        {
            "name": "kb_text",
            "status": "READY",
            "queryable": True,
            "latestDefinition": TEXT_INDEX["definition"],
        },
    )
    future()

    assert no_more_requests(mock)
    assert caplog.records == []


def test_ensure_indexes_creates_only_the_missing_one_and_warns_on_dimensions(
    mock: MockupDB, kb: MongoKnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.adapters.mongo_kb")
    old = {
        "fields": [
            {"type": "vector", "path": "embedding", "numDimensions": 768, "similarity": "cosine"}
        ]
    }
    future = go(kb.ensure_indexes)
    answer_create_indexes(mock)
    answer_list_search_indexes(mock, {"name": "kb_vector", "latestDefinition": old})
    search = mock.receives(OpMsg("createSearchIndexes", COLLECTION))
    search.replies({"indexesCreated": [{"id": "2", "name": "kb_text"}]})
    future()

    assert command(search)["indexes"] == [TEXT_INDEX]
    assert "768 dimensions" in caplog.text


def test_ensure_indexes_accepts_index_already_exists(
    mock: MockupDB, kb: MongoKnowledgeBase
) -> None:
    future = go(kb.ensure_indexes)
    mock.receives(OpMsg("createIndexes", COLLECTION)).command_err(
        68, "Index already exists", codeName="IndexAlreadyExists"
    )
    answer_list_search_indexes(mock)
    # What Atlas answers when a search index name is taken (a concurrent ensure_indexes):
    mock.receives(OpMsg("createSearchIndexes", COLLECTION)).command_err(
        68, "Duplicate Index", codeName="IndexAlreadyExists"
    )
    # ...then each index on its own, so that the one not yet made still gets made.
    one = mock.receives(OpMsg("createSearchIndexes", COLLECTION))
    one.command_err(68, "Duplicate Index", codeName="IndexAlreadyExists")
    other = mock.receives(OpMsg("createSearchIndexes", COLLECTION))
    other.replies({"indexesCreated": [{"id": "2", "name": "kb_text"}]})
    future()

    assert command(one)["indexes"] == [VECTOR_INDEX]
    assert command(other)["indexes"] == [TEXT_INDEX]


@pytest.mark.parametrize(
    ("code", "errmsg"),
    [
        (
            31082,
            "Using Atlas Search Database Commands and the $listSearchIndexes aggregation "
            "stage requires additional configuration.",
        ),
        (59, "no such command: 'createSearchIndexes'"),
        (None, "Aggregation stage '$listSearchIndexes' not supported"),
    ],
)
def test_ensure_indexes_without_atlas_search_logs_once_and_goes_on(
    mock: MockupDB,
    kb: MongoKnowledgeBase,
    caplog: pytest.LogCaptureFixture,
    code: int | None,
    errmsg: str,
) -> None:
    caplog.set_level(logging.INFO, logger="shared.adapters.mongo_kb")
    for _ in range(2):
        future = go(kb.ensure_indexes)
        answer_create_indexes(mock)
        listing = mock.receives(OpMsg("aggregate", COLLECTION))
        if code is None:
            listing.replies({"ok": 0, "errmsg": errmsg})  # nx-27017 sends no code
        else:
            listing.command_err(code, errmsg)
        future()

    assert no_more_requests(mock)
    told = [r for r in caplog.records if "no Atlas Search" in r.getMessage()]
    assert len(told) == 1


def test_ensure_indexes_propagates_other_errors(mock: MockupDB, kb: MongoKnowledgeBase) -> None:
    future = go(kb.ensure_indexes)
    answer_create_indexes(mock)
    answer_list_search_indexes(mock)
    mock.receives(OpMsg("createSearchIndexes", COLLECTION)).command_err(
        8, "Invalid index definition: numDimensions must be <= 8192", codeName="UnknownError"
    )

    with pytest.raises(OperationFailure, match="numDimensions"):
        future()


def test_ensure_indexes_propagates_a_plain_index_conflict(
    mock: MockupDB, kb: MongoKnowledgeBase
) -> None:
    future = go(kb.ensure_indexes)
    mock.receives(OpMsg("createIndexes", COLLECTION)).command_err(
        85,
        "Index already exists with a different name: expires_at_1",
        codeName="IndexOptionsConflict",
    )

    with pytest.raises(OperationFailure, match="different name"):
        future()
    assert no_more_requests(mock)


# ------------------------------------------------------------------------------ feed


def entry(**fields: Any) -> KnowledgeEntry:
    """A knowledge entry with defaults."""
    return KnowledgeEntry.model_validate(
        {
            "id": "sac-pix",
            "question": "Aceita PIX?",
            "answer": "Sim, no totem e no app.",
            "category": "pagamento",
            "tags": ["pix"],
            "source": "curated",
            "author": "equipe",
            **fields,
        }
    )


def variant_set(
    entry_id: str, index: int, text: str, vector: list[float], **extra: Any
) -> dict[str, Any]:
    """The `$set` of one variant of the entries `entry()` builds."""
    return {
        "entry_id": entry_id,
        "variant_index": index,
        "variant": text,
        "question": "Aceita PIX?",
        "paraphrases": extra.pop("paraphrases", []),
        "answer": "Sim, no totem e no app.",
        "namespace": "sac",
        "category": "pagamento",
        "tags": ["pix"],
        "source": "curated",
        "author": "equipe",
        "updated_at": NOW_WIRE,
        "expires_at": NEVER_WIRE,
        "keywords": extra.pop("keywords"),
        "embedding": vector,
        "embedding_model": "fake-4d",
        **extra,
    }


def test_upsert_sends_set_and_set_on_insert_upserts_then_drops_stale_variants(
    mock: MockupDB, kb: MongoKnowledgeBase, embedder: FakeEmbedder
) -> None:
    created = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    expires = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    entries = [
        entry(paraphrases=["Dá pra pagar com pix?"]),
        entry(id="sac-promo", created_at=created, expires_at=expires),
    ]
    future = go(kb.upsert, entries)
    update = mock.receives(OpMsg("update", COLLECTION))
    update.replies(
        {
            "n": 3,
            "nModified": 0,
            "upserted": [
                {"index": 0, "_id": "sac-pix~0"},
                {"index": 1, "_id": "sac-pix~1"},
                {"index": 2, "_id": "sac-promo~0"},
            ],
        }
    )
    delete = mock.receives(OpMsg("delete", COLLECTION))
    delete.replies({"n": 0})

    assert future() == 2
    vectors = embedder.embed(["Aceita PIX?", "Dá pra pagar com pix?", "Aceita PIX?"])
    assert embedder.calls[0] == ["Aceita PIX?", "Dá pra pagar com pix?", "Aceita PIX?"]
    request = command(update)
    assert request["ordered"] is False
    assert request["updates"] == [
        {
            "q": {"_id": "sac-pix~0"},
            "u": {
                "$set": variant_set(
                    "sac-pix",
                    0,
                    "Aceita PIX?",
                    vectors[0],
                    paraphrases=["Dá pra pagar com pix?"],
                    keywords=entries[0].keyword_text(),
                ),
                "$setOnInsert": {"created_at": NOW_WIRE},
            },
            "upsert": True,
            "multi": False,
        },
        {
            "q": {"_id": "sac-pix~1"},
            "u": {
                "$set": variant_set(
                    "sac-pix",
                    1,
                    "Dá pra pagar com pix?",
                    vectors[1],
                    paraphrases=["Dá pra pagar com pix?"],
                    keywords=entries[0].keyword_text(),
                ),
                "$setOnInsert": {"created_at": NOW_WIRE},
            },
            "upsert": True,
            "multi": False,
        },
        {
            # An explicit creation date is written as given, not only on insert.
            "q": {"_id": "sac-promo~0"},
            "u": {
                "$set": variant_set(
                    "sac-promo",
                    0,
                    "Aceita PIX?",
                    vectors[2],
                    keywords=entries[1].keyword_text(),
                    expires_at=expires.replace(tzinfo=None),
                    created_at=created.replace(tzinfo=None),
                ),
            },
            "upsert": True,
            "multi": False,
        },
    ]
    assert command(delete)["deletes"] == [
        {"q": {"entry_id": "sac-pix", "variant_index": {"$gte": 2}}, "limit": 0},
        {"q": {"entry_id": "sac-promo", "variant_index": {"$gte": 1}}, "limit": 0},
    ]


def test_purge_expired_deletes_by_date(mock: MockupDB, kb: MongoKnowledgeBase) -> None:
    future = go(kb.purge_expired, NOW)
    delete = mock.receives(OpMsg("delete", COLLECTION))
    delete.replies({"n": 3})

    assert future() == 3
    assert command(delete)["deletes"] == [{"q": {"expires_at": {"$lte": NOW_WIRE}}, "limit": 0}]


def test_reembed_updates_variants_of_other_models(
    mock: MockupDB, kb: MongoKnowledgeBase, embedder: FakeEmbedder
) -> None:
    future = go(kb.reembed, "sac")
    find = mock.receives(OpMsg("find", COLLECTION))
    find.replies(cursor({"_id": "a~0", "variant": "Aceita PIX?"}, {"_id": "b~0", "variant": "oi"}))
    update = mock.receives(OpMsg("update", COLLECTION))
    update.replies({"n": 2, "nModified": 2})

    assert future() == 2
    assert command(find)["filter"] == {"embedding_model": {"$ne": "fake-4d"}, "namespace": "sac"}
    assert command(find)["projection"] == {"variant": 1}
    assert [u["q"] for u in command(update)["updates"]] == [{"_id": "a~0"}, {"_id": "b~0"}]
    first = command(update)["updates"][0]["u"]
    assert embedder.calls == [["Aceita PIX?", "oi"]]  # one batch
    (vector,) = embedder.embed(["Aceita PIX?"])
    assert first == {"$set": {"embedding": vector, "embedding_model": "fake-4d"}}


def test_export_rebuilds_entries_and_turns_the_sentinel_back_into_none(
    mock: MockupDB, kb: MongoKnowledgeBase
) -> None:
    future = go(lambda: list(kb.export("sac")))
    find = mock.receives(OpMsg("find", COLLECTION))
    stored = {
        "_id": "sac-pix~0",
        "entry_id": "sac-pix",
        "variant_index": 0,
        "variant": "Aceita PIX?",
        "question": "Aceita PIX?",
        "paraphrases": ["pix?"],
        "answer": "Sim.",
        "namespace": "sac",
        "category": "pagamento",
        "tags": ["pix"],
        "source": "curated",
        "author": None,
        "created_at": datetime(2025, 1, 1),
        "updated_at": NOW_WIRE,
        "expires_at": NEVER_WIRE,
        "embedding_model": "fake-4d",
    }
    promo = {
        **stored,
        "_id": "promo~0",
        "entry_id": "promo",
        "expires_at": datetime(2026, 12, 1, 3),
    }
    find.replies(cursor(promo, stored))
    exported = future()

    request = command(find)
    assert request["filter"] == {"variant_index": 0, "namespace": "sac"}
    assert request["sort"] == {"entry_id": 1}
    assert request["projection"] == {"embedding": 0, "keywords": 0}
    assert [e.id for e in exported] == ["promo", "sac-pix"]
    assert exported[0].expires_at == datetime(2026, 12, 1, 3, tzinfo=UTC)
    assert exported[1].expires_at is None
    assert exported[1].created_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert exported[1].paraphrases == ["pix?"]


def test_from_uri_names_the_app_and_bounds_server_selection(
    server: MockupDB, embedder: FakeEmbedder
) -> None:
    kb = MongoKnowledgeBase.from_uri(server.uri, embedder, database="kbdb", collection="kb")
    try:
        client = kb._collection.database.client
        assert client.options.pool_options.metadata["application"] == {"name": "atende"}
        assert client.options.server_selection_timeout == 5
        assert kb._collection.full_name == "kbdb.kb"
    finally:
        kb.close()
