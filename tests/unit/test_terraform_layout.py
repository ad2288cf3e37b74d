"""Light structural checks of terraform/: plain-text reads, no HCL parser, no providers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
TOPICS = ("inbound", "agent-turns", "outbound", "handoffs", "dead-letter")
PRIMITIVE_ROLES = re.compile(r"roles/(owner|editor|viewer)\b")


def _tf_files() -> list[Path]:
    return sorted(TERRAFORM_DIR.glob("*.tf"))


def _read(name: str) -> str:
    return (TERRAFORM_DIR / name).read_text(encoding="utf-8")


def _blocks(text: str, kind: str) -> dict[str, str]:
    """Bodies of the top-level `kind "name" { ... }` blocks, matched by brace counting."""
    bodies: dict[str, str] = {}
    for match in re.finditer(rf'^{kind} "([^"]+)" \{{', text, flags=re.MULTILINE):
        depth, position = 1, match.end()
        while depth and position < len(text):
            depth += {"{": 1, "}": -1}.get(text[position], 0)
            position += 1
        bodies[match.group(1)] = text[match.end() : position - 1]
    return bodies


def _terraform_functions() -> dict[str, str]:
    """Function directory name -> entry point, from `functions = { ... }` in locals.tf."""
    block = re.search(
        r"^  functions = \{\n(.*?)^  \}\n", _read("locals.tf"), re.MULTILINE | re.DOTALL
    )
    assert block, "locals.tf declares no `functions = { ... }` map"
    entries = re.findall(
        r'^    (\w+) = \{\n\s+entry_point\s+= "(\w+)"', block.group(1), flags=re.MULTILINE
    )
    return dict(entries)


def test_locals_declare_the_five_functions() -> None:
    assert set(_terraform_functions()) == {
        "webhook",
        "intake",
        "agent_turn",
        "outbound",
        "dead_letter",
    }


@pytest.mark.parametrize("name", sorted(_terraform_functions()))
def test_terraform_function_has_its_entry_point_in_code(name: str) -> None:
    main = REPO_ROOT / "functions" / name / "main.py"
    if not main.is_file():
        pytest.skip(f"functions/{name}/main.py is not written yet")
    entry_point = _terraform_functions()[name]
    assert re.search(rf"^def {entry_point}\(", main.read_text(encoding="utf-8"), re.MULTILINE), (
        f"functions/{name}/main.py defines no `{entry_point}` entry point"
    )


def test_every_function_directory_is_deployed() -> None:
    written = {path.parent.name for path in (REPO_ROOT / "functions").glob("*/main.py")}
    assert written <= set(_terraform_functions()), "a function is missing from terraform/locals.tf"


def test_all_topics_are_declared() -> None:
    locals_tf = _read("locals.tf")
    topics = re.search(r"topics\s*=\s*toset\(\[([^\]]*)\]\)", locals_tf)
    assert topics, "locals.tf declares no topics set"
    assert set(re.findall(r'"([^"]+)"', topics.group(1))) == set(TOPICS)


def test_no_primitive_roles() -> None:
    offenders = [
        path.name
        for path in _tf_files()
        if PRIMITIVE_ROLES.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_every_variable_is_typed_and_described() -> None:
    variables = _blocks(_read("variables.tf"), "variable")
    assert variables
    undescribed = [
        name
        for name, body in variables.items()
        if not re.search(r"^\s*description\s*=", body, re.MULTILINE)
    ]
    untyped = [
        name
        for name, body in variables.items()
        if not re.search(r"^\s*type\s*=", body, re.MULTILINE)
    ]
    assert undescribed == []
    assert untyped == []


def test_every_output_is_described() -> None:
    outputs = _blocks(_read("outputs.tf"), "output")
    assert {"webhook_url", "function_urls", "topics"} <= set(outputs)
    assert [name for name, body in outputs.items() if "description" not in body] == []


def test_topology_matches_the_local_stack() -> None:
    topology = pytest.importorskip("shared.topology")
    locals_tf = _read("locals.tf")
    assert set(topology.TOPICS) == set(TOPICS)
    for subscription in topology.PUSH_SUBSCRIPTIONS:
        block = re.search(rf'"{re.escape(subscription.name)}" = \{{(.*?)\}}', locals_tf, re.DOTALL)
        assert block, f"push subscription {subscription.name} is not in locals.tf"
        body = block.group(1)
        assert re.search(rf'topic\s+= "{subscription.topic}"', body)
        assert re.search(rf'function\s+= "{subscription.function}"', body)
        assert re.search(rf"ack_deadline_seconds\s+= {subscription.ack_deadline_seconds}\b", body)
        assert re.search(rf"message_ordering\s+= {str(subscription.ordered).lower()}\b", body)
        assert re.search(rf"dead_letter\s+= {str(subscription.dead_letter).lower()}\b", body)
    for name, topic in topology.PULL_SUBSCRIPTIONS.items():
        assert re.search(rf'"{re.escape(name)}"\s+= \{{ topic = "{topic}" \}}', locals_tf), (
            f"pull subscription {name} on {topic} is not in locals.tf"
        )
