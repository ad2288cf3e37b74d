"""KnowledgeStore in memory: exact cosine over numpy arrays plus BM25, fused by rank.

For evaluation, benchmarks and tests; it holds everything in one process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import numpy as np

from shared.domain.knowledge import KnowledgeEntry
from shared.domain.models import KnowledgeHit
from shared.domain.text_search import Bm25, reciprocal_rank_fusion
from shared.ports import Embedder

__all__ = ["InMemoryKnowledgeBase"]


class InMemoryKnowledgeBase:
    """Every variant's vector in one matrix; search is an exact scan."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._entries: dict[str, KnowledgeEntry] = {}
        self._owners: list[str] = []
        self._models: list[str] = []
        self._vectors = np.zeros((0, embedder.dimensions), dtype=np.float32)
        self._keyword_index: dict[str, Bm25] = {}

    def upsert(self, entries: Iterable[KnowledgeEntry]) -> int:
        """Add or replace entries by id; returns how many were written."""
        written = list({e.id: e for e in entries}.values())
        now = datetime.now(tz=UTC)
        ids = {e.id for e in written}
        keep = [i for i, owner in enumerate(self._owners) if owner not in ids]
        owners = [self._owners[i] for i in keep]
        models = [self._models[i] for i in keep]
        blocks = [self._vectors[keep]]
        for entry in written:
            previous = self._entries.get(entry.id)
            created = entry.created_at or (previous.created_at if previous else None) or now
            self._entries[entry.id] = entry.model_copy(
                update={"created_at": created, "updated_at": now}
            )
            blocks.append(np.asarray(self._embedder.embed(entry.texts()), dtype=np.float32))
            owners.extend([entry.id] * len(entry.texts()))
            models.extend([self._embedder.model_id] * len(entry.texts()))
        self._vectors = np.vstack(blocks)
        self._owners, self._models = owners, models
        self._keyword_index.clear()
        return len(written)

    def export(self, namespace: str | None = None) -> Iterator[KnowledgeEntry]:
        """Every entry, ordered by id."""
        for entry_id in sorted(self._entries):
            entry = self._entries[entry_id]
            if namespace is None or entry.namespace == namespace:
                yield entry

    def purge_expired(self, now: datetime) -> int:
        """Drop expired entries; returns how many."""
        expired = {e.id for e in self._entries.values() if e.is_expired(now)}
        keep = [i for i, owner in enumerate(self._owners) if owner not in expired]
        self._vectors = self._vectors[keep]
        self._owners = [self._owners[i] for i in keep]
        self._models = [self._models[i] for i in keep]
        for entry_id in expired:
            del self._entries[entry_id]
        self._keyword_index.clear()
        return len(expired)

    def reembed(self, namespace: str | None = None) -> int:
        """Re-embed variants made by another model; returns variants updated."""
        stale = [
            entry
            for entry in self.export(namespace)
            if any(
                m != self._embedder.model_id
                for o, m in zip(self._owners, self._models, strict=True)
                if o == entry.id
            )
        ]
        self.upsert(stale)
        return sum(len(e.texts()) for e in stale)

    def search(self, namespace: str, question: str, *, limit: int = 3) -> list[KnowledgeHit]:
        """Vector and BM25 rankings fused by reciprocal rank; one hit per unexpired entry."""
        now = datetime.now(tz=UTC)
        live = {
            e.id
            for e in self._entries.values()
            if e.namespace == namespace and not e.is_expired(now)
        }
        if not live:
            return []
        query = np.asarray(self._embedder.embed([question])[0], dtype=np.float32)
        norms = np.linalg.norm(self._vectors, axis=1) * float(np.linalg.norm(query))
        similarities = (self._vectors @ query) / np.where(norms == 0, 1, norms)
        cosine: dict[str, float] = {}
        for index in np.argsort(-similarities):
            owner = self._owners[index]
            if owner in live and owner not in cosine:
                cosine[owner] = float(similarities[index])
        vector_ranking = list(cosine)[: limit * 4]
        keyword_scores = self._keywords(namespace).scores(question)
        keyword_ranking = [
            entry_id
            for entry_id, _ in sorted(keyword_scores.items(), key=lambda kv: kv[1], reverse=True)
            if entry_id in live
        ][: limit * 4]
        hits = []
        for entry_id, fused in reciprocal_rank_fusion([vector_ranking, keyword_ranking])[:limit]:
            entry = self._entries[entry_id]
            hits.append(
                KnowledgeHit(
                    entry_id=entry_id,
                    question=entry.question,
                    answer=entry.answer,
                    score=cosine[entry_id],
                    rank=fused,
                    category=entry.category,
                    keyword_score=keyword_scores.get(entry_id, 0.0),
                )
            )
        return hits

    def _keywords(self, namespace: str) -> Bm25:
        if namespace not in self._keyword_index:
            self._keyword_index[namespace] = Bm25(
                {e.id: e.keyword_text() for e in self._entries.values() if e.namespace == namespace}
            )
        return self._keyword_index[namespace]
