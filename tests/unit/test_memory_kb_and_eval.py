"""The in-memory knowledge base with the real offline embedder, and `make eval`'s runner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.adapters.local_embeddings import LocalEmbedder
from shared.adapters.memory_kb import InMemoryKnowledgeBase
from shared.domain.knowledge import KnowledgeEntry, read_entries

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kb() -> InMemoryKnowledgeBase:
    base = InMemoryKnowledgeBase(LocalEmbedder())
    base.upsert(read_entries(ROOT / "samples" / "kb.jsonl"))
    return base


def test_a_paraphrase_finds_its_entry(kb: InMemoryKnowledgeBase) -> None:
    hits = kb.search("sac", "esqueci a senha do app")
    assert hits[0].entry_id == "sac-app-login"
    assert len({h.entry_id for h in hits}) == len(hits) == 3


def test_namespaces_and_expiry_filter(kb: InMemoryKnowledgeBase) -> None:
    saf = {e.id for e in kb.export("saf")}
    assert {h.entry_id for h in kb.search("saf", "aceitam pix?")} <= saf
    kb.upsert(
        [
            KnowledgeEntry(
                id="sac-old",
                question="Tem promoção de Natal?",
                answer="Sim.",
                expires_at=datetime.now(tz=UTC) - timedelta(seconds=1),
            )
        ]
    )
    assert "sac-old" not in {h.entry_id for h in kb.search("sac", "Tem promoção de Natal?")}


def test_upsert_replaces_an_entry(kb: InMemoryKnowledgeBase) -> None:
    kb.upsert([KnowledgeEntry(id="sac-new", question="Tem estacionamento?", answer="Não.")])
    kb.upsert([KnowledgeEntry(id="sac-new", question="Tem estacionamento?", answer="Sim.")])
    hits = [h for h in kb.search("sac", "Tem estacionamento?", limit=10) if h.entry_id == "sac-new"]
    assert [h.answer for h in hits] == ["Sim."]
