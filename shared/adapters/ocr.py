"""Offline OCR with RapidOCR (PP-OCR models on onnxruntime, shipped inside the wheel).

The engine is loaded lazily, once per instance, on first use. When `rapidocr_onnxruntime`
cannot be imported or its models fail to load, the reader says it is unavailable (one WARNING
line) instead of crashing the function that holds it.
"""

from __future__ import annotations

import io
import logging
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_PIXELS", "OcrError", "RapidOcr", "TextBox", "lines_from_boxes"]

logger = logging.getLogger(__name__)

# A phone camera gives 12-50 MP; more than this is not a photo worth decoding in a function.
MAX_PIXELS = 40_000_000


class OcrError(Exception):
    """OCR could not run; `reason` is an ImageReading reason."""

    def __init__(self, reason: str, cause: str) -> None:
        super().__init__(f"{reason}: {cause}")
        self.reason = reason
        self.cause = cause


@dataclass(frozen=True, slots=True)
class TextBox:
    """One recognised piece of text and its quadrilateral (top-left first, clockwise)."""

    points: tuple[tuple[float, float], ...]
    text: str
    score: float

    @property
    def center(self) -> tuple[float, float]:
        """The box's centre."""
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return sum(xs) / len(xs), sum(ys) / len(ys)

    @property
    def height(self) -> float:
        """The box's height along its left and right edges."""
        (_, y0), (_, y1), (_, y2), (_, y3) = self.points[:4]
        return max(1.0, ((y3 - y0) + (y2 - y1)) / 2)

    @property
    def slope(self) -> float | None:
        """dy/dx of the top edge, or None for a box too short to tell."""
        (x0, y0), (x1, y1) = self.points[0], self.points[1]
        width = x1 - x0
        return (y1 - y0) / width if width > 2 * self.height else None


def lines_from_boxes(boxes: Sequence[TextBox]) -> list[str]:
    """Boxes joined into lines, top to bottom, left to right within a line.

    A photo is seldom level: the page's tilt is estimated from the boxes' top edges and taken
    out before boxes are grouped, so that a price at the right end of a tilted line stays on
    that line.
    """
    if not boxes:
        return []
    slopes = [s for s in (box.slope for box in boxes) if s is not None]
    tilt = statistics.median(slopes) if slopes else 0.0

    def level(box: TextBox) -> float:
        x, y = box.center
        return y - tilt * x

    rows: list[list[TextBox]] = []
    for box in sorted(boxes, key=level):
        if rows:
            row = rows[-1]
            row_level = statistics.fmean(level(b) for b in row)
            row_height = statistics.fmean(b.height for b in row)
            if abs(level(box) - row_level) <= 0.5 * max(row_height, box.height):
                row.append(box)
                continue
        rows.append([box])
    return [
        " ".join(b.text.strip() for b in sorted(row, key=lambda b: b.center[0])).strip()
        for row in rows
    ]


def _default_engine() -> Any:
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


class RapidOcr:
    """Reads the text of an image, line by line; thread-safe, the engine loaded once."""

    def __init__(
        self,
        *,
        min_score: float = 0.6,
        max_pixels: int = MAX_PIXELS,
        engine_factory: Callable[[], Any] = _default_engine,
    ) -> None:
        self.min_score = min_score
        self.max_pixels = max_pixels
        self._engine_factory = engine_factory
        self._engine: Any = None
        self._unavailable: str | None = None
        self._load_lock = threading.Lock()
        # One image at a time: onnxruntime already spreads one image over the cores, and the
        # engine keeps per-call settings on itself.
        self._run_lock = threading.Lock()

    def available(self) -> bool:
        """Whether the engine loads (loading it now if it has not been)."""
        return self._load() is not None

    @property
    def unavailable_reason(self) -> str | None:
        """Why the engine did not load, once a load was tried."""
        return self._unavailable

    def warm_up(self) -> bool:
        """Load the engine ahead of the first image; False when OCR is unavailable."""
        return self.available()

    def read_text(self, image: bytes) -> str:
        """The image's text, one line per row, top to bottom; raises OcrError."""
        engine = self._load()
        if engine is None:
            raise OcrError("ocr-unavailable", self._unavailable or "engine not loaded")
        picture = self._decode(image)
        height, width = picture.shape[:2]
        started = time.perf_counter()
        try:
            with self._run_lock:
                result, _ = engine(picture)
        except Exception as error:
            logger.exception("OCR failed on a %dx%d image", width, height)
            raise OcrError("ocr-failed", type(error).__name__) from error
        boxes = [b for b in _boxes(result or []) if b.score >= self.min_score and b.text.strip()]
        lines = [line for line in lines_from_boxes(boxes) if line]
        logger.info(
            "OCR read %d line(s) from a %dx%d image in %.0f ms",
            len(lines),
            width,
            height,
            (time.perf_counter() - started) * 1000,
        )
        return "\n".join(lines)

    # internals

    def _load(self) -> Any:
        if self._engine is not None or self._unavailable is not None:
            return self._engine
        with self._load_lock:
            if self._engine is None and self._unavailable is None:
                self._engine = self._try_load()
        return self._engine

    def _try_load(self) -> Any:
        started = time.perf_counter()
        try:
            engine = self._engine_factory()
        except ImportError as error:
            self._unavailable = f"rapidocr_onnxruntime cannot be imported ({error})"
            logger.warning("OCR unavailable, images will not be read: %s", self._unavailable)
            return None
        except Exception as error:  # a broken wheel or model must not crash the turn
            self._unavailable = f"RapidOCR failed to load ({type(error).__name__})"
            logger.warning(
                "OCR unavailable, images will not be read: %s", self._unavailable, exc_info=True
            )
            return None
        logger.info("OCR engine loaded in %.0f ms", (time.perf_counter() - started) * 1000)
        return engine

    def _decode(self, image: bytes) -> Any:
        """Decode, honour the EXIF orientation, flatten alpha onto white: a BGR array."""
        try:
            import numpy as np
            from PIL import Image, ImageOps
        except ImportError as error:
            raise OcrError("ocr-unavailable", f"Pillow cannot be imported ({error})") from error
        try:
            with Image.open(io.BytesIO(image)) as opened:
                if opened.width * opened.height > self.max_pixels:
                    raise OcrError(
                        "too-large",
                        f"{opened.width}x{opened.height} pixels, the cap is {self.max_pixels}",
                    )
                picture = ImageOps.exif_transpose(opened)
                if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
                    rgba = picture.convert("RGBA")
                    flat = Image.new("RGB", rgba.size, "white")
                    flat.paste(rgba, mask=rgba.getchannel("A"))
                    picture = flat
                # RapidOCR takes an array as BGR.
                return np.asarray(picture.convert("RGB"))[:, :, ::-1].copy()
        except Image.DecompressionBombError as error:
            raise OcrError("too-large", "decompression bomb") from error
        except (OSError, ValueError, SyntaxError) as error:
            raise OcrError("not-an-image", f"cannot decode: {type(error).__name__}") from error


def _boxes(result: Sequence[Any]) -> list[TextBox]:
    boxes: list[TextBox] = []
    for item in result:
        try:
            points, text, score = item[0], item[1], item[2]
            quad = tuple((float(p[0]), float(p[1])) for p in points)
        except (IndexError, TypeError, ValueError):
            continue
        if len(quad) >= 4:
            boxes.append(TextBox(quad, str(text), float(score)))
    return boxes
