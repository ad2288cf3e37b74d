"""The published prompts of each assistant, cached per instance for a short time.

A turn must not pay a Firestore read for its prompts, yet a publish in the console should
reach every running instance quickly: each assistant's PromptSet is kept for `ttl_seconds`
(60 by default), so a publish is live everywhere within a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from shared.agents.prompts import default_prompt_set
from shared.domain.prompts import PromptSet
from shared.ports import PromptStore

__all__ = ["PublishedPrompts"]

logger = logging.getLogger(__name__)


class PublishedPrompts:
    """`prompts(assistant)`: the published PromptSet, or the built-in one when none is."""

    def __init__(
        self,
        store: PromptStore,
        *,
        ttl_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._now = monotonic
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, PromptSet]] = {}

    def __call__(self, assistant: str) -> PromptSet:
        now = self._now()
        with self._lock:
            hit = self._cached.get(assistant)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        try:
            version = self._store.published(assistant)
            prompts = version.prompt_set() if version else default_prompt_set(assistant)
        except Exception:
            # A store outage must not stop the turn: the last known texts (or the built-in
            # ones) answer, and the next call tries the store again.
            logger.exception("published prompts of %s not read; using the last known", assistant)
            return hit[1] if hit is not None else default_prompt_set(assistant)
        with self._lock:
            self._cached[assistant] = (now, prompts)
        return prompts
