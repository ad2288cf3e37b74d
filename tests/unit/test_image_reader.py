"""The image reader: Graph API media download, RapidOCR, and the simulator's image routes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from PIL import Image

from shared.adapters.graph_api import GraphApiMedia, MediaInfo
from shared.adapters.image_reader import (
    UnavailableImageReader,
    WhatsAppImageReader,
    image_mime_type,
    image_reader_from_settings,
)
from shared.adapters.ocr import OcrError, RapidOcr, TextBox, lines_from_boxes
from shared.domain.receipts import receipt_facts
from shared.localstack.receipts import render_receipt
from shared.localstack.whatsapp_sim import WhatsAppSimulator
from shared.settings import Settings

TOKEN = "image-test-token"
VERSION = "v23.0"
PHONE_NUMBER_ID = "100000000000001"
CUSTOMER = "5511999990001"


# fixtures


class _Receiver:
    """Stands in for the pipeline's webhook: keeps every POSTed body, answers 200."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.bodies.append(json.loads(raw))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """Where the simulator posts webhooks."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def messages(self) -> list[dict[str, Any]]:
        """Every customer message received so far."""
        found = []
        for body in self.bodies:
            found.extend(body["entry"][0]["changes"][0]["value"].get("messages", []))
        return found


@pytest.fixture(scope="module")
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(scope="module")
def sim(receiver: _Receiver) -> Iterator[WhatsAppSimulator]:
    with WhatsAppSimulator(
        port=0, webhook_url=receiver.url, access_token=TOKEN, send_statuses=False
    ) as simulator:
        yield simulator


