"""Fakes of the agent graph's ports for the graph's tests; they record what they are asked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.domain.models import (
    Conversation,
    ImageReading,
    InboundMessage,
    KnowledgeHit,
    ToolResult,
)

MIN_SCORE = 0.42
HANDOFF = "Olá! Será necessária uma intervenção humana."
PHONE = "5511988887777"

ORDER = {
    "order_number": "482913",
    "status": "in_transit",
    "status_label": "Em trânsito",
    "expected_delivery": "2026-11-28",
    "updated_at": "2026-11-24T10:00:00-03:00",
    "total": "189.90",
}
INVOICES = {
    "invoices": [
        {
            "invoice_id": "FAT-1001",
            "amount": "249.90",
            "due_date": "2026-11-10",
            "status": "overdue",
            "boleto_line": "34191.79001 01043.510047 91020.150008 1 12340000024990",
            "pix_code": "00020126580014br.gov.bcb.pix0136atende-demo",
            "payment_link": "https://pagar.example.com/FAT-1001",
        }
    ]
}
STORES = {
    "stores": [
        {
            "store_id": "cps-01",
            "name": "Mercadinho Cambuí",
            "address": "Rua Coronel Quirino, 1200",
            "city": "Campinas",
            "hours": "24 horas",
        }
    ]
}


@dataclass
class FakeTools:
    """BusinessTools that answer from fixed data and record every call."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=lambda: {"482913": ORDER})

    def call(self, tool: str, arguments: Mapping[str, object]) -> ToolResult:
        self.calls.append((tool, dict(arguments)))
        if tool == "order_status":
            order = self.orders.get(str(arguments["order_number"]))
            data = {"found": True, "order": order} if order else {"found": False}
            return ToolResult(tool=tool, arguments=dict(arguments), ok=True, data=data)
        if tool == "invoice_copy":
            return ToolResult(tool=tool, arguments=dict(arguments), ok=True, data=INVOICES)
        if tool == "store_info":
            return ToolResult(tool=tool, arguments=dict(arguments), ok=True, data=STORES)
        if tool == "open_ticket":
            protocol = {"protocol": "ATD-1A2B3C4D"}
            return ToolResult(tool=tool, arguments=dict(arguments), ok=True, data=protocol)
        return ToolResult(tool=tool, arguments=dict(arguments), ok=False, error="unknown tool")

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@dataclass
class FakeImages:
    """An ImageReader that returns one scripted reading."""

    reading: ImageReading
    read_ids: list[str] = field(default_factory=list)

    def read(self, media_id: str, *, phone_number_id: str) -> ImageReading:
        self.read_ids.append(media_id)
        return self.reading


@dataclass
class ScriptedKB:
    """A knowledge base with hits per namespace and question (a default otherwise)."""

    hits: dict[tuple[str, str], list[KnowledgeHit]] = field(default_factory=dict)
    default: dict[str, list[KnowledgeHit]] = field(default_factory=dict)
    searches: list[tuple[str, str]] = field(default_factory=list)

    def search(self, namespace: str, question: str, *, limit: int = 3) -> list[KnowledgeHit]:
        self.searches.append((namespace, question))
        found = self.hits.get((namespace, question), self.default.get(namespace, []))
        return list(found)[:limit]


def kb_hit(entry_id: str, answer: str, score: float, category: str = "geral") -> KnowledgeHit:
    return KnowledgeHit(
        entry_id=entry_id,
        question=f"pergunta {entry_id}",
        answer=answer,
        score=score,
        category=category,
    )


def conversation(assistant: str = "sac") -> Conversation:
    return Conversation(
        conversation_id=f"100000000000001:{PHONE}",
        wa_id=PHONE,
        phone_number_id="100000000000001",
        assistant=assistant,
        contact_name="Maria",
    )


def message(text: str, index: int, *, type_: str = "text", media_id: str | None = None) -> Any:
    return InboundMessage(
        message_id=f"wamid.{index}",
        wa_id=PHONE,
        phone_number_id="100000000000001",
        type=type_,
        timestamp=datetime(2026, 11, 25, 15, 0, index % 60, tzinfo=UTC),
        text=text,
        media_id=media_id,
        wakes_agent=True,
    )
