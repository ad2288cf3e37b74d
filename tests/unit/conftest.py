"""Shared fakes for the unit tests: fixture files, a recording publisher, a scripted KB.

Test modules reach these through fixtures (no imports between test files).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from shared.domain.models import KnowledgeHit  # noqa: E402

# The repo sits at /work/main, the shared fixtures at /work/shared.
WHATSAPP_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "whatsapp"
FIXTURE_SETS = ("pywa", "pywa_classic")


@dataclass(frozen=True)
class Published:
    """One publish the fake saw."""

    topic: str
    data: bytes
    ordering_key: str
    attributes: dict[str, str]

    def json(self) -> Any:
        """The payload parsed as JSON."""
        return json.loads(self.data)


class RecordingPublisher:
    """A Publisher that records `(topic, data, ordering_key, attributes)` and can fail."""

    def __init__(self) -> None:
        self.published: list[Published] = []
        self.fail_with: BaseException | None = None
        self.calls = 0

    def publish(
        self,
        topic: str,
        data: bytes,
        *,
        ordering_key: str = "",
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        """Record one message, or raise what the test asked for (recording nothing)."""
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append(Published(topic, data, ordering_key, dict(attributes or {})))
        return str(len(self.published))

    def publish_many(
        self, topic: str, items: Sequence[tuple[bytes, str, Mapping[str, str]]]
    ) -> list[str]:
        """All or nothing, like the real adapter's contract."""
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        ids = []
        for data, ordering_key, attributes in items:
            self.published.append(Published(topic, data, ordering_key, dict(attributes)))
            ids.append(str(len(self.published)))
        return ids

    def as_tuples(self) -> list[tuple[str, bytes, str, dict[str, str]]]:
        """What was published, as plain tuples."""
        return [(p.topic, p.data, p.ordering_key, p.attributes) for p in self.published]


@dataclass
class FakeKnowledgeBase:
    """A KnowledgeBase whose hits are scripted per query (or a default for any query)."""

    default: list[KnowledgeHit] = field(default_factory=list)
    by_query: dict[str, list[KnowledgeHit]] = field(default_factory=dict)
    searches: list[tuple[str, str, int]] = field(default_factory=list)

    def search(self, namespace: str, question: str, *, limit: int = 3) -> list[KnowledgeHit]:
        """The scripted hits for this question; records the call."""
        self.searches.append((namespace, question, limit))
        return list(self.by_query.get(question, self.default))[:limit]

    @property
    def queries(self) -> list[str]:
        """The questions searched, in order."""
        return [q for _, q, _ in self.searches]


def hit(entry_id: str, answer: str, score: float, question: str = "") -> KnowledgeHit:
    """A knowledge hit with less typing."""
    return KnowledgeHit(
        entry_id=entry_id, question=question or f"pergunta {entry_id}", answer=answer, score=score
    )


@pytest.fixture
def whatsapp_fixtures() -> Path:
    """The folder of real webhook payloads; skips the test when it is absent."""
    if not WHATSAPP_FIXTURES.is_dir():
        pytest.skip(f"WhatsApp fixtures not found at {WHATSAPP_FIXTURES}")
    return WHATSAPP_FIXTURES


@pytest.fixture
def fixture_files(whatsapp_fixtures: Path) -> list[Path]:
    """Every pywa and pywa_classic payload file."""
    files = sorted(p for s in FIXTURE_SETS for p in (whatsapp_fixtures / s).glob("*.json"))
    if not files:
        pytest.skip("no WhatsApp fixture files")
    return files


@pytest.fixture
def load_fixture(whatsapp_fixtures: Path) -> Callable[[str], bytes]:
    """The raw bytes of a fixture, by `set/name.json` or `name.json` (pywa set)."""

    def load(name: str) -> bytes:
        path = whatsapp_fixtures / (name if "/" in name else f"pywa/{name}")
        if not path.is_file():
            pytest.skip(f"fixture {name} not found")
        return path.read_bytes()

    return load


@pytest.fixture
def publisher() -> RecordingPublisher:
    """A fresh recording publisher."""
    return RecordingPublisher()


@pytest.fixture
def make_kb() -> Callable[..., FakeKnowledgeBase]:
    """Build a fake KB: `make_kb(default=[...], by_query={...})`."""
    return FakeKnowledgeBase


@pytest.fixture
def make_hit() -> Callable[..., KnowledgeHit]:
    """Build a KnowledgeHit: `make_hit(entry_id, answer, score)`."""
    return hit


@pytest.fixture
def repo_root() -> Path:
    """The repository root (the folder with shared/ and functions/)."""
    return REPO_ROOT


@pytest.fixture
def no_google_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials, no metadata server, no proxy between the clients and 127.0.0.1."""
    import google.auth

    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "atende-test")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    # Should anything still ask the metadata server, it asks a closed local port.
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")

    def _no_adc(*args: object, **kwargs: object) -> None:
        raise AssertionError("a unit test looked for Application Default Credentials")

    monkeypatch.setattr(google.auth, "default", _no_adc)
