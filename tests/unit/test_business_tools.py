"""The business tools over the sample data, their argument checks, the allow-list, the JSON
store's loading errors, and the parts of the MCP client that need no server."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.business_json import (
    DEFAULT_BUSINESS_DATA,
    BusinessDataError,
    JsonBusinessData,
    protocol_for,
)
from shared.adapters.mcp_tools import (
    GoogleIdTokens,
    LocalBusinessTools,
    McpBusinessTools,
    _schema_error_detail,
    _to_tool_result,
    business_tools_from_settings,
)
from shared.agents.tool_access import AGENTS, TOOL_ALLOW_LIST, AllowListedTools, allowed_tools
from shared.domain.business import Invoice, Order, ServiceRequest, Store
from shared.domain.models import ToolResult
from shared.settings import Settings
from shared.tools_hub.tools import TOOL_NAMES

SAMPLE = json.loads(DEFAULT_BUSINESS_DATA.read_text(encoding="utf-8"))


@pytest.fixture
def data() -> JsonBusinessData:
    """The demo's business data, fresh for each test (tickets are kept in memory)."""
    return JsonBusinessData.from_path(DEFAULT_BUSINESS_DATA)


@pytest.fixture
def tools(data: JsonBusinessData) -> LocalBusinessTools:
    """The tools in-process over the sample data."""
    return LocalBusinessTools(data)


# --------------------------------------------------------------------------- sample data


def _pix_crc(payload: str) -> str:
    crc = 0xFFFF
    for byte in payload.encode():
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return f"{crc:04X}"


def test_the_sample_data_is_varied_and_well_formed(data: JsonBusinessData) -> None:
    assert 25 <= len(SAMPLE["orders"]) <= 40
    assert 15 <= len(SAMPLE["invoices"]) <= 25
    assert 8 <= len(SAMPLE["stores"]) <= 15
    assert len({o["status"] for o in SAMPLE["orders"]}) >= 8
    assert {s["city"] for s in SAMPLE["stores"]} == {
        "São Paulo",
        "Campinas",
        "Rio de Janeiro",
        "Belo Horizonte",
        "Curitiba",
    }
    assert {s["kind"] for s in SAMPLE["stores"]} == {"own", "franchise"}
    for invoice in SAMPLE["invoices"]:
        if invoice["status"] == "paid":
            continue
        assert len(re.sub(r"\D", "", invoice["boleto_line"])) == 47
        pix = invoice["pix_code"]
        assert pix.startswith("000201") and pix[-4:] == _pix_crc(pix[:-4])
        assert invoice["payment_link"].startswith("https://")


# --------------------------------------------------------------------------- order_status


def test_order_in_transit(tools: LocalBusinessTools) -> None:
    result = tools.call("order_status", {"order_number": "482913"})
    assert result.ok and result.error == ""
    order = result.data["order"]
    assert result.data["found"] is True
    assert order["status"] == "in_transit"
    assert order["status_label"] == "Em trânsito"
    assert order["expected_delivery"] == "2026-11-28"
    assert order["expected_delivery_display"] == "28/11/2026"
    assert order["total"] == "189.90"
    assert order["total_display"] == "R$ 189,90"
    assert order["store_name"] == "Atende Paulista"
    assert order["items"][0]["quantity"] == 1


def test_delivered_order(tools: LocalBusinessTools) -> None:
    result = tools.call("order_status", {"order_number": "731205"})
    assert result.data["order"]["status_label"] == "Entregue"


@pytest.mark.parametrize("written", ["#482913", "482.913", " 482 913 ", 482913])
def test_order_numbers_as_people_write_them(tools: LocalBusinessTools, written: object) -> None:
    result = tools.call("order_status", {"order_number": written})
    assert result.ok and result.data["order"]["order_number"] == "482913"


def test_an_unknown_order_is_not_found_rather_than_an_error(tools: LocalBusinessTools) -> None:
    result = tools.call("order_status", {"order_number": "000001"})
    assert result.ok
    assert result.data == {"found": False, "order_number": "000001"}


@pytest.mark.parametrize(
    "arguments", [{"order_number": "12345"}, {"order_number": "48291a"}, {"order_number": None}]
)
def test_a_bad_order_number_is_invalid(
    tools: LocalBusinessTools, arguments: dict[str, object]
) -> None:
    result = tools.call("order_status", arguments)
    assert not result.ok and result.error == "invalid"
    assert "6 digits" in result.data["detail"]


