"""Diplomas made with the registry's own QR renderer, then photographed badly on purpose.

Each of 60 random codes (half bare, half inside a verification link) is placed on an A4
page with text-like clutter and then rotated, skewed, blurred, shrunk to a phone photo,
JPEG-compressed or saved as a PDF. The pipeline must read nearly all of them — and never
read anything but the exact payload.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import pytest
from PIL import Image, ImageDraw, ImageFilter

from appliance.scanning import NoQrFoundError, ScanLimits, scan_document
from registry.qr import qr_payload, render_qr_png

SEED = 20261123
CODES = 60
LINK = "https://sehat.example.ir/verify?code={code}"
A4_300_DPI = (2480, 3508)
PHONE_PIXELS = 1_000_000
LIMITS = ScanLimits()


def random_code(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789") for _ in range(20))


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


def diplomas(count: int, seed: int) -> list[tuple[str, Image.Image]]:
    """``count`` payloads, alternately a bare code and a link, each on its own page at a random spot."""
    rng = random.Random(seed)
    made = []
    for index in range(count):
        code = random_code(rng)
        payload = code if index % 2 == 0 else qr_payload(code, LINK)
        spot = (rng.randint(200, A4_300_DPI[0] - 700), rng.randint(200, A4_300_DPI[1] - 700))
        made.append((payload, make_page(rng, {payload: spot})))
    return made


def read(data: bytes) -> list[str]:
    try:
        return scan_document(data, LIMITS)
    except NoQrFoundError:
        return []


@pytest.mark.slow
def test_damaged_diplomas_are_read_exactly() -> None:
    rng = random.Random(SEED + 1)
    misses: list[str] = []
    cases = 0
    for payload, page in diplomas(CODES, SEED):
        for name, damage in DAMAGE.items():
            texts = read(damage(page, rng))
            assert set(texts) <= {payload}, f"{name}: read {texts!r} from a QR holding {payload!r}"
            cases += 1
            if not texts:
                misses.append(f"{name}: {payload}")
    assert len(misses) <= cases * 0.02, misses


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_each_damage_alone_is_read(damage: Callable[[Image.Image, random.Random], bytes]) -> None:
    rng = random.Random(SEED)
    [(payload, page)] = diplomas(1, SEED + 2)
    assert read(damage(page, rng)) == [payload]


def test_three_diplomas_on_one_page_are_all_found_in_reading_order() -> None:
    rng = random.Random(SEED)
    first, second, third = (random_code(rng) for _ in range(3))
    page = make_page(
        rng,
        {qr_payload(first, LINK): (300, 300), second: (1500, 330), third: (900, 2400)},
    )
    assert scan_document(png(page), LIMITS) == [qr_payload(first, LINK), second, third]


def test_the_same_code_twice_on_a_page_is_reported_once() -> None:
    rng = random.Random(SEED)
    code = random_code(rng)
    page = Image.new("L", A4_300_DPI, 255)
    for spot in ((300, 300), (1400, 2600)):
        page.paste(qr_image(code), spot)
    assert scan_document(png(page), LIMITS) == [code]


def test_a_blank_page_has_no_qr() -> None:
    page = make_page(random.Random(SEED), {})
    with pytest.raises(NoQrFoundError) as refused:
        scan_document(png(page), LIMITS)
    assert refused.value.http_status == 422


# --- every format the box accepts, and what a file can say about how to show it -----------------

FORMATS: dict[str, dict[str, object]] = {
    "PNG": {},
    "JPEG": {"quality": 85},
    "WEBP": {"quality": 90},
    "GIF": {},
    "BMP": {},
    "TIFF": {"compression": "tiff_lzw"},
    "AVIF": {"quality": 90},
    "PDF": {"resolution": 150},
}


def small_page(*texts: str) -> Image.Image:
    """A white card with the QRs side by side, left to right."""
    symbols = [qr_image(text) for text in texts]
    page = Image.new("L", (sum(symbol.width for symbol in symbols) + 200, max(s.height for s in symbols) + 200), 255)
    x = 100
    for symbol in symbols:
        page.paste(symbol, (x, 100))
        x += symbol.width
    return page


@pytest.mark.parametrize(("kind", "options"), FORMATS.items(), ids=FORMATS.keys())
def test_every_accepted_format_is_read(kind: str, options: dict[str, object]) -> None:
    code = random_code(random.Random(kind))
    out = io.BytesIO()
    small_page(code).convert("RGB").save(out, format=kind, **options)
    assert scan_document(out.getvalue(), LIMITS) == [code]


def test_exif_orientation_is_honoured_for_reading_order() -> None:
    rng = random.Random(SEED)
    left, right = random_code(rng), random_code(rng)
    shown = small_page(left, right).convert("RGB")
    stored = shown.rotate(90, expand=True)  # a phone held sideways stores the pixels turned ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... and says "turn 90° clockwise to show"
    out = io.BytesIO()
    stored.save(out, format="JPEG", quality=90, exif=exif)
    assert scan_document(out.getvalue(), LIMITS) == [left, right]


def test_a_qr_on_a_transparent_background_is_read() -> None:
    code = random_code(random.Random(SEED))
    symbol = qr_image(code)
    transparent = Image.new("RGBA", symbol.size, (0, 0, 0, 0))  # black, invisible: dropped alpha is black
    transparent.putalpha(symbol.point(lambda value: 255 - value))
    out = io.BytesIO()
    transparent.save(out, format="PNG")
    assert scan_document(out.getvalue(), LIMITS) == [code]
