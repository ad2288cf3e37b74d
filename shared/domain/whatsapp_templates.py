"""WhatsApp message templates: the only messages a business may send after the 24-hour window.

Each template is registered and approved at Meta; the collection `whatsapp_templates` mirrors
what is registered there (name, language, category, body, parameter names, status) so that the
console and the follow-ups send only approved templates with the right number of parameters.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.domain.problems import validation_problems

__all__ = [
    "TemplateCategory",
    "TemplateError",
    "TemplateStatus",
    "WhatsAppTemplate",
    "read_templates",
    "template_id",
]

_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
# Meta refuses parameter values with newlines or tabs, or more than four spaces in a row.
_BAD_VALUE = re.compile(r"[\n\t]| {5,}")


class TemplateCategory(StrEnum):
    """Meta's template categories (they set the price and where a template may be used)."""

    MARKETING = "MARKETING"
    UTILITY = "UTILITY"
    AUTHENTICATION = "AUTHENTICATION"


class TemplateStatus(StrEnum):
    """The template's review status at Meta; only approved templates can be sent."""

    APPROVED = "approved"
    PENDING = "pending"
    REJECTED = "rejected"


class TemplateError(ValueError):
    """Values that do not fit a template; the message names the field."""


def template_id(name: str, language: str) -> str:
    """The document id: one template per name and language, as Meta keys them."""
    return f"{name}.{language}"


class WhatsAppTemplate(BaseModel):
    """One template as registered at Meta; the body's {{1}}..{{n}} match `parameters`."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    # Meta's rule for names: lowercase letters, digits and underscores.
    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = Field(default="pt_BR", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    category: TemplateCategory
    body: str = Field(min_length=1, max_length=1024)
    # A name for each placeholder, in order: what the analyst or follow-up must fill in.
    parameters: list[str] = Field(default_factory=list, max_length=20)
    status: TemplateStatus = TemplateStatus.PENDING
    updated_by: str = ""
    updated_at: datetime | None = None

    @field_validator("parameters", mode="before")
    @classmethod
    def _lines(cls, value: object) -> object:
        # The page's form sends the names one per line.
        if isinstance(value, str):
            return [line.strip() for line in value.splitlines() if line.strip()]
        return value

    @field_validator("parameters")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        names = [v.strip() for v in value]
        if any(not n or len(n) > 60 for n in names):
            raise ValueError("each parameter name has 1 to 60 characters")
        if len(set(names)) != len(names):
            raise ValueError("a parameter name is repeated")
        return names

    @model_validator(mode="after")
    def _placeholders_match(self) -> WhatsAppTemplate:
        found = sorted({int(n) for n in _PLACEHOLDER.findall(self.body)})
        if found != list(range(1, len(found) + 1)):
            raise ValueError("body: placeholders must be {{1}}, {{2}}, ... without gaps")
        if len(found) != len(self.parameters):
            raise ValueError(
                f"parameters: the body has {len(found)} placeholders but "
                f"{len(self.parameters)} parameter names were given"
            )
        return self

    @property
    def id(self) -> str:
        """The document id."""
        return template_id(self.name, self.language)

    def fill(self, values: list[str]) -> str:
        """The body with these values; TemplateError if they do not fit."""
        if len(values) != len(self.parameters):
            names = ", ".join(self.parameters) or "none"
            raise TemplateError(
                f"parameters: {self.name} takes {len(self.parameters)} ({names}), got {len(values)}"
            )
        for index, value in enumerate(values):
            if not value.strip() or len(value) > 1024 or _BAD_VALUE.search(value):
                raise TemplateError(
                    f"parameters.{index}: give 1 to 1024 characters without line breaks, "
                    "tabs or more than four spaces in a row"
                )
        return _PLACEHOLDER.sub(lambda m: values[int(m.group(1)) - 1], self.body)


def read_templates(path: Path) -> list[WhatsAppTemplate]:
    """Templates from a JSONL file, one a line; ValueError naming the first bad line."""
    templates: list[WhatsAppTemplate] = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            templates.append(WhatsAppTemplate.model_validate_json(text))
        except ValidationError as error:
            raise ValueError(f"{path}:{line}: {validation_problems(error)}") from None
    return templates
