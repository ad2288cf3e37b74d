"""BusinessData from a JSON file: the demo's orders, invoices and stores.

The file (samples/business.json by default, BUSINESS_DATA_PATH otherwise) holds three lists,
`orders`, `invoices` and `stores`, in the shape of shared.domain.business; keys starting with
`_` are comments. It is read and checked once, when the adapter is built, so a broken file
stops the hub at start-up with the place of the first problem, not at a customer's question.

Tickets are kept in memory only: a real CRM adapter stores them (and their idempotency keys)
where analysts can see them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.domain.business import Invoice, Order, ServiceRequest, Store, fold_text
from shared.observability import pseudonym
from shared.settings import Settings

__all__ = ["DEFAULT_BUSINESS_DATA", "BusinessDataError", "JsonBusinessData", "protocol_for"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# The repository root locally, the bundle's root in the cloud (build_bundles copies samples/).
DEFAULT_BUSINESS_DATA = Path(__file__).resolve().parents[2] / "samples" / "business.json"

# Words that say what is wanted, not where: "loja", "em", "unidade"... dropped from queries.
_QUERY_NOISE = frozenset(
    {
        "a", "as", "o", "os", "de", "da", "das", "do", "dos", "e", "em", "na", "nas", "no",
        "nos", "para", "perto", "proximo", "proxima", "regiao", "bairro", "cidade", "loja",
        "lojas", "unidade", "unidades", "franquia", "franquias", "atende", "endereco",
        "horario", "horarios", "telefone", "qual", "quais", "onde", "tem", "ha", "store",
        "stores", "in", "near",
    }
)  # fmt: skip
# Nicknames of cities ("SP" stays the state: it also finds Campinas).
_ALIASES = {"bh": ("belo", "horizonte"), "sampa": ("sao", "paulo")}


class BusinessDataError(ValueError):
    """The business data file is missing or malformed; the message says where."""


def protocol_for(idempotency_key: str) -> str:
    """The ticket protocol a key always maps to: `ATD-` and 8 hex digits of its SHA-256."""
    return "ATD-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:8].upper()


def _records(document: Mapping[str, Any], key: str, model: type[M], source: str) -> list[M]:
    raw = document.get(key, [])
    if not isinstance(raw, list):
        raise BusinessDataError(f"{source}: `{key}` must be a list")
    records = []
    for index, item in enumerate(raw):
        try:
            records.append(model.model_validate(item))
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            raise BusinessDataError(
                f"{source}: {key}[{index}].{where}: {first['msg']}"
                + (f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else "")
            ) from error
    return records


def _unique(items: list[T], key: str, source: str, kind: str) -> dict[str, T]:
    found: dict[str, T] = {}
    for item in items:
        value = str(getattr(item, key))
        if value in found:
            raise BusinessDataError(f"{source}: {kind} {key} {value} appears twice")
        found[value] = item
    return found


def _query_terms(query: str) -> list[str]:
    words = re.findall(r"[a-z0-9-]+", fold_text(query))
    expanded = [part for word in words for part in _ALIASES.get(word, (word,))]
    return [word for word in expanded if word not in _QUERY_NOISE]


class JsonBusinessData:
    """BusinessData over one JSON document, held in memory."""

    def __init__(self, document: Mapping[str, Any], *, source: str = "business data") -> None:
        if not isinstance(document, Mapping):
            raise BusinessDataError(f"{source}: the top level must be a JSON object")
        unknown = sorted(
            k
            for k in document
            if not k.startswith("_") and k not in {"orders", "invoices", "stores"}
        )
        if unknown:
            raise BusinessDataError(f"{source}: unknown keys {unknown}")
        self._orders = _unique(
            _records(document, "orders", Order, source), "order_number", source, "order"
        )
        invoices = _records(document, "invoices", Invoice, source)
        _unique(invoices, "invoice_id", source, "invoice")
        self._invoices: dict[str, list[Invoice]] = {}
        for invoice in invoices:
            self._invoices.setdefault(invoice.customer_phone, []).append(invoice)
        stores = _unique(_records(document, "stores", Store, source), "store_id", source, "store")
        self._stores = list(stores.values())
        missing = sorted({o.store_id for o in self._orders.values()} - stores.keys())
        if missing:
            raise BusinessDataError(f"{source}: orders name unknown stores {missing}")
        self._tickets: dict[str, ServiceRequest] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_path(cls, path: str | Path) -> JsonBusinessData:
        """Read and check a JSON file."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError as error:
            raise BusinessDataError(
                f"business data file {file} not found (set BUSINESS_DATA_PATH)"
            ) from error
        except OSError as error:
            raise BusinessDataError(f"business data file {file} unreadable: {error}") from error
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise BusinessDataError(
                f"{file}: not valid JSON at line {error.lineno} column {error.colno}: {error.msg}"
            ) from error
        data = cls(document, source=str(file))
        logger.info(
            "business data from %s: %d orders, %d invoices, %d stores",
            file,
            len(data._orders),
            sum(len(v) for v in data._invoices.values()),
            len(data._stores),
        )
        return data

    @classmethod
    def from_settings(cls, settings: Settings) -> JsonBusinessData:
        """The file BUSINESS_DATA_PATH names, or the demo's samples/business.json."""
        return cls.from_path(settings.business_data_path or DEFAULT_BUSINESS_DATA)

    def order(self, order_number: str) -> Order | None:
        """The order with this six-digit number, if any."""
        return self._orders.get(order_number)

    def invoices(self, customer_phone: str) -> list[Invoice]:
        """Every invoice of a customer, oldest due date first."""
        return sorted(self._invoices.get(customer_phone, []), key=lambda i: i.due_date)

    def stores(self, query: str) -> list[Store]:
        """Stores whose id, name, neighbourhood, city or state match the most query words.

        The most, not all: agents pass the customer's whole question ("tem loja em Curitiba
        aberta no domingo?"), where only some words name a place.
        """
        terms = set(_query_terms(query))
        scored = [
            (sum(1 for t in terms if re.search(rf"\b{re.escape(t)}\b", store.haystack())), store)
            for store in self._stores
        ]
        best = max((score for score, _ in scored), default=0)
        return [store for score, store in scored if best and score == best]

    def open_ticket(self, request: ServiceRequest) -> str:
        """Record the request once per idempotency key; the protocol derives from the key."""
        protocol = protocol_for(request.idempotency_key)
        with self._lock:
            if request.idempotency_key not in self._tickets:
                self._tickets[request.idempotency_key] = request
                # Not the reason or summary: a model writes them and may quote the customer.
                logger.info("ticket %s opened for %s", protocol, pseudonym(request.customer_phone))
        return protocol

    @property
    def tickets(self) -> dict[str, ServiceRequest]:
        """Tickets opened so far, by protocol (tests and the demo)."""
        with self._lock:
            return {protocol_for(k): v for k, v in self._tickets.items()}
