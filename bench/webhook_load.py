"""Load the WhatsApp webhook and a bare-function floor the same way, and compare them.

What runs, all on 127.0.0.1 and on free ports:

* the Pub/Sub emulator, with topic `inbound` and a pull subscription that keeps every message;
* the real webhook (`functions/webhook/main.py`, target `webhook`) under functions-framework;
* the floor (`bench/floor_function.py`, target `floor`) under functions-framework: it publishes
  the raw body to the same topic with the same client settings, and nothing else.

Each target is warmed up, then receives N signed POSTs of a real WhatsApp text-message update
(each with its own message id, signed with the local app secret) from C keep-alive
connections, bounded by N and by a time cap. The load is sent in rounds that alternate the
targets (webhook, floor, floor, webhook, ...), so that a busy neighbour on the machine weighs
on both alike. The script prints the latency and throughput of each target, their ratios,
and how many messages reached the topic, then stops every process it started (also on Ctrl-C
or an error). Its exit status is 0 only without errors and with every message accounted for.

Usage: `.venv/bin/python bench/webhook_load.py [--requests N] [--concurrency C]
[--duration-cap S] [--warmup W] [--rounds R]` (`make bench` runs it with the defaults).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import http.client
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
FIXTURE = ROOT.parent / "shared" / "fixtures" / "whatsapp" / "pywa" / "text_message.json"
PROJECT = "bench"
TOPIC = "inbound"
SUBSCRIPTION = "bench-count"
# The local stack's documented development secrets (shared/adapters/secrets.py).
APP_SECRET = "dev-app-secret"  # noqa: S105
VERIFY_TOKEN = "dev-verify-token"  # noqa: S105
FIXTURE_MESSAGE_ID = b"wamid.xyzxyz"
TARGETS = ("webhook", "floor")
_ID_PATTERN = re.compile(rb"wamid\.bench-([a-z]+)-(warm|load)-(\d+)")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# The fixture's shape, for a checkout without the shared fixtures next to it.
INLINE_PAYLOAD: dict[str, Any] = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "1234567890987654321",
            "changes": [
                {
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "972123456789",
                            "phone_number_id": "1122334455667",
                        },
                        "contacts": [{"profile": {"name": "Test Name"}, "wa_id": "972987654321"}],
                        "messages": [
                            {
                                "from": "972987654321",
                                "id": FIXTURE_MESSAGE_ID.decode(),
                                "timestamp": "1697043223",
                                "text": {"body": "Body Text"},
                                "type": "text",
                            }
                        ],
                    },
                    "field": "messages",
                }
            ],
        }
    ],
}


# ---------------------------------------------------------------------------- processes


@dataclass
class Child:
    """A process this script started, in its own process group."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Processes:
    """Every process the benchmark starts; `stop` ends their process groups."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> Child:
        """Start a process in a new session, its output going to a log file."""
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as handle:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=dict(env),
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def stop(self) -> None:
        """SIGTERM every process group, then SIGKILL whatever is left after 10 s."""
        for child in reversed(self.children):
            _signal_group(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in self.children:
            while time.monotonic() < deadline and _group_alive(child.process.pid):
                time.sleep(0.1)
        for child in self.children:
            if _group_alive(child.process.pid):
                _signal_group(child.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=5)
        self.children.clear()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    """Send a signal to a process group that may be gone already."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    """True while any process of the group exists (zombies excluded)."""
    if Path("/proc").is_dir():
        return any(_proc_stat(pid)[0] == pgid for pid in _pids())
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _pids() -> Iterator[int]:
    """Every process id in /proc."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def _proc_stat(pid: int) -> tuple[int, float]:
    """A live process's group id and CPU seconds (user + system); (-1, 0) if gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1, 0.0
    fields = raw[raw.rfind(")") + 2 :].split()
    if fields[0] == "Z":
        return -1, 0.0
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds used so far by the live processes of a group (0 without /proc)."""
    if not Path("/proc").is_dir():
        return 0.0
    return sum(cpu for group, cpu in map(_proc_stat, _pids()) if group == pgid)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(
    child: Child, url: str, check: Callable[[bytes], bool], timeout: float
) -> None:
    """Poll a URL until it answers 200 with an accepted body; fail if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited early:\n{_tail(child.log)}")
        with (
            contextlib.suppress(OSError, http.client.HTTPException),
            urllib.request.urlopen(url, timeout=2) as response,
        ):
            if response.status == 200 and check(response.read()):
                return
        time.sleep(0.2)
    raise TimeoutError(f"{child.name} did not answer {url} in {timeout:.0f} s:\n{_tail(child.log)}")


def _tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ----------------------------------------------------------------------------- pub/sub


class Emulator:
    """The Pub/Sub emulator's REST API, enough to create the topic and count messages."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/v1/projects/{PROJECT}"

    def _call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One JSON call to the emulator."""
        request = urllib.request.Request(
            f"{self.base}/{path}",
            method=method,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        result: dict[str, Any] = json.loads(raw) if raw.strip() else {}
        return result

    def create_topology(self) -> None:
        """Topic `inbound` and a pull subscription that retains everything published to it."""
        self._call("PUT", f"topics/{TOPIC}", {})
        self._call(
            "PUT",
            f"subscriptions/{SUBSCRIPTION}",
            {"topic": f"projects/{PROJECT}/topics/{TOPIC}", "ackDeadlineSeconds": 600},
        )

    def drain(self) -> list[bytes]:
        """Pull and acknowledge every message on the subscription; their data."""
        data: list[bytes] = []
        empty_pulls = 0
        while empty_pulls < 3:
            reply = self._call(
                "POST",
                f"subscriptions/{SUBSCRIPTION}:pull",
                {"maxMessages": 1000, "returnImmediately": True},
            )
            received = reply.get("receivedMessages", [])
            if not received:
                empty_pulls += 1
                time.sleep(0.2)
                continue
            empty_pulls = 0
            data.extend(base64.b64decode(m["message"].get("data", "")) for m in received)
            self._call(
                "POST",
                f"subscriptions/{SUBSCRIPTION}:acknowledge",
                {"ackIds": [m["ackId"] for m in received]},
            )
        return data


@dataclass
class TopicCount:
    """What reached the topic for one target and phase."""

    ids: set[int] = field(default_factory=set)
    duplicates: int = 0


def count_messages(data: list[bytes]) -> tuple[dict[tuple[str, str], TopicCount], int]:
    """Messages by (target, phase) from the benchmark ids they carry; and the unrecognised."""
    counts: dict[tuple[str, str], TopicCount] = {}
    unknown = 0
    for item in data:
        match = _ID_PATTERN.search(item)
        if match is None:
            unknown += 1
            continue
        key = (match.group(1).decode(), match.group(2).decode())
        count = counts.setdefault(key, TopicCount())
        index = int(match.group(3))
        if index in count.ids:
            count.duplicates += 1
        count.ids.add(index)
    return counts, unknown


# -------------------------------------------------------------------------------- load


def load_payload() -> bytes:
    """The raw body of a real text-message update (the fixture, or the same shape inline)."""
    if FIXTURE.is_file():
        raw = FIXTURE.read_bytes()
        if raw.count(FIXTURE_MESSAGE_ID) == 1:
            return raw
    return json.dumps(INLINE_PAYLOAD, indent=2).encode()


def payload_sender(raw: bytes) -> str:
    """The `from` of the payload's message: the ordering key the webhook publishes with."""
    value = json.loads(raw)["entry"][0]["changes"][0]["value"]
    return str(value["messages"][0]["from"])


