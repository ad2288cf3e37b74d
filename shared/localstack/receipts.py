"""A photographed-receipt stand-in for the demo and the tests: a JPEG drawn with Pillow.

The receipt is drawn on white paper over a darker table and turned by a few degrees, so that
OCR meets what a customer's phone photo gives it: a tilted page, JPEG artefacts, a margin.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

__all__ = ["render_receipt"]

_FONT_SIZE = 28
_LINE_HEIGHT = 42
_PAPER_WIDTH = 560
_MARGIN = 30
_TABLE = (96, 88, 80)
_INK = (25, 25, 25)


def _lines(order_number: str, total: str, date: str) -> list[str]:
    return [
        "LOJA EXEMPLO CENTRO",
        "CNPJ 12.345.678/0001-90",
        "--------------------------------",
        f"Pedido: {order_number}",
        f"Data: {date}",
        "1x Camiseta basica    R$ 59,90",
        "1x Calca jeans        R$ 130,00",
        "--------------------------------",
        f"Total: R$ {total}",
        "Pagamento: PIX",
        "Obrigado pela preferencia!",
    ]


def render_receipt(
    order_number: str = "482913",
    total: str = "189,90",
    date: str = "12/11/2026",
    *,
    rotate: float = 2.0,
) -> bytes:
    """A JPEG photo of a store receipt naming the order number, total and date."""
    font = ImageFont.load_default(size=_FONT_SIZE)
    lines = _lines(order_number, total, date)
    paper = Image.new("RGB", (_PAPER_WIDTH, 2 * _MARGIN + _LINE_HEIGHT * len(lines)), "white")
    draw = ImageDraw.Draw(paper)
    for index, line in enumerate(lines):
        draw.text((_MARGIN, _MARGIN + index * _LINE_HEIGHT), line, fill=_INK, font=font)
    # Turned like a hand-held photo; the corners it uncovers show the table, not black.
    photo = paper.rotate(rotate, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=_TABLE)
    framed = Image.new("RGB", (photo.width + 2 * _MARGIN, photo.height + 2 * _MARGIN), _TABLE)
    framed.paste(photo, (_MARGIN, _MARGIN))
    out = io.BytesIO()
    framed.save(out, format="JPEG", quality=85)
    return out.getvalue()
