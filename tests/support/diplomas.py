"""Diplomas as a phone or scanner sees them: an A4 page with a QR among text, damaged in each usual way."""

from __future__ import annotations

import io
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter

from registry.qr import render_qr_png

A4_300_DPI = (2480, 3508)
PHONE_PIXELS = 1_000_000


def qr_image(text: str) -> Image.Image:
    return Image.open(io.BytesIO(render_qr_png(text))).convert("L")


def make_page(rng: random.Random, qrs: dict[str, tuple[int, int]]) -> Image.Image:
    """An A4 page at 300 dpi: a frame, lines of word-like blocks, a seal, and each QR at its spot."""
    page = Image.new("L", A4_300_DPI, 255)
    draw = ImageDraw.Draw(page)
    width, height = A4_300_DPI
    draw.rectangle((120, 120, width - 120, height - 120), outline=40, width=12)
    y = 300
    while y < height - 400:
        x = 260
        while x < width - 400:
            word = rng.randint(30, 220)
            draw.rectangle((x, y, min(x + word, width - 260), y + rng.randint(22, 34)), fill=rng.randint(0, 90))
            x += word + rng.randint(18, 40)
        y += rng.randint(60, 110)
    draw.ellipse((width - 760, height - 900, width - 360, height - 500), outline=60, width=18)
    for text, spot in qrs.items():
        page.paste(qr_image(text), spot)
    return page


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def perspective_coefficients(
    targets: list[tuple[float, float]], sources: list[tuple[float, float]]
) -> tuple[float, ...]:
    """Pillow's PERSPECTIVE data mapping each output corner in ``targets`` to the input corner in ``sources``."""
    rows: list[list[float]] = []
    for (x, y), (u, v) in zip(targets, sources, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, v])
    for column in range(8):  # Gauss–Jordan elimination with partial pivoting
        pivot = max(range(column, 8), key=lambda row: abs(rows[row][column]))
        rows[column], rows[pivot] = rows[pivot], rows[column]
        for row in range(8):
            if row != column:
                factor = rows[row][column] / rows[column][column]
                rows[row] = [a - factor * b for a, b in zip(rows[row], rows[column], strict=True)]
    return tuple(rows[row][8] / rows[row][row] for row in range(8))


def rotated(page: Image.Image, rng: random.Random) -> bytes:
    angle = rng.uniform(0, 360)
    return png(page.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255))


def skewed(page: Image.Image, rng: random.Random) -> bytes:
    """As if photographed from off to one side: each corner pulled in by up to 12% of the page."""
    width, height = page.size
    corners = [(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)]
    pulled = [
        (
            x + rng.uniform(0, 0.12) * width * (1 if x == 0 else -1),
            y + rng.uniform(0, 0.12) * height * (1 if y == 0 else -1),
        )
        for x, y in corners
    ]
    data = perspective_coefficients(pulled, corners)
    return png(page.transform(page.size, Image.Transform.PERSPECTIVE, data, Image.Resampling.BILINEAR, fillcolor=200))


def blurred(page: Image.Image, rng: random.Random) -> bytes:
    """Out of focus by about a third of a QR module (modules are 10 px at 300 dpi)."""
    return png(page.filter(ImageFilter.GaussianBlur(rng.uniform(2.0, 3.5))))


def phone_photo(page: Image.Image, rng: random.Random) -> bytes:
    """The whole page in a one-megapixel frame: about 3.4 px per QR module."""
    scale = (PHONE_PIXELS / (page.width * page.height)) ** 0.5
    small = page.resize((round(page.width * scale), round(page.height * scale)), Image.Resampling.LANCZOS)
    return png(small)


def jpeg_40(page: Image.Image, rng: random.Random) -> bytes:
    out = io.BytesIO()
    page.save(out, format="JPEG", quality=40)
    return out.getvalue()


def pdf_page(page: Image.Image, rng: random.Random) -> bytes:
    """A one-page PDF (as a scanner would make), rendered back by the pipeline at its own dpi."""
    out = io.BytesIO()
    page.save(out, format="PDF", resolution=300)
    return out.getvalue()


DAMAGE: dict[str, Callable[[Image.Image, random.Random], bytes]] = {
    "rotated": rotated,
    "skewed": skewed,
    "blurred": blurred,
    "phone_photo": phone_photo,
    "jpeg_40": jpeg_40,
    "pdf": pdf_page,
}
