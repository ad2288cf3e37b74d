"""The pt-BR evaluation set (samples/eval.jsonl): its schema, coverage and consistency.

Fast checks only, no model: every case is well formed, the set covers what the agent graph
must handle, each expected knowledge-base entry is reachable by the assistant on the expected
route, each tool may be called there, and every order number, phone and fact a case names
comes from samples/business.json or samples/kb.jsonl (or is deliberately absent).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared.agents.assistants import PROFILES, Route, agent_of
from shared.agents.tool_access import allowed_tools
from shared.domain.business import ORDER_STATUS_LABELS, OrderStatus, brl
from shared.domain.knowledge import KnowledgeEntry, read_entries
from shared.evaluation import EvalCase

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "samples" / "eval.jsonl"
KB = ROOT / "samples" / "kb.jsonl"
KB_HELDOUT = ROOT / "samples" / "kb_heldout.jsonl"
BUSINESS = ROOT / "samples" / "business.json"


MIN_TOTAL = 60
MIN_PER_KIND: dict[str, int] = {
    "answerable": 24,
    "must_handoff": 12,
    "tool": 10,
    "image": 5,
    "multi_message": 6,
    "small_talk": 4,
    "out_of_scope": 4,
    "human": 3,
    "memory": 4,
}
# Answerable cases by the namespace of their expected entry.
MIN_ANSWERABLE_PER_NAMESPACE = {"sac": 12, "saf": 8, "cobranca": 4}

# Values a case names on purpose although business.json does not have them: the case is
# about what the agent does when the lookup finds nothing.
ABSENT_ORDERS = {"tool-order-notfound": "120045", "img-not-found": "654321"}
ABSENT_PHONES = {"tool-no-invoice": "5511912340000"}

_KNOWLEDGE_ROUTES: tuple[Route, ...] = ("sac", "saf", "billing")
_SIX_DIGITS = re.compile(r"(?<!\d)\d{6}(?!\d)")


# -- loading --------------------------------------------------------------------------------


@cache
def _raw_lines() -> tuple[tuple[int, str], ...]:
    lines = EVAL.read_text(encoding="utf-8").splitlines()
    return tuple((n, line) for n, line in enumerate(lines, start=1) if line.strip())


@cache
def _cases() -> tuple[EvalCase, ...]:
    return tuple(EvalCase.model_validate_json(line) for _, line in _raw_lines())


@cache
def _kb() -> dict[str, KnowledgeEntry]:
    return {entry.id: entry for entry in read_entries(KB)}


@cache
def _business() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(BUSINESS.read_text(encoding="utf-8"))
    return data


def _orders() -> dict[str, dict[str, Any]]:
    return {o["order_number"]: o for o in _business()["orders"]}


def _invoices_of(phone: str) -> list[dict[str, Any]]:
    return [i for i in _business()["invoices"] if i["customer_phone"] == phone]


def _payable(phone: str) -> list[dict[str, Any]]:
    return [i for i in _invoices_of(phone) if i["status"] != "paid"]


def _day(iso: str | None) -> list[str]:
    if not iso:
        return []
    year, month, day = iso[:10].split("-")
    return [f"{day}/{month}/{year}"]


def _order_facts(order: dict[str, Any]) -> list[str]:
    label = ORDER_STATUS_LABELS[OrderStatus(order["status"])]
    return [
        order["order_number"],
        label,
        brl(Decimal(order["total"])),
        *_day(order.get("expected_delivery")),
        *_day(order.get("updated_at")),
    ]


def _invoice_facts(invoice: dict[str, Any]) -> list[str]:
    keys = ("invoice_id", "boleto_line", "pix_code", "payment_link")
    return [
        brl(Decimal(invoice["amount"])),
        *_day(invoice["due_date"]),
        *(invoice[k] for k in keys if invoice.get(k)),
    ]


def _store_facts() -> list[str]:
    keys = ("name", "address", "neighbourhood", "city", "opening_hours", "phone")
    return [store[k] for store in _business()["stores"] for k in keys if store.get(k)]


def _texts(case: EvalCase) -> list[str]:
    return [m for burst in [*case.before, case.messages] for m in burst]


def _order_numbers(case: EvalCase) -> list[str]:
    numbers = [n for text in _texts(case) for n in _SIX_DIGITS.findall(text)]
    if case.image is not None and case.image.order_number:
        numbers.append(case.image.order_number)
    return list(dict.fromkeys(numbers))


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", plain).split())


def _ids(cases: Iterable[EvalCase]) -> list[str]:
    return [c.id for c in cases]


# -- schema ---------------------------------------------------------------------------------


def test_every_line_is_a_valid_case() -> None:
    problems = []
    for number, line in _raw_lines():
        try:
            EvalCase.model_validate_json(line)
        except ValidationError as error:
            problems.append(f"line {number}: {error}")
    assert not problems, "\n".join(problems)


def test_ids_are_unique() -> None:
    repeated = [i for i, n in Counter(_ids(_cases())).items() if n > 1]
    assert not repeated


def test_enough_cases_of_each_kind() -> None:
    cases = _cases()
    counts = Counter[str](c.kind for c in cases)
    assert len(cases) >= MIN_TOTAL
    short = {k: (counts[k], n) for k, n in MIN_PER_KIND.items() if counts[k] < n}
    assert not short, f"kind: (have, need) {short}"


def test_answerable_cases_cover_every_namespace() -> None:
    kb = _kb()
    counts = Counter(
        kb[c.expect.entry].namespace
        for c in _cases()
        if c.kind == "answerable" and c.expect.entry in kb
    )
    short = {
        ns: (counts[ns], n) for ns, n in MIN_ANSWERABLE_PER_NAMESPACE.items() if counts[ns] < n
    }
    assert not short, f"namespace: (have, need) {short}"


def test_handoffs_and_declines_in_every_assistant() -> None:
    for kind in ("must_handoff", "out_of_scope", "human"):
        assistants = {c.assistant for c in _cases() if c.kind == kind}
        expected = set(PROFILES) if kind == "must_handoff" else {"sac"}
        assert expected <= assistants, f"{kind} cases only for {sorted(assistants)}"


def test_no_question_is_copied_from_the_knowledge_base_or_the_held_out_set() -> None:
    known: set[str] = set()
    for entry in _kb().values():
        known.update(_fold(q) for q in [entry.question, *entry.paraphrases])
    for line in KB_HELDOUT.read_text(encoding="utf-8").splitlines():
        if line.strip():
            known.add(_fold(json.loads(line)["question"]))
    copied = [(c.id, m) for c in _cases() for m in _texts(c) if len(m) > 12 and _fold(m) in known]
    assert not copied


# -- what each kind expects -----------------------------------------------------------------

# kind -> the routes and outcomes its cases may expect.
_SHAPES: dict[str, tuple[set[str], set[str]]] = {
    "answerable": ({"sac", "saf", "billing"}, {"answer"}),
    "must_handoff": ({"sac", "saf", "billing"}, {"handoff"}),
    "tool": ({"data", "billing"}, {"answer", "ask"}),
    "image": ({"image"}, {"answer", "handoff", "ask", "partial"}),
    "multi_message": (
        {"sac", "saf", "billing", "data"},
        {"answer", "partial", "ask", "handoff"},
    ),
    "small_talk": ({"small_talk"}, {"reply", "close"}),
    "out_of_scope": ({"out_of_scope"}, {"reply"}),
    "human": ({"human"}, {"handoff"}),
    "memory": ({"data", "sac", "saf", "billing"}, {"answer", "ask", "partial"}),
}


@pytest.mark.parametrize("kind", sorted(_SHAPES))
def test_each_kind_expects_a_fitting_route_and_outcome(kind: str) -> None:
    routes, outcomes = _SHAPES[kind]
    wrong = [
        (c.id, c.expect.route, c.expect.outcome)
        for c in _cases()
        if c.kind == kind and (c.expect.route not in routes or c.expect.outcome not in outcomes)
    ]
    assert not wrong


def test_kind_specific_shapes() -> None:
    problems = []
    for c in _cases():
        e = c.expect
        if c.kind == "answerable" and not e.entry:
            problems.append(f"{c.id}: an answerable case names its entry")
        if c.kind == "must_handoff" and (e.entry or e.contains):
            problems.append(f"{c.id}: a handoff has no entry nor contents to check")
        if c.kind == "tool" and not e.tools:
            problems.append(f"{c.id}: a tool case names its tool")
        if c.kind == "image" and c.image is None:
            problems.append(f"{c.id}: an image case carries an image")
        if c.kind != "image" and c.image is not None:
            problems.append(f"{c.id}: only image cases carry an image")
        if c.kind == "multi_message" and len(c.messages) < 2:
            problems.append(f"{c.id}: a burst has several messages")
        if c.kind == "memory" and not c.before:
            problems.append(f"{c.id}: a memory case has earlier bursts")
        if c.kind == "human" and "open_ticket" not in e.tools:
            problems.append(f"{c.id}: a request for a person opens a ticket")
        if e.outcome == "close" and not c.before:
            problems.append(f"{c.id}: only thanks after an answer closes the ticket")
        if e.outcome == "ask" and e.route not in ("data", "image"):
            problems.append(f"{c.id}: only the order routes ask for the order number")
        if e.outcome == "partial" and not e.entry and not e.tools:
            problems.append(f"{c.id}: a partial answer says what part is answered")
        if c.image is not None and not c.image.order_number and e.outcome != "handoff":
            problems.append(f"{c.id}: a photo without an order number goes to a human")
        if "order_status" in e.tools and not _order_numbers(c):
            problems.append(f"{c.id}: order_status needs an order number in the conversation")
    assert not problems, "\n".join(problems)


def test_the_scenarios_the_set_must_cover() -> None:
    cases = _cases()
    orders = _orders()

    def statuses(kind: str) -> set[str]:
        return {
            orders[n]["status"]
            for c in cases
            if c.kind == kind and "order_status" in c.expect.tools
            for n in _order_numbers(c)
            if n in orders
        }

    assert len(statuses("tool")) >= 3, "order status cases in several statuses"
    assert {"in_transit", "delivered"} <= statuses("image")
    tools = [c for c in cases if c.kind == "tool"]
    assert any(c.id in ABSENT_ORDERS for c in tools), "an order that is not found"
    assert any("store_info" in c.expect.tools for c in tools), "a store by city"
    assert any("invoice_copy" in c.expect.tools and _payable(c.phone) for c in tools), (
        "a second copy of an open invoice"
    )
    assert any("invoice_copy" in c.expect.tools and not _payable(c.phone) for c in tools), (
        "a customer with nothing open"
    )
    images = [c for c in cases if c.kind == "image"]
    assert any(c.image is not None and not c.image.order_number for c in images)
    assert any(c.messages for c in images), "a receipt with a caption question"
    multi = [c for c in cases if c.kind == "multi_message"]
    assert any(c.expect.outcome == "partial" for c in multi), "one known, one unknown"
    small = [c for c in cases if c.kind == "small_talk"]
    assert any(c.expect.outcome == "close" for c in small), "thanks after an answer"
    assert any(c.expect.outcome == "reply" and not c.before for c in small), "greeting alone"


# -- consistency with the assistants, the knowledge base and the business data ---------------


def test_routes_are_ones_the_assistant_may_pick() -> None:
    wrong = [
        (c.id, c.assistant, c.expect.route)
        for c in _cases()
        if not PROFILES[c.assistant].allows(c.expect.route)
    ]
    assert not wrong


def test_entries_exist_in_the_namespace_of_the_expected_route() -> None:
    kb = _kb()
    problems = []
    for c in _cases():
        entry = c.expect.entry
        if entry is None:
            continue
        if entry not in kb:
            problems.append(f"{c.id}: no entry {entry} in kb.jsonl")
            continue
        route = c.expect.route
        if route not in ("sac", "saf", "billing"):
            problems.append(f"{c.id}: an entry is answered on a knowledge route, not {route}")
            continue
        reached = PROFILES[c.assistant].namespace_for(route)
        if kb[entry].namespace != reached:
            problems.append(
                f"{c.id}: {entry} is in {kb[entry].namespace}, the {c.assistant} assistant's "
                f"{route} route searches {reached}"
            )
    assert not problems, "\n".join(problems)


def test_tools_are_allowed_on_the_expected_route() -> None:
    wrong = [
        (c.id, tool)
        for c in _cases()
        for tool in c.expect.tools
        if tool not in allowed_tools(c.assistant, agent_of(c.expect.route))
    ]
    assert not wrong


def test_order_numbers_exist_unless_deliberately_absent() -> None:
    orders = _orders()
    for case_id, number in ABSENT_ORDERS.items():
        assert number not in orders, f"{case_id} needs {number} to be absent"
    by_id = {c.id: c for c in _cases()}
    assert set(ABSENT_ORDERS) <= set(by_id)
    problems = []
    for c in _cases():
        for number in _order_numbers(c):
            if number in orders:
                continue
            if ABSENT_ORDERS.get(c.id) != number:
                problems.append(f"{c.id}: order {number} is not in business.json")
            elif c.expect.outcome != "ask" or "order_status" not in c.expect.tools:
                problems.append(f"{c.id}: an unknown order is looked up, then asked again")
    assert not problems, "\n".join(problems)


def test_phones_exist_unless_deliberately_absent() -> None:
    known = {i["customer_phone"] for i in _business()["invoices"]}
    for case_id, phone in ABSENT_PHONES.items():
        assert phone not in known, f"{case_id} needs {phone} to have no invoices"
    problems = []
    for c in _cases():
        if c.phone in known:
            continue
        if ABSENT_PHONES.get(c.id) != c.phone:
            problems.append(f"{c.id}: phone {c.phone} has no invoices in business.json")
        elif "invoice_copy" not in c.expect.tools or c.expect.contains:
            problems.append(f"{c.id}: a phone without invoices is for the nothing-open case")
    assert not problems, "\n".join(problems)


def test_invoice_cases_name_a_customer_with_something_to_pay() -> None:
    wrong = [
        c.id
        for c in _cases()
        if "invoice_copy" in c.expect.tools and c.id not in ABSENT_PHONES and not _payable(c.phone)
    ]
    assert not wrong


def test_expected_contents_come_from_the_sources() -> None:
    kb = _kb()
    orders = _orders()
    problems = []
    for c in _cases():
        e = c.expect
        facts: list[str] = []
        if "order_status" in e.tools:
            for number in _order_numbers(c):
                facts.extend(_order_facts(orders[number]) if number in orders else [number])
        if "invoice_copy" in e.tools:
            for invoice in _payable(c.phone):
                facts.extend(_invoice_facts(invoice))
        if "store_info" in e.tools:
            facts.extend(_store_facts())
        if e.route in ("sac", "saf", "billing"):
            profile = PROFILES[c.assistant]
            namespaces = {profile.namespace_for(r) for r in _KNOWLEDGE_ROUTES}
            facts.extend(entry.answer for entry in kb.values() if entry.namespace in namespaces)
        for text in e.contains:
            if not any(text in fact for fact in facts):
                problems.append(f"{c.id}: {text!r} is in none of the case's sources")
    assert not problems, "\n".join(problems)
