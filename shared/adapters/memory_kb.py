"""KnowledgeBase in memory (exact cosine over numpy arrays), for evaluation and tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np

from shared.domain.knowledge import KnowledgeEntry
from shared.domain.models import KnowledgeHit
from shared.ports import Embedder

__all__ = ["InMemoryKnowledgeBase"]


class InMemoryKnowledgeBase:
    """Holds every variant's vector; search is an exact scan, fine up to a few thousand."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._entries: dict[str, KnowledgeEntry] = {}
        self._owners: list[str] = []
        self._vectors = np.zeros((0, embedder.dimensions), dtype=np.float32)

    def upsert(self, entries: Iterable[KnowledgeEntry]) -> int:
        """Add or replace entries by id; returns how many were written."""
        written = [*entries]
        for entry in written:
            self._entries[entry.id] = entry
        keep = [i for i, owner in enumerate(self._owners) if owner not in {e.id for e in written}]
        owners = [self._owners[i] for i in keep]
        blocks = [self._vectors[keep]]
        for entry in written:
            variants = [entry.question, *entry.paraphrases]
            blocks.append(np.asarray(self._embedder.embed(variants), dtype=np.float32))
            owners.extend([entry.id] * len(variants))
        self._vectors = np.vstack(blocks)
        self._owners = owners
        return len(written)

    def search(self, namespace: str, question: str, *, limit: int = 3) -> list[KnowledgeHit]:
        """The closest unexpired entries of a namespace, best first."""
        if not self._owners:
            return []
        query = np.asarray(self._embedder.embed([question])[0], dtype=np.float32)
        norms = np.linalg.norm(self._vectors, axis=1) * float(np.linalg.norm(query))
        scores = (self._vectors @ query) / np.where(norms == 0, 1, norms)
        now = datetime.now(tz=UTC)
        best: dict[str, float] = {}
        for index in np.argsort(-scores):
            entry = self._entries[self._owners[index]]
            if entry.namespace != namespace or entry.id in best:
                continue
            if entry.expires_at is not None and entry.expires_at <= now:
                continue
            best[entry.id] = float(scores[index])
            if len(best) == limit:
                break
        return [
            KnowledgeHit(
                entry_id=entry_id,
                question=self._entries[entry_id].question,
                answer=self._entries[entry_id].answer,
                score=score,
            )
            for entry_id, score in best.items()
        ]
