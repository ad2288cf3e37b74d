"""Which business tools each agent of each assistant may call, enforced before the hub.

An agent asks for tools by name, and a model can name any tool it has heard of. The
allow-list keeps each agent to its job: the billing agent of `cobranca` may copy an invoice,
the small-talk agent may call nothing. A refused call never reaches the hub.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from shared.domain.models import ToolResult
from shared.ports import BusinessTools

__all__ = ["AGENTS", "TOOL_ALLOW_LIST", "AllowListedTools", "allowed_tools"]

logger = logging.getLogger(__name__)

AGENTS = ("knowledge", "data", "image", "billing", "human", "out_of_scope", "small_talk")

_NONE: frozenset[str] = frozenset()


def _agents(**granted: frozenset[str]) -> Mapping[str, frozenset[str]]:
    """Every agent of an assistant, with nothing allowed unless granted."""
    unknown = set(granted) - set(AGENTS)
    if unknown:
        raise ValueError(f"unknown agents {sorted(unknown)}")
    return {agent: granted.get(agent, _NONE) for agent in AGENTS}


# assistant -> agent -> tools. sac serves customers, saf franchisees, cobranca debtors.
TOOL_ALLOW_LIST: Mapping[str, Mapping[str, frozenset[str]]] = {
    "sac": _agents(
        data=frozenset({"order_status", "store_info"}),
        # An image is often a photo of an order receipt or label.
        image=frozenset({"order_status"}),
        billing=frozenset({"invoice_copy"}),
        human=frozenset({"open_ticket"}),
    ),
    "saf": _agents(
        data=frozenset({"order_status", "store_info"}),
        image=frozenset({"order_status"}),
        billing=frozenset({"invoice_copy"}),
        human=frozenset({"open_ticket"}),
    ),
    "cobranca": _agents(
        data=frozenset({"order_status"}),
        billing=frozenset({"invoice_copy"}),
        human=frozenset({"open_ticket"}),
    ),
}


def allowed_tools(assistant: str, agent: str) -> frozenset[str]:
    """The tools an agent of an assistant may call; none for an unknown pair."""
    return TOOL_ALLOW_LIST.get(assistant, {}).get(agent, _NONE)


class AllowListedTools:
    """BusinessTools for one agent: calls outside its allow-list are refused here."""

    def __init__(self, tools: BusinessTools, *, assistant: str, agent: str) -> None:
        self._tools = tools
        self.assistant = assistant
        self.agent = agent
        self.allowed = allowed_tools(assistant, agent)

    def call(self, tool: str, arguments: Mapping[str, object]) -> ToolResult:
        """Forward an allowed call; refuse any other without reaching the hub."""
        if tool not in self.allowed:
            # The name only (a model wrote it, so cut short): arguments may hold a number.
            logger.warning(
                "tool call refused: agent %s of assistant %s asked for %s",
                self.agent,
                self.assistant,
                tool[:80],
            )
            return ToolResult(tool=tool, arguments=dict(arguments), ok=False, error="refused")
        return self._tools.call(tool, arguments)
