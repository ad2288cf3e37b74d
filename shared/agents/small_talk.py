"""Recognise messages that are only a greeting or a thank-you."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

__all__ = ["small_talk_kind"]

_GREETINGS = {
    "oi",
    "ola",
    "ole",
    "opa",
    "eai",
    "e ai",
    "bom dia",
    "boa tarde",
    "boa noite",
    "tudo bem",
    "tudo bom",
    "hello",
    "hi",
    "alo",
    "oie",
    "salve",
}
_THANKS = {
    "obrigado",
    "obrigada",
    "obg",
    "valeu",
    "vlw",
    "muito obrigado",
    "muito obrigada",
    "ok obrigado",
    "ok obrigada",
    "brigado",
    "brigada",
    "grato",
    "grata",
    "thanks",
}
_FILLERS = {"", "ok", "blz", "beleza", "certo", "entendi"}


def _normalise(text: str) -> str:
    stripped = unicodedata.normalize("NFKD", text.lower())
    stripped = "".join(c for c in stripped if not unicodedata.combining(c))
    return re.sub(r"[^a-z ]+", " ", stripped).strip()


def small_talk_kind(text: str) -> Literal["greeting", "thanks"] | None:
    """'greeting' or 'thanks' when the text says nothing else; None otherwise."""
    words = _normalise(text).split()
    if not words or len(words) > 6:
        return None
    phrase = " ".join(words)
    if phrase in _GREETINGS:
        return "greeting"
    if phrase in _THANKS:
        return "thanks"
    # "oi, tudo bem?" or "bom dia, obrigado": every piece is small talk.
    pieces = re.split(r"\s+", phrase)
    joined = {" ".join(pieces[i : i + 2]) for i in range(len(pieces) - 1)}
    if all(
        p in _GREETINGS or p in _FILLERS or any(p in j for j in joined & _GREETINGS) for p in pieces
    ):
        return "greeting"
    if all(
        p in _THANKS | _GREETINGS | _FILLERS or any(p in j for j in joined & _THANKS)
        for p in pieces
    ) and any(p in _THANKS for p in pieces):
        return "thanks"
    return None
