"""Tests of the local WhatsApp Cloud API simulator, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from shared.localstack.whatsapp_sim import WhatsAppSimulator, sign_body

APP_SECRET = "test-app-secret"
TOKEN = "test-access-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CUSTOMER = "5511999990001"
OTHER = "5511999990002"


@dataclass
class Received:
    """One webhook POST as the receiver saw it."""

    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        """The parsed body."""
        return json.loads(self.raw)


class Receiver:
    """A tiny HTTP server standing in for the pipeline's webhook."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    receiver.received.append(
                        Received({k.lower(): v for k, v in self.headers.items()}, raw)
                    )
                    receiver._cond.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """Where to POST webhooks."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhook"

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 3.0
    ) -> list[Received]:
        """Block until the received list satisfies `predicate`."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.received), timeout=timeout):
                raise AssertionError(f"webhooks never arrived; got {len(self.received)}")
            return list(self.received)

    def close(self) -> None:
        """Stop the server."""
        self._server.shutdown()
        self._server.server_close()


def _statuses(received: list[Received]) -> list[dict[str, Any]]:
    found = []
    for item in received:
        value = item.json()["entry"][0]["changes"][0]["value"]
        found.extend(value.get("statuses", []))
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _make_sim(webhook_url: str, **kwargs: Any) -> WhatsAppSimulator:
    options: dict[str, Any] = {
        "port": 0,
        "webhook_url": webhook_url,
        "app_secret": APP_SECRET,
        "access_token": TOKEN,
        "status_delay_seconds": 0.01,
    }
    options.update(kwargs)
    return WhatsAppSimulator(**options)


@pytest.fixture
def sim(receiver: Receiver) -> Iterator[WhatsAppSimulator]:
    simulator = _make_sim(receiver.url)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def quiet_sim(receiver: Receiver) -> Iterator[WhatsAppSimulator]:
    simulator = _make_sim(receiver.url, send_statuses=False)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def shared_client() -> Iterator[httpx.Client]:
    # One client for the module: building one costs ~30 ms of TLS setup.
    with httpx.Client(timeout=5, trust_env=False) as http:
        yield http


@pytest.fixture
def client(sim: WhatsAppSimulator, shared_client: httpx.Client) -> httpx.Client:
    shared_client.base_url = httpx.URL(sim.url)
    return shared_client


@pytest.fixture
def quiet_client(quiet_sim: WhatsAppSimulator, shared_client: httpx.Client) -> httpx.Client:
    shared_client.base_url = httpx.URL(quiet_sim.url)
    return shared_client


def _text(to: str = CUSTOMER, body: str = "Olá!") -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": body},
    }


def _send(http: httpx.Client, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return http.post(
        "/v23.0/100000000000001/messages", json=body, headers=AUTH if headers is None else headers
    )


def _assert_envelope(payload: dict[str, Any], code: int) -> None:
    error = payload["error"]
    assert error["code"] == code
    assert error["type"] == "OAuthException"
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["fbtrace_id"], str)
    assert error["fbtrace_id"]


def test_health_and_port_zero(sim: WhatsAppSimulator, client: httpx.Client) -> None:
    assert sim.port != 0
    assert sim.url == f"http://127.0.0.1:{sim.port}"
    response = client.get("/_sim/health")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_send_text_returns_documented_shape_and_is_recorded(quiet_client: httpx.Client) -> None:
    response = _send(quiet_client, _text(to="+" + CUSTOMER, body="Seu pedido saiu"))
    assert response.status_code == 200
    payload = response.json()
    assert set(payload) == {"messaging_product", "contacts", "messages"}
    assert payload["messaging_product"] == "whatsapp"
    assert payload["contacts"] == [{"input": "+" + CUSTOMER, "wa_id": CUSTOMER}]
    assert len(payload["messages"]) == 1
    assert set(payload["messages"][0]) == {"id"}
    message_id = payload["messages"][0]["id"]
    assert message_id.startswith("wamid.")

    _send(quiet_client, _text(to=OTHER, body="Outro cliente"))

    everything = quiet_client.get("/_sim/messages").json()
    assert [m["to"] for m in everything] == ["+" + CUSTOMER, OTHER]
    mine = quiet_client.get("/_sim/messages", params={"to": CUSTOMER}).json()
    assert len(mine) == 1
    recorded = mine[0]
    assert recorded["id"] == message_id
    assert recorded["type"] == "text"
    assert recorded["text"] == "Seu pedido saiu"
    assert recorded["template"] is None
    assert recorded["phone_number_id"] == "100000000000001"
    assert recorded["time"].endswith("Z")
    assert recorded["body"]["text"]["body"] == "Seu pedido saiu"
    plus = quiet_client.get("/_sim/messages", params={"to": "+" + OTHER}).json()
    assert [m["text"] for m in plus] == ["Outro cliente"]


