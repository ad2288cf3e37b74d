"""Knowledge-base retrieval: quality on held-out questions, and query latency at scale.

Quality: every question of `samples/kb_heldout.jsonl` (new phrasings of questions the KB
covers, plus questions it does not answer, `expect: "none"`) is ranked against the unexpired
entries of its namespace in `samples/kb.jsonl` by three rankers:

* vector: cosine between the question's `LocalEmbedder` vector and the vector of every
  question variant (the question and each paraphrase), best variant per entry;
* keyword: `Bm25` over each entry's `keyword_text()`;
* hybrid: `reciprocal_rank_fusion` (k=60) of the two rankings, each cut to its first 12
  (`limit * 4` with the agent's `limit=3`), as both knowledge stores fuse them.

It prints recall@1, recall@5 and MRR (answerable questions only), the best-cosine
distributions of answerable and unanswerable questions, the threshold that maximises the
accuracy of "answer or hand off" (answer when the best cosine reaches it and the top entry is
the expected one; handing off is right only for "none"), and the accuracy at the configured
`KB_MIN_SCORE` (`Settings().kb_min_score`), also for the agent's own rule (the highest cosine
among the hybrid top 3) and for the hybrid top entry gated by its own cosine, with a sweep of
thresholds (answered, precision of the answers, accuracy).

Speed: corpora of 1,000 and 10,000 entries synthesised from the real ones (each copy's
variants get a different context phrase, so every text has its own vector), embedded for real
in batches (throughput printed); then the query latency of `InMemoryKnowledgeBase.search` and
of `FirestoreKnowledgeBase.search` (find_nearest with a namespace pre-filter, plus the keyword
query) on a Firestore emulator that this script starts on a free port, in its own process
group, and stops at the end, also on an error or Ctrl-C. Query vectors are computed before
timing (the stores' embedder answers them from a table), so store latency excludes the
embedding, whose own latency is printed separately. The real KB's size gets a row too. In
memory every held-out question is timed; the emulator is slow (its keyword query takes a
minute or more per question at 10,000 entries), so it is timed on evenly spread samples: 40
questions for `find_nearest` alone, 10 (3 above 1,000 entries) for the whole `search`.

Usage: `.venv/bin/python bench/retrieval.py [--quick] [--search-queries N]`
(`--quick`: quality, and speed up to 1,000 entries only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.adapters.local_embeddings import LocalEmbedder
from shared.adapters.memory_kb import InMemoryKnowledgeBase
from shared.domain.knowledge import KnowledgeEntry, read_entries
from shared.domain.text_search import Bm25, reciprocal_rank_fusion
from shared.localstack.stack import temporary_env
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
KB_PATH = ROOT / "samples" / "kb.jsonl"
HELDOUT_PATH = ROOT / "samples" / "kb_heldout.jsonl"
RRF_K = 60
AGENT_LIMIT = 3
FUSION_DEPTH = AGENT_LIMIT * 4  # what InMemoryKnowledgeBase and FirestoreKnowledgeBase fuse
EMBED_BATCH = 256
WRITE_BATCH = 250  # Firestore allows 500 writes per batch; 512-d vectors keep requests small
WARMUP_QUERIES = 20
# The emulator is slow (find_nearest ~1.5 s and the keyword query 1-3 min per question at
# 10,000 entries), so Firestore is timed on evenly spread samples of the held-out questions.
NEAREST_QUERIES = 40
SEARCH_QUERIES = ((1_000, 10), (10**9, 3))  # (up to this many entries, questions timed)
EMULATOR_TIMEOUT = 120.0

Matrix = npt.NDArray[np.float32]


# ------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Case:
    """One held-out question: the entry it should find, or "none"."""

    question: str
    expect: str
    namespace: str


def load_cases(path: Path) -> list[Case]:
    """The held-out questions, in file order."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            cases.append(Case(row["question"], row["expect"], row.get("namespace", "sac")))
    return cases


