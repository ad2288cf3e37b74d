"""The whole pipeline on this machine: emulators, topics, functions, the WhatsApp simulator.

`python -m shared.localstack.stack run` starts it in the foreground (Ctrl-C stops all of it),
`up` starts it in the background and returns once every part answers its health check,
`down` stops what `up` started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from shared.topology import FUNCTIONS, PULL_SUBSCRIPTIONS, PUSH_SUBSCRIPTIONS, TOPICS

__all__ = ["LocalStack", "StackConfig", "main", "temporary_env"]

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_KB = ROOT / "samples" / "kb.jsonl"
SAMPLE_BUSINESS_DATA = ROOT / "samples" / "business.json"
SAMPLE_TEMPLATES = ROOT / "samples" / "whatsapp_templates.jsonl"
# The simulator's second business number: the billing trail writes from it.
DEMO_BILLING_NUMBER = "100000000000002"
DEMO_CONSOLE_USERS = {"analista@atende.local": "analyst", "admin@atende.local": "admin"}
_DEFAULT_FUNCTION_PORTS = {
    "intake": 8082,
    "agent_turn": 8083,
    "outbound": 8084,
    "dead_letter": 8085,
    # 8086 is the Vertex AI stand-in's default, 8087 the tools hub, 8088 the console.
    "handoff_notifier": 8089,
    "followups": 8090,
}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StackConfig:
    """Ports and knobs of one local stack."""

    webhook_port: int = 8080
    sim_port: int = 8081
    tools_hub_port: int = 8087
    console_port: int = 8088
    billing_api_port: int = 8091
    function_ports: dict[str, int] = field(default_factory=lambda: dict(_DEFAULT_FUNCTION_PORTS))
    pubsub_port: int = 8681
    firestore_port: int = 8682
    project: str = "atende-local"
    quiet_period_seconds: float = 2.0
    max_wait_seconds: float = 8.0
    # Production backs off 10-600 s; locally the same policy runs faster.
    min_backoff_seconds: int = 1
    max_backoff_seconds: int = 10
    max_delivery_attempts: int = 5
    sample_kb: str | None = str(SAMPLE_KB)
    # Cloud Scheduler ticks every few minutes; locally the ticker does it this often (0: off),
    # and the trail's D+0, D+2, D+5, D+10 become seconds apart so a demo shows a whole trail.
    tick_seconds: float = 5.0
    followup_cadence: str = "0s,30s,60s,90s"
    state_dir: str = str(ROOT / ".local")
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StackConfig:
        """Defaults of the contract, overridable by ATENDE_* variables and SAMPLE_KB."""
        config = cls()
        config.webhook_port = int(env.get("ATENDE_WEBHOOK_PORT", config.webhook_port))
        config.sim_port = int(env.get("ATENDE_SIM_PORT", config.sim_port))
        config.tools_hub_port = int(env.get("ATENDE_TOOLS_HUB_PORT", config.tools_hub_port))
        config.console_port = int(env.get("ATENDE_CONSOLE_PORT", config.console_port))
        config.billing_api_port = int(env.get("ATENDE_BILLING_API_PORT", config.billing_api_port))
        config.tick_seconds = float(env.get("ATENDE_TICK_SECONDS", config.tick_seconds))
        config.followup_cadence = env.get("FOLLOWUP_CADENCE", config.followup_cadence)
        config.pubsub_port = int(env.get("ATENDE_PUBSUB_PORT", config.pubsub_port))
        config.firestore_port = int(env.get("ATENDE_FIRESTORE_PORT", config.firestore_port))
        for name in config.function_ports:
            key = f"ATENDE_{name.upper()}_PORT"
            config.function_ports[name] = int(env.get(key, config.function_ports[name]))
        config.quiet_period_seconds = float(
            env.get("QUIET_PERIOD_SECONDS", config.quiet_period_seconds)
        )
        config.max_wait_seconds = float(env.get("MAX_WAIT_SECONDS", config.max_wait_seconds))
        sample = env.get("SAMPLE_KB")
        if sample is not None:
            config.sample_kb = None if sample.lower() in ("", "none") else sample
        return config

    @classmethod
    def on_free_ports(cls, **overrides: object) -> StackConfig:
        """A stack that can run beside another one (the tests use this)."""
        config = cls(
            webhook_port=free_port(),
            sim_port=free_port(),
            tools_hub_port=free_port(),
            console_port=free_port(),
            billing_api_port=free_port(),
            function_ports={name: free_port() for name in _DEFAULT_FUNCTION_PORTS},
            pubsub_port=free_port(),
            firestore_port=free_port(),
        )
        for key, value in overrides.items():
            setattr(config, key, value)
        return config

    def port_of(self, function: str) -> int:
        """The local port a function listens on."""
        return self.webhook_port if function == "webhook" else self.function_ports[function]

    @property
    def webhook_url(self) -> str:
        """Where Meta (here: the simulator) posts updates."""
        return f"http://127.0.0.1:{self.webhook_port}/"

    @property
    def sim_url(self) -> str:
        """The WhatsApp Cloud API simulator."""
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def chat_webhook_url(self) -> str:
        """The incoming webhook of the analysts' Chat space, as the simulator plays it."""
        return f"{self.sim_url}/_chat/webhook"

    @property
    def tools_hub_url(self) -> str:
        """The MCP endpoint of the business tools hub."""
        return f"http://127.0.0.1:{self.tools_hub_port}/mcp"

    @property
    def billing_api_url(self) -> str:
        """The billing system's API (debts and payment events)."""
        return f"http://127.0.0.1:{self.billing_api_port}"

    @property
    def console_url(self) -> str:
        """The analysts' console (dev login)."""
        return f"http://127.0.0.1:{self.console_port}"

    def emulator_env(self) -> dict[str, str]:
        """What a Google client needs to talk to the emulators."""
        return {
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.pubsub_port}",
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.firestore_port}",
            "GOOGLE_CLOUD_PROJECT": self.project,
        }

    def function_env(self) -> dict[str, str]:
        """The environment every local function runs with."""
        return {
            **self.emulator_env(),
            "PYTHONPATH": str(ROOT),
            "ATENDE_ENV": "local",
            "SECRETS_BACKEND": "env",
            "WHATSAPP_API_BASE_URL": self.sim_url,
            "QUIET_PERIOD_SECONDS": str(self.quiet_period_seconds),
            "MAX_WAIT_SECONDS": str(self.max_wait_seconds),
            "MAX_SEND_ATTEMPTS": str(self.max_delivery_attempts),
            "TOOLS_HUB_URL": self.tools_hub_url,
            # The simulator's stand-in of the analysts' Google Chat space.
            "GOOGLE_CHAT_WEBHOOK_URL": self.chat_webhook_url,
            "BUSINESS_DATA_PATH": str(SAMPLE_BUSINESS_DATA),
            # Cards link to the local console, whose dev login knows these two people.
            "CONSOLE_BASE_URL": self.console_url,
            "CONSOLE_USERS": json.dumps(DEMO_CONSOLE_USERS),
            # The billing trail: its own number, a fast cadence, and no quiet hours, so that a
            # demo at any hour shows it (production: 08:00-20:00, Monday to Saturday, no
            # public holidays).
            "BILLING_PHONE_NUMBER_ID": DEMO_BILLING_NUMBER,
            "FOLLOWUP_CADENCE": self.followup_cadence,
            "FOLLOWUP_SEND_WINDOW": "00:00-24:00",
            "FOLLOWUP_SEND_DAYS": "mon-sun",
            "FOLLOWUP_HOLIDAYS": "",
            "PYTHONUNBUFFERED": "1",
            # Every function appends its spans here (the end-to-end tests read them).
            "TRACE_EXPORTER": "jsonl",
            "TRACE_FILE": str(Path(self.state_dir) / "logs" / "spans.jsonl"),
            **self.extra_env,
        }


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


