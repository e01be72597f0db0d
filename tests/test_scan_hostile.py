"""Uploads made to hurt: each is refused with its named error and HTTP status, and quickly.

A scan runs on the box's request threads, so a file that could make it allocate gigabytes
or compute for minutes is an attack on every other user of the box. Every case here must
be answered within the scan's time budget; the bound asserted is generous so that a busy
test machine does not fail it, and still far below what an unbounded decoder would take.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Callable

import pytest
from PIL import Image, ImageDraw

from appliance.config import ApplianceConfig
from appliance.scanning import (
    DamagedPdfError,
    NoQrFoundError,
    ScanError,
    ScanLimits,
    UploadTooLargeError,
    scan_document,
)
from appliance.scanning.pdf_worker import render_scale
from tests.support.hostile_files import CODE, HOSTILE, pdf_page, qr_jpeg, qr_png
from verifier.errors import InputError

LIMITS = ScanLimits()
# The time budget, plus a second for a machine busy with other tests.
GENEROUS_SECONDS = LIMITS.time_budget + 1.0


# --- factories --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "error", "status"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_upload_is_refused_by_name_and_in_time(
    make: Callable[[], bytes], error: type[ScanError], status: int
) -> None:
    data = make()
    started = time.monotonic()
    with pytest.raises(error) as refused:
        scan_document(data, LIMITS)
    elapsed = time.monotonic() - started
    assert type(refused.value) is error
    assert refused.value.http_status == status
    assert refused.value.message and refused.value.message_fa != refused.value.message
    assert elapsed < GENEROUS_SECONDS


def noise_png() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((2000, 2000), 100).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def noise_phone_jpeg() -> bytes:
    out = io.BytesIO()
    channel = Image.effect_noise((4000, 3000), 100)
    Image.merge("RGB", (channel, channel.transpose(Image.Transpose.ROTATE_180), channel)).save(out, format="JPEG")
    return out.getvalue()


def clutter_near_the_pixel_limit() -> bytes:
    """49 megapixels of scattered dark blocks: every pass costs the most it can here."""
    rng = random.Random(3)
    page = Image.new("L", (7000, 7000), 255)
    draw = ImageDraw.Draw(page)
    for _ in range(40_000):
        x, y = rng.randrange(7000), rng.randrange(7000)
        draw.rectangle((x, y, x + rng.randint(5, 60), y + rng.randint(5, 60)), fill=rng.randint(0, 120))
    out = io.BytesIO()
    page.save(out, format="PNG", compress_level=1)
    return out.getvalue()


HOPELESS: dict[str, Callable[[], bytes]] = {
    "noise_4_megapixels": noise_png,
    "noise_12_megapixel_jpeg": noise_phone_jpeg,
    "clutter_49_megapixels": clutter_near_the_pixel_limit,
}


@pytest.mark.parametrize("make", HOPELESS.values(), ids=HOPELESS.keys())
def test_a_hopeless_image_gives_up_within_the_time_budget(make: Callable[[], bytes]) -> None:
    data = make()
    started = time.monotonic()
    with pytest.raises(NoQrFoundError):
        scan_document(data, LIMITS)
    assert time.monotonic() - started < GENEROUS_SECONDS


def test_a_huge_page_is_rendered_within_the_pixel_limit() -> None:
    scale = render_scale(14_400, 14_400, LIMITS.pdf_dpi, LIMITS.max_pixels)
    assert scale is not None
    assert (14_400 * scale) ** 2 <= LIMITS.max_pixels


def test_a_qr_filling_a_huge_pdf_page_is_still_read() -> None:
    out = io.BytesIO()
    Image.open(io.BytesIO(qr_png())).save(out, format="PDF", resolution=0.05)  # a page ~ 4 km wide
    assert scan_document(out.getvalue(), LIMITS) == [CODE]


def test_a_lower_byte_limit_is_reported_in_the_message() -> None:
    with pytest.raises(UploadTooLargeError) as refused:
        scan_document(qr_jpeg(), ScanLimits(max_bytes=1 << 10))
    assert refused.value.limit_bytes == 1 << 10
    assert "up to 1 KB" in refused.value.message
    assert "۱ کیلوبایت" in refused.value.message_fa


def test_every_refusal_is_an_input_error_with_a_code() -> None:
    for _, error, status in HOSTILE.values():
        assert issubclass(error, InputError)
        assert error.code not in ("error", "scan_error")
        assert error.http_status == status


def test_default_limits_are_the_boxes_scan_settings() -> None:
    assert ScanLimits.from_config(ApplianceConfig()) == ScanLimits()


@pytest.mark.parametrize("field", ["max_bytes", "max_pixels", "max_pages", "pdf_dpi", "time_budget"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ScanLimits(**{field: 0})


def test_a_renderer_that_dies_is_a_damaged_pdf_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("appliance.scanning.pdf._WORKER", "appliance.scanning.no_such_worker")
    with pytest.raises(DamagedPdfError):
        scan_document(pdf_page(b"[0 0 595 842]"), LIMITS)
    assert "no_such_worker" in caplog.text