def normalised(vectors: Sequence[Sequence[float]]) -> Matrix:
    """Rows scaled to unit length, so that a dot product is the cosine."""
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    result: Matrix = (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)
    return result


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100, linear interpolation); NaN for no values."""
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


# ---------------------------------------------------------------------------- quality


@dataclass
class Ranked:
    """The three rankings of one held-out question."""

    case: Case
    vector: list[str]
    keyword: list[str]
    hybrid: list[str]
    cosine: dict[str, float]

    def best(self) -> tuple[str, float]:
        """The vector ranker's top entry and its cosine ("" and -1 when nothing is live)."""
        return (self.vector[0], self.cosine[self.vector[0]]) if self.vector else ("", -1.0)

    def fused(self) -> tuple[str, float]:
        """The hybrid ranker's top entry and its cosine ("" and -1 when nothing is live)."""
        return (self.hybrid[0], self.cosine[self.hybrid[0]]) if self.hybrid else ("", -1.0)

    def agent(self) -> tuple[str, float]:
        """What the agent answers from: the highest cosine among the hybrid top 3."""
        top = self.hybrid[:AGENT_LIMIT]
        if not top:
            return "", -1.0
        entry_id = max(top, key=lambda e: self.cosine[e])
        return entry_id, self.cosine[entry_id]


class NamespaceIndex:
    """The unexpired entries of one namespace: variant vectors and a BM25 index."""

    def __init__(self, entries: Sequence[KnowledgeEntry], embedder: LocalEmbedder) -> None:
        self.owners = [e.id for e in entries for _ in e.texts()]
        texts = [t for e in entries for t in e.texts()]
        self.vectors = normalised(embedder.embed(texts)) if texts else np.zeros((0, 512), "f4")
        self.bm25 = Bm25({e.id: e.keyword_text() for e in entries})

    def rank(self, case: Case, query: Matrix) -> Ranked:
        """Vector, keyword and hybrid rankings of every entry for one question."""
        similarities = self.vectors @ query
        cosine: dict[str, float] = {}
        for index in np.argsort(-similarities, kind="stable"):
            owner = self.owners[int(index)]
            if owner not in cosine:
                cosine[owner] = float(similarities[int(index)])
        vector = list(cosine)
        scores = self.bm25.scores(case.question)
        keyword = sorted(scores, key=lambda e: (-scores[e], e))
        fused = reciprocal_rank_fusion([vector[:FUSION_DEPTH], keyword[:FUSION_DEPTH]], k=RRF_K)
        return Ranked(case, vector, keyword, [entry_id for entry_id, _ in fused], cosine)


def rank_all(
    cases: Sequence[Case], entries: Sequence[KnowledgeEntry], embedder: LocalEmbedder
) -> list[Ranked]:
    """Every case ranked against the live entries of its namespace."""
    namespaces = sorted({c.namespace for c in cases})
    indexes = {
        ns: NamespaceIndex([e for e in entries if e.namespace == ns], embedder) for ns in namespaces
    }
    queries = normalised(embedder.embed([c.question for c in cases]))
    return [indexes[c.namespace].rank(c, queries[i]) for i, c in enumerate(cases)]


@dataclass(frozen=True)
class Recall:
    """Recall@1, recall@5 and MRR of one ranker over some cases."""

    at1: float
    at5: float
    mrr: float
    n: int


def recall(rankings: Sequence[list[str]], expected: Sequence[str]) -> Recall:
    """How often the expected entry is first, in the top 5, and its mean reciprocal rank."""
    ranks = [r.index(e) + 1 if e in r else 0 for r, e in zip(rankings, expected, strict=True)]
    n = len(ranks) or 1
    return Recall(
        at1=sum(r == 1 for r in ranks) / n,
        at5=sum(1 <= r <= 5 for r in ranks) / n,
        mrr=sum(1 / r for r in ranks if r) / n,
        n=len(ranks),
    )


@dataclass(frozen=True)
class Decisions:
    """Outcomes of "answer when the score reaches t, else hand off" over the held-out set."""

    threshold: float
    right_answer: int
    wrong_answer: int
    needless_handoff: int
    right_handoff: int
    false_answer: int

    @property
    def accuracy(self) -> float:
        total = (
            self.right_answer
            + self.wrong_answer
            + self.needless_handoff
            + self.right_handoff
            + self.false_answer
        )
        return (self.right_answer + self.right_handoff) / (total or 1)