def test_message_ids_are_unique(quiet_client: httpx.Client) -> None:
    ids = {_send(quiet_client, _text()).json()["messages"][0]["id"] for _ in range(5)}
    assert len(ids) == 5


def test_template_send_is_accepted(quiet_client: httpx.Client) -> None:
    body = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "template",
        "template": {"name": "retomar_conversa", "language": {"code": "pt_BR"}},
    }
    response = _send(quiet_client, body)
    assert response.status_code == 200
    entry = response.json()["messages"][0]
    assert entry["message_status"] == "accepted"
    assert entry["id"].startswith("wamid.")
    recorded = quiet_client.get("/_sim/messages").json()[0]
    assert recorded["template"] == "retomar_conversa"
    assert recorded["text"] is None


def test_type_defaults_to_text(quiet_client: httpx.Client) -> None:
    body = {"messaging_product": "whatsapp", "to": CUSTOMER, "text": {"body": "oi"}}
    assert _send(quiet_client, body).status_code == 200
    assert quiet_client.get("/_sim/messages").json()[0]["type"] == "text"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"}],
)
def test_missing_or_wrong_token_is_401_code_190(
    quiet_client: httpx.Client, headers: dict[str, str]
) -> None:
    response = _send(quiet_client, _text(), headers=headers)
    assert response.status_code == 401
    _assert_envelope(response.json(), 190)
    assert quiet_client.get("/_sim/messages").json() == []
    attempts = quiet_client.get("/_sim/attempts").json()
    assert [a["status_code"] for a in attempts] == [401]


