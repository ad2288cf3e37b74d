"""Pseudonyms for phone numbers and names in logs."""

from __future__ import annotations

import json
import logging
import re

import pytest

from shared import observability
from shared.observability import _CloudJsonFormatter, pseudonym, set_pseudonym_key

PHONES = ["5511988887777", "5511988887778", "972987654321", "16505551234"]


@pytest.fixture(autouse=True)
def _keep_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # set_pseudonym_key changes a module global: restore it after each test.
    monkeypatch.setattr(observability, "_key", observability._key)
    set_pseudonym_key("unit-pseudonym-key")


def test_stable_for_a_key() -> None:
    assert pseudonym("5511988887777") == pseudonym("5511988887777")


def test_shape() -> None:
    assert re.fullmatch(r"c-[0-9a-f]{10}", pseudonym("5511988887777"))


def test_differs_across_values() -> None:
    tags = {pseudonym(p) for p in PHONES}
    assert len(tags) == len(PHONES)


def test_differs_across_keys() -> None:
    first = pseudonym("5511988887777")
    set_pseudonym_key("another-key")
    assert pseudonym("5511988887777") != first


@pytest.mark.parametrize("value", [*PHONES, "Maria da Silva"])
def test_never_contains_the_input(value: str) -> None:
    tag = pseudonym(value)
    assert value not in tag
    digits = re.sub(r"\D", "", value)
    if digits:
        # No run of the number's last digits survives either.
        assert digits[-6:] not in tag


@pytest.mark.parametrize("value", [None, ""])
def test_missing_value(value: str | None) -> None:
    assert pseudonym(value) == "c-none"


def test_cloud_log_lines_carry_the_environment_and_function_as_labels() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    labelled = _CloudJsonFormatter("p", {"environment": "staging", "function": "intake"})
    line = json.loads(labelled.format(record))
    assert line["logging.googleapis.com/labels"] == {
        "environment": "staging",
        "function": "intake",
    }
    bare = json.loads(_CloudJsonFormatter("p", {"environment": "", "function": ""}).format(record))
    assert "logging.googleapis.com/labels" not in bare
