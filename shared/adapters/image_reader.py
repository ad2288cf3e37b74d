"""ImageReader: download a customer's image from the WhatsApp Cloud API, then OCR it offline.

`read` never raises for a failure it can name: it returns `ImageReading(ok=False, reason=...)`
and logs one line with the cause. Reasons: "ocr-unavailable", "download-failed", "too-large",
"not-an-image", "no-text", "ocr-failed".
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from shared.adapters.graph_api import GraphApiMedia, MediaDownloadError, MediaInfo
from shared.adapters.ocr import OcrError, RapidOcr
from shared.domain.models import ImageReading
from shared.ports import ImageReader, SecretSource
from shared.settings import Settings

__all__ = [
    "MediaSource",
    "TextReader",
    "UnavailableImageReader",
    "WhatsAppImageReader",
    "image_mime_type",
    "image_reader_from_settings",
]

logger = logging.getLogger(__name__)

# OCR text goes into a prompt; a page of it is plenty for a receipt or a screenshot.
MAX_TEXT_CHARS = 4000

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


class MediaSource(Protocol):
    """Where media bytes come from (the Graph API in production)."""

    def info(self, media_id: str, *, phone_number_id: str = "") -> MediaInfo: ...

    def fetch(self, info: MediaInfo) -> bytes: ...


class TextReader(Protocol):
    """Reads the text of an image (RapidOCR in production); raises OcrError."""

    @property
    def unavailable_reason(self) -> str | None: ...

    def available(self) -> bool: ...

    def read_text(self, image: bytes) -> str: ...


def image_mime_type(content: bytes) -> str | None:
    """The image type the bytes start with, or None when they are not an image we decode."""
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    for magic, mime_type in _SIGNATURES:
        if content.startswith(magic):
            return mime_type
    return None


def _failed(reason: str, mime_type: str = "") -> ImageReading:
    return ImageReading(ok=False, reason=reason, mime_type=mime_type)


class WhatsAppImageReader:
    """Downloads by media id, checks the bytes are an image, and reads them with OCR."""

    def __init__(
        self, media: MediaSource, ocr: TextReader, *, max_text_chars: int = MAX_TEXT_CHARS
    ) -> None:
        self._media = media
        self._ocr = ocr
        self._max_text_chars = max_text_chars

    def warm_up(self) -> bool:
        """Load the OCR engine ahead of the first image; False when it is unavailable."""
        return self._ocr.available()

    def read(self, media_id: str, *, phone_number_id: str) -> ImageReading:
        """The text on the image, or why there is none; never raises for a named failure."""
        started = time.perf_counter()
        try:
            return self._read(media_id, phone_number_id, started)
        except Exception:
            # A bug here must not fail the whole turn (Pub/Sub would redeliver it forever).
            logger.exception("image %s: reading failed unexpectedly", media_id)
            return _failed("ocr-failed")

    def _read(self, media_id: str, phone_number_id: str, started: float) -> ImageReading:
        if not self._ocr.available():
            logger.warning(
                "image %s not read: ocr-unavailable (%s)",
                media_id,
                self._ocr.unavailable_reason or "OCR engine not loaded",
            )
            return _failed("ocr-unavailable")
        try:
            info = self._media.info(media_id, phone_number_id=phone_number_id)
            if info.mime_type and not info.mime_type.startswith("image/"):
                logger.info(
                    "image %s not read: not-an-image (Graph says %s)", media_id, info.mime_type
                )
                return _failed("not-an-image", info.mime_type)
            content = self._media.fetch(info)
        except MediaDownloadError as error:
            logger.warning("image %s not read: %s (%s)", media_id, error.reason, error.cause)
            return _failed(error.reason)
        mime_type = image_mime_type(content)
        if mime_type is None:
            logger.info(
                "image %s not read: not-an-image (%d bytes declared %s)",
                media_id,
                len(content),
                info.mime_type or "without a type",
            )
            return _failed("not-an-image", info.mime_type)
        try:
            text = self._ocr.read_text(content).strip()
        except OcrError as error:
            logger.warning("image %s not read: %s (%s)", media_id, error.reason, error.cause)
            return _failed(error.reason, mime_type)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if not text:
            logger.info("image %s: no-text (%s, %.0f ms)", media_id, mime_type, elapsed_ms)
            return _failed("no-text", mime_type)
        # Never the text itself in a log: a receipt carries names, addresses and CPFs.
        logger.info(
            "image %s read: %d line(s), %d chars (%s, %d bytes, %.0f ms)",
            media_id,
            text.count("\n") + 1,
            len(text),
            mime_type,
            len(content),
            elapsed_ms,
        )
        return ImageReading(ok=True, text=text[: self._max_text_chars], mime_type=mime_type)


class UnavailableImageReader:
    """The reader when OCR is off: every image is `ocr-unavailable`, and the log says why."""

    def __init__(self, why: str) -> None:
        self.why = why

    def warm_up(self) -> bool:
        """Nothing to load."""
        return False

    def read(self, media_id: str, *, phone_number_id: str) -> ImageReading:
        """Always ok=False, reason "ocr-unavailable"."""
        logger.info("image %s not read: ocr-unavailable (%s)", media_id, self.why)
        return _failed("ocr-unavailable")


def image_reader_from_settings(settings: Settings, secrets: SecretSource) -> ImageReader:
    """The Graph API media download and RapidOCR, or the unavailable reader when OCR is off."""
    if not settings.ocr_enabled:
        return UnavailableImageReader("OCR is turned off (OCR_ENABLED=false)")
    media = GraphApiMedia(
        base_url=settings.whatsapp_api_base_url,
        version=settings.whatsapp_api_version,
        access_token=secrets.get("whatsapp-access-token"),
        timeout_seconds=settings.whatsapp_timeout_seconds,
    )
    return WhatsAppImageReader(media, RapidOcr())
