"""Versioned prompts: the texts an assistant's graph uses, and the rules of their versions.

A `PromptSet` holds every text the graph may send or show a model: the system prompt, the
REWRITE/ROUTE/VERIFY/SUMMARIZE prompts, one DRAFT prompt per specialist, and the fixed
customer-facing replies. `{display_name}` and `{scope}` in `system` and `out_of_scope` are the
assistant's own. Versions are numbered per assistant; one is published at a time (no I/O here).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["PROMPT_KEYS", "PromptError", "PromptSet", "PromptStatus", "PromptVersion"]

_MAX = 8000


class PromptSet(BaseModel):
    """The texts of one version; `version` is what each turn records."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    version: str = ""
    system: str = Field(min_length=1, max_length=_MAX)
    rewrite: str = Field(min_length=1, max_length=_MAX)
    route: str = Field(min_length=1, max_length=_MAX)
    verify: str = Field(min_length=1, max_length=_MAX)
    summarize: str = Field(min_length=1, max_length=_MAX)
    draft_knowledge: str = Field(min_length=1, max_length=_MAX)
    draft_data: str = Field(min_length=1, max_length=_MAX)
    draft_billing: str = Field(min_length=1, max_length=_MAX)
    draft_image: str = Field(min_length=1, max_length=_MAX)
    # Customer-facing: WhatsApp caps a text at 4,096 characters.
    greeting: str = Field(min_length=1, max_length=4096)
    thanks: str = Field(min_length=1, max_length=4096)
    ack: str = Field(min_length=1, max_length=4096)
    close: str = Field(min_length=1, max_length=4096)
    unreadable: str = Field(min_length=1, max_length=4096)
    ask_order_number: str = Field(min_length=1, max_length=4096)
    out_of_scope: str = Field(min_length=1, max_length=4096)

    @field_validator("system", "out_of_scope")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        # A typo such as {scpoe} would fail at the first turn; refuse it at the edit instead.
        try:
            value.format(display_name="", scope="")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(
                "only {display_name} and {scope} may appear in braces "
                f"(write {{{{ or }}}} for a literal brace): {error}"
            ) from error
        return value

    def texts(self) -> dict[str, str]:
        """The texts alone, as stored."""
        return self.model_dump(exclude={"version"})

    def draft_prompt(self, agent: str) -> str:
        """A specialist's DRAFT prompt (knowledge for an unknown agent)."""
        return {
            "data": self.draft_data,
            "billing": self.draft_billing,
            "image": self.draft_image,
        }.get(agent, self.draft_knowledge)


PROMPT_KEYS: tuple[str, ...] = tuple(k for k in PromptSet.model_fields if k != "version")


class PromptStatus(StrEnum):
    """A version's life: edited as a draft, published (one per assistant), then archived."""

    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class PromptVersion(BaseModel):
    """One stored version of an assistant's prompts (`prompt_versions`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    assistant: str
    number: int = Field(ge=1)
    texts: dict[str, str]
    status: PromptStatus
    author: str
    created_at: datetime
    published_at: datetime | None = None
    published_by: str | None = None
    # For a roll back: the version whose texts this one re-publishes.
    restored_from: int | None = None

    @property
    def label(self) -> str:
        """What turns record: `sac@v3`."""
        return f"{self.assistant}@v{self.number}"

    def prompt_set(self, *, draft: bool = False) -> PromptSet:
        """The version's texts as the graph uses them; a draft under try says so."""
        suffix = "-draft" if draft or self.status is PromptStatus.DRAFT else ""
        return PromptSet(version=f"{self.label}{suffix}", **self.texts)


class PromptError(Exception):
    """A prompt operation refused: the HTTP status and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
