"""Knowledge-base entries and their import formats (JSONL and CSV)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["KnowledgeEntry", "read_entries"]


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
        # An empty CSV cell means "use the default", not "the empty string".
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if v not in ("", None)}
        return value


def read_entries(path: Path) -> Iterator[KnowledgeEntry]:
    """Entries from a `.jsonl` or `.csv` file; raises ValueError naming the bad line."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                yield _entry(row, path, line)
        return
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if text.strip():
                try:
                    yield _entry(json.loads(text), path, line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{line}: not JSON: {error}") from error


def _entry(row: object, path: Path, line: int) -> KnowledgeEntry:
    try:
        return KnowledgeEntry.model_validate(row)
    except ValueError as error:
        raise ValueError(f"{path}:{line}: {error}") from error
