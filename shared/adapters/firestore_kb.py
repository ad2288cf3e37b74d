"""KnowledgeStore on Firestore: vector search (`find_nearest`) plus a keyword side, fused.

One document per question variant (`{entry_id}~{n}`: the question and each paraphrase), each
with its own vector, the entry's fields and its keyword tokens (for `array_contains_any`).
Terraform declares the vector index (512-d, flat, pre-filter on `namespace`) and the TTL
policy on `expires_at` that removes expired entries within a day or so; search never returns
an expired entry in the meantime.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.base_vector_query import DistanceMeasure
from google.cloud.firestore_v1.vector import Vector

from shared.domain.knowledge import KnowledgeEntry
from shared.domain.models import KnowledgeHit
from shared.domain.text_search import keywords, reciprocal_rank_fusion
from shared.ports import Embedder

__all__ = ["FirestoreKnowledgeBase", "variant_documents"]

logger = logging.getLogger(__name__)

# Firestore caps array_contains_any at 30 values.
_MAX_QUERY_KEYWORDS = 30
_BATCH = 400


def variant_documents(
    entry: KnowledgeEntry, vectors: list[list[float]], model_id: str, now: datetime
) -> list[dict[str, Any]]:
    """The stored form of an entry: one document per question variant."""
    tokens = sorted(set(keywords(entry.keyword_text())))
    return [
        {
            "entry_id": entry.id,
            "variant_index": index,
            "variant": text,
            **entry.stored_fields(),
            "created_at": entry.created_at or now,
            "updated_at": now,
            "expires_at": entry.expires_at,
            "keywords": tokens,
            "embedding": vector,
            "embedding_model": model_id,
        }
        for index, (text, vector) in enumerate(zip(entry.texts(), vectors, strict=True))
    ]


class FirestoreKnowledgeBase:
    """The knowledge base in one Firestore collection."""

    def __init__(
        self, client: firestore.Client, embedder: Embedder, *, collection: str = "kb_entries"
    ) -> None:
        self._db = client
        self._embedder = embedder
        self._collection = client.collection(collection)

    # ------------------------------------------------------------------ feed

    def upsert(self, entries: Iterable[KnowledgeEntry]) -> int:
        """Write entries by id: the same id updates, never duplicates; returns entries written."""
        now = datetime.now(tz=UTC)
        unique = list({entry.id: entry for entry in entries}.values())
        # Firestore's `in` takes up to 30 values: one read and one batch per 30 entries.
        for start in range(0, len(unique), 30):
            chunk = unique[start : start + 30]
            existing: dict[str, list[Any]] = {}
            query = self._collection.where(
                filter=FieldFilter("entry_id", "in", [entry.id for entry in chunk])
            )
            for snap in query.stream():
                existing.setdefault(snap.get("entry_id"), []).append(snap)
            vectors = iter(self._embedder.embed([t for entry in chunk for t in entry.texts()]))
            batch = self._db.batch()
            for entry in chunk:
                old = existing.get(entry.id, [])
                created = min((snap.get("created_at") for snap in old), default=None)
                if entry.created_at is None and created is not None:
                    entry = entry.model_copy(update={"created_at": created})
                own = [next(vectors) for _ in entry.texts()]
                docs = variant_documents(entry, own, self._embedder.model_id, now)
                for doc in docs:
                    doc["embedding"] = Vector(doc["embedding"])
                    batch.set(self._collection.document(f"{entry.id}~{doc['variant_index']}"), doc)
                # Paraphrases that were removed must stop matching.
                for snap in old:
                    if int(snap.get("variant_index")) >= len(docs):
                        batch.delete(snap.reference)
            batch.commit()
        return len(unique)

    def export(self, namespace: str | None = None) -> Iterator[KnowledgeEntry]:
        """Every entry, rebuilt from its first variant, ordered by id."""
        query: Any = self._collection.where(filter=FieldFilter("variant_index", "==", 0))
        if namespace:
            query = query.where(filter=FieldFilter("namespace", "==", namespace))
        docs = sorted(
            (snap.to_dict() or {} for snap in query.stream()), key=lambda d: d["entry_id"]
        )
        for doc in docs:
            yield KnowledgeEntry.model_validate({**doc, "id": doc["entry_id"]})

    def purge_expired(self, now: datetime) -> int:
        """Delete expired variants now rather than when the TTL policy gets to them."""
        query = self._collection.where(filter=FieldFilter("expires_at", "<=", now))
        return self._delete_all(query)

    def delete(self, entry_id: str) -> int:
        """Remove an entry and all its variants; returns variants deleted."""
        return self._delete_all(
            self._collection.where(filter=FieldFilter("entry_id", "==", entry_id))
        )

    def reembed(self, namespace: str | None = None) -> int:
        """Re-embed every variant made by another model; returns variants updated."""
        query: Any = self._collection.where(
            filter=FieldFilter("embedding_model", "!=", self._embedder.model_id)
        )
        if namespace:
            query = query.where(filter=FieldFilter("namespace", "==", namespace))
        snaps = list(query.stream())
        updated = 0
        for start in range(0, len(snaps), _BATCH):
            chunk = snaps[start : start + _BATCH]
            vectors = self._embedder.embed([s.get("variant") for s in chunk])
            batch = self._db.batch()
            for snap, vector in zip(chunk, vectors, strict=True):
                batch.update(
                    snap.reference,
                    {"embedding": Vector(vector), "embedding_model": self._embedder.model_id},
                )
            batch.commit()
            updated += len(chunk)
        return updated

    def _delete_all(self, query: Any) -> int:
        deleted = 0
        snaps = list(query.stream())
        for start in range(0, len(snaps), _BATCH):
            batch = self._db.batch()
            for snap in snaps[start : start + _BATCH]:
                batch.delete(snap.reference)
            batch.commit()
            deleted += len(snaps[start : start + _BATCH])
        return deleted

    # ---------------------------------------------------------------- search

    def search(self, namespace: str, question: str, *, limit: int = 3) -> list[KnowledgeHit]:
        """Hybrid: vector and keyword rankings fused by reciprocal rank; one hit per entry."""
        (vector,) = self._embedder.embed([question])
        if len(vector) != self._embedder.dimensions:
            # Firestore answers a wrong-dimension query with silence, not an error.
            raise ValueError(
                f"query vector has {len(vector)} dimensions, not {self._embedder.dimensions}"
            )
        now = datetime.now(tz=UTC)
        by_vector = self._vector_side(namespace, vector, limit * 4)
        by_keyword = self._keyword_side(namespace, question, limit * 4)
        docs: dict[str, dict[str, Any]] = {}
        cosine: dict[str, float] = {}
        for doc in [*by_vector, *by_keyword]:
            if doc.get("expires_at") is not None and doc["expires_at"] <= now:
                continue
            similarity = _cosine(vector, list(doc["embedding"]))
            entry_id = doc["entry_id"]
            if similarity >= cosine.get(entry_id, -2.0):
                cosine[entry_id] = similarity
                docs[entry_id] = doc
        vector_ranking = _unique(d["entry_id"] for d in by_vector if d["entry_id"] in docs)
        keyword_ranking = _unique(d["entry_id"] for d in by_keyword if d["entry_id"] in docs)
        keyword_scores = {d["entry_id"]: d["_keyword_score"] for d in by_keyword}
        hits = []
        for entry_id, fused in reciprocal_rank_fusion([vector_ranking, keyword_ranking]):
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
        return hits[:limit]

    def _vector_side(self, namespace: str, vector: list[float], limit: int) -> list[dict[str, Any]]:
        query: Any = self._collection.where(
            filter=FieldFilter("namespace", "==", namespace)
        ).find_nearest(
            vector_field="embedding",
            query_vector=Vector(vector),
            distance_measure=DistanceMeasure.COSINE,
            limit=limit,
        )
        return [snap.to_dict() or {} for snap in query.get()]

    def _keyword_side(self, namespace: str, question: str, limit: int) -> list[dict[str, Any]]:
        terms = list(dict.fromkeys(keywords(question)))[:_MAX_QUERY_KEYWORDS]
        if not terms:
            return []
        query = (
            self._collection.where(filter=FieldFilter("namespace", "==", namespace))
            .where(filter=FieldFilter("keywords", "array_contains_any", terms))
            .limit(limit * 5)
        )
        scored = []
        for snap in query.stream():
            doc = snap.to_dict() or {}
            own = set(doc.get("keywords", []))
            # Overlap, damped by the document's length so that long answers don't win alone.
            doc["_keyword_score"] = len(own.intersection(terms)) / math.sqrt(len(own) or 1)
            scored.append(doc)
        scored.sort(key=lambda d: d["_keyword_score"], reverse=True)
        return scored[:limit]


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))