def decide(scored: Sequence[tuple[Case, str, float]], threshold: float) -> Decisions:
    """Count the outcomes of one threshold; `scored` holds (case, top entry, its score)."""
    counts: Counter[str] = Counter()
    for case, top, score in scored:
        answers = score >= threshold
        if case.expect == "none":
            counts["false_answer" if answers else "right_handoff"] += 1
        elif not answers:
            counts["needless_handoff"] += 1
        else:
            counts["right_answer" if top == case.expect else "wrong_answer"] += 1
    return Decisions(
        threshold,
        counts["right_answer"],
        counts["wrong_answer"],
        counts["needless_handoff"],
        counts["right_handoff"],
        counts["false_answer"],
    )


def best_threshold(scored: Sequence[tuple[Case, str, float]]) -> tuple[Decisions, float, float]:
    """The most accurate threshold, and the interval (low, high] of those as accurate as it.

    Accuracy only changes at observed scores, so every observed score (and one above them all)
    is tried; the answer is the midpoint of the first best interval, rounded to 0.01.
    """
    candidates = sorted({score for _, _, score in scored})
    candidates.append(candidates[-1] + 0.01 if candidates else 1.0)
    results = [decide(scored, t) for t in candidates]
    top = max(r.accuracy for r in results)
    index = next(i for i, r in enumerate(results) if r.accuracy == top)
    end = index
    while end + 1 < len(results) and results[end + 1].accuracy == top:
        end += 1
    low = candidates[index - 1] if index else candidates[index] - 0.01
    high = candidates[end]
    middle = round((low + high) / 2, 2)
    if decide(scored, middle).accuracy != top:
        middle = candidates[index]
    return decide(scored, middle), low, high


def print_decisions(label: str, d: Decisions) -> None:
    print(
        f"  {label:34} t={d.threshold:.2f}  accuracy {d.accuracy:6.1%}   right answer"
        f" {d.right_answer}, wrong answer {d.wrong_answer}, needless handoff"
        f" {d.needless_handoff}, right handoff {d.right_handoff}, false answer {d.false_answer}"
    )