@pytest.mark.parametrize(
    "arguments", [{}, {"order_number": "482913", "cpf": "12345678900"}, {"number": "482913"}]
)
def test_missing_or_unexpected_arguments_are_invalid(
    tools: LocalBusinessTools, arguments: dict[str, object]
) -> None:
    result = tools.call("order_status", arguments)
    assert (result.ok, result.error) == (False, "invalid")
    assert "argument" in result.data["detail"]


# --------------------------------------------------------------------------- invoice_copy


def test_invoice_copy_gives_the_overdue_invoice_with_every_way_to_pay(
    tools: LocalBusinessTools,
) -> None:
    result = tools.call("invoice_copy", {"customer_phone": "5511988887777"})
    assert result.ok and result.data["found"] is True
    assert result.data["paid_invoices"] == 1
    [invoice] = result.data["invoices"]
    assert invoice["status"] == "overdue" and invoice["status_label"] == "Vencida"
    assert invoice["amount"] == "249.90" and invoice["amount_display"] == "R$ 249,90"
    assert invoice["due_date"] == "2026-11-10"
    assert invoice["boleto_line"] and invoice["pix_code"] and invoice["payment_link"]
    # The number is the caller's; it is not echoed back.
    assert "customer_phone" not in invoice


def test_invoice_copy_accepts_a_formatted_number(tools: LocalBusinessTools) -> None:
    written = tools.call("invoice_copy", {"customer_phone": "+55 (11) 98888-7777"})
    bare = tools.call("invoice_copy", {"customer_phone": "11988887777"})
    assert written.data == bare.data
    assert written.data["invoices"][0]["invoice_id"] == "FAT-2026-0001"


def test_an_open_invoice(tools: LocalBusinessTools) -> None:
    result = tools.call("invoice_copy", {"customer_phone": "5511977776666"})
    assert [i["status"] for i in result.data["invoices"]] == ["open"]


def test_a_paid_invoice_by_id_carries_no_way_to_pay(tools: LocalBusinessTools) -> None:
    result = tools.call(
        "invoice_copy", {"customer_phone": "5511988887777", "invoice_id": "fat-2026-0002"}
    )
    [invoice] = result.data["invoices"]
    assert invoice["status"] == "paid"
    assert not {"boleto_line", "pix_code", "payment_link"} & invoice.keys()


def test_another_customers_invoice_is_not_found(tools: LocalBusinessTools) -> None:
    result = tools.call(
        "invoice_copy", {"customer_phone": "5511977776666", "invoice_id": "FAT-2026-0001"}
    )
    assert result.ok and result.data["found"] is False and result.data["invoices"] == []


def test_a_customer_without_invoices(tools: LocalBusinessTools) -> None:
    result = tools.call("invoice_copy", {"customer_phone": "5599900000000"})
    assert result.ok and result.data["found"] is False


@pytest.mark.parametrize("phone", ["123", "", "abc", 5511988887777])
def test_a_bad_phone_is_invalid(tools: LocalBusinessTools, phone: object) -> None:
    result = tools.call("invoice_copy", {"customer_phone": phone})
    assert result.error == "invalid" and "E.164" in result.data["detail"]


# --------------------------------------------------------------------------- store_info


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("Campinas", {"CPS-01", "CPS-02"}),
        ("sao paulo", {"SP-01", "SP-02", "SP-03"}),
        ("lojas em São Paulo", {"SP-01", "SP-02", "SP-03"}),
        ("MOEMA", {"SP-02"}),
        ("agua verde", {"CWB-02"}),
        ("Atende Batel", {"CWB-01"}),
        ("loja em BH", {"BH-01", "BH-02"}),
        ("rio de janeiro", {"RJ-01", "RJ-02"}),
        ("SP", {"SP-01", "SP-02", "SP-03", "CPS-01", "CPS-02"}),
        # Agents pass the whole question: the words that name a place decide.
        ("Vocês têm loja em Curitiba aberta no domingo?", {"CWB-01", "CWB-02"}),
        ("Qual o horário da loja do Batel em Curitiba?", {"CWB-01"}),
        ("Oi, aqui é o Paulo. Onde fica a loja de BH?", {"BH-01", "BH-02"}),
    ],
)
def test_stores_match_city_neighbourhood_and_name_without_accents(
    tools: LocalBusinessTools, query: str, ids: set[str]
) -> None:
    result = tools.call("store_info", {"query": query})
    assert result.ok and result.data["found"] is True
    assert {s["store_id"] for s in result.data["stores"]} == ids


def test_a_store_carries_what_a_customer_asks_for(tools: LocalBusinessTools) -> None:
    [store] = tools.call("store_info", {"query": "Moema"}).data["stores"]
    assert store["kind_label"] == "Franquia"
    assert store["address"] and store["opening_hours"] and store["phone"]


