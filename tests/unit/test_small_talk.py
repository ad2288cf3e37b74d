"""Recognising messages that are only a greeting or a thank-you."""

from __future__ import annotations

import pytest

from shared.agents.small_talk import small_talk_kind


@pytest.mark.parametrize(
    "text",
    [
        "Oi",
        "oi!",
        "OLÁ",
        "Olá",
        "olá!!!",
        "Bom dia",
        "bom dia!",
        "Boa tarde",
        "boa noite",
        "E aí",
        "eai",
        "Tudo bem?",
        "oi, tudo bem?",
        "Olá, boa tarde!",
        "oi oi",
        "😀 oi",
        "hello",
    ],
)
def test_greetings(text: str) -> None:
    assert small_talk_kind(text) == "greeting"


@pytest.mark.parametrize(
    "text",
    [
        "obrigado",
        "Obrigada!",
        "muito obrigado",
        "Muito obrigada!!",
        "valeu",
        "vlw",
        "obg",
        "ok, obrigado",
        "Ok obrigada",
        "grato",
        "thanks",
        "obrigado obrigado",
    ],
)
def test_thanks(text: str) -> None:
    assert small_talk_kind(text) == "thanks"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "?",
        "🚀",
        "👍 e o reembolso?",
        "Vocês aceitam PIX?",
        "oi, quero a segunda via do boleto",
        "Oi, preciso de ajuda",
        "bom dia, qual o horário de funcionamento?",
        "obrigado, mas e o reembolso?",
        "tchau",
        # More than six words is never only small talk.
        "oi oi oi oi oi oi oi",
    ],
)
def test_anything_else_is_not_small_talk(text: str) -> None:
    assert small_talk_kind(text) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [("👍", "ack"), ("👍🏽", "ack"), ("👌✅", "ack"), ("🙏", "thanks"), ("❤️", "thanks")],
)
def test_an_emoji_alone_says_ok_or_thanks(text: str, kind: str) -> None:
    assert small_talk_kind(text) == kind


def test_accents_and_case_are_ignored() -> None:
    assert small_talk_kind("OLÁ") == small_talk_kind("ola") == "greeting"
    assert small_talk_kind("É AÍ") == "greeting"
    assert small_talk_kind("E AÍ") == "greeting"


@pytest.mark.parametrize("text", ["bom dia, obrigado", "valeu, boa noite", "Obrigada, boa tarde!"])
def test_greeting_mixed_with_thanks_is_small_talk(text: str) -> None:
    assert small_talk_kind(text) in ("greeting", "thanks")