def quality(
    entries: Sequence[KnowledgeEntry], cases: Sequence[Case], embedder: LocalEmbedder
) -> None:
    """Print recall, score distributions and thresholds on the held-out set."""
    now = datetime.now(tz=UTC)
    live = [e for e in entries if not e.is_expired(now)]
    expired = sorted(e.id for e in entries if e.is_expired(now))
    answerable = [c for c in cases if c.expect != "none"]
    unknown_ids = {c.expect for c in answerable} - {e.id for e in live}
    if unknown_ids:
        raise SystemExit(f"held-out questions expect missing or expired entries: {unknown_ids}")
    print("\nQUALITY  (held-out questions against samples/kb.jsonl, namespace-filtered)")
    per_ns = Counter(e.namespace for e in live)
    print(
        f"  entries          {len(entries)} ({len(live)} live: "
        + ", ".join(f"{ns} {n}" for ns, n in sorted(per_ns.items()))
        + f"; expired, never returned: {', '.join(expired) or 'none'})"
    )
    held = Counter(c.namespace for c in answerable)
    print(
        f"  held-out         {len(cases)} questions: {len(answerable)} answerable ("
        + ", ".join(f"{ns} {n}" for ns, n in sorted(held.items()))
        + f"), {len(cases) - len(answerable)} not in the KB (expect none)"
    )
    started = time.perf_counter()
    ranked = rank_all(cases, live, embedder)
    print(f"  ranked in        {time.perf_counter() - started:.1f} s")

    namespaces = sorted(held)
    print(f"\n  {'ranker':9} {'recall@1':>9} {'recall@5':>9} {'MRR':>7}   recall@1 by namespace")
    for name in ("vector", "keyword", "hybrid"):
        rows = [r for r in ranked if r.case.expect != "none"]
        overall = recall([getattr(r, name) for r in rows], [r.case.expect for r in rows])
        parts = []
        for ns in namespaces:
            sub = [r for r in rows if r.case.namespace == ns]
            part = recall([getattr(r, name) for r in sub], [r.case.expect for r in sub])
            parts.append(f"{ns} {part.at1:.1%} (n={part.n})")
        print(
            f"  {name:9} {overall.at1:9.1%} {overall.at5:9.1%} {overall.mrr:7.3f}   "
            + ", ".join(parts)
        )

    vector_scored = [(r.case, *r.best()) for r in ranked]
    right = [s for c, top, s in vector_scored if c.expect != "none" and top == c.expect]
    wrong = [s for c, top, s in vector_scored if c.expect != "none" and top != c.expect]
    none = [s for c, _, s in vector_scored if c.expect == "none"]
    print("\n  best cosine (vector ranker)       n     p10    p50    p90")
    for label, values in (
        ("answerable", right + wrong),
        ("  of which top entry right", right),
        ("  of which top entry wrong", wrong),
        ("not in the KB (none)", none),
    ):
        print(
            f"  {label:30} {len(values):4}  {percentile(values, 10):6.3f} "
            f"{percentile(values, 50):6.3f} {percentile(values, 90):6.3f}"
        )

    default = Settings().kb_min_score
    print("\n  answer-or-hand-off accuracy (answer if best cosine >= t and top entry is right;")
    print("  hand off is right only for 'none')")
    best, low, high = best_threshold(vector_scored)
    print_decisions("vector, best threshold", best)
    print(f"  {'':34} (same accuracy for any t in ({low:.3f}, {high:.3f}])")
    print_decisions("vector, KB_MIN_SCORE default", decide(vector_scored, default))
    agent_scored = [(r.case, *r.agent()) for r in ranked]
    best_agent, low_a, high_a = best_threshold(agent_scored)
    print_decisions("agent rule (hybrid top 3), best", best_agent)
    print(f"  {'':34} (same accuracy for any t in ({low_a:.3f}, {high_a:.3f}])")
    print_decisions("agent rule, KB_MIN_SCORE default", decide(agent_scored, default))
    fused_scored = [(r.case, *r.fused()) for r in ranked]
    best_fused, low_f, high_f = best_threshold(fused_scored)
    print_decisions("hybrid top 1 by its cosine, best", best_fused)
    print(f"  {'':34} (same accuracy for any t in ({low_f:.3f}, {high_f:.3f}])")
    print_decisions("hybrid top 1, KB_MIN_SCORE default", decide(fused_scored, default))

    print("\n  threshold sweep (answered: questions answered, of all; precision: right answers /")
    print("  answered; accuracy as above)")
    columns = f"{'answered':>9} {'precision':>10} {'accuracy':>10}"
    groups = ("vector ranker", "agent rule (hybrid top 3)", "hybrid top 1 by its cosine")
    print(f"  {'':5}  " + "   ".join(f"{g:^31}" for g in groups))
    print(f"  {'t':>5}  " + "   ".join(columns for _ in groups))
    for step in range(8, 16):
        t = step * 0.05
        cells = []
        for scored in (vector_scored, agent_scored, fused_scored):
            d = decide(scored, t)
            answered = d.right_answer + d.wrong_answer + d.false_answer
            precision = d.right_answer / answered if answered else float("nan")
            cells.append(f"{answered:>9} {precision:10.1%} {d.accuracy:10.1%}")
        print(f"  {t:5.2f}  " + "   ".join(cells))


# ------------------------------------------------------------------------------ speed

_CONTEXTS = (
    "na loja do bloco {b}",
    "no condomínio Residencial {name}",
    "na unidade {n} da rede",
    "no mercadinho do escritório da {company}",
    "na loja da torre {b}, {n}º andar",
    "no condomínio {name} (apto {n})",
    "aqui na loja do prédio {name}",
    "na unidade {name} {n}",
)
_NAMES = (
    "Aurora",
    "Jardins",
    "Ipê Amarelo",
    "Bela Vista",
    "Parque das Flores",
    "Vila Nova",
    "Solar",
    "Jacarandá",
    "Alto da Boa Vista",
    "Primavera",
    "Horizonte",
    "Bosque Verde",
)
_COMPANIES = ("Tecnova", "Grupo Alfa", "Ribeiro & Souza", "Logística Sul", "Banco Central Sul")


