"""KnowledgeStore on MongoDB Atlas: `$vectorSearch` plus Atlas Search `$search`, fused by rank.

One document per question variant (`_id` = `{entry_id}~{n}`: the question and each paraphrase),
each with its own vector, the entry's fields and `embedding_model`, as in the Firestore adapter.
`ensure_indexes()` creates the lookup and TTL indexes everywhere, and the vector and text search
indexes where the server has Atlas Search (Atlas, Atlas Local); a plain MongoDB or a
wire-compatible test server gets the first two and a log line.

Expiry: `$vectorSearch` pre-filters match only boolean, date, objectId, number, string and UUID
values, not null (https://www.mongodb.com/docs/atlas/atlas-vector-search/vector-search-stage/,
"Atlas Vector Search Pre-Filter"), so an entry that never expires stores `NEVER_EXPIRES`
(9999-12-31) instead of null and both searches filter on `expires_at > now`. Export turns the
sentinel back into None; the TTL index never reaches it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bson.codec_options import CodecOptions
from pymongo import ASCENDING, DeleteMany, IndexModel, MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.operations import SearchIndexModel

from shared.clock import SystemClock
from shared.domain.knowledge import KnowledgeEntry
from shared.domain.models import KnowledgeHit
from shared.domain.text_search import reciprocal_rank_fusion
from shared.ports import Clock, Embedder

__all__ = [
    "NEVER_EXPIRES",
    "KnowledgeBaseUnavailable",
    "MongoKnowledgeBase",
    "cosine_from_vector_score",
]

logger = logging.getLogger(__name__)

Document = dict[str, Any]

# Stored in place of "never expires": a date, so that the vector pre-filter can compare it.
NEVER_EXPIRES = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)

# 68 IndexAlreadyExists: what Atlas answers createSearchIndexes for a name already taken.
_INDEX_ALREADY_EXISTS = 68
# What a server without Atlas Search answers search-index commands and stages with:
# 59 CommandNotFound and 40324 "Unrecognized pipeline stage" (servers before search indexes
# existed), 115 CommandNotSupported, 31082 SearchNotEnabled (7.0+ without mongot).
_SEARCH_UNSUPPORTED_CODES = frozenset({59, 115, 31082, 40324})
# Entries written per bulk_write, and variants re-embedded per batch.
_UPSERT_CHUNK = 100
_REEMBED_CHUNK = 256
# Variant documents fetched per hit asked for: several variants of one entry often come first.
_VARIANTS_PER_HIT = 4
_MAX_CANDIDATES = 10_000
_SERVER_SELECTION_TIMEOUT_MS = 5_000
# The fields a hit is built from; the vector stays on the server unless it is needed.
_HIT_FIELDS = ("entry_id", "question", "answer", "category", "expires_at")


class KnowledgeBaseUnavailable(RuntimeError):
    """The vector search failed on the server; the turn should be retried later."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def cosine_from_vector_score(score: float) -> float:
    """Atlas's cosine `vectorSearchScore`, `(1 + cos) / 2`, back to the cosine similarity."""
    # https://www.mongodb.com/docs/atlas/atlas-vector-search/vector-search-stage/#atlas-vector-search-score
    # The answer threshold is calibrated on plain cosine (the Firestore and in-memory adapters).
    return 2.0 * score - 1.0