def sign(body: bytes) -> str:
    """The X-Hub-Signature-256 Meta would send for this body."""
    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


Request = tuple[int, bytes, str]


def build_requests(template: bytes, target: str, phase: str, count: int) -> list[Request]:
    """(n, body, signature), each body carrying its own id `wamid.bench-<target>-<phase>-<n>`."""
    requests = []
    for index in range(count):
        message_id = f"wamid.bench-{target}-{phase}-{index:06d}".encode()
        body = template.replace(FIXTURE_MESSAGE_ID, message_id)
        requests.append((index, body, sign(body)))
    return requests


@dataclass
class LoadResult:
    """What one load run measured."""

    target: str
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    ok_ids: set[int] = field(default_factory=set)
    connections: int = 0
    elapsed: float = 0.0
    capped: bool = False
    server_cpu: float = 0.0
    emulator_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def requests(self) -> int:
        """Requests completed (answered or failed)."""
        return len(self.latencies)

    @property
    def errors(self) -> int:
        """Requests not answered 200."""
        return self.requests - len(self.ok_ids)

    @property
    def throughput(self) -> float:
        """Completed requests per second of wall time."""
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank latency percentile in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
        return ordered[rank - 1] * 1000

    def absorb(self, other: LoadResult) -> None:
        """Add another run's figures (a later round on the same target) to these."""
        self.latencies.extend(other.latencies)
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.ok_ids.update(other.ok_ids)
        self.connections += other.connections
        self.elapsed += other.elapsed
        self.capped = self.capped or other.capped
        self.server_cpu += other.server_cpu
        self.emulator_cpu += other.emulator_cpu
        self.client_cpu += other.client_cpu


