"""Recognise messages that are only a greeting, a thank-you or an acknowledgement."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

__all__ = ["SmallTalk", "small_talk_kind"]

SmallTalk = Literal["greeting", "thanks", "ack"]

# Phrases of up to three words, after accents and punctuation are stripped.
_GREETINGS = {
    "oi",
    "ola",
    "ole",
    "opa",
    "oie",
    "salve",
    "alo",
    "hello",
    "hi",
    "eai",
    "e ai",
    "bom dia",
    "boa tarde",
    "boa noite",
    "tudo bem",
    "tudo bom",
    "como vai",
}
_THANKS = {
    "obrigado",
    "obrigada",
    "obg",
    "brigado",
    "brigada",
    "valeu",
    "vlw",
    "grato",
    "grata",
    "thanks",
    "agradeco",
    "muito obrigado",
    "muito obrigada",
    "pela ajuda",
    "pela atencao",
    "por tudo",
    "obrigado mesmo",
    "obrigada mesmo",
    "valeu mesmo",
}
_ACKS = {"ok", "okay", "blz", "beleza", "certo", "entendi", "combinado", "perfeito", "show"}
_KINDS: dict[str, SmallTalk] = {
    **dict.fromkeys(_GREETINGS, "greeting"),
    **dict.fromkeys(_THANKS, "thanks"),
    **dict.fromkeys(_ACKS, "ack"),
}


def _words(text: str) -> list[str]:
    stripped = unicodedata.normalize("NFKD", text.lower())
    stripped = "".join(c for c in stripped if not unicodedata.combining(c))
    return re.sub(r"[^a-z ]+", " ", stripped).split()


# A message of nothing but these says thanks or "ok" (👍 after an answer closes the ticket).
_THANKS_EMOJI = frozenset("🙏❤💙💚😍🥰")
_ACK_EMOJI = frozenset("👍👌✅👏🤝😊🙂😀😁😃😄☺")


def _emoji_kind(text: str) -> SmallTalk | None:
    symbols = {c for c in text if not c.isspace() and unicodedata.category(c) not in ("Mn", "Cf")}
    # Variation selectors and skin tones change how an emoji looks, not what it says.
    symbols = {c for c in symbols if c != "\ufe0f" and not "\U0001f3fb" <= c <= "\U0001f3ff"}
    if not symbols:
        return None
    if symbols <= _THANKS_EMOJI | _ACK_EMOJI:
        return "thanks" if symbols & _THANKS_EMOJI else "ack"
    return None


def small_talk_kind(text: str) -> SmallTalk | None:
    """The kind of small talk when the text says nothing else; None otherwise.

    Thanks wins over a greeting ("bom dia, obrigado"), and a greeting over an acknowledgement.
    """
    words = _words(text)
    if not words:
        return _emoji_kind(text)
    if len(words) > 6:
        return None
    found: set[SmallTalk] = set()
    i = 0
    while i < len(words):
        for size in (3, 2, 1):
            kind = _KINDS.get(" ".join(words[i : i + size]))
            if kind is not None:
                found.add(kind)
                i += size
                break
        else:
            return None
    for kind in ("thanks", "greeting", "ack"):
        if kind in found:
            return kind  # type: ignore[return-value]
    return None