def test_a_city_without_stores(tools: LocalBusinessTools) -> None:
    result = tools.call("store_info", {"query": "Recife"})
    assert result.ok and result.data["found"] is False and result.data["stores"] == []


@pytest.mark.parametrize("query", ["", " ", "x", 42])
def test_a_bad_query_is_invalid(tools: LocalBusinessTools, query: object) -> None:
    assert tools.call("store_info", {"query": query}).error == "invalid"


# --------------------------------------------------------------------------- open_ticket


def _ticket(key: str = "turn-1f2e", **overrides: object) -> dict[str, object]:
    ticket: dict[str, object] = {
        "reason": "troca de produto",
        "summary": "Cliente recebeu o fone com defeito e quer trocar.",
        "customer_phone": "5511988887777",
        "idempotency_key": key,
    }
    return {**ticket, **overrides}


def test_open_ticket_is_idempotent_by_key(
    tools: LocalBusinessTools, data: JsonBusinessData
) -> None:
    first = tools.call("open_ticket", _ticket())
    again = tools.call("open_ticket", _ticket(summary="Repetido pelo agente."))
    other = tools.call("open_ticket", _ticket("turn-9999"))
    assert first.ok and re.fullmatch(r"ATD-[0-9A-F]{8}", first.data["protocol"])
    assert again.data == first.data
    assert other.data["protocol"] != first.data["protocol"]
    assert first.data["protocol"] == protocol_for("turn-1f2e")
    assert len(data.tickets) == 2
    # The first request is the one kept.
    assert data.tickets[first.data["protocol"]].summary.startswith("Cliente recebeu")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"reason": "x"}, "reason"),
        ({"summary": ""}, "summary"),
        ({"customer_phone": "12"}, "customer_phone"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"reason": 7}, "reason"),
    ],
)
def test_a_bad_ticket_is_invalid(
    tools: LocalBusinessTools, data: JsonBusinessData, override: dict[str, object], field: str
) -> None:
    result = tools.call("open_ticket", {**_ticket(), **override})
    assert result.error == "invalid" and field in result.data["detail"]
    assert data.tickets == {}


def test_the_ticket_log_line_has_no_phone_number(
    tools: LocalBusinessTools, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        tools.call("open_ticket", _ticket())
    assert "ticket ATD-" in caplog.text
    assert "5511988887777" not in caplog.text and "defeito" not in caplog.text


# --------------------------------------------------------------------------- any tool


def test_an_unknown_tool(tools: LocalBusinessTools) -> None:
    result = tools.call("delete_order", {"order_number": "482913"})
    assert (result.ok, result.error) == (False, "unknown tool: delete_order")


class _BrokenErp:
    """A BusinessData whose backend is down."""

    def order(self, order_number: str) -> Order | None:
        raise ConnectionError("ERP at 10.0.0.7 refused")

    def invoices(self, customer_phone: str) -> list[Invoice]:
        raise ConnectionError("ERP down")

    def stores(self, query: str) -> list[Store]:
        raise ConnectionError("ERP down")

    def open_ticket(self, request: ServiceRequest) -> str:
        raise ConnectionError("CRM down")


def test_a_failing_backend_is_a_tool_error_not_an_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        result = LocalBusinessTools(_BrokenErp()).call("order_status", {"order_number": "482913"})
    assert (result.ok, result.error) == (False, "order_status failed: ConnectionError")
    assert "tool order_status failed" in caplog.text


def test_tool_names() -> None:
    assert TOOL_NAMES == ("order_status", "invoice_copy", "store_info", "open_ticket")


# --------------------------------------------------------------------------- loading the JSON


def _write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "business.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document), "utf-8")
    return path


def test_a_missing_file_names_the_path_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(BusinessDataError, match=r"nope\.json not found \(set BUSINESS_DATA_PATH\)"):
        JsonBusinessData.from_path(tmp_path / "nope.json")


def test_broken_json_gives_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"orders": [\n  {"order_number": "123456",}\n]}')
    with pytest.raises(BusinessDataError, match=r"not valid JSON at line 2 column"):
        JsonBusinessData.from_path(path)


def test_a_bad_record_names_its_place(tmp_path: Path) -> None:
    document = {**SAMPLE, "orders": [*SAMPLE["orders"][:3], {**SAMPLE["orders"][3]}]}
    document["orders"][3]["order_number"] = "12345"
    with pytest.raises(BusinessDataError, match=r"orders\[3\]\.order_number: String should match"):
        JsonBusinessData.from_path(_write(tmp_path, document))


