"""The assistants one deployment serves, and what each may do.

The WhatsApp phone number id selects the assistant (Settings.assistants_by_phone_number_id);
the assistant selects the routes its router may pick, the knowledge-base namespace of each
route and, through shared.agents.tool_access, the tools of each agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = ["PROFILES", "ROUTES", "AssistantProfile", "Route", "agent_of", "profile_for"]

Route = Literal["sac", "saf", "billing", "image", "data", "small_talk", "human", "out_of_scope"]
ROUTES: Final[tuple[Route, ...]] = (
    "sac",
    "saf",
    "billing",
    "image",
    "data",
    "small_talk",
    "human",
    "out_of_scope",
)

# The agent behind each route, as the tool allow-list names them.
_AGENT_OF_ROUTE: Final[Mapping[Route, str]] = {
    "sac": "knowledge",
    "saf": "knowledge",
    "billing": "billing",
    "image": "image",
    "data": "data",
    "small_talk": "small_talk",
    "human": "human",
    "out_of_scope": "out_of_scope",
}


def agent_of(route: Route) -> str:
    """The agent (specialist) that handles a route."""
    return _AGENT_OF_ROUTE[route]


@dataclass(frozen=True, slots=True)
class AssistantProfile:
    """One assistant: its name for customers, its routes and their knowledge namespaces."""

    name: str
    display_name: str
    scope: str
    routes: tuple[Route, ...]
    # The route a question goes to when nothing points elsewhere.
    default_route: Route
    namespaces: Mapping[Route, str] = field(default_factory=dict)
    # Its debtors' opt-outs, promises, instalment requests and disputes are decided by the
    # billing rules (shared.agents.debt_collection), not by the knowledge base.
    collects_debts: bool = False

    def namespace_for(self, route: Route) -> str:
        """The knowledge-base namespace the route searches."""
        return self.namespaces.get(route, self.name)

    def allows(self, route: Route) -> bool:
        """Whether this assistant's router may pick the route."""
        return route in self.routes


_COMMON: Final[tuple[Route, ...]] = ("image", "data", "small_talk", "human", "out_of_scope")

PROFILES: Final[Mapping[str, AssistantProfile]] = {
    "sac": AssistantProfile(
        name="sac",
        display_name="Atendimento ao Cliente",
        scope="compras, pagamentos, entregas, lojas, aplicativo e cadastro",
        routes=("sac", "saf", "billing", *_COMMON),
        default_route="sac",
        namespaces={"sac": "sac", "saf": "saf", "billing": "cobranca"},
    ),
    "saf": AssistantProfile(
        name="saf",
        display_name="Suporte ao Franqueado",
        scope="operação da loja franqueada, estoque, sistema, repasses e contratos",
        routes=("saf", "sac", "billing", *_COMMON),
        default_route="saf",
        namespaces={"sac": "sac", "saf": "saf", "billing": "cobranca"},
    ),
    "cobranca": AssistantProfile(
        name="cobranca",
        display_name="Cobrança",
        scope="boletos, PIX, segunda via, acordos e parcelamento de débitos",
        routes=("billing", "sac", *_COMMON),
        default_route="billing",
        namespaces={"billing": "cobranca", "sac": "sac"},
        collects_debts=True,
    ),
}


def profile_for(assistant: str) -> AssistantProfile:
    """The profile of an assistant; an unknown name gets the customer-care routes."""
    known = PROFILES.get(assistant)
    if known is not None:
        return known
    base = PROFILES["sac"]
    return AssistantProfile(
        name=assistant,
        display_name=base.display_name,
        scope=base.scope,
        routes=base.routes,
        default_route=base.default_route,
        namespaces={**base.namespaces, "sac": assistant},
    )
