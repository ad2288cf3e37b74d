"""The no-invented-facts rule: every number, date and amount in a reply must come from a source.

Sources are knowledge-base entries, tool results, the text read off an image and the customer's
own messages (echoing the order number they typed is not inventing it). Comparison is on
canonical forms, so "R$ 249,90" matches a tool's "249.90" and "28/11/2026" its "2026-11-28".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

__all__ = ["facts_in", "unsupported_facts"]

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:[T ][\d:.+\-Z]*)?")
_BR_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b")
# A number, with thousands and decimal separators, not an ordinal ("2ª via", "1º andar").
_NUMBER = re.compile(r"(?<![\w])(\d[\d.,]*\d|\d)(?![ªº°\w])")


def _date_key(day: str, month: str, year: str | None) -> str:
    key = f"{int(day):02d}/{int(month):02d}"
    if year:
        full = int(year) + (2000 if len(year) == 2 else 0)
        key += f"/{full}"
    return key


def facts_in(text: str) -> set[str]:
    """Canonical dates ("dd/mm/yyyy" and "dd/mm") and numbers (digits only) in a text."""
    found: set[str] = set()
    rest = text
    for match in _ISO_DATE.finditer(text):
        year, month, day = match.groups()
        found.add(_date_key(day, month, year))
        found.add(_date_key(day, month, None))
    rest = _ISO_DATE.sub(" ", rest)
    for match in _BR_DATE.finditer(rest):
        day, month, year = match.groups()
        if 1 <= int(day) <= 31 and 1 <= int(month) <= 12:
            found.add(_date_key(day, month, year))
            found.add(_date_key(day, month, None))
    rest = _BR_DATE.sub(" ", rest)
    for match in _NUMBER.finditer(rest):
        digits = re.sub(r"\D", "", match.group(1))
        found.add(digits.lstrip("0") or "0")
        # "249.9" in JSON is "249,90" in a reply.
        if re.search(r"[.,]\d$", match.group(1)):
            found.add(digits + "0")
    return found


def _texts(sources: Iterable[object]) -> Iterable[str]:
    for source in sources:
        if isinstance(source, str):
            yield source
        else:
            yield json.dumps(source, ensure_ascii=False, default=str)


def unsupported_facts(reply: str, sources: Iterable[object]) -> list[str]:
    """The facts of `reply` that no source contains, in the order they appear."""
    allowed: set[str] = set()
    for text in _texts(sources):
        allowed |= facts_in(text)
    return sorted(facts_in(reply) - allowed, key=reply.find)