class MongoKnowledgeBase:
    """The knowledge base in one MongoDB collection, searched with Atlas Vector Search."""

    def __init__(
        self,
        collection: Collection[Document],
        embedder: Embedder,
        *,
        vector_index: str = "kb_vector",
        search_index: str = "kb_text",
        num_candidates: int = 100,
        clock: Clock | None = None,
    ) -> None:
        # Timezone-aware datetimes back, so that expiry compares with an aware `now`.
        self._collection: Collection[Document] = collection.with_options(
            codec_options=CodecOptions(tz_aware=True, tzinfo=UTC)
        )
        self._embedder = embedder
        self._vector_index = vector_index
        self._search_index = search_index
        self._num_candidates = num_candidates
        self._clock: Clock = clock or SystemClock()
        self._client: MongoClient[Document] | None = None
        self._told_search_unsupported = False

    @classmethod
    def from_uri(
        cls,
        uri: str,
        embedder: Embedder,
        *,
        database: str = "atende",
        collection: str = "kb_entries",
    ) -> MongoKnowledgeBase:
        """Connect with a `mongodb+srv://` (or `mongodb://`) URI; `close()` ends the client."""
        client: MongoClient[Document] = MongoClient(
            uri,
            appname="atende",
            serverSelectionTimeoutMS=_SERVER_SELECTION_TIMEOUT_MS,
            tz_aware=True,
        )
        store = cls(client[database][collection], embedder)
        store._client = client
        return store

    def close(self) -> None:
        """Close the client `from_uri` opened; a collection passed in is left to its owner."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # --------------------------------------------------------------- indexes

    def ensure_indexes(self) -> None:
        """Create the lookup, TTL, vector and text indexes; safe to run again and again."""
        try:
            self._collection.create_indexes(
                [
                    # Also the lookup by entry (a prefix) for stale variants and deletes.
                    IndexModel(
                        [("entry_id", ASCENDING), ("variant_index", ASCENDING)],
                        name="entry_variant",
                        unique=True,
                    ),
                    # The sentinel date of entries that never expire is never reached.
                    IndexModel(
                        [("expires_at", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0
                    ),
                ]
            )
        except OperationFailure as error:
            if error.code != _INDEX_ALREADY_EXISTS:
                raise
        self._ensure_search_indexes()

    def _search_index_models(self) -> list[SearchIndexModel]:
        """The vector index, then the text index, as `createSearchIndexes` receives them."""
        vector = SearchIndexModel(
            {
                "fields": [
                    {
                        "type": "vector",
                        "path": "embedding",
                        "numDimensions": self._embedder.dimensions,
                        "similarity": "cosine",
                    },
                    {"type": "filter", "path": "namespace"},
                    {"type": "filter", "path": "expires_at"},
                ]
            },
            name=self._vector_index,
            type="vectorSearch",
        )
        portuguese = {"type": "string", "analyzer": "lucene.portuguese"}
        text = SearchIndexModel(
            {
                "mappings": {
                    "dynamic": False,
                    "fields": {
                        "variant": portuguese,
                        "answer": portuguese,
                        "tags": portuguese,
                        # `equals` and `range` filters need token and date mappings.
                        "namespace": {"type": "token"},
                        "expires_at": {"type": "date"},
                    },
                }
            },
            name=self._search_index,
            type="search",
        )
        return [vector, text]

    def _ensure_search_indexes(self) -> None:
        try:
            existing = {ix["name"]: ix for ix in self._collection.list_search_indexes()}
            missing = [m for m in self._search_index_models() if m.document["name"] not in existing]
            if missing:
                self._create_search_indexes(missing)
        except OperationFailure as error:
            if not _search_unsupported(error):
                raise
            if not self._told_search_unsupported:
                self._told_search_unsupported = True
                logger.info(
                    "this server has no Atlas Search (%s); vector and text indexes skipped",
                    _server_message(error),
                )
            return
        vector = existing.get(self._vector_index)
        if vector is not None:
            self._check_dimensions(vector)

    def _create_search_indexes(self, models: list[SearchIndexModel]) -> None:
        try:
            self._collection.create_search_indexes(models)
        except OperationFailure as error:
            if error.code != _INDEX_ALREADY_EXISTS:
                raise
            # Another ensure_indexes created one of them meanwhile; the rest one at a time.
            for model in models:
                try:
                    self._collection.create_search_index(model)
                except OperationFailure as again:
                    if again.code != _INDEX_ALREADY_EXISTS:
                        raise

    def _check_dimensions(self, index: Mapping[str, Any]) -> None:
        definition = index.get("latestDefinition") or {}
        for field in definition.get("fields", []):
            if field.get("type") != "vector":
                continue
            if field.get("numDimensions") != self._embedder.dimensions:
                # Left to an operator: rebuilding the index and re-embedding take a while.
                logger.warning(
                    "vector index %s has %s dimensions but %s makes %d: drop the index, "
                    "run `atende kb ensure-indexes`, then `atende kb reembed`",
                    self._vector_index,
                    field.get("numDimensions"),
                    self._embedder.model_id,
                    self._embedder.dimensions,
                )

    # ------------------------------------------------------------------ feed

    def upsert(self, entries: Iterable[KnowledgeEntry]) -> int:
        """Write entries by id: the same id updates, never duplicates; returns entries written."""
        written = 0
        chunk: dict[str, KnowledgeEntry] = {}
        for entry in entries:
            chunk[entry.id] = entry  # a repeated id: the last one wins
            if len(chunk) >= _UPSERT_CHUNK:
                written += self._upsert_chunk(list(chunk.values()))
                chunk = {}
        if chunk:
            written += self._upsert_chunk(list(chunk.values()))
        return written

    def _upsert_chunk(self, entries: list[KnowledgeEntry]) -> int:
        texts = [text for entry in entries for text in entry.texts()]
        vectors = iter(self._embed(texts))
        now = self._clock.now()
        operations: list[UpdateOne | DeleteMany] = []
        for entry in entries:
            for index, text in enumerate(entry.texts()):
                operations.append(self._variant_update(entry, index, text, next(vectors), now))
            # Paraphrases that were removed must stop matching.
            operations.append(
                DeleteMany({"entry_id": entry.id, "variant_index": {"$gte": len(entry.texts())}})
            )
        self._collection.bulk_write(operations, ordered=False)
        return len(entries)

    def _variant_update(
        self, entry: KnowledgeEntry, index: int, text: str, vector: list[float], now: datetime
    ) -> UpdateOne:
        fields: Document = {
            "entry_id": entry.id,
            "variant_index": index,
            "variant": text,
            **entry.stored_fields(),
            "updated_at": now,
            "expires_at": _utc(entry.expires_at) if entry.expires_at else NEVER_EXPIRES,
            "keywords": entry.keyword_text(),
            "embedding": vector,
            "embedding_model": self._embedder.model_id,
        }
        update: Document = {"$set": fields}
        if entry.created_at is not None:
            # An explicit creation date (an export being restored) is the truth.
            fields["created_at"] = _utc(entry.created_at)
        else:
            # Otherwise the first write's date stays, whatever later imports say.
            update["$setOnInsert"] = {"created_at": now}
        return UpdateOne({"_id": f"{entry.id}~{index}"}, update, upsert=True)

    def export(self, namespace: str | None = None) -> Iterator[KnowledgeEntry]:
        """Every entry, rebuilt from its first variant, ordered by id."""
        query: Document = {"variant_index": 0}
        if namespace:
            query["namespace"] = namespace
        cursor = self._collection.find(query, {"embedding": 0, "keywords": 0}).sort(
            "entry_id", ASCENDING
        )
        for doc in cursor:
            expires = doc.get("expires_at")
            yield KnowledgeEntry.model_validate(
                {
                    **doc,
                    "id": doc["entry_id"],
                    "expires_at": None if _never(expires) else expires,
                }
            )

    def purge_expired(self, now: datetime) -> int:
        """Delete expired variants now rather than when the TTL monitor gets to them."""
        result = self._collection.delete_many({"expires_at": {"$lte": _utc(now)}})
        return result.deleted_count

    def delete(self, entry_id: str) -> int:
        """Remove an entry and all its variants; returns variants deleted."""
        return self._collection.delete_many({"entry_id": entry_id}).deleted_count

    def reembed(self, namespace: str | None = None) -> int:
        """Re-embed every variant made by another model; returns variants updated."""
        model_id = self._embedder.model_id
        query: Document = {"embedding_model": {"$ne": model_id}}
        if namespace:
            query["namespace"] = namespace
        # Read first: the update takes each document out of the query's result.
        stale = [
            (doc["_id"], doc["variant"]) for doc in self._collection.find(query, {"variant": 1})
        ]
        for start in range(0, len(stale), _REEMBED_CHUNK):
            chunk = stale[start : start + _REEMBED_CHUNK]
            vectors = self._embed([variant for _, variant in chunk])
            self._collection.bulk_write(
                [
                    UpdateOne(
                        {"_id": doc_id},
                        {"$set": {"embedding": vector, "embedding_model": model_id}},
                    )
                    for (doc_id, _), vector in zip(chunk, vectors, strict=True)
                ],
                ordered=False,
            )
        return len(stale)

    # ---------------------------------------------------------------- search

    def search(self, namespace: str, question: str, *, limit: int = 3) -> list[KnowledgeHit]:
        """Vector and text rankings fused by reciprocal rank; one hit per unexpired entry."""
        if limit <= 0:
            return []
        (vector,) = self._embed([question])
        now = _utc(self._clock.now())
        fetch = min(limit * _VARIANTS_PER_HIT, _MAX_CANDIDATES)
        by_vector = [d for d in self._vector_side(namespace, vector, fetch, now) if _live(d, now)]
        by_text = [d for d in self._text_side(namespace, question, fetch, now) if _live(d, now)]

        # Results come best first, so an entry's first variant carries its best score.
        docs: dict[str, Document] = {}
        cosine: dict[str, float] = {}
        for doc in by_vector:
            entry_id = doc["entry_id"]
            docs.setdefault(entry_id, doc)
            cosine.setdefault(entry_id, cosine_from_vector_score(float(doc["score"])))
        from_vectors = set(cosine)
        keyword_scores: dict[str, float] = {}
        for doc in by_text:
            entry_id = doc["entry_id"]
            docs.setdefault(entry_id, doc)
            keyword_scores.setdefault(entry_id, float(doc["score"]))
            if entry_id not in from_vectors:
                # Found by words alone: its similarity is still what the threshold reads.
                similarity = _cosine(vector, doc.get("embedding") or [])
                cosine[entry_id] = max(similarity, cosine.get(entry_id, -1.0))

        rankings = [
            _unique(d["entry_id"] for d in by_vector),
            _unique(d["entry_id"] for d in by_text),
        ]
        hits = []
        for entry_id, fused in reciprocal_rank_fusion(rankings)[:limit]:
            doc = docs[entry_id]
            hits.append(
                KnowledgeHit(
                    entry_id=entry_id,
                    question=doc["question"],
                    answer=doc["answer"],
                    score=cosine[entry_id],
                    rank=fused,
                    category=doc.get("category") or "geral",
                    keyword_score=keyword_scores.get(entry_id, 0.0),
                )
            )
        return hits

    def _vector_pipeline(
        self, namespace: str, vector: Sequence[float], fetch: int, now: datetime
    ) -> list[Document]:
        """The `$vectorSearch` aggregation: nearest variants of live entries in the namespace."""
        return [
            {
                "$vectorSearch": {
                    "index": self._vector_index,
                    "path": "embedding",
                    "queryVector": list(vector),
                    "numCandidates": min(max(self._num_candidates, fetch), _MAX_CANDIDATES),
                    "limit": fetch,
                    "filter": {
                        "$and": [
                            {"namespace": {"$eq": namespace}},
                            {"expires_at": {"$gt": _utc(now)}},
                        ]
                    },
                }
            },
            {
                "$project": {
                    "_id": 0,
                    **dict.fromkeys(_HIT_FIELDS, 1),
                    "score": {"$meta": "vectorSearchScore"},
                }
            },
        ]

    def _text_pipeline(
        self, namespace: str, question: str, fetch: int, now: datetime
    ) -> list[Document]:
        """The `$search` aggregation: Portuguese full text over variants, answers and tags."""
        return [
            {
                "$search": {
                    "index": self._search_index,
                    "compound": {
                        "must": [
                            {"text": {"query": question, "path": ["variant", "answer", "tags"]}}
                        ],
                        "filter": [
                            {"equals": {"path": "namespace", "value": namespace}},
                            {"range": {"path": "expires_at", "gt": _utc(now)}},
                        ],
                    },
                }
            },
            {"$limit": fetch},
            {
                "$project": {
                    "_id": 0,
                    **dict.fromkeys(_HIT_FIELDS, 1),
                    # For the cosine of entries the vector side did not return.
                    "embedding": 1,
                    "score": {"$meta": "searchScore"},
                }
            },
        ]

    def _vector_side(
        self, namespace: str, vector: list[float], fetch: int, now: datetime
    ) -> list[Document]:
        try:
            return list(
                self._collection.aggregate(self._vector_pipeline(namespace, vector, fetch, now))
            )
        except OperationFailure as error:
            raise KnowledgeBaseUnavailable(
                f"$vectorSearch on index {self._vector_index!r} failed: {_server_message(error)}",
                code=error.code,
            ) from error
        except PyMongoError as error:
            raise KnowledgeBaseUnavailable(f"$vectorSearch failed: {error}") from error

    def _text_side(
        self, namespace: str, question: str, fetch: int, now: datetime
    ) -> list[Document]:
        if not question.strip():
            return []
        try:
            return list(
                self._collection.aggregate(self._text_pipeline(namespace, question, fetch, now))
            )
        except PyMongoError as error:
            # The vector side answered; words only refine its ranking. (No question text in
            # the log: it may carry personal data.)
            message = _server_message(error) if isinstance(error, OperationFailure) else error
            logger.warning(
                "$search on index %s failed, answering from vectors alone: %s",
                self._search_index,
                message,
            )
            return []

    def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._embedder.embed(texts)
        for vector in vectors:
            if len(vector) != self._embedder.dimensions:
                # Atlas would reject it, or worse, a wrong-sized index would accept it.
                raise ValueError(
                    f"{self._embedder.model_id} made a vector of {len(vector)} dimensions, "
                    f"not {self._embedder.dimensions}"
                )
        return vectors


def _search_unsupported(error: OperationFailure) -> bool:
    # A wire-compatible test server (nx-27017) fails these with no code at all; a real
    # MongoDB always sends one, so a missing code also means "no Atlas Search here".
    return error.code is None or error.code in _SEARCH_UNSUPPORTED_CODES


def _server_message(error: OperationFailure) -> str:
    details = error.details or {}
    message = details.get("errmsg")
    return str(message) if message else str(error)


def _utc(moment: datetime) -> datetime:
    # BSON dates carry no zone; a naive datetime is taken as UTC, as pymongo itself does.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _never(moment: object) -> bool:
    return not isinstance(moment, datetime) or _utc(moment) >= NEVER_EXPIRES


def _live(doc: Mapping[str, Any], now: datetime) -> bool:
    # The TTL monitor runs once a minute at best; an expired entry must never answer.
    expires = doc.get("expires_at")
    return not isinstance(expires, datetime) or _utc(expires) > now


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))
