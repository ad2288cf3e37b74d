"""The composition root builds each adapter once per instance, even under a burst."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from shared.bootstrap import _once


def test_concurrent_first_calls_build_once() -> None:
    builds: list[int] = []
    gate = threading.Barrier(8)

    @_once
    def slow_client() -> object:
        builds.append(1)
        time.sleep(0.05)  # a client that takes a while to construct
        return object()

    def first_call(_: int) -> object:
        gate.wait()
        return slow_client()

    with ThreadPoolExecutor(max_workers=8) as pool:
        clients = list(pool.map(first_call, range(8)))
    assert len(builds) == 1
    assert all(c is clients[0] for c in clients)


def test_a_builder_may_use_another() -> None:
    @_once
    def inner() -> str:
        return "inner"

    @_once
    def outer() -> str:
        return inner() + "+outer"

    assert outer() == "inner+outer"