class LocalStack:
    """Starts, checks and stops every process of the local pipeline."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.children: list[_Child] = []
        self.log_dir = Path(config.state_dir) / "logs"

    # ------------------------------------------------------------------ start

    def start(self, *, timeout: float = 120.0) -> None:
        """Start everything and return once it all answers; stops what started on failure."""
        try:
            self._start_all(timeout)
        except BaseException:
            self.stop()
            raise

    def start_emulators(self, *, timeout: float = 120.0) -> None:
        """Only the Pub/Sub and Firestore emulators, with the topology (benchmarks use this)."""
        try:
            self._spawn_emulators()
            deadline = time.monotonic() + timeout
            self._wait_for_emulators(deadline)
            self.create_topology()
        except BaseException:
            self.stop()
            raise

    def _spawn_emulators(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.config
        gcloud = os.environ.get("GCLOUD", "gcloud")
        self._spawn(
            "pubsub-emulator",
            [
                gcloud,
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port=127.0.0.1:{cfg.pubsub_port}",
                f"--project={cfg.project}",
                "--quiet",
            ],
        )
        self._spawn(
            "firestore-emulator",
            [
                gcloud,
                "emulators",
                "firestore",
                "start",
                f"--host-port=127.0.0.1:{cfg.firestore_port}",
                "--quiet",
            ],
        )

    def _wait_for_emulators(self, deadline: float) -> None:
        cfg = self.config
        self._wait(f"http://127.0.0.1:{cfg.pubsub_port}/", deadline, "pubsub-emulator")
        self._wait(f"http://127.0.0.1:{cfg.firestore_port}/", deadline, "firestore-emulator")

    def _start_all(self, timeout: float) -> None:
        cfg = self.config
        self._spawn_emulators()
        python = sys.executable
        self._spawn(
            "whatsapp-sim",
            [
                python,
                "-m",
                "shared.localstack.whatsapp_sim",
                "--port",
                str(cfg.sim_port),
                "--webhook-url",
                cfg.webhook_url,
            ],
            env=cfg.function_env(),
        )
        # The MCP hub of business tools, before the functions that call it.
        self._spawn(
            "tools-hub",
            [python, "-m", "shared.tools_hub.server", "--port", str(cfg.tools_hub_port)],
            env=cfg.function_env(),
        )
        framework = str(Path(python).with_name("functions-framework"))
        for function in FUNCTIONS:
            self._spawn(
                function,
                [
                    framework,
                    "--target",
                    function,
                    "--source",
                    str(ROOT / "functions" / function / "main.py"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(cfg.port_of(function)),
                ],
                env=cfg.function_env(),
            )
        self._spawn(
            "console",
            [
                framework,
                "--target",
                "console",
                "--source",
                str(ROOT / "functions" / "console" / "main.py"),
                "--host",
                "127.0.0.1",
                "--port",
                str(cfg.console_port),
            ],
            env=cfg.function_env(),
        )
        self._spawn(
            "billing-api",
            [
                framework,
                "--target",
                "billing_api",
                "--source",
                str(ROOT / "functions" / "billing_api" / "main.py"),
                "--host",
                "127.0.0.1",
                "--port",
                str(cfg.billing_api_port),
            ],
            env=cfg.function_env(),
        )
        deadline = time.monotonic() + timeout
        self._wait_for_emulators(deadline)
        self.create_topology()
        self._wait(f"http://127.0.0.1:{cfg.tools_hub_port}/healthz", deadline, "tools-hub")
        for function in FUNCTIONS:
            self._wait(self._health_url(function), deadline, function)
        self._wait(f"{cfg.sim_url}/_sim/health", deadline, "whatsapp-sim")
        self._wait(f"{cfg.console_url}/healthz", deadline, "console")
        self._wait(f"{cfg.billing_api_url}/", deadline, "billing-api")
        self.load_templates(SAMPLE_TEMPLATES)
        if cfg.sample_kb:
            self.load_knowledge_base(Path(cfg.sample_kb))
        if cfg.tick_seconds > 0:
            # After the topology: the ticker's first tick needs its topic.
            self._spawn(
                "ticker",
                [python, "-m", "shared.localstack.ticker", "--every", str(cfg.tick_seconds)],
                env=cfg.function_env(),
            )

    def _health_url(self, function: str) -> str:
        port = self.config.port_of(function)
        if function == "webhook":
            return (
                f"http://127.0.0.1:{port}/?hub.mode=subscribe"
                f"&hub.verify_token={os.environ.get('WHATSAPP_VERIFY_TOKEN', 'dev-verify-token')}"
                "&hub.challenge=health"
            )
        return f"http://127.0.0.1:{port}/"

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        log = self.log_dir / f"{name}.log"
        handle = log.open("ab")
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Own process group: the emulators fork a JVM, and stop() must reach it too.
            start_new_session=True,
        )
        handle.close()
        self.children.append(_Child(name, process, log))

    def _wait(self, url: str, deadline: float, name: str) -> None:
        child = next((c for c in self.children if c.name == name), None)
        while time.monotonic() < deadline:
            if child is not None and child.process.poll() is not None:
                raise RuntimeError(f"{name} exited early; see {child.log}:\n{_tail(child.log)}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except urllib.error.HTTPError as error:
                # A cloud-event function answers a bare GET with 4xx: it is listening.
                if error.code < 500 or name != "webhook":
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.2)
        log = child.log if child else "?"
        raise TimeoutError(f"{name} did not answer {url} in time; see {log}")

    def create_topology(self) -> None:
        """Topics and subscriptions, with production's retry and dead-letter settings."""
        from google.api_core import exceptions
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]
        from google.protobuf import duration_pb2

        cfg = self.config
        with temporary_env(cfg.emulator_env()):
            publisher = pubsub_v1.PublisherClient()
            subscriber = pubsub_v1.SubscriberClient()
            for topic in TOPICS:
                with contextlib.suppress(exceptions.AlreadyExists):
                    publisher.create_topic(name=publisher.topic_path(cfg.project, topic))
            dead_letter_topic = publisher.topic_path(cfg.project, "dead-letter")
            for sub in PUSH_SUBSCRIPTIONS:
                request: dict[str, object] = {
                    "name": subscriber.subscription_path(cfg.project, sub.name),
                    "topic": publisher.topic_path(cfg.project, sub.topic),
                    "push_config": {
                        "push_endpoint": f"http://127.0.0.1:{cfg.port_of(sub.function)}/"
                    },
                    "ack_deadline_seconds": sub.ack_deadline_seconds,
                    "enable_message_ordering": sub.ordered,
                    "retry_policy": {
                        "minimum_backoff": duration_pb2.Duration(seconds=cfg.min_backoff_seconds),
                        "maximum_backoff": duration_pb2.Duration(seconds=cfg.max_backoff_seconds),
                    },
                }
                if sub.dead_letter:
                    request["dead_letter_policy"] = {
                        "dead_letter_topic": dead_letter_topic,
                        "max_delivery_attempts": cfg.max_delivery_attempts,
                    }
                with contextlib.suppress(exceptions.AlreadyExists):
                    subscriber.create_subscription(request=request)
            for name, topic in PULL_SUBSCRIPTIONS.items():
                with contextlib.suppress(exceptions.AlreadyExists):
                    subscriber.create_subscription(
                        request={
                            "name": subscriber.subscription_path(cfg.project, name),
                            "topic": publisher.topic_path(cfg.project, topic),
                        }
                    )
            subscriber.close()

    def load_templates(self, path: Path) -> int:
        """Register the sample WhatsApp templates (approved, as Meta would have them)."""
        from google.cloud import firestore

        from shared.adapters.firestore_templates_feedback import FirestoreTemplateStore
        from shared.domain.whatsapp_templates import read_templates

        templates = read_templates(path)
        with temporary_env(self.config.emulator_env()):
            # A client of its own: the stack may be one of several in a test process.
            store = FirestoreTemplateStore(firestore.Client(project=self.config.project))
            for template in templates:
                store.save_template(template, create=False)
        logger.info("registered %d WhatsApp template(s) from %s", len(templates), path)
        return len(templates)

    def load_knowledge_base(self, path: Path) -> int:
        """Import a JSONL/CSV file of entries into the knowledge base."""
        from shared.domain.knowledge import read_entries

        with temporary_env(self.config.emulator_env()):
            from shared.bootstrap import knowledge_base

            count: int = knowledge_base().upsert(read_entries(path))
        logger.info("loaded %d knowledge-base entries from %s", count, path)
        return count

    # ------------------------------------------------------------------- stop

    def stop(self) -> None:
        """Stop every child and its process group; leaves nothing behind."""
        for child in reversed(self.children):
            _terminate(child.process.pid)
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=10)
            if child.process.poll() is None:
                _kill(child.process.pid)
                child.process.wait(timeout=5)
        self.children.clear()

    # ---------------------------------------------------------------- reports

    def urls(self) -> dict[str, str]:
        """What a person can open or call."""
        cfg = self.config
        return {
            "WhatsApp webhook": cfg.webhook_url,
            "Phone chat (simulator)": f"{cfg.sim_url}/",
            "Messages sent (simulator)": f"{cfg.sim_url}/_sim/messages",
            "Analysts' handoff cards (Chat stand-in)": f"{cfg.sim_url}/_chat/cards",
            "MCP tools hub": cfg.tools_hub_url,
            "Analysts' console (dev login: analista@atende.local)": f"{cfg.console_url}/login",
            "Billing API (POST /debts, POST /payments)": cfg.billing_api_url,
            "Follow-up ticks": (
                f"every {cfg.tick_seconds:g} s; trail cadence {cfg.followup_cadence}"
                if cfg.tick_seconds > 0
                else "off (ATENDE_TICK_SECONDS=0)"
            ),
            "Pub/Sub emulator": f"127.0.0.1:{cfg.pubsub_port}",
            "Firestore emulator": f"127.0.0.1:{cfg.firestore_port}",
            **{f"function {f}": f"http://127.0.0.1:{cfg.port_of(f)}/" for f in FUNCTIONS[1:]},
            "logs": str(self.log_dir),
        }

    def save_state(self) -> Path:
        """Write what `down` needs to stop a background stack."""
        path = Path(self.config.state_dir) / "stack.json"
        path.write_text(
            json.dumps(
                {
                    "pids": [c.process.pid for c in self.children],
                    "config": asdict(self.config),
                },
                indent=2,
            )
        )
        return path