def synthesise(entries: Sequence[KnowledgeEntry], size: int, seed: int = 7) -> list[KnowledgeEntry]:
    """`size` entries: the real ones first, then copies whose texts carry a context phrase.

    Every synthesised text is new (a context is drawn again when it would repeat a text), so
    each variant gets its own vector and the embedding throughput counts real work.
    """
    rng = random.Random(seed)
    seen = {t for e in entries for t in e.texts()}

    def variant(text: str) -> str:
        while True:
            context = rng.choice(_CONTEXTS).format(
                b=rng.choice("ABCDEFGH"),
                n=rng.randint(1, 999),
                name=rng.choice(_NAMES),
                company=rng.choice(_COMPANIES),
            )
            candidate = f"{text.rstrip('?!. ')} {context}?"
            if candidate not in seen:
                seen.add(candidate)
                return candidate

    result: list[KnowledgeEntry] = list(entries[:size])
    copy = 1
    while len(result) < size:
        for entry in entries[: size - len(result)]:
            result.append(
                entry.model_copy(
                    update={
                        "id": f"{entry.id}-v{copy:04d}",
                        "question": variant(entry.question),
                        "paraphrases": [variant(p) for p in entry.paraphrases],
                    }
                )
            )
        copy += 1
    return result


class TableEmbedder:
    """Answers from vectors computed beforehand, so that timing a store excludes embedding."""

    model_id = LocalEmbedder.model_id
    dimensions = LocalEmbedder.dimensions

    def __init__(self, fallback: LocalEmbedder) -> None:
        self._fallback = fallback
        self._rows: dict[str, int] = {}
        self._matrix: Matrix = np.zeros((0, self.dimensions), dtype=np.float32)
        self.misses = 0

    def add(self, texts: Sequence[str], vectors: Matrix) -> None:
        """Remember the vectors of these texts (a text already known keeps its first vector)."""
        start = self._matrix.shape[0]
        for offset, text in enumerate(texts):
            self._rows.setdefault(text, start + offset)
        self._matrix = np.vstack([self._matrix, vectors])

    def knows(self, text: str) -> bool:
        """Whether this text's vector is in the table."""
        return text in self._rows

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Stored vectors; a text never seen is embedded for real (and counted)."""
        unseen = [t for t in texts if t not in self._rows]
        if unseen:
            self.misses += len(unseen)
            self.add(unseen, np.asarray(self._fallback.embed(unseen), dtype=np.float32))
        return [self._matrix[self._rows[t]].tolist() for t in texts]


def embed_corpus(
    texts: Sequence[str], embedder: LocalEmbedder, table: TableEmbedder
) -> tuple[int, float]:
    """Embed texts for real, in batches, into the table; returns (texts embedded, seconds)."""
    todo = list(dict.fromkeys(t for t in texts if not table.knows(t)))
    started = time.perf_counter()
    blocks = []
    for start in range(0, len(todo), EMBED_BATCH):
        batch = todo[start : start + EMBED_BATCH]
        blocks.append(np.asarray(embedder.embed(batch), dtype=np.float32))
    if todo:
        table.add(todo, np.vstack(blocks))
    return len(todo), time.perf_counter() - started


@dataclass(frozen=True)
class Latency:
    """Latencies of one kind of call, in milliseconds."""

    samples: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 95)


def spread(cases: Sequence[Case], n: int) -> list[Case]:
    """n questions evenly spread over the list (all of them when n is not smaller)."""
    if n >= len(cases):
        return list(cases)
    step = len(cases) / n
    return [cases[int(i * step)] for i in range(n)]


def time_calls(
    cases: Sequence[Case], call: Callable[[Case], object], *, warmup: Sequence[Case] = ()
) -> Latency:
    """Run the warm-up questions untimed, then time one call per question."""
    for case in warmup:
        call(case)
    samples = []
    for case in cases:
        started = time.perf_counter()
        call(case)
        samples.append((time.perf_counter() - started) * 1000)
    return Latency(samples)


def print_latency(size: int, variants: int, store: str, load: str, latency: Latency) -> None:
    print(
        f"  {size:>7,} {variants:>9,}  {store:38} {len(latency.samples):>4} {load:>8}"
        f" {latency.p50:10.2f} {latency.p95:10.2f}"
    )


# --------------------------------------------------------------------------- emulator


class FirestoreEmulator:
    """The Firestore emulator on a free port, in its own process group."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.log_dir = Path(tempfile.mkdtemp(prefix="atende-bench-retrieval-"))
        self.log = self.log_dir / "firestore-emulator.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the emulator and wait until it answers "Ok"."""
        gcloud = os.environ.get("GCLOUD", "gcloud")
        if shutil.which(gcloud) is None:
            raise SystemExit("gcloud (with the Firestore emulator) is required for the speed part")
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                [
                    gcloud,
                    "emulators",
                    "firestore",
                    "start",
                    f"--host-port={self.host}",
                    "--quiet",
                ],
                cwd=ROOT,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Own process group: gcloud forks a JVM, and stop() must reach it too.
                start_new_session=True,
            )
        deadline = time.monotonic() + EMULATOR_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Firestore emulator exited early; see {self.log}")
            try:
                with urllib.request.urlopen(f"http://{self.host}/", timeout=2) as response:
                    if response.read().strip() == b"Ok":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.25)
        raise TimeoutError(f"the Firestore emulator did not answer in time; see {self.log}")

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it is still there after 10 s."""
        if self.process is None:
            return
        pgid = self.process.pid
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.process.poll()  # reap the group leader, or it lingers as a zombie
            if not _group_alive(pgid):
                break
            time.sleep(0.1)
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.process = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def write_firestore(
    client: Any, collection: str, entries: Sequence[KnowledgeEntry], table: TableEmbedder
) -> tuple[int, float]:
    """Write every variant document in batched writes; returns (documents, seconds)."""
    from google.cloud.firestore_v1.vector import Vector

    from shared.adapters.firestore_kb import variant_documents

    now = datetime.now(tz=UTC)
    target = client.collection(collection)
    started = time.perf_counter()
    written = 0
    batch = client.batch()
    pending = 0
    for entry in entries:
        for doc in variant_documents(entry, table.embed(entry.texts()), table.model_id, now):
            doc["embedding"] = Vector(doc["embedding"])
            batch.set(target.document(f"{entry.id}~{doc['variant_index']}"), doc)
            pending += 1
            if pending == WRITE_BATCH:
                batch.commit()
                written += pending
                batch, pending = client.batch(), 0
    if pending:
        batch.commit()
        written += pending
    return written, time.perf_counter() - started


# ------------------------------------------------------------------------------ main


def speed(
    entries: Sequence[KnowledgeEntry],
    cases: Sequence[Case],
    sizes: Sequence[int],
    emulator: FirestoreEmulator,
    search_queries: int | None,
) -> None:
    """Print embedding throughput and query latency in memory and on the emulator."""
    from google.cloud import firestore

    print("\nSPEED  (query latency in ms; the query's embedding is excluded and shown apart)")
    # A fresh embedder: the quality pass cached the real entries' texts.
    embedder = LocalEmbedder(cache_size=EMBED_BATCH)
    embedder.embed(["aquecimento"])
    table = TableEmbedder(embedder)
    fresh = LocalEmbedder(cache_size=8)
    fresh.embed(["aquecimento"])
    query_embed = time_calls(cases, lambda c: fresh.embed([c.question]))
    embed_corpus([c.question for c in cases], embedder, table)
    print(
        f"  query embedding  LocalEmbedder, one question per call: p50 {query_embed.p50:.2f} ms,"
        f" p95 {query_embed.p95:.2f} ms ({len(cases)} questions)"
    )
    corpora = {size: synthesise(entries, size) for size in sizes}
    for size, corpus in corpora.items():
        texts = [t for e in corpus for t in e.texts()]
        count, seconds = embed_corpus(texts, embedder, table)
        print(
            f"  corpus {size:>6,}    {len(corpus):,} entries, {len(texts):,} variants:"
            f" embedded {count:,} new texts in {seconds:.1f} s"
            f" ({count / seconds if seconds else 0:.0f} texts/s, batches of {EMBED_BATCH})"
        )

    project = f"bench-retrieval-{uuid.uuid4().hex[:8]}"
    emulator.start()
    print(f"  Firestore emulator on {emulator.host}, one project per corpus: {project}-<entries>")
    print(
        "\n  entries  variants  store                                     n   load s"
        "     p50 ms     p95 ms"
    )
    with temporary_env({"FIRESTORE_EMULATOR_HOST": emulator.host, "GOOGLE_CLOUD_PROJECT": project}):
        for size, corpus in corpora.items():
            client: Any = firestore.Client(project=f"{project}-{size}")
            n_search = search_queries or next(n for limit, n in SEARCH_QUERIES if size <= limit)
            time_stores(size, corpus, cases, table, client, n_search)
            client.close()
    print(
        "  load s: in memory, upsert (vectors precomputed); Firestore, batched writes of"
        f" {WRITE_BATCH} variant documents.\n  Firestore search = find_nearest (namespace"
        " pre-filter) + array_contains_any keyword query + fusion;\n  p95 over fewer than 20"
        " questions is close to their maximum."
    )
    if table.misses:
        print(f"  note: {table.misses} texts were embedded during timing (table misses)")


def time_stores(
    size: int,
    corpus: Sequence[KnowledgeEntry],
    cases: Sequence[Case],
    table: TableEmbedder,
    client: Any,
    search_queries: int,
) -> None:
    """Load one corpus in memory and on the emulator, and time questions against both."""
    from shared.adapters.firestore_kb import FirestoreKnowledgeBase

    variants = sum(len(e.texts()) for e in corpus)
    memory = InMemoryKnowledgeBase(table)
    started = time.perf_counter()
    memory.upsert(corpus)
    load = time.perf_counter() - started
    latency = time_calls(
        cases,
        lambda c: memory.search(c.namespace, c.question, limit=AGENT_LIMIT),
        warmup=cases[:WARMUP_QUERIES],
    )
    print_latency(size, variants, "in memory: search (hybrid)", f"{load:.1f}", latency)

    docs, seconds = write_firestore(client, "kb_entries", corpus, table)
    store = FirestoreKnowledgeBase(client, table, collection="kb_entries")
    vectors = {c.question: table.embed([c.question])[0] for c in cases}
    sample = spread(cases, NEAREST_QUERIES)
    nearest = time_calls(
        sample,
        lambda c: store._vector_side(c.namespace, vectors[c.question], AGENT_LIMIT * 4),
        warmup=cases[-3:],
    )
    print_latency(size, docs, "Firestore emulator: find_nearest only", f"{seconds:.1f}", nearest)
    sample = spread(cases[1:], search_queries)
    latency = time_calls(
        sample,
        lambda c: store.search(c.namespace, c.question, limit=AGENT_LIMIT),
        warmup=cases[-1:],
    )
    print_latency(size, docs, "Firestore emulator: search (hybrid)", "", latency)
    print(
        f"  {'':18} Firestore writes: {docs:,} documents in {seconds:.1f} s"
        f" ({docs / seconds if seconds else 0:.0f} documents/s)"
    )


def header(args: argparse.Namespace) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print("Atende knowledge-base retrieval benchmark")
    print(f"  date             {datetime.now(tz=UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(f"  python           {platform.python_version()} ({sys.executable})")
    print(f"  machine          {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"  load average     {load} (1, 5, 15 min, before the start)")
    print(f"  embedder         {LocalEmbedder.model_id}, {LocalEmbedder.dimensions} dimensions")
    mode = "quick (quality; speed up to 1,000 entries)" if args.quick else "full"
    print(f"  mode             {mode}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="quality and the 1,000 corpus only")
    parser.add_argument(
        "--search-queries",
        type=int,
        default=None,
        help="questions timed through the Firestore hybrid search per corpus"
        " (default 10 up to 1,000 entries, 3 above: the emulator's keyword query is slow)",
    )
    parser.add_argument("--kb", type=Path, default=KB_PATH)
    parser.add_argument("--heldout", type=Path, default=HELDOUT_PATH)
    return parser.parse_args(argv)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run quality, then speed; the emulator is stopped whatever happens."""
    args = parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupt)
    header(args)
    entries = list(read_entries(args.kb))
    cases = load_cases(args.heldout)
    embedder = LocalEmbedder(cache_size=1024)
    emulator = FirestoreEmulator()
    status = 1
    try:
        quality(entries, cases, embedder)
        sizes = (len(entries), 1_000) if args.quick else (len(entries), 1_000, 10_000)
        speed(entries, cases, sizes, emulator, args.search_queries)
        status = 0
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the emulator", file=sys.stderr)
        status = 130
    finally:
        emulator.stop()
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\nload average at the end: {load} (1, 5, 15 min)")
        if status == 0:
            shutil.rmtree(emulator.log_dir, ignore_errors=True)
        else:
            print(f"emulator log kept in {emulator.log_dir}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