@pytest.fixture
def http(sim: WhatsAppSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def ocr() -> RapidOcr:
    engine = RapidOcr()
    assert engine.warm_up()
    return engine


@pytest.fixture(scope="module")
def receipt() -> bytes:
    return render_receipt()


def _media(sim: WhatsAppSimulator, **options: Any) -> GraphApiMedia:
    options.setdefault("retry_delay_seconds", 0.0)
    return GraphApiMedia(base_url=sim.url, version=VERSION, access_token=TOKEN, **options)


class FakeOcr:
    """A TextReader that returns a fixed text (or fails) and counts calls."""

    def __init__(self, text: str = "Pedido:482913", error: OcrError | None = None) -> None:
        self.text = text
        self.error = error
        self.calls = 0
        self.unavailable_reason: str | None = None

    def available(self) -> bool:
        return self.unavailable_reason is None

    def read_text(self, image: bytes) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.text


def _upload(http: httpx.Client, content: bytes, mime_type: str) -> str:
    response = http.post(
        f"/{VERSION}/{PHONE_NUMBER_ID}/media",
        headers={"Authorization": f"Bearer {TOKEN}"},
        data={"messaging_product": "whatsapp", "type": mime_type},
        files={"file": ("upload", content, mime_type)},
    )
    assert response.status_code == 200
    return str(response.json()["id"])


def _png(size: tuple[int, int] = (200, 80), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "white").save(out, format="PNG")
    return out.getvalue()


# OCR


def test_ocr_reads_the_rendered_receipt(ocr: RapidOcr, receipt: bytes) -> None:
    started = time.perf_counter()
    text = ocr.read_text(receipt)
    elapsed = time.perf_counter() - started
    lines = [line.replace(" ", "") for line in text.splitlines()]
    # Top to bottom, each row whole.
    assert lines[0] == "LOJAEXEMPLOCENTRO"
    order, when, total = (
        lines.index(t) for t in ("Pedido:482913", "Data:12/11/2026", "Total:R$189,90")
    )
    assert order < when < total
    facts = receipt_facts(text)
    assert facts.order_numbers == ("482913",)
    assert facts.total == Decimal("189.90")
    assert facts.describe() == "Imagem com texto: pedido 482913, total R$ 189,90, data 12/11/2026"
    # About 0.5 s for this 638x602 photo on 2 cores; generous, for a busy machine.
    assert elapsed < 5


def test_ocr_keeps_a_tilted_row_together(ocr: RapidOcr) -> None:
    text = ocr.read_text(render_receipt("730015", "1.234,56", "01/02/2027", rotate=-6.0))
    assert any(line.replace(" ", "").endswith("R$130,00") for line in text.splitlines())
    facts = receipt_facts(text)
    assert facts.order_numbers == ("730015",)
    assert facts.total == Decimal("1234.56")


def test_ocr_of_a_blank_transparent_image_is_empty(ocr: RapidOcr) -> None:
    assert ocr.read_text(_png(mode="RGBA")) == ""


def test_ocr_refuses_what_is_not_an_image(ocr: RapidOcr) -> None:
    with pytest.raises(OcrError) as caught:
        ocr.read_text(b"\xff\xd8\xff but not really a jpeg")
    assert caught.value.reason == "not-an-image"


def test_ocr_refuses_too_many_pixels() -> None:
    reader = RapidOcr(max_pixels=100, engine_factory=lambda: object())
    with pytest.raises(OcrError) as caught:
        reader.read_text(_png((20, 20)))
    assert caught.value.reason == "too-large"


def test_ocr_drops_low_confidence_boxes() -> None:
    box = [[0, 0], [100, 0], [100, 20], [0, 20]]
    low = [[0, 40], [100, 40], [100, 60], [0, 60]]

    def engine(picture: Any) -> tuple[list[Any], list[float]]:
        return [[box, "Pedido:482913", 0.95], [low, "l1I|", 0.31]], [0.0]

    assert RapidOcr(engine_factory=lambda: engine).read_text(_png()) == "Pedido:482913"


def test_lines_follow_the_page_tilt() -> None:
    def box(x: float, y: float, width: float, text: str, slope: float = 0.1) -> TextBox:
        rise = slope * width
        return TextBox(
            ((x, y), (x + width, y + rise), (x + width, y + rise + 20), (x, y + 20)), text, 1
        )

    # A page tilted by ~6°: the price at the right end of line 2 sits as low as the start of
    # line 3 does, yet it belongs to line 2.
    boxes = [
        box(300, 60, 80, "R$ 130,00"),
        box(0, 30, 200, "1x Calca jeans"),
        box(0, 0, 200, "Pedido:482913"),
        box(0, 60, 120, "Total:"),
        box(150, 75, 100, "R$ 189,90"),
    ]
    assert lines_from_boxes(boxes) == [
        "Pedido:482913",
        "1x Calca jeans R$ 130,00",
        "Total: R$ 189,90",
    ]


def test_ocr_unavailable_when_rapidocr_cannot_be_imported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)
    reader = RapidOcr()
    with caplog.at_level(logging.WARNING, logger="shared.adapters.ocr"):
        assert not reader.available()
        assert not reader.available()
        with pytest.raises(OcrError) as caught:
            reader.read_text(b"")
    assert caught.value.reason == "ocr-unavailable"
    assert "rapidocr_onnxruntime cannot be imported" in (reader.unavailable_reason or "")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "OCR unavailable" in warnings[0].getMessage()


def test_ocr_unavailable_when_the_engine_fails_to_load(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> Any:
        raise RuntimeError("model file missing")

    with caplog.at_level(logging.WARNING, logger="shared.adapters.ocr"):
        assert not RapidOcr(engine_factory=broken).available()
    assert "RapidOCR failed to load (RuntimeError)" in caplog.text


def test_engine_loads_once_across_threads() -> None:
    loads = []

    def factory() -> Any:
        loads.append(1)
        time.sleep(0.05)
        return object()

    reader = RapidOcr(engine_factory=factory)
    threads = [threading.Thread(target=reader.available) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == [1]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "image/png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-1.7", None),
        (b"", None),
    ],
)
def test_image_mime_type(content: bytes, expected: str | None) -> None:
    assert image_mime_type(content) == expected


# the reader against the simulator


