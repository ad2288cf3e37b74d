"""Customer-facing texts of the knowledge-base assistant (Brazilian Portuguese)."""

from __future__ import annotations

__all__ = ["ACK_REPLY", "GREETING_REPLY", "THANKS_REPLY", "UNREADABLE_REPLY"]

GREETING_REPLY = "Olá! Sou a assistente virtual. Como posso ajudar você hoje?"
THANKS_REPLY = "Por nada! Se precisar de mais alguma coisa, é só chamar."
ACK_REPLY = "Combinado! Se precisar de mais alguma coisa, é só chamar."
UNREADABLE_REPLY = (
    "Desculpe, não consegui ver o conteúdo da sua mensagem. "
    "Pode escrever sua dúvida em texto, por favor?"
)
