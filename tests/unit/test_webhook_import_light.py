"""The webhook's cold start must not drag in the agent stack (LangChain / LangGraph).

Nor OpenTelemetry's SDK or exporters: the webhook imports only the API, and the SDK is loaded
by shared.tracing.configure_tracing when TRACE_EXPORTER asks for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import importlib.util, json, sys, time
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("webhook_main", "functions/webhook/main.py")
module = importlib.util.module_from_spec(spec)
sys.modules["webhook_main"] = module
spec.loader.exec_module(module)
elapsed = time.perf_counter() - start
heavy = sorted(
    name for name in sys.modules
    if name.split(".")[0].startswith(("langchain", "langgraph"))
    or name.startswith(("opentelemetry.sdk", "opentelemetry.exporter"))
)
print(json.dumps({"seconds": elapsed, "heavy": heavy, "has_entry": hasattr(module, "webhook")}))
"""


def test_webhook_import_does_not_load_the_agent_stack_or_the_tracing_sdk(repo_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["has_entry"], "functions/webhook/main.py has no `webhook` function"
    assert report["heavy"] == [], (
        f"webhook import ({report['seconds']:.2f} s) loaded {report['heavy'][:10]}"
    )
    # Not a timing assertion; the number is in the message of the check above when it fails.
    print(f"webhook main imported in {report['seconds']:.2f} s")
