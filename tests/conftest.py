"""Test tiers by folder, and the local stack the integration and end-to-end tests share."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.localstack.stack import SAMPLE_KB, LocalStack, StackConfig  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures" / "whatsapp"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the folder they live in."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        if "e2e" in parts:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The whole pipeline on free ports: emulators, functions and the WhatsApp simulator."""
    if shutil.which(os.environ.get("GCLOUD", "gcloud")) is None:
        pytest.fail("gcloud (with the Pub/Sub and Firestore emulators) is required")
    config = StackConfig.on_free_ports(
        quiet_period_seconds=1.0,
        max_wait_seconds=5.0,
        sample_kb=str(SAMPLE_KB),
        state_dir=str(tmp_path_factory.mktemp("stack")),
        # The billing trail's steps 10 s apart, ticked every 2 s: a whole trail in a test.
        tick_seconds=2.0,
        followup_cadence="0s,10s,20s,30s",
    )
    stack = LocalStack(config)
    stack.start(timeout=180)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def emulator_project(local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh project id on the shared emulators: a clean database and no topics."""
    for key, value in local_stack.config.emulator_env().items():
        monkeypatch.setenv(key, value)
    project = f"it-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", project)
    return project


@pytest.fixture(scope="session")
def offline() -> Any:
    """The real offline reasoner (USE v3 and the labelled route examples), loaded once."""
    from shared.adapters.local_embeddings import LocalEmbedder
    from shared.agents.offline import OfflineReasoner

    reasoner = OfflineReasoner(LocalEmbedder(), min_score=0.42)
    reasoner.warm_up()
    return reasoner
