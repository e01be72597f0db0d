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
from PIL import Image

from appliance.scanning import NoQrFoundError, ScanLimits, scan_document
from registry.qr import qr_payload
from tests.support.diplomas import A4_300_DPI, DAMAGE, make_page, png, qr_image

SEED = 20261123
CODES = 60
LINK = "https://sehat.example.ir/verify?code={code}"
LIMITS = ScanLimits()


def random_code(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789") for _ in range(20))


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
