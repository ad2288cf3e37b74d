"""Layout of terraform/: typed and described inputs, described outputs, a README that lists
every file, environment files that set only real variables, alerts that notify and document.

What Terraform deploys is checked against the code in test_terraform_crosscheck.py.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
FUNCTIONS = sorted(path.parent.name for path in (REPO_ROOT / "functions").glob("*/main.py"))
_OPTIONS = hcl2.SerializationOptions(
    strip_string_quotes=True, with_comments=False, explicit_blocks=False
)


@cache
def _load(path: Path) -> dict[str, Any]:
    """One file, parsed once (the tests only read it)."""
    with path.open(encoding="utf-8") as handle:
        return dict(hcl2.load(handle, serialization_options=_OPTIONS))


def _blocks(kind: str) -> dict[str, dict[str, Any]]:
    """name -> body of every top-level block of a kind (variable, output) in terraform/*.tf."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        for block in _load(path).get(kind, []):
            found.update(block)
    return found


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        for block in _load(path).get("resource", []):
            found.update(block.get(kind, {}))
    return found


def test_every_file_parses_and_is_listed_in_the_readme() -> None:
    readme = (TERRAFORM_DIR / "README.md").read_text(encoding="utf-8")
    files = sorted(TERRAFORM_DIR.glob("*.tf"))
    assert files
    unlisted = [path.name for path in files if f"`{path.name}`" not in readme]
    assert unlisted == [], "add these files to the table in terraform/README.md"
    for path in files:
        _load(path)


def test_every_variable_is_typed_and_described() -> None:
    variables = _blocks("variable")
    assert variables
    assert [name for name, body in variables.items() if not body.get("description")] == []
    assert [name for name, body in variables.items() if "type" not in body] == []


def test_every_output_is_described() -> None:
    outputs = _blocks("output")
    assert {"webhook_url", "function_urls", "topics", "dashboard_url"} <= set(outputs)
    assert [name for name, body in outputs.items() if not body.get("description")] == []


@pytest.mark.parametrize(
    "path", sorted(TERRAFORM_DIR.glob("environments/*.tfvars")), ids=lambda path: path.name
)
def test_environment_files_set_only_declared_variables(path: Path) -> None:
    values = _load(path)
    assert set(values) <= set(_blocks("variable")), f"{path.name} sets undeclared variables"
    assert set(values.get("function_settings", {})) <= set(FUNCTIONS)


def test_function_settings_default_covers_every_function() -> None:
    default = _blocks("variable")["function_settings"]["default"]
    assert set(default) == set(FUNCTIONS)


# A follow-up tick is a batch of trails; below this it is cut off mid-batch, and the next tick
# starts with the same batch (the push subscription's 600 s ack deadline is the upper bound,
# a precondition in pubsub.tf).
FOLLOWUPS_MIN_TIMEOUT_SECONDS = 540


def test_followups_gets_a_whole_tick_everywhere() -> None:
    # An environment file's function_settings replaces the default map, so an environment
    # that does not size followups gives it the 55 s of local.default_function_settings.
    settings = {"default": _blocks("variable")["function_settings"]["default"]}
    for path in sorted(TERRAFORM_DIR.glob("environments/*.tfvars")):
        values = _load(path)
        if "function_settings" in values:
            settings[path.name] = values["function_settings"]
    for where, functions in settings.items():
        timeout = functions.get("followups", {}).get("timeout_seconds", 0)
        assert timeout >= FOLLOWUPS_MIN_TIMEOUT_SECONDS, f"{where}: followups gets {timeout} s"


def test_every_alert_notifies_and_documents() -> None:
    policies = _resources("google_monitoring_alert_policy")
    assert {"dead_letter", "function_error_rate", "webhook_latency", "llm_daily_cost"} <= set(
        policies
    )
    for name, body in policies.items():
        assert body.get("notification_channels") == "${local.alert_notification_channels}", name
        documentation = body.get("documentation", [{}])[0]
        assert documentation.get("subject") and documentation.get("content"), name
        assert "runbook" in documentation["content"], name
        assert body.get("severity") in {"CRITICAL", "ERROR", "WARNING"}, name


def test_the_dashboard_is_json_encoded_from_locals() -> None:
    dashboards = _resources("google_monitoring_dashboard")
    assert list(dashboards) == ["atende"]
    assert dashboards["atende"]["dashboard_json"] == "${jsonencode(local.dashboard_layout)}"


def test_log_metrics_are_named_under_atende() -> None:
    metrics = _resources("google_logging_metric")
    assert metrics
    names = {body["name"] for body in metrics.values()}
    assert all(re.fullmatch(r"atende/[a-z_]+", name) for name in names), names