def run_load(
    target: str, port: int, requests: Sequence[Request], concurrency: int, cap: float
) -> LoadResult:
    """Send the requests from `concurrency` keep-alive connections; stop at the end or the cap."""
    result = LoadResult(target)
    lock = threading.Lock()
    next_index = 0
    start = time.perf_counter()
    deadline = start + cap

    def worker() -> None:
        """One connection sending requests until none are left or time is up."""
        nonlocal next_index
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        ok_ids: list[int] = []
        opened = 0
        try:
            while True:
                with lock:
                    if next_index >= len(requests) or time.perf_counter() >= deadline:
                        break
                    index = next_index
                    next_index += 1
                number, body, signature = requests[index]
                if connection.sock is None:
                    opened += 1
                sent = time.perf_counter()
                try:
                    connection.request(
                        "POST",
                        "/",
                        body=body,
                        headers={
                            "Content-Type": "application/json",
                            "X-Hub-Signature-256": signature,
                            "User-Agent": "facebookexternalua",
                        },
                    )
                    response = connection.getresponse()
                    response.read()
                    status = str(response.status)
                except (OSError, http.client.HTTPException) as error:
                    status = type(error).__name__
                    connection.close()
                latencies.append(time.perf_counter() - sent)
                statuses[status] = statuses.get(status, 0) + 1
                if status == "200":
                    ok_ids.append(number)
        finally:
            connection.close()
            with lock:
                result.latencies.extend(latencies)
                for status, count in statuses.items():
                    result.statuses[status] = result.statuses.get(status, 0) + count
                result.ok_ids.update(ok_ids)
                result.connections += opened

    threads = [
        threading.Thread(target=worker, name=f"load-{target}-{n}", daemon=True)
        for n in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    result.elapsed = time.perf_counter() - start
    result.capped = result.requests < len(requests)
    return result


# ------------------------------------------------------------------------------ report


def version_of(package: str) -> str:
    """An installed package's version, or `?`."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def print_header(args: argparse.Namespace, payload: bytes, payload_source: str) -> None:
    """Python, machine and parameters of this run."""
    threads = os.environ.get("THREADS", str((os.cpu_count() or 1) * 4))
    print("Atende webhook load benchmark")
    print(f"  date             {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}")
    print(f"  python           {platform.python_version()} ({sys.executable})")
    print(f"  machine          {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs")
    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        print(f"  load average     {load} (1, 5, 15 min, before the start)")
    print(
        f"  server           functions-framework {version_of('functions-framework')}"
        f" (gunicorn {version_of('gunicorn')}, 1 worker, {threads} threads),"
        f" google-cloud-pubsub {version_of('google-cloud-pubsub')}"
    )
    print(
        f"  parameters       requests={args.requests} concurrency={args.concurrency}"
        f" duration-cap={args.duration_cap:g}s warm-up={args.warmup} rounds={args.rounds}"
    )
    print(f"  payload          {payload_source} ({len(payload)} bytes, one message per POST)")
    print("  client           Python threads, http.client keep-alive connections, 127.0.0.1")
    print()


def print_result(result: LoadResult) -> None:
    """One target's figures."""
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(result.statuses.items()))
    print(f"{result.target}")
    print(
        f"  requests         {result.requests}"
        + ("  (stopped by the cap)" if result.capped else "")
    )
    print(f"  errors (non-200) {result.errors}   [{statuses}]")
    print(f"  requests/s       {result.throughput:.1f}   ({result.elapsed:.2f} s)")
    print(
        f"  latency ms       p50 {result.percentile(0.50):.2f}   p90 {result.percentile(0.90):.2f}"
        f"   p99 {result.percentile(0.99):.2f}   max {result.percentile(1.0):.2f}"
    )
    if result.requests:
        print(
            f"  CPU ms/request   function {1000 * result.server_cpu / result.requests:.2f}"
            f"   emulator {1000 * result.emulator_cpu / result.requests:.2f}"
            f"   load generator {1000 * result.client_cpu / result.requests:.2f}"
        )
    print(f"  connections      {result.connections} opened for {result.requests} requests")
    print()


