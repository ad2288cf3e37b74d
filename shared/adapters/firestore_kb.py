"""KnowledgeBase on Firestore vector search (`find_nearest` with a namespace pre-filter)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.base_vector_query import DistanceMeasure
from google.cloud.firestore_v1.vector import Vector

from shared.domain.knowledge import KnowledgeEntry
from shared.domain.models import KnowledgeHit
from shared.ports import Embedder

__all__ = ["FirestoreKnowledgeBase"]

logger = logging.getLogger(__name__)


class FirestoreKnowledgeBase:
    """One document per question variant (the question and each paraphrase) of an entry."""

    def __init__(
        self, client: firestore.Client, embedder: Embedder, *, collection: str = "kb_entries"
    ) -> None:
        self._db = client
        self._embedder = embedder
        self._collection = collection

    def upsert(self, entries: Iterable[KnowledgeEntry]) -> int:
        """Write entries by id (idempotent); returns how many entries were written."""
        count = 0
        for entry in entries:
            variants = [entry.question, *entry.paraphrases]
            vectors = self._embedder.embed(variants)
            batch = self._db.batch()
            for index, (text, vector) in enumerate(zip(variants, vectors, strict=True)):
                batch.set(
                    self._db.collection(self._collection).document(f"{entry.id}~{index}"),
                    {
                        "entry_id": entry.id,
                        "namespace": entry.namespace,
                        "question": entry.question,
                        "variant": text,
                        "answer": entry.answer,
                        "category": entry.category,
                        "expires_at": entry.expires_at,
                        "embedding": Vector(vector),
                        "embedding_model": self._embedder.model_id,
                    },
                )
            batch.commit()
            count += 1
        return count

    def export(self, namespace: str | None = None) -> Iterator[KnowledgeEntry]:
        """Every entry, rebuilt from its variant documents, ordered by id."""
        query: Any = self._db.collection(self._collection)
        if namespace:
            query = query.where(filter=FieldFilter("namespace", "==", namespace))
        docs: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for snap in query.stream():
            index = int(snap.id.rsplit("~", 1)[1])
            docs.setdefault(snap.get("entry_id"), []).append((index, snap.to_dict() or {}))
        for entry_id in sorted(docs):
            variants = [d for _, d in sorted(docs[entry_id], key=lambda pair: pair[0])]
            head = variants[0]
            yield KnowledgeEntry(
                id=entry_id,
                question=head["question"],
                answer=head["answer"],
                namespace=head["namespace"],
                category=head.get("category") or "geral",
                paraphrases=[d["variant"] for d in variants[1:]],
                expires_at=head.get("expires_at"),
            )

    def search(self, namespace: str, question: str, *, limit: int = 3) -> list[KnowledgeHit]:
        """The closest unexpired entries, best first, one hit per entry."""
        (vector,) = self._embedder.embed([question])
        if len(vector) != self._embedder.dimensions:
            # Firestore answers a wrong-dimension query with silence, not an error.
            raise ValueError(f"query vector has {len(vector)} dimensions")
        query: Any = (
            self._db.collection(self._collection)
            .where(filter=FieldFilter("namespace", "==", namespace))
            .find_nearest(
                vector_field="embedding",
                query_vector=Vector(vector),
                distance_measure=DistanceMeasure.COSINE,
                limit=limit * 3,
                distance_result_field="distance",
            )
        )
        now = datetime.now(tz=UTC)
        hits: dict[str, KnowledgeHit] = {}
        for snap in query.get():
            doc: dict[str, Any] = snap.to_dict() or {}
            expires = doc.get("expires_at")
            if expires is not None and expires <= now:
                continue
            hit = KnowledgeHit(
                entry_id=doc["entry_id"],
                question=doc["question"],
                answer=doc["answer"],
                score=1.0 - float(doc["distance"]),
            )
            if hit.entry_id not in hits or hits[hit.entry_id].score < hit.score:
                hits[hit.entry_id] = hit
        return sorted(hits.values(), key=lambda h: h.score, reverse=True)[:limit]
