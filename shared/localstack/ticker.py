"""The local stand-in for Cloud Scheduler: publishes the follow-up tick on a fixed period.

There is no Cloud Scheduler emulator. This publishes exactly the bytes the production job
publishes (shared.topology.TICK_PAYLOAD) on the same topic, every `--every` seconds, to the
Pub/Sub emulator named by PUBSUB_EMULATOR_HOST.

    python -m shared.localstack.ticker --every 5 [--once]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from shared.topology import TICK_PAYLOAD

__all__ = ["main", "publish_tick"]

logger = logging.getLogger(__name__)


def publish_tick(project: str, topic: str = "followup-ticks", publisher: Any = None) -> str:
    """Publish one tick, as Cloud Scheduler would; returns the message id."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    client = publisher or pubsub_v1.PublisherClient()
    future = client.publish(client.topic_path(project, topic), TICK_PAYLOAD)
    return str(future.result(timeout=30))


def main(argv: list[str] | None = None) -> int:
    """Tick until stopped (or once)."""
    import os

    parser = argparse.ArgumentParser(prog="python -m shared.localstack.ticker")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between ticks")
    parser.add_argument("--topic", default=os.environ.get("TOPIC_FOLLOWUP_TICKS", "followup-ticks"))
    parser.add_argument("--once", action="store_true", help="publish one tick and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "atende-local")
    if args.once:
        print(publish_tick(project, args.topic))
        return 0
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher = pubsub_v1.PublisherClient()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logger.info("ticking %s every %.1f s", args.topic, args.every)
    while not stop.is_set():
        try:
            publish_tick(project, args.topic, publisher)
        # The emulator may be starting or stopping: say so and tick again next period.
        except Exception as error:  # noqa: BLE001
            logger.warning("tick not published: %s", error)
        stop.wait(args.every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
