"""Knowledge-base entries and their import formats (JSONL and CSV)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.domain.problems import validation_problems

__all__ = [
    "ImportReport",
    "KnowledgeEntry",
    "blank_cells_absent",
    "file_rows",
    "read_entries",
    "read_file",
]


class KnowledgeEntry(BaseModel):
    """A question the assistants can answer, with its paraphrases."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    namespace: str = "sac"
    category: str = "geral"
    tags: list[str] = Field(default_factory=list)
    paraphrases: list[str] = Field(default_factory=list)
    expires_at: datetime | None = None
    source: Literal["curated", "analyst", "imported"] = "imported"
    author: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def stored_fields(self) -> dict[str, object]:
        """The fields every stored variant of the entry repeats, whatever the backend."""
        return {
            "question": self.question,
            "paraphrases": self.paraphrases,
            "answer": self.answer,
            "namespace": self.namespace,
            "category": self.category,
            "tags": self.tags,
            "source": self.source,
            "author": self.author,
        }

    def texts(self) -> list[str]:
        """The question and its paraphrases: each gets a vector of its own."""
        return [self.question, *self.paraphrases]

    def keyword_text(self) -> str:
        """What the keyword side of hybrid search matches against."""
        return " ".join([*self.texts(), " ".join(self.tags), self.answer])

    def is_expired(self, now: datetime) -> bool:
        """Past its expiry: never answered from, whether or not cleanup has run."""
        return self.expires_at is not None and self.expires_at <= now

    @field_validator("tags", "paraphrases", mode="before")
    @classmethod
    def _split_cell(cls, value: object) -> object:
        # CSV cells hold lists as "a|b|c".
        if isinstance(value, str):
            return [part.strip() for part in value.split("|") if part.strip()]
        return value

    @model_validator(mode="before")
    @classmethod
    def _blank_cells_are_absent(cls, value: object) -> object:
        return blank_cells_absent(value)


@dataclass
class ImportReport:
    """What an import read: the valid entries and the lines it skipped, with why."""

    entries: list[KnowledgeEntry] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def read_entries(path: Path, *, default_namespace: str = "sac") -> Iterator[KnowledgeEntry]:
    """Entries from a `.jsonl` or `.csv` file; raises ValueError naming the first bad line."""
    report = read_file(path, default_namespace=default_namespace)
    if report.skipped:
        line, reason = report.skipped[0]
        raise ValueError(f"{path}:{line}: {reason}")
    yield from report.entries


def read_file(path: Path, *, default_namespace: str = "sac") -> ImportReport:
    """Every valid entry of a `.jsonl` or `.csv` file, and each bad line with its reason."""
    report = ImportReport()
    seen: dict[str, int] = {}
    for line, row in file_rows(path):
        if isinstance(row, str):
            report.skipped.append((line, row))
            continue
        if isinstance(row, dict) and not row.get("namespace"):
            row = {**row, "namespace": default_namespace}
        try:
            entry = KnowledgeEntry.model_validate(row)
        except ValidationError as error:
            report.skipped.append((line, validation_problems(error)))
            continue
        if entry.id in seen:
            report.skipped.append((line, f"id {entry.id} repeats line {seen[entry.id]}"))
            continue
        seen[entry.id] = line
        report.entries.append(entry)
    return report


def blank_cells_absent(value: object) -> object:
    """A row without its empty cells: an empty CSV cell means "not given", not ""."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v not in ("", None)}
    return value


def file_rows(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed row) pairs; a row that cannot be parsed comes as its error text."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                yield line, row
        return
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                yield line, json.loads(text)
            except json.JSONDecodeError as error:
                yield line, f"not JSON: {error.msg}"