def test_a_bad_status_is_reported(tmp_path: Path) -> None:
    document = {**SAMPLE, "invoices": [{**SAMPLE["invoices"][0], "status": "late"}]}
    with pytest.raises(BusinessDataError, match=r"invoices\[0\]\.status"):
        JsonBusinessData.from_path(_write(tmp_path, document))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "the top level must be a JSON object"),
        ({"orders": {}}, "`orders` must be a list"),
        ({"clients": []}, "unknown keys \\['clients'\\]"),
        ({**SAMPLE, "stores": SAMPLE["stores"][1:]}, "orders name unknown stores \\['SP-01'\\]"),
        (
            {**SAMPLE, "orders": SAMPLE["orders"] + SAMPLE["orders"][:1]},
            "order order_number \\d{6} appears twice",
        ),
    ],
)
def test_inconsistent_documents_are_refused(tmp_path: Path, document: object, message: str) -> None:
    with pytest.raises(BusinessDataError, match=message):
        JsonBusinessData.from_path(_write(tmp_path, document))


def test_settings_choose_the_file(tmp_path: Path) -> None:
    document = {"orders": [], "invoices": [], "stores": SAMPLE["stores"][:1]}
    path = _write(tmp_path, document)
    data = JsonBusinessData.from_settings(Settings(business_data_path=str(path)))
    assert data.stores("Paulista")[0].store_id == "SP-01"
    assert data.order("482913") is None
    default = JsonBusinessData.from_settings(Settings(business_data_path=""))
    assert default.order("482913") is not None


# --------------------------------------------------------------------------- allow-list