def _ratio(numerator: float, denominator: float) -> str:
    """A ratio as `1.23x`, or `n/a`."""
    return f"{numerator / denominator:.2f}x" if denominator > 0 else "n/a"


def print_comparison(webhook: LoadResult, floor: LoadResult) -> None:
    """The webhook relative to the floor."""
    print("webhook / floor")
    print(f"  p50 latency      {_ratio(webhook.percentile(0.5), floor.percentile(0.5))}")
    print(f"  p99 latency      {_ratio(webhook.percentile(0.99), floor.percentile(0.99))}")
    print(f"  throughput       {_ratio(floor.throughput, webhook.throughput)} (floor/webhook)")
    print()


def check_topic(
    results: dict[str, LoadResult],
    warm_ok: dict[str, set[int]],
    counts: dict[tuple[str, str], TopicCount],
    unknown: int,
) -> list[str]:
    """Print what reached the topic per target; return one warning per mismatch."""
    warnings: list[str] = []
    print(f"messages on topic {TOPIC} (pulled and counted by message id)")
    for target in TARGETS:
        for phase, ok in (("load", results[target].ok_ids), ("warm", warm_ok[target])):
            count = counts.get((target, phase), TopicCount())
            missing = len(ok - count.ids)
            extra = len(count.ids - ok)
            print(
                f"  {target:<8} {phase}  {len(count.ids):>6} distinct"
                f"  for {len(ok):>6} successful requests"
                f"  (missing {missing}, without a 200 {extra}, duplicates {count.duplicates})"
            )
            if missing or extra or count.duplicates:
                warnings.append(
                    f"WARNING: {target} {phase}: {len(count.ids)} messages on the topic for"
                    f" {len(ok)} successful requests (missing {missing}, published without a"
                    f" 200 {extra}, duplicates {count.duplicates})"
                )
    if unknown:
        warnings.append(f"WARNING: {unknown} message(s) on the topic carry no benchmark id")
    print()
    return warnings


def log_problems(child: Child) -> int:
    """How many WARNING/ERROR/Traceback lines a process logged."""
    try:
        text = child.log.read_text(errors="replace")
    except OSError:
        return 0
    return sum(
        1
        for line in text.splitlines()
        if " WARNING " in line or " ERROR " in line or "Traceback" in line or "[CRITICAL]" in line
    )


# -------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="POSTs per target")
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive connections")
    parser.add_argument(
        "--duration-cap", type=float, default=120.0, help="seconds per target's load, at most"
    )
    parser.add_argument("--warmup", type=int, default=50, help="warm-up POSTs per target")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="split each target's load into this many rounds, alternating the targets",
    )
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.rounds) < 1:
        parser.error("requests, concurrency and rounds must be at least 1")
    if args.duration_cap <= 0 or args.warmup < 0:
        parser.error("the duration cap must be > 0 and the warm-up >= 0")
    return args


def start_stack(
    processes: Processes, sender: str
) -> tuple[Emulator, dict[str, Child], Child, dict[str, int]]:
    """Emulator, topic and both functions, each answering; their children and ports."""
    gcloud = shutil.which(os.environ.get("GCLOUD", "gcloud"))
    if gcloud is None:
        raise RuntimeError("gcloud (with the Pub/Sub emulator) is not on PATH")
    pubsub_port = free_port()
    emulator_child = processes.spawn(
        "pubsub-emulator",
        [
            gcloud,
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port=127.0.0.1:{pubsub_port}",
            f"--project={PROJECT}",
            "--quiet",
        ],
        env=os.environ,
    )
    wait_until_ready(
        emulator_child, f"http://127.0.0.1:{pubsub_port}/", lambda b: b.strip() == b"Ok", 120
    )
    emulator = Emulator(pubsub_port)
    emulator.create_topology()

    base_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("K_", "FUNCTION_", "WHATSAPP_")) and key != "THREADS"
    }
    env = {
        **base_env,
        "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{pubsub_port}",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "ATENDE_ENV": "local",
        "SECRETS_BACKEND": "env",
        "TOPIC_INBOUND": TOPIC,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "FLOOR_TOPIC": TOPIC,
        "FLOOR_ORDERING_KEY": sender,
    }
    framework = str(Path(sys.executable).with_name("functions-framework"))
    sources = {
        "webhook": ROOT / "functions" / "webhook" / "main.py",
        "floor": BENCH_DIR / "floor_function.py",
    }
    ports = {target: free_port() for target in TARGETS}
    children = {
        target: processes.spawn(
            target,
            [
                framework,
                "--target",
                target,
                "--source",
                str(sources[target]),
                "--host",
                "127.0.0.1",
                "--port",
                str(ports[target]),
            ],
            env=env,
        )
        for target in TARGETS
    }
    handshake = (
        f"http://127.0.0.1:{ports['webhook']}/?hub.mode=subscribe"
        f"&hub.verify_token={VERIFY_TOKEN}&hub.challenge=bench-ready"
    )
    wait_until_ready(children["webhook"], handshake, lambda b: b == b"bench-ready", 60)
    wait_until_ready(children["floor"], f"http://127.0.0.1:{ports['floor']}/", bool, 60)
    return emulator, children, emulator_child, ports


