"""Pub/Sub publisher: ordered, low-latency, confirmed before it returns."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from google.cloud import pubsub_v1  # type: ignore[attr-defined]

__all__ = ["PubSubPublisher", "PublishFailed"]

logger = logging.getLogger(__name__)


class PublishFailed(RuntimeError):
    """At least one message was not confirmed by Pub/Sub."""


class PubSubPublisher:
    """Publishes to topics of one project; the emulator is picked up from PUBSUB_EMULATOR_HOST."""

    def __init__(self, project: str, *, timeout_seconds: float = 30.0) -> None:
        self._project = project
        self._timeout = timeout_seconds
        self._client = pubsub_v1.PublisherClient(
            # Callers wait for the confirmation, so batching only adds latency.
            batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.001, max_messages=100),
            publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
        )
        self._paths: dict[str, str] = {}

    def _path(self, topic: str) -> str:
        if topic not in self._paths:
            self._paths[topic] = self._client.topic_path(self._project, topic)
        return self._paths[topic]

    def publish(
        self,
        topic: str,
        data: bytes,
        *,
        ordering_key: str = "",
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        """Publish one message and return its id once confirmed."""
        return self.publish_many(topic, [(data, ordering_key, attributes or {})])[0]

    def publish_many(
        self, topic: str, items: Sequence[tuple[bytes, str, Mapping[str, str]]]
    ) -> list[str]:
        """Publish every message, wait for all confirmations, raise PublishFailed on any error."""
        path = self._path(topic)
        futures: list[tuple[str, Future[Any]]] = [
            (key, self._client.publish(path, data, ordering_key=key, **dict(attrs)))
            for data, key, attrs in items
        ]
        ids: list[str] = []
        errors: list[BaseException] = []
        for key, future in futures:
            try:
                ids.append(str(future.result(timeout=self._timeout)))
            except Exception as error:  # noqa: BLE001 - every failure is reported below
                errors.append(error)
                if key:
                    # An ordering key stays paused after a failure until resumed.
                    self._client.resume_publish(path, key)
        if errors:
            logger.error("publish to %s failed for %d of %d", topic, len(errors), len(items))
            raise PublishFailed(f"{len(errors)} publish(es) to {topic} failed: {errors[0]!r}")
        return ids