class _Recording:
    """BusinessTools that records what reached it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []

    def call(self, tool: str, arguments: Mapping[str, object]) -> ToolResult:
        self.calls.append((tool, dict(arguments)))
        return ToolResult(tool=tool, arguments=dict(arguments), ok=True, data={"reached": True})


def test_the_allow_list() -> None:
    assert set(TOOL_ALLOW_LIST) == {"sac", "saf", "cobranca"}
    for agents in TOOL_ALLOW_LIST.values():
        assert tuple(agents) == AGENTS
        assert set().union(*agents.values()) <= set(TOOL_NAMES)
        for agent in ("knowledge", "out_of_scope", "small_talk"):
            assert agents[agent] == frozenset()
    assert allowed_tools("sac", "data") == {"order_status", "store_info"}
    assert allowed_tools("sac", "image") == {"order_status"}
    assert allowed_tools("sac", "billing") == {"invoice_copy"}
    assert allowed_tools("saf", "human") == {"open_ticket"}
    assert allowed_tools("cobranca", "data") == {"order_status"}
    assert allowed_tools("cobranca", "image") == frozenset()
    assert allowed_tools("unknown", "data") == frozenset()
    assert allowed_tools("sac", "unknown") == frozenset()


def test_a_refused_call_is_logged_and_never_forwarded(caplog: pytest.LogCaptureFixture) -> None:
    inner = _Recording()
    tools = AllowListedTools(inner, assistant="sac", agent="small_talk")
    with caplog.at_level(logging.WARNING, logger="shared.agents.tool_access"):
        result = tools.call("invoice_copy", {"customer_phone": "5511988887777"})
    assert (result.ok, result.error, result.tool) == (False, "refused", "invoice_copy")
    assert inner.calls == []
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "tool call refused: agent small_talk of assistant sac asked for invoice_copy"
    )
    assert "5511988887777" not in caplog.text


def test_an_allowed_call_is_forwarded() -> None:
    inner = _Recording()
    tools = AllowListedTools(inner, assistant="cobranca", agent="billing")
    result = tools.call("invoice_copy", {"customer_phone": "5511988887777"})
    assert result.data == {"reached": True}
    assert inner.calls == [("invoice_copy", {"customer_phone": "5511988887777"})]
    assert tools.call("store_info", {"query": "Campinas"}).error == "refused"
    assert len(inner.calls) == 1


def test_the_allow_list_over_the_real_tools(tools: LocalBusinessTools) -> None:
    data_agent = AllowListedTools(tools, assistant="saf", agent="data")
    assert data_agent.call("store_info", {"query": "Curitiba"}).data["total"] == 2
    assert data_agent.call("open_ticket", _ticket()).error == "refused"


# --------------------------------------------------------------------------- MCP client parts


def test_identity_tokens_are_cached_and_refreshed_before_expiry() -> None:
    now = [1_000_000.0]
    fetched: list[str] = []

    def fetch(audience: str) -> str:
        fetched.append(audience)
        claims = json.dumps({"exp": int(now[0]) + 3600, "aud": audience}).encode()
        import base64

        payload = base64.urlsafe_b64encode(claims).decode().rstrip("=")
        return f"header.{payload}.sig{len(fetched)}"

    tokens = GoogleIdTokens("https://hub.example", fetch=fetch, clock=lambda: now[0])
    first = tokens.token()
    now[0] += 3000  # 10 minutes left: still good
    assert tokens.token() == first
    now[0] += 400  # under 5 minutes left: fetch another
    second = tokens.token()
    assert second != first and fetched == ["https://hub.example"] * 2
    tokens.invalidate()
    assert tokens.token() not in (first, second)


def test_a_token_without_a_readable_expiry_is_still_refreshed() -> None:
    now = [0.0]
    tokens = GoogleIdTokens("https://hub.example", fetch=lambda _: "opaque", clock=lambda: now[0])
    assert tokens.token() == "opaque"
    now[0] += 3000
    tokens.token()


def test_https_hubs_get_a_token_for_the_service_url_and_local_ones_none() -> None:
    cloud = McpBusinessTools("https://tools-hub-123456789.us-central1.run.app/mcp")
    assert cloud._id_tokens is not None
    assert cloud._id_tokens.audience == "https://tools-hub-123456789.us-central1.run.app"
    assert McpBusinessTools("http://127.0.0.1:8087/mcp")._id_tokens is None


def test_no_identity_token_means_unavailable_without_calling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def no_credentials(audience: str) -> str:
        raise RuntimeError("no application default credentials")

    tools = McpBusinessTools(
        "https://hub.example/mcp",
        timeout_seconds=1,
        id_tokens=GoogleIdTokens("https://hub.example", fetch=no_credentials),
    )
    with caplog.at_level(logging.WARNING):
        result = tools.call("order_status", {"order_number": "482913"})
    assert (result.ok, result.error) == (False, "unavailable")
    assert "no identity token: RuntimeError" in caplog.text


def test_schema_errors_lose_the_values_they_quote() -> None:
    text = (
        "Error executing tool open_ticket: 2 validation errors for open_ticketArguments\n"
        "customer_phone\n"
        "  Field required [type=missing, input_value={'reason': 'x 5511988887777'}, "
        "input_type=dict]\n"
        "    For further information visit https://errors.pydantic.dev/2.14/v/missing\n"
        "summary\n"
        "  Input should be a valid string [type=string_type, input_value=3, input_type=int]\n"
    )
    detail = _schema_error_detail(text)
    assert detail == "customer_phone: Field required; summary: Input should be a valid string"
    assert _schema_error_detail("Unknown tool: nope") is None


def test_tool_messages_become_tool_results() -> None:
    """What the adapters' tools answer (a ToolMessage) read into a ToolResult."""
    from langchain_core.messages import ToolMessage

    args = {"query": "Moema"}
    blocks: list[str | dict[Any, Any]] = [{"type": "text", "text": '{"found": true, "total": 1}'}]
    structured = ToolMessage(
        content=blocks, tool_call_id="t", artifact={"structured_content": {"found": True}}
    )
    assert _to_tool_result("store_info", args, structured).data == {"found": True}
    # Without structured content the JSON text is the data; plain text is kept as text.
    assert _to_tool_result("store_info", args, ToolMessage(content=blocks, tool_call_id="t")).data
    assert _to_tool_result(
        "store_info", args, ToolMessage(content="sem JSON", tool_call_id="t")
    ).data == {"text": "sem JSON"}
    invalid = ToolMessage(
        content=[{"type": "text", "text": '{"error": "invalid", "detail": "query: too short"}'}],
        tool_call_id="t",
        status="error",
    )
    result = _to_tool_result("store_info", args, invalid)
    assert (result.ok, result.error, result.data) == (
        False,
        "invalid",
        {"detail": "query: too short"},
    )
    unknown = ToolMessage(content="Unknown tool: nope", tool_call_id="t", status="error")
    assert _to_tool_result("nope", {}, unknown).error == "Unknown tool: nope"


def test_the_builder_follows_the_settings() -> None:
    remote = business_tools_from_settings(
        Settings(tools_hub_url="http://127.0.0.1:9999/mcp", tools_hub_timeout_seconds=2.5)
    )
    assert isinstance(remote, McpBusinessTools)
    assert (remote.url, remote.timeout_seconds) == ("http://127.0.0.1:9999/mcp", 2.5)
    local = business_tools_from_settings(Settings(tools_hub_url=" "))
    assert isinstance(local, LocalBusinessTools)
    assert local.call("order_status", {"order_number": "731205"}).ok