def test_customer_sends_a_receipt_and_the_reader_reads_it(
    sim: WhatsAppSimulator,
    http: httpx.Client,
    receiver: _Receiver,
    ocr: RapidOcr,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = http.post("/_sim/receipt", json={"from": CUSTOMER, "caption": "meu cupom"})
    assert sent.status_code == 200
    assert sent.json()["webhook_status"] == 200
    media_id = sent.json()["media_id"]
    [message] = [m for m in receiver.messages() if m["id"] == sent.json()["message_id"]]
    assert message["type"] == "image"
    assert message["image"]["id"] == media_id
    assert message["image"]["mime_type"] == "image/jpeg"
    assert message["image"]["caption"] == "meu cupom"

    reader = WhatsAppImageReader(_media(sim), ocr)
    with caplog.at_level(logging.INFO):
        reading = reader.read(media_id, phone_number_id=PHONE_NUMBER_ID)
    assert reading.ok, reading
    assert reading.mime_type == "image/jpeg"
    assert receipt_facts(reading.text).order_numbers == ("482913",)
    # The log says what was read, never the text itself.
    assert f"image {media_id} read:" in caplog.text
    assert "482913" not in caplog.text


def test_receipt_route_takes_the_order_number(
    http: httpx.Client, sim: WhatsAppSimulator, ocr: RapidOcr
) -> None:
    sent = http.post("/_sim/receipt", json={"from": CUSTOMER, "order_number": "556677"}).json()
    reading = WhatsAppImageReader(_media(sim), ocr).read(sent["media_id"], phone_number_id="")
    assert receipt_facts(reading.text).order_numbers == ("556677",)
    assert http.post("/_sim/receipt", json={"order_number": "1"}).status_code == 400


def test_raw_and_multipart_image_uploads(
    http: httpx.Client, sim: WhatsAppSimulator, receiver: _Receiver
) -> None:
    picture = _png()
    raw = http.post(
        "/_sim/inbound",
        params={"from": CUSTOMER, "caption": "foto"},
        content=picture,
        headers={"Content-Type": "image/png"},
    ).json()
    multipart = http.post(
        "/_sim/inbound",
        data={"from": CUSTOMER, "name": "Ana"},
        files={"file": ("foto.png", picture, "image/png")},
    ).json()
    by_id = {m["id"]: m for m in receiver.messages()}
    for sent in (raw, multipart):
        image = by_id[sent["message_id"]]["image"]
        assert image["mime_type"] == "image/png"
        assert image["sha256"] == base64.b64encode(hashlib.sha256(picture).digest()).decode()
        media = _media(sim)
        info = media.info(sent["media_id"])
        assert info.file_size == len(picture)
        assert media.fetch(info) == picture
    assert by_id[raw["message_id"]]["image"]["caption"] == "foto"


def test_unknown_media_is_download_failed(
    sim: WhatsAppSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeOcr()
    with caplog.at_level(logging.WARNING, logger="shared.adapters.image_reader"):
        reading = WhatsAppImageReader(_media(sim), fake).read("999", phone_number_id="1")
    assert (reading.ok, reading.reason) == (False, "download-failed")
    assert "media not found or expired (HTTP 404, code 100)" in caplog.text
    assert fake.calls == 0


def test_rejected_token_is_download_failed(
    sim: WhatsAppSimulator, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    media_id = _upload(http, render_receipt(), "image/jpeg")
    media = GraphApiMedia(base_url=sim.url, version=VERSION, access_token="wrong")
    with caplog.at_level(logging.WARNING, logger="shared.adapters.image_reader"):
        reading = WhatsAppImageReader(media, FakeOcr()).read(media_id, phone_number_id="")
    assert reading.reason == "download-failed"
    assert "access token rejected (HTTP 401, code 190)" in caplog.text


def test_image_over_the_cap_is_too_large(
    sim: WhatsAppSimulator, http: httpx.Client, receipt: bytes
) -> None:
    media_id = _upload(http, receipt, "image/jpeg")
    fake = FakeOcr()
    reader = WhatsAppImageReader(_media(sim, max_bytes=len(receipt) - 1), fake)
    assert reader.read(media_id, phone_number_id="").reason == "too-large"
    assert fake.calls == 0


def test_a_document_is_not_an_image(sim: WhatsAppSimulator, http: httpx.Client) -> None:
    media_id = _upload(http, b"%PDF-1.7 boleto", "application/pdf")
    reading = WhatsAppImageReader(_media(sim), FakeOcr()).read(media_id, phone_number_id="")
    assert (reading.ok, reading.reason, reading.mime_type) == (
        False,
        "not-an-image",
        "application/pdf",
    )


def test_bytes_that_are_not_an_image_are_not_an_image(
    sim: WhatsAppSimulator, http: httpx.Client
) -> None:
    media_id = _upload(http, b"<html>not a photo</html>", "image/jpeg")
    fake = FakeOcr()
    reading = WhatsAppImageReader(_media(sim), fake).read(media_id, phone_number_id="")
    assert reading.reason == "not-an-image"
    assert fake.calls == 0


def test_blank_image_is_no_text(sim: WhatsAppSimulator, http: httpx.Client) -> None:
    media_id = _upload(http, _png(), "image/png")
    reading = WhatsAppImageReader(_media(sim), FakeOcr(text="  ")).read(
        media_id, phone_number_id=""
    )
    assert (reading.ok, reading.reason, reading.mime_type) == (False, "no-text", "image/png")


def test_ocr_unavailable_reads_nothing_and_says_why(
    sim: WhatsAppSimulator, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    media_id = _upload(http, _png(), "image/png")

    def missing() -> Any:
        raise ImportError("No module named 'rapidocr_onnxruntime'")

    reader = WhatsAppImageReader(_media(sim), RapidOcr(engine_factory=missing))
    with caplog.at_level(logging.INFO):
        first = reader.read(media_id, phone_number_id="")
        second = reader.read(media_id, phone_number_id="")
    assert first.reason == second.reason == "ocr-unavailable"
    assert not first.ok
    lines = [r.getMessage() for r in caplog.records]
    assert sum("OCR unavailable, images will not be read" in line for line in lines) == 1
    assert sum(f"image {media_id} not read: ocr-unavailable" in line for line in lines) == 2
    assert "rapidocr_onnxruntime cannot be imported" in caplog.text


def test_ocr_failure_is_reported_not_raised(sim: WhatsAppSimulator, http: httpx.Client) -> None:
    media_id = _upload(http, _png(), "image/png")
    fake = FakeOcr(error=OcrError("ocr-failed", "RuntimeError"))
    reading = WhatsAppImageReader(_media(sim), fake).read(media_id, phone_number_id="")
    assert (reading.ok, reading.reason) == (False, "ocr-failed")


def test_long_text_is_capped(sim: WhatsAppSimulator, http: httpx.Client) -> None:
    media_id = _upload(http, _png(), "image/png")
    reader = WhatsAppImageReader(_media(sim), FakeOcr(text="x" * 50), max_text_chars=10)
    assert reader.read(media_id, phone_number_id="").text == "x" * 10


# the Graph API media client, edge cases through a mock transport


def _mock_media(
    handler: Callable[[httpx.Request], httpx.Response], **options: Any
) -> GraphApiMedia:
    options.setdefault("retry_delay_seconds", 0.0)
    options.setdefault("base_url", "https://graph.example")
    return GraphApiMedia(
        version=VERSION,
        access_token=TOKEN,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        **options,
    )


def _info_answer(content: bytes, url: str = "https://cdn.example/m/1", **extra: Any) -> Any:
    body = {
        "messaging_product": "whatsapp",
        "url": url,
        "mime_type": "image/jpeg",
        "sha256": hashlib.sha256(content).hexdigest(),
        "file_size": len(content),
        "id": "1",
    }
    body.update(extra)
    return body


def test_lookup_sends_token_and_phone_number_id() -> None:
    content = render_receipt()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "graph.example":
            return httpx.Response(200, json=_info_answer(content))
        return httpx.Response(200, content=content)

    media = _mock_media(handler)
    info = media.info("1", phone_number_id=PHONE_NUMBER_ID)
    assert media.fetch(info) == content
    assert seen[0].url.path == f"/{VERSION}/1"
    assert seen[0].url.params["phone_number_id"] == PHONE_NUMBER_ID
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in seen)


def test_server_errors_are_retried_then_reported() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"error": {"message": "down", "code": 2}})

    reader = WhatsAppImageReader(_mock_media(handler, retries=1), FakeOcr())
    reading = reader.read("1", phone_number_id="")
    assert reading.reason == "download-failed"
    assert len(calls) == 2


def test_a_transient_error_then_success() -> None:
    content = _png()
    answers = iter(
        [
            httpx.Response(500),
            httpx.Response(200, json=_info_answer(content, mime_type="image/png")),
            httpx.Response(200, content=content),
        ]
    )
    reader = WhatsAppImageReader(_mock_media(lambda request: next(answers)), FakeOcr())
    assert reader.read("1", phone_number_id="").ok


def test_timeouts_are_download_failed(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    reader = WhatsAppImageReader(_mock_media(handler, retries=0, timeout_seconds=3), FakeOcr())
    with caplog.at_level(logging.WARNING):
        assert reader.read("1", phone_number_id="").reason == "download-failed"
    assert "media lookup timed out after 3s" in caplog.text


def test_expired_download_url_is_download_failed(caplog: pytest.LogCaptureFixture) -> None:
    content = _png()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "graph.example":
            return httpx.Response(200, json=_info_answer(content))
        return httpx.Response(404)

    reader = WhatsAppImageReader(_mock_media(handler), FakeOcr())
    with caplog.at_level(logging.WARNING):
        assert reader.read("1", phone_number_id="").reason == "download-failed"
    assert "media download: media not found or expired (HTTP 404)" in caplog.text


def test_size_cap_holds_without_a_declared_size() -> None:
    content = b"\xff\xd8\xff" + b"\x00" * 5000

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "graph.example":
            return httpx.Response(200, json=_info_answer(content, file_size=None, sha256=""))
        # Chunked: no Content-Length to check first, so the stream itself is counted.
        return httpx.Response(200, content=iter([content[:3000], content[3000:]]))

    reader = WhatsAppImageReader(_mock_media(handler, max_bytes=4096), FakeOcr())
    assert reader.read("1", phone_number_id="").reason == "too-large"


def test_hash_mismatch_is_download_failed() -> None:
    content = _png()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "graph.example":
            return httpx.Response(200, json=_info_answer(content, sha256="00" * 32))
        return httpx.Response(200, content=content)

    assert (
        _mock_media(handler).fetch(
            MediaInfo(media_id="1", url="https://cdn.example/m/1", mime_type="image/png")
        )
        == content
    )
    reader = WhatsAppImageReader(_mock_media(handler), FakeOcr())
    assert reader.read("1", phone_number_id="").reason == "download-failed"


def test_token_is_not_sent_to_a_plain_http_url() -> None:
    content = _png()
    hosts = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(200, json=_info_answer(content, url="http://cdn.example/m/1"))

    reader = WhatsAppImageReader(_mock_media(handler), FakeOcr())
    assert reader.read("1", phone_number_id="").reason == "download-failed"
    assert hosts == ["graph.example"]


# the builder


class _Secrets:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def get(self, secret_id: str) -> str:
        self.asked.append(secret_id)
        return TOKEN


def test_builder_honours_ocr_enabled(caplog: pytest.LogCaptureFixture) -> None:
    secrets = _Secrets()
    off = image_reader_from_settings(Settings(ocr_enabled=False), secrets)
    assert isinstance(off, UnavailableImageReader)
    with caplog.at_level(logging.INFO, logger="shared.adapters.image_reader"):
        reading = off.read("123", phone_number_id=PHONE_NUMBER_ID)
    assert (reading.ok, reading.reason) == (False, "ocr-unavailable")
    assert "OCR_ENABLED=false" in caplog.text
    assert secrets.asked == []

    on = image_reader_from_settings(Settings(ocr_enabled=True), secrets)
    assert isinstance(on, WhatsAppImageReader)
    assert secrets.asked == ["whatsapp-access-token"]