@pytest.mark.parametrize(
    "body",
    [
        {"to": CUSTOMER, "type": "text", "text": {"body": "x"}},
        {"messaging_product": "sms", "to": CUSTOMER, "text": {"body": "x"}},
        {"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}},
        {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "fax", "fax": {}},
        {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {"body": ""}},
        {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text"},
        {"messaging_product": "whatsapp", "to": CUSTOMER, "type": "template", "template": {}},
        {
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "template",
            "template": {"name": "x", "language": {}},
        },
        ["not", "an", "object"],
    ],
)
def test_invalid_body_is_400_code_100(quiet_client: httpx.Client, body: Any) -> None:
    response = _send(quiet_client, body)
    assert response.status_code == 400
    payload = response.json()
    _assert_envelope(payload, 100)
    assert payload["error"]["message"] == "(#100) Invalid parameter"
    assert payload["error"]["error_data"]["messaging_product"] == "whatsapp"
    assert payload["error"]["error_data"]["details"]
    assert quiet_client.get("/_sim/messages").json() == []


def test_bad_json_is_400(quiet_client: httpx.Client) -> None:
    response = quiet_client.post(
        "/v23.0/100000000000001/messages",
        content=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100
    assert quiet_client.post("/_sim/faults", content=b"[").status_code == 400


def test_unknown_path_is_404_json(quiet_client: httpx.Client) -> None:
    for path in ("/nope", "/_sim/nope", "/v23.0/1/unknown/thing"):
        response = quiet_client.get(path)
        assert response.status_code == 404
        assert "error" in response.json()


def test_mark_as_read_is_recorded_separately(quiet_client: httpx.Client) -> None:
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.abc"}
    response = _send(quiet_client, body)
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert quiet_client.get("/_sim/messages").json() == []
    reads = quiet_client.get("/_sim/reads").json()
    assert [r["message_id"] for r in reads] == ["wamid.abc"]


def test_status_webhooks_are_signed_and_ordered(client: httpx.Client, receiver: Receiver) -> None:
    message_id = _send(client, _text(to="+" + CUSTOMER)).json()["messages"][0]["id"]
    received = receiver.wait_for(lambda items: len(items) >= 3)
    assert len(received) == 3
    for item in received:
        assert item.headers["content-type"] == "application/json"
        expected = hmac.new(APP_SECRET.encode(), item.raw, hashlib.sha256).hexdigest()
        assert item.headers["x-hub-signature-256"] == f"sha256={expected}"
        payload = item.json()
        assert payload["object"] == "whatsapp_business_account"
        entry = payload["entry"][0]
        assert entry["id"]
        change = entry["changes"][0]
        assert change["field"] == "messages"
        value = change["value"]
        assert value["messaging_product"] == "whatsapp"
        assert value["metadata"]["phone_number_id"] == "100000000000001"
        assert value["metadata"]["display_phone_number"]
    statuses = _statuses(received)
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    for status in statuses:
        assert status["id"] == message_id
        assert status["recipient_id"] == CUSTOMER
        assert status["timestamp"].isdigit()
        assert status["conversation"]["origin"]["type"] == "service"
        assert status["pricing"] == {
            "billable": True,
            "pricing_model": "CBP",
            "category": "service",
        }
    assert "expiration_timestamp" in statuses[0]["conversation"]
    time.sleep(0.05)
    assert client.get("/_sim/messages").json()[0]["status"] == "read"


def test_status_webhooks_retry_after_a_failure(client: httpx.Client, receiver: Receiver) -> None:
    receiver.status = 500
    _send(client, _text())
    receiver.wait_for(lambda items: len(items) >= 2)
    receiver.status = 200
    received = receiver.wait_for(
        lambda items: [s["status"] for s in _statuses(items)][-1:] == ["read"]
    )
    statuses = [s["status"] for s in _statuses(received)]
    assert statuses[:2] == ["sent", "sent"]
    assert statuses[-2:] == ["delivered", "read"]


def test_unreachable_webhook_does_not_break_the_server(shared_client: httpx.Client) -> None:
    simulator = _make_sim(f"http://127.0.0.1:{_free_port()}/", webhook_retries=1)
    with simulator:
        http = shared_client
        http.base_url = httpx.URL(simulator.url)
        assert _send(http, _text()).status_code == 200
        response = http.post("/_sim/inbound", json={"from": CUSTOMER, "text": "Oi"})
        assert response.status_code == 502
        assert response.json()["message_id"].startswith("wamid.")
        time.sleep(0.1)
        assert http.get("/_sim/health").status_code == 200


def test_fault_500_then_success(quiet_client: httpx.Client) -> None:
    assert quiet_client.post("/_sim/faults", json={"status": 500}).status_code == 200
    first = _send(quiet_client, _text())
    assert first.status_code == 500
    _assert_envelope(first.json(), 131000)
    assert first.json()["error"]["message"] == "(#131000) Something went wrong"
    second = _send(quiet_client, _text())
    assert second.status_code == 200
    attempts = quiet_client.get("/_sim/attempts").json()
    assert [a["status_code"] for a in attempts] == [500, 200]
    assert attempts[0]["to"] == CUSTOMER
    assert attempts[0]["type"] == "text"
    assert len(quiet_client.get("/_sim/messages").json()) == 1


def test_fault_429_uses_rate_limit_code(quiet_client: httpx.Client) -> None:
    quiet_client.post("/_sim/faults", json={"status": 429, "count": 2})
    for _ in range(2):
        response = _send(quiet_client, _text())
        assert response.status_code == 429
        error = response.json()["error"]
        assert error["code"] == 130429
        assert error["error_subcode"] == 2494055
        assert error["message"] == "(#130429) Rate limit hit"
        assert error["error_data"] == {
            "messaging_product": "whatsapp",
            "details": "Cloud API message throughput has been reached.",
        }
    assert _send(quiet_client, _text()).status_code == 200


def test_fault_for_one_recipient_only(quiet_client: httpx.Client) -> None:
    quiet_client.post("/_sim/faults", json={"status": 400, "to": "+" + OTHER})
    assert _send(quiet_client, _text(to=CUSTOMER)).status_code == 200
    rejected = _send(quiet_client, _text(to=OTHER))
    assert rejected.status_code == 400
    assert rejected.json()["error"]["code"] == 131026
    assert _send(quiet_client, _text(to=OTHER)).status_code == 200


def test_faults_queue_in_order_and_can_be_cleared(quiet_client: httpx.Client) -> None:
    quiet_client.post("/_sim/faults", json={"status": 503})
    quiet_client.post("/_sim/faults", json={"status": 400, "code": 131047})
    assert _send(quiet_client, _text()).status_code == 503
    second = _send(quiet_client, _text())
    assert second.status_code == 400
    assert second.json()["error"]["code"] == 131047
    quiet_client.post("/_sim/faults", json={"status": 500, "count": 5})
    assert quiet_client.delete("/_sim/faults").status_code == 200
    assert _send(quiet_client, _text()).status_code == 200
    assert quiet_client.post("/_sim/faults", json={"status": 200}).status_code == 400


def test_inbound_posts_signed_payload(quiet_client: httpx.Client, receiver: Receiver) -> None:
    receiver.status = 202
    response = quiet_client.post(
        "/_sim/inbound", json={"from": CUSTOMER, "text": "Oi, tudo bem? ção/ü", "name": "Maria"}
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["webhook_status"] == 202
    assert answer["message_id"].startswith("wamid.")

    [item] = receiver.wait_for(lambda items: len(items) == 1)
    assert item.headers["x-hub-signature-256"] == sign_body(item.raw, APP_SECRET)
    assert item.headers["content-type"] == "application/json"
    payload = item.json()
    assert payload["object"] == "whatsapp_business_account"
    change = payload["entry"][0]["changes"][0]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {
        "display_phone_number": "5511400000000",
        "phone_number_id": "100000000000001",
    }
    assert value["contacts"] == [{"profile": {"name": "Maria"}, "wa_id": CUSTOMER}]
    [message] = value["messages"]
    assert message["from"] == CUSTOMER
    assert message["id"] == answer["message_id"]
    assert message["timestamp"].isdigit()
    assert message["type"] == "text"
    assert message["text"] == {"body": "Oi, tudo bem? ção/ü"}

    log = quiet_client.get("/_sim/inbound", params={"from": "+" + CUSTOMER}).json()
    assert [(m["id"], m["from"], m["text"], m["type"]) for m in log] == [
        (answer["message_id"], CUSTOMER, "Oi, tudo bem? ção/ü", "text")
    ]
    assert quiet_client.get("/_sim/inbound", params={"from": OTHER}).json() == []


def test_inbound_defaults_and_overrides(quiet_client: httpx.Client, receiver: Receiver) -> None:
    quiet_client.post("/_sim/inbound", json={"from": CUSTOMER, "text": "a"})
    quiet_client.post(
        "/_sim/inbound",
        json={
            "from": CUSTOMER,
            "text": "b",
            "phone_number_id": "42",
            "display_phone_number": "5511000000000",
            "message_id": "wamid.fixed",
        },
    )
    first, second = (r.json() for r in receiver.wait_for(lambda items: len(items) == 2))
    first_value = first["entry"][0]["changes"][0]["value"]
    assert first_value["contacts"][0]["profile"]["name"] == "Cliente"
    second_value = second["entry"][0]["changes"][0]["value"]
    assert second_value["metadata"]["phone_number_id"] == "42"
    assert second_value["metadata"]["display_phone_number"] == "5511000000000"
    assert second_value["messages"][0]["id"] == "wamid.fixed"
    assert quiet_client.post("/_sim/inbound", json={"text": "sem remetente"}).status_code == 400


def test_a_reply_goes_to_the_business_number_that_last_wrote(
    quiet_client: httpx.Client, receiver: Receiver
) -> None:
    first = quiet_client.post("/_sim/inbound", json={"from": CUSTOMER, "text": "oi"}).json()
    assert first["phone_number_id"] == "100000000000001"
    billing = quiet_client.post(
        "/v23.0/100000000000002/messages", json=_text(body="Lembrete"), headers=AUTH
    )
    assert billing.status_code == 200
    reply = quiet_client.post("/_sim/inbound", json={"from": CUSTOMER, "text": "PARAR"}).json()
    assert reply["phone_number_id"] == "100000000000002"
    # Another customer, never written to, still writes to the default number.
    other = quiet_client.post("/_sim/inbound", json={"from": OTHER, "text": "oi"}).json()
    assert other["phone_number_id"] == "100000000000001"
    posted = receiver.wait_for(lambda items: len(items) >= 3)
    numbers = [
        p.json()["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]
        for p in posted
        if "messages" in p.json()["entry"][0]["changes"][0]["value"]
    ]
    assert numbers == ["100000000000001", "100000000000002", "100000000000001"]


def test_inbound_image_is_stored_as_media(quiet_client: httpx.Client, receiver: Receiver) -> None:
    picture = b"\x89PNG\r\n\x1a\nfake"
    response = quiet_client.post(
        "/_sim/inbound",
        json={
            "from": CUSTOMER,
            "type": "image",
            "image_base64": base64.b64encode(picture).decode(),
            "mime_type": "image/png",
            "caption": "nota fiscal",
        },
    )
    assert response.status_code == 200
    [item] = receiver.wait_for(lambda items: len(items) == 1)
    message = item.json()["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["type"] == "image"
    image = message["image"]
    assert image["caption"] == "nota fiscal"
    assert image["mime_type"] == "image/png"
    assert image["sha256"] == base64.b64encode(hashlib.sha256(picture).digest()).decode()
    info = quiet_client.get(f"/v23.0/{image['id']}", headers=AUTH).json()
    assert quiet_client.get(info["url"], headers=AUTH).content == picture


def test_media_upload_get_download_delete(quiet_client: httpx.Client) -> None:
    content = bytes(range(256)) * 4 + b"\r\n--tail\r\n"
    upload = quiet_client.post(
        "/v23.0/100000000000001/media",
        headers=AUTH,
        data={"messaging_product": "whatsapp", "type": "application/pdf"},
        files={"file": ("boleto.pdf", content, "application/pdf")},
    )
    assert upload.status_code == 200
    media_id = upload.json()["id"]
    assert set(upload.json()) == {"id"}

    info = quiet_client.get(f"/v23.0/{media_id}", headers=AUTH)
    assert info.status_code == 200
    payload = info.json()
    assert set(payload) == {"messaging_product", "url", "mime_type", "sha256", "file_size", "id"}
    assert payload["messaging_product"] == "whatsapp"
    assert payload["mime_type"] == "application/pdf"
    assert payload["sha256"] == hashlib.sha256(content).hexdigest()
    assert payload["file_size"] == len(content)
    assert payload["id"] == media_id
    assert payload["url"].endswith(f"/_sim/media/{media_id}")

    assert quiet_client.get(payload["url"]).status_code == 401
    download = quiet_client.get(payload["url"], headers=AUTH)
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-type"] == "application/pdf"

    assert quiet_client.get(f"/v23.0/{media_id}").status_code == 401
    deleted = quiet_client.delete(f"/v23.0/{media_id}", headers=AUTH)
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True}
    missing = quiet_client.get(f"/v23.0/{media_id}", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == 100
    assert quiet_client.delete(f"/v23.0/{media_id}", headers=AUTH).status_code == 404
    assert quiet_client.get(f"/_sim/media/{media_id}", headers=AUTH).status_code == 404


def test_reset_clears_everything(quiet_client: httpx.Client, receiver: Receiver) -> None:
    _send(quiet_client, _text())
    quiet_client.post("/_sim/faults", json={"status": 500, "count": 3})
    quiet_client.post("/_sim/inbound", json={"from": CUSTOMER, "text": "Oi"})
    assert quiet_client.post("/_sim/reset").status_code == 200
    assert quiet_client.get("/_sim/messages").json() == []
    assert quiet_client.get("/_sim/attempts").json() == []
    assert quiet_client.get("/_sim/inbound").json() == []
    assert quiet_client.get("/_sim/faults").json() == []
    assert _send(quiet_client, _text()).status_code == 200


def test_reset_cancels_pending_status_webhooks(
    receiver: Receiver, shared_client: httpx.Client
) -> None:
    with _make_sim(receiver.url, status_delay_seconds=0.1) as simulator:
        shared_client.base_url = httpx.URL(simulator.url)
        _send(shared_client, _text())
        shared_client.post("/_sim/reset")
        time.sleep(0.25)
        assert receiver.received == []


def test_concurrent_sends(quiet_client: httpx.Client) -> None:
    codes: list[int] = []

    def worker(index: int) -> None:
        codes.append(_send(quiet_client, _text(body=f"m{index}")).status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200] * 20
    assert len(quiet_client.get("/_sim/messages").json()) == 20


def test_phone_page_is_self_contained(quiet_client: httpx.Client) -> None:
    response = quiet_client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "Digite uma mensagem" in page
    assert "Enviar" in page
    assert "/_sim/inbound" in page
    assert "/_sim/messages" in page
    assert "http://" not in page
    assert "https://" not in page
    assert "innerHTML" not in page


def test_stop_releases_the_port(receiver: Receiver) -> None:
    simulator = _make_sim(receiver.url)
    simulator.start()
    port = simulator.port
    simulator.stop()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
