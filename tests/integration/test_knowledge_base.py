"""FirestoreKnowledgeBase on the emulator with the offline embedder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.cloud import firestore

from shared.adapters.firestore_kb import FirestoreKnowledgeBase
from shared.adapters.local_embeddings import LocalEmbedder
from shared.domain.knowledge import KnowledgeEntry, read_entries

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "kb.jsonl"


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture
def kb(db: firestore.Client, embedder: LocalEmbedder) -> FirestoreKnowledgeBase:
    base = FirestoreKnowledgeBase(db, embedder)
    base.upsert(read_entries(SAMPLE))
    return base


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("Vocês aceitam pix?", "sac-pagamento"),
        ("fui cobrado duas vezes no cartão", "sac-reembolso"),
        ("esqueci a senha do aplicativo", "sac-app-login"),
        ("como pego a nota fiscal?", "sac-nota-fiscal"),
        ("a loja abre de madrugada?", "sac-horario"),
    ],
)
def test_portuguese_paraphrases_find_their_entry(
    kb: FirestoreKnowledgeBase, question: str, entry: str
) -> None:
    hits = kb.search("sac", question)
    assert hits[0].entry_id == entry
    assert hits[0].score >= 0.42, hits


def test_an_unrelated_question_scores_below_the_threshold(kb: FirestoreKnowledgeBase) -> None:
    hits = kb.search("sac", "qual o preço da coca-cola de 2 litros?")
    assert hits[0].score < 0.42, hits


def test_namespaces_do_not_leak(kb: FirestoreKnowledgeBase) -> None:
    assert {h.entry_id for h in kb.search("saf", "Vocês aceitam pix?")} <= {
        "saf-reposicao",
        "saf-repasse",
    }


def test_expired_entries_are_never_returned(
    kb: FirestoreKnowledgeBase,
) -> None:
    kb.upsert(
        [
            KnowledgeEntry(
                id="sac-promo",
                question="Tem promoção de Natal?",
                answer="Sim, 10% em panetones.",
                expires_at=datetime.now(tz=UTC) - timedelta(minutes=1),
            )
        ]
    )
    assert "sac-promo" not in {h.entry_id for h in kb.search("sac", "Tem promoção de Natal?")}


def test_import_is_idempotent_and_export_round_trips(
    kb: FirestoreKnowledgeBase, db: firestore.Client
) -> None:
    before = len(list(db.collection("kb_entries").stream()))
    kb.upsert(read_entries(SAMPLE))
    assert len(list(db.collection("kb_entries").stream())) == before
    exported = {e.id: e for e in kb.export()}
    original = {e.id: e for e in read_entries(SAMPLE)}
    assert exported.keys() == original.keys()
    assert exported["sac-pagamento"].paraphrases == original["sac-pagamento"].paraphrases
    assert exported["sac-pagamento"].answer == original["sac-pagamento"].answer
