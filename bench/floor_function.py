"""The benchmark's floor: the least an HTTP function can do to put a message on Pub/Sub.

No signature check, no parsing, no logging: a POST's raw body is published as it came to
topic FLOOR_TOPIC (default `inbound`) and the function answers 200 once Pub/Sub confirms.
The publisher client is built once per instance with the batch settings and ordering option
of `shared/adapters/pubsub.py`, and each message carries the ordering key FLOOR_ORDERING_KEY
(the sender of the benchmark's payload), as the webhook's would. A GET answers 200 without
publishing, so that the benchmark can probe readiness.

Run: `functions-framework --target floor --source bench/floor_function.py`, with
PUBSUB_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT set.
"""

from __future__ import annotations

import os
import threading

import functions_framework
from flask import Request
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

_PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "bench")
_TOPIC = os.environ.get("FLOOR_TOPIC", "inbound")
_ORDERING_KEY = os.environ.get("FLOOR_ORDERING_KEY", "")
_TIMEOUT_SECONDS = 30.0

_lock = threading.Lock()
_client: pubsub_v1.PublisherClient | None = None
_topic_path = ""


def _publisher() -> tuple[pubsub_v1.PublisherClient, str]:
    """The instance's publisher client and topic path, built on first use (once)."""
    global _client, _topic_path
    with _lock:
        if _client is None:
            _client = pubsub_v1.PublisherClient(
                batch_settings=pubsub_v1.types.BatchSettings(max_latency=0.001, max_messages=100),
                publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True),
            )
            _topic_path = _client.topic_path(_PROJECT, _TOPIC)
        return _client, _topic_path


@functions_framework.http
def floor(request: Request) -> tuple[str, int]:
    """POST: publish the raw body and wait for the confirmation. GET: 200, nothing published."""
    client, path = _publisher()
    if request.method != "POST":
        return "ok", 200
    future = client.publish(path, request.get_data(), ordering_key=_ORDERING_KEY)
    try:
        future.result(timeout=_TIMEOUT_SECONDS)
    except Exception:
        # As in the adapter: a failed key stays paused until resumed; the error answers 500.
        if _ORDERING_KEY:
            client.resume_publish(path, _ORDERING_KEY)
        raise
    return "ok", 200
