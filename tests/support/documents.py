"""Scanned documents for tests: a diploma's QR on a page, as PNG, JPEG or PDF bytes."""

from __future__ import annotations

import io

from PIL import Image

from registry.qr import render_qr_png


def page_with_qrs(*texts: str, width: int = 1240, height: int = 1754) -> Image.Image:
    """An A4 page at 150 dpi with one QR per text, stacked down the page."""
    page = Image.new("RGB", (width, height), "white")
    top = 120
    for text in texts:
        symbol = Image.open(io.BytesIO(render_qr_png(text))).convert("RGB")
        page.paste(symbol, (width // 2 - symbol.width // 2, top))
        top += symbol.height + 80
    return page


def document_bytes(*texts: str, kind: str = "png") -> bytes:
    """The page as a file of ``kind``: ``png``, ``jpeg`` or ``pdf``."""
    out = io.BytesIO()
    page = page_with_qrs(*texts)
    if kind == "pdf":
        page.save(out, format="PDF", resolution=150)
    else:
        page.save(out, format=kind.upper(), **({"quality": 85} if kind == "jpeg" else {}))
    return out.getvalue()