def measured_load(
    target: str,
    port: int,
    requests: Sequence[Request],
    concurrency: int,
    cap: float,
    children: Mapping[str, Child],
    emulator: Child,
) -> LoadResult:
    """One load run, with the CPU time the function, the emulator and this process spent."""
    cpu_before = group_cpu_seconds(children[target].process.pid)
    emulator_before = group_cpu_seconds(emulator.process.pid)
    client_before = time.process_time()
    result = run_load(target, port, requests, concurrency, cap)
    result.client_cpu = time.process_time() - client_before
    result.server_cpu = group_cpu_seconds(children[target].process.pid) - cpu_before
    result.emulator_cpu = group_cpu_seconds(emulator.process.pid) - emulator_before
    return result


def benchmark(args: argparse.Namespace, processes: Processes) -> int:
    """Start everything, warm up, load each target, count the topic, print; exit status."""
    payload = load_payload()
    source = str(FIXTURE) if FIXTURE.is_file() and payload == FIXTURE.read_bytes() else "inline"
    print_header(args, payload, source)
    sender = payload_sender(payload)
    emulator, children, emulator_child, ports = start_stack(processes, sender)

    warm_ok: dict[str, set[int]] = {}
    for target in TARGETS:
        warm = build_requests(payload, target, "warm", args.warmup)
        warm_result = run_load(target, ports[target], warm, args.concurrency, args.duration_cap)
        warm_ok[target] = warm_result.ok_ids
        print(f"warm-up {target}: {warm_result.requests} requests, {warm_result.errors} errors")
    print()

    results = {target: LoadResult(target) for target in TARGETS}
    requests = {
        target: build_requests(payload, target, "load", args.requests) for target in TARGETS
    }
    rounds = min(args.rounds, args.requests)
    for round_number in range(rounds):
        # ABBA order, so that neither target always runs first or on a warmer machine.
        order = TARGETS if round_number % 2 == 0 else TARGETS[::-1]
        for target in order:
            chunk = requests[target][round_number::rounds]
            cap = args.duration_cap - results[target].elapsed
            if cap <= 0:
                results[target].capped = True
                continue
            results[target].absorb(
                measured_load(
                    target, ports[target], chunk, args.concurrency, cap, children, emulator_child
                )
            )
    for target in TARGETS:
        print_result(results[target])

    webhook, floor = results["webhook"], results["floor"]
    print_comparison(webhook, floor)
    counts, unknown = count_messages(emulator.drain())
    warnings = check_topic(results, warm_ok, counts, unknown)
    for target in TARGETS:
        problems = log_problems(children[target])
        if problems:
            warnings.append(
                f"WARNING: {target} logged {problems} warning/error line(s);"
                f" see {children[target].log}"
            )
    for line in warnings:
        print(line)
    if warnings:
        print()
    errors = webhook.errors + floor.errors
    print(
        f"SUMMARY: webhook p50 {webhook.percentile(0.5):.2f} ms"
        f" ({_ratio(webhook.percentile(0.5), floor.percentile(0.5))} floor),"
        f" p99 {webhook.percentile(0.99):.2f} ms"
        f" ({_ratio(webhook.percentile(0.99), floor.percentile(0.99))} floor),"
        f" {webhook.throughput:.0f} req/s vs floor {floor.throughput:.0f} req/s;"
        f" {errors} error(s), {'messages OK' if not warnings else f'{len(warnings)} warning(s)'}"
    )
    return 1 if warnings or errors else 0


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so that clean-up runs."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and always stop what it started."""
    args = parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupt)
    log_dir = Path(tempfile.mkdtemp(prefix="atende-bench-"))
    processes = Processes(log_dir)
    status = 1
    try:
        status = benchmark(args, processes)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
        status = 130
    finally:
        processes.stop()
        if status == 0:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"logs kept in {log_dir}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