@contextlib.contextmanager
def temporary_env(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _print_urls(stack: LocalStack) -> None:
    width = max(len(k) for k in stack.urls())
    print("\nAtende local stack is up:")
    for name, url in stack.urls().items():
        print(f"  {name.ljust(width)}  {url}")
    print("\nChat as a customer: open the phone chat above, or run `.venv/bin/atende chat`.")


def _down(state_dir: Path) -> None:
    path = state_dir / "stack.json"
    if not path.exists():
        print("no background stack is recorded; nothing to stop")
        return
    pids = json.loads(path.read_text())["pids"]
    for pid in pids:
        _terminate(pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            _kill(pid)
    path.unlink()
    print(f"stopped {len(pids)} process group(s)")


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """`run` (foreground), `up` (background) or `down`."""
    parser = argparse.ArgumentParser(prog="python -m shared.localstack.stack")
    parser.add_argument("command", choices=["run", "up", "down"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = StackConfig.from_env()
    if args.command == "down":
        _down(Path(config.state_dir))
        return 0
    if (Path(config.state_dir) / "stack.json").exists():
        print("a background stack is already running: `make down` first", file=sys.stderr)
        return 1
    stack = LocalStack(config)
    stack.start()
    _print_urls(stack)
    if args.command == "up":
        print(f"\nstate in {stack.save_state()}; `make down` stops it.")
        return 0
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    print("\nCtrl-C stops everything.")
    try:
        while not stopping:
            dead = [c.name for c in stack.children if c.process.poll() is not None]
            if dead:
                print(f"stopping: {', '.join(dead)} exited (see {stack.log_dir})", file=sys.stderr)
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping the local stack...")
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
