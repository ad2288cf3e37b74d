"""FirestoreKnowledgeBase on the emulator with the offline embedder."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

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
    saf = {e.id for e in kb.export("saf")}
    assert {h.entry_id for h in kb.search("saf", "Vocês aceitam pix?")} <= saf


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


class _OtherModel:
    """The same vectors under another model id, as after a model change."""

    dimensions = 512

    def __init__(self, inner: LocalEmbedder) -> None:
        self._inner = inner
        self.model_id = "another-model"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self._inner.embed(texts)


def test_a_shrunk_entry_loses_its_stale_variants_and_keeps_its_creation_time(
    kb: FirestoreKnowledgeBase, db: firestore.Client
) -> None:
    entry = next(e for e in read_entries(SAMPLE) if e.id == "sac-pagamento")
    created = db.collection("kb_entries").document("sac-pagamento~0").get().get("created_at")
    kb.upsert([entry.model_copy(update={"paraphrases": entry.paraphrases[:1], "answer": "Novo."})])
    variants = [
        snap.to_dict() or {}
        for snap in db.collection("kb_entries")
        .where(filter=FieldFilter("entry_id", "==", "sac-pagamento"))
        .stream()
    ]
    assert sorted(v["variant_index"] for v in variants) == [0, 1]
    assert {v["answer"] for v in variants} == {"Novo."}
    assert {v["created_at"] for v in variants} == {created}
    assert all(v["updated_at"] >= created for v in variants)


def test_the_keyword_side_finds_what_vectors_rank_low(kb: FirestoreKnowledgeBase) -> None:
    # A rare word the answer carries ("Elo") but no question does.
    hits = kb.search("sac", "cartão Elo")
    assert "sac-pagamento" in [h.entry_id for h in hits]
    assert next(h for h in hits if h.entry_id == "sac-pagamento").keyword_score > 0


def test_a_query_of_the_wrong_dimension_is_refused(db: firestore.Client) -> None:
    class Short:
        dimensions = 512
        model_id = "short"

        def embed(self, texts: Sequence[str]) -> list[list[float]]:
            return [[0.1] * 8 for _ in texts]

    with pytest.raises(ValueError, match="dimensions"):
        FirestoreKnowledgeBase(db, Short()).search("sac", "oi")


def test_purge_removes_only_expired_entries(
    kb: FirestoreKnowledgeBase, db: firestore.Client
) -> None:
    now = datetime.now(tz=UTC)
    kb.upsert(
        [
            KnowledgeEntry(
                id="old",
                question="Promoção de Páscoa?",
                answer="Acabou.",
                expires_at=now - timedelta(days=1),
            ),
            KnowledgeEntry(
                id="live",
                question="Promoção de Natal?",
                answer="Até janeiro.",
                expires_at=now + timedelta(days=30),
            ),
        ]
    )
    expired = [
        snap.id
        for snap in db.collection("kb_entries").stream()
        if snap.get("expires_at") is not None and snap.get("expires_at") <= now
    ]
    assert "old~0" in expired
    assert kb.purge_expired(now) == len(expired)
    ids = {snap.get("entry_id") for snap in db.collection("kb_entries").stream()}
    assert "old" not in ids and "live" in ids


def test_reembed_updates_only_variants_of_another_model(
    db: firestore.Client, embedder: LocalEmbedder
) -> None:
    FirestoreKnowledgeBase(db, _OtherModel(embedder)).upsert(
        [
            KnowledgeEntry(
                id="x",
                question="Tem estacionamento?",
                answer="Não.",
                paraphrases=["Onde paro o carro?"],
            )
        ]
    )
    current = FirestoreKnowledgeBase(db, embedder)
    assert current.reembed() == 2
    assert current.reembed() == 0
    models = {snap.get("embedding_model") for snap in db.collection("kb_entries").stream()}
    assert models == {embedder.model_id}
