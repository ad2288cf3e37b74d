"""The Graph API sender: request bodies, response classification, and sends to the simulator."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from shared.adapters.graph_api import GraphApiSender, classify_response, request_body
from shared.domain.models import OutboundMessage, SendOutcome
from shared.localstack.whatsapp_sim import WhatsAppSimulator

TOKEN = "unit-access-token"
PHONE_NUMBER_ID = "100000000000001"
CUSTOMER = "5511988887777"


def _text(text: str = "Olá! Aceitamos PIX.", **extra: Any) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key="turn-1:0",
        conversation_id=f"{PHONE_NUMBER_ID}:{CUSTOMER}",
        phone_number_id=PHONE_NUMBER_ID,
        to=CUSTOMER,
        text=text,
        **extra,
    )


def _template(parameters: list[str] | None = None) -> OutboundMessage:
    return _text(
        "",
        kind="template",
        template_name="retomar_atendimento",
        template_language="pt_BR",
        template_parameters=parameters or [],
    )


# request_body


def test_text_body() -> None:
    assert request_body(_text("Oi")) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "text": {"preview_url": False, "body": "Oi"},
    }


def test_template_body_without_parameters_has_no_components() -> None:
    body = request_body(_template())
    assert body["type"] == "template"
    assert body["template"] == {"name": "retomar_atendimento", "language": {"code": "pt_BR"}}
    assert "text" not in body


def test_template_body_with_parameters() -> None:
    body = request_body(_template(["Maria", "12345"]))
    assert body["to"] == CUSTOMER
    assert body["template"]["components"] == [
        {
            "type": "body",
            "parameters": [{"type": "text", "text": "Maria"}, {"type": "text", "text": "12345"}],
        }
    ]


# classify_response


def test_200_with_message_id_is_sent() -> None:
    result = classify_response(
        200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.ABC"}]}
    )
    assert result.outcome is SendOutcome.SENT
    assert result.wamid == "wamid.ABC"
    assert result.http_status == 200


@pytest.mark.parametrize("payload", [{}, {"messages": []}, {"messages": [{}]}, {"messages": ["x"]}])
def test_200_without_message_id_is_transient(payload: dict[str, Any]) -> None:
    result = classify_response(200, payload)
    assert result.outcome is SendOutcome.TRANSIENT_FAILURE
    assert result.wamid is None


def _error(code: int, message: str = "boom") -> dict[str, Any]:
    return {"error": {"message": message, "type": "OAuthException", "code": code}}


def test_undeliverable_is_permanent() -> None:
    result = classify_response(400, _error(131026, "(#131026) Message undeliverable"))
    assert result.outcome is SendOutcome.PERMANENT_FAILURE
    assert result.error_code == 131026
    assert result.http_status == 400
    assert result.error_message == "(#131026) Message undeliverable"


@pytest.mark.parametrize(
    ("status", "payload"),
    [
        (429, {}),
        (429, _error(131026)),
        (500, {}),
        (503, _error(100)),
        (400, _error(130429)),
        (401, _error(190)),
        (400, _error(131000)),
        (400, _error(131056)),
    ],
)
def test_retryable_failures_are_transient(status: int, payload: dict[str, Any]) -> None:
    assert classify_response(status, payload).outcome is SendOutcome.TRANSIENT_FAILURE


@pytest.mark.parametrize(
    ("status", "payload"), [(400, _error(100)), (400, {}), (403, _error(131005)), (404, {})]
)
def test_other_client_errors_are_permanent(status: int, payload: dict[str, Any]) -> None:
    result = classify_response(status, payload)
    assert result.outcome is SendOutcome.PERMANENT_FAILURE
    assert result.error_message


def test_error_message_is_capped_and_defaults_to_status() -> None:
    assert classify_response(400, _error(100, "x" * 2000)).error_message == "x" * 500
    assert classify_response(404, {"error": "nope"}).error_message == "HTTP 404"


# GraphApiSender against the simulator


@pytest.fixture(scope="module")
def running_sim() -> Iterator[WhatsAppSimulator]:
    with WhatsAppSimulator(port=0, send_statuses=False, access_token=TOKEN) as sim:
        yield sim


@pytest.fixture
def sim(running_sim: WhatsAppSimulator) -> WhatsAppSimulator:
    running_sim.reset()
    return running_sim


def _sender(sim: WhatsAppSimulator, token: str = TOKEN, base_url: str | None = None) -> Any:
    return GraphApiSender(
        base_url=base_url or sim.url + "/", version="v23.0", access_token=token, timeout_seconds=5
    )


def test_send_text_through_the_simulator(sim: WhatsAppSimulator) -> None:
    result = _sender(sim).send(_text("Aceitamos PIX e cartão."))
    assert result.outcome is SendOutcome.SENT
    assert result.wamid and result.wamid.startswith("wamid.")
    (sent,) = sim.sent_messages()
    assert sent["id"] == result.wamid
    assert sent["to"] == CUSTOMER
    assert sent["text"] == "Aceitamos PIX e cartão."
    assert sent["phone_number_id"] == PHONE_NUMBER_ID


def test_send_template_through_the_simulator(sim: WhatsAppSimulator) -> None:
    result = _sender(sim).send(_template(["Maria"]))
    assert result.outcome is SendOutcome.SENT
    (sent,) = sim.sent_messages(to=CUSTOMER)
    assert sent["type"] == "template"
    assert sent["template"] == "retomar_atendimento"


def test_server_error_fault_is_transient(sim: WhatsAppSimulator) -> None:
    sim.add_fault(500)
    result = _sender(sim).send(_text())
    assert result.outcome is SendOutcome.TRANSIENT_FAILURE
    assert result.http_status == 500
    assert sim.sent_messages() == []
    # The fault fired once: the retry goes through.
    assert _sender(sim).send(_text()).outcome is SendOutcome.SENT


def test_bad_request_fault_is_permanent(sim: WhatsAppSimulator) -> None:
    sim.add_fault(400)
    result = _sender(sim).send(_text())
    assert result.outcome is SendOutcome.PERMANENT_FAILURE
    assert result.http_status == 400
    assert result.error_code == 131026
    assert sim.sent_messages() == []


def test_rate_limit_fault_is_transient(sim: WhatsAppSimulator) -> None:
    sim.add_fault(429)
    result = _sender(sim).send(_text())
    assert result.outcome is SendOutcome.TRANSIENT_FAILURE
    assert result.error_code == 130429


def test_wrong_token_is_transient_code_190(sim: WhatsAppSimulator) -> None:
    result = _sender(sim, token="not-the-token").send(_text())
    assert result.outcome is SendOutcome.TRANSIENT_FAILURE
    assert result.http_status == 401
    assert result.error_code == 190
    assert sim.sent_messages() == []


def test_simulator_rejecting_empty_text_is_permanent(sim: WhatsAppSimulator) -> None:
    result = _sender(sim).send(_text("   "))
    assert result.outcome is SendOutcome.PERMANENT_FAILURE
    assert result.error_code == 100


def test_connection_refused_is_transient(sim: WhatsAppSimulator) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _sender(sim, base_url=f"http://127.0.0.1:{port}").send(_text())
    assert result.outcome is SendOutcome.TRANSIENT_FAILURE
    assert result.http_status is None
    assert result.error_message and result.error_message.startswith("network:")
