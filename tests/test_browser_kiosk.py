"""The kiosk in a real browser (Debian's Chromium): the counter clerk's and HR officer's flows.

Every test also checks, through the browser fixture's request guard, that the page asked
for nothing outside 127.0.0.1. Screenshots of the main verdicts land in docs/screenshots/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from playwright.sync_api import Page

from appliance.datadir import DataDir
from sehat.cli import cli
from tests.conftest import DemoCodes
from tests.support.browser import BrowserSession, screenshot, wait_until
from tests.support.documents import document_bytes
from tests.support.fake_camera import qr_video
from tests.support.servers import serving
from tests.support.simulator import FeedSimulator

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@pytest.fixture
def kiosk(live_box: str, chromium: Callable[..., BrowserSession]) -> Iterator[Page]:
    page = chromium().new_page()
    page.set_viewport_size(DESKTOP)
    page.goto(live_box + "/?lang=fa")
    yield page


def finding(page: Page) -> str:
    wait_until(page, "document.querySelector('#verdict .verdict') !== null")
    return str(page.get_attribute("#verdict .verdict", "data-finding"))


def scan_with_usb_scanner(page: Page, text: str) -> None:
    """A USB scanner types fast wherever focus is, then Enter — no mouse."""
    page.keyboard.type(text, delay=2)
    page.keyboard.press("Enter")


def test_a_code_typed_in_persian_digits_is_valid(kiosk: Page, synced: DemoCodes) -> None:
    kiosk.fill("#code", synced.valid.translate(PERSIAN_DIGITS))
    kiosk.keyboard.press("Enter")
    assert finding(kiosk) == "valid"
    assert kiosk.locator("#verdict .headline").inner_text() == "معتبر"


def test_three_people_in_a_row_with_a_usb_scanner_and_no_mouse(kiosk: Page, synced: DemoCodes) -> None:
    seen = []
    for code in (synced.valid, synced.revoked, synced.superseded):
        wait_until(kiosk, "document.activeElement && document.activeElement.id === 'code'")
        scan_with_usb_scanner(kiosk, code + "\r")
        wait_until(kiosk, f"document.querySelector('#verdict .verdict [data-field=code]')?.textContent === '{code}'")
        seen.append(finding(kiosk))
    assert seen == ["valid", "revoked", "superseded"]
    assert kiosk.input_value("#code") == ""


def test_a_wrong_national_id_is_someone_elses_document_never_green(kiosk: Page, synced: DemoCodes) -> None:
    other = "0499370899" if synced.valid_national_id != "0499370899" else "0013542419"
    kiosk.fill("#code", synced.valid)
    kiosk.click("details.national-id summary")
    kiosk.fill("#national_id", other)
    kiosk.click("[data-action=check]")
    assert finding(kiosk) == "mismatch"
    assert "متعلق به شخص دیگری" in kiosk.locator("#verdict .headline").inner_text()


def test_a_typo_is_a_neutral_format_error_that_echoes_the_input(kiosk: Page, synced: DemoCodes) -> None:
    typo = synced.valid[:10] + "o" + synced.valid[11:]
    kiosk.fill("#code", typo)
    kiosk.keyboard.press("Enter")
    assert finding(kiosk) == "invalid_format"
    assert kiosk.locator("#verdict .echo mark").inner_text() == "o"
    assert kiosk.input_value("#code") == typo  # kept for correction


def test_nineteen_digits_say_one_is_missing(kiosk: Page, synced: DemoCodes) -> None:
    kiosk.fill("#code", synced.valid[:19])
    kiosk.keyboard.press("Enter")
    assert finding(kiosk) == "invalid_format"
    assert "یک رقم کم است" in kiosk.locator("#verdict .detail").inner_text()


def test_english_is_one_click_away_and_remembered(kiosk: Page, live_box: str, synced: DemoCodes) -> None:
    kiosk.click("a.language")
    assert kiosk.get_attribute("html", "lang") == "en"
    assert kiosk.get_attribute("html", "dir") == "ltr"
    kiosk.goto(live_box + "/")
    assert kiosk.get_attribute("html", "lang") == "en"
    kiosk.fill("#code", synced.revoked)
    kiosk.keyboard.press("Enter")
    assert finding(kiosk) == "revoked"
    assert kiosk.locator("#verdict .headline").inner_text() == "Revoked"
    kiosk.click("a.language")
    assert kiosk.get_attribute("html", "lang") == "fa"


def test_on_a_phone_the_verdict_fits_the_screen(
    live_box: str, chromium: Callable[..., BrowserSession], synced: DemoCodes
) -> None:
    page = chromium().new_page()
    page.set_viewport_size(PHONE)
    page.goto(live_box + "/?lang=en")
    page.fill("#code", synced.valid)
    page.keyboard.press("Enter")
    assert finding(page) == "valid"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_stale_box_says_so_on_the_start_page_and_every_verdict(
    make_app: Callable[..., Flask],
    simulator: FeedSimulator,
    synced: DemoCodes,
    chromium: Callable[..., BrowserSession],
) -> None:
    simulator.advance(timedelta(days=3))
    with serving(make_app()) as base:
        page = chromium().new_page()
        page.set_viewport_size(DESKTOP)
        page.goto(base + "/?lang=fa")
        assert page.get_attribute(".banner", "data-freshness") == "stale"
        for code in (synced.revoked, synced.superseded, "1" * 20):
            page.fill("#code", code)
            page.keyboard.press("Enter")
            wait_until(page, "document.querySelector('#verdict .verdict')?.dataset.stale === 'true'")
            assert page.locator("#verdict .stale-note").count() == 1, code
            page.keyboard.press("Escape")
        page.fill("#code", synced.valid)
        page.keyboard.press("Enter")
        wait_until(page, "document.querySelector('#verdict .verdict')?.dataset.finding === 'valid'")
        headline = page.locator("#verdict .headline").inner_text()
        assert headline.startswith("معتبر بر اساس داده‌های")
        assert "تا تاریخ" not in headline


def test_the_verdict_clears_itself_after_the_pause(
    make_app: Callable[..., Flask], synced: DemoCodes, chromium: Callable[..., BrowserSession]
) -> None:
    with serving(make_app(kiosk_clear_seconds=1)) as base:
        page = chromium().new_page()
        page.goto(base + "/")
        page.fill("#code", synced.valid)
        page.keyboard.press("Enter")
        assert finding(page) == "valid"
        wait_until(page, "document.querySelector('#verdict .verdict') === null", timeout=10)
        assert page.evaluate("document.activeElement.id") == "code"


def test_escape_clears_the_verdict_at_once(kiosk: Page, synced: DemoCodes) -> None:
    kiosk.fill("#code", synced.valid)
    kiosk.keyboard.press("Enter")
    assert finding(kiosk) == "valid"
    kiosk.keyboard.press("Escape")
    wait_until(kiosk, "document.querySelector('#verdict .verdict') === null")


def test_the_camera_reads_a_diploma_and_shows_its_verdict(
    live_box: str, chromium: Callable[..., BrowserSession], synced: DemoCodes, tmp_path: Path
) -> None:
    video = qr_video(f"https://sehat.example.ir/verify?code={synced.valid}", tmp_path / "diploma.y4m")
    session = chromium(fake_camera=video)
    page = session.new_page()
    page.goto(live_box + "/")
    page.click("[data-action=camera]")
    wait_until(page, "document.querySelector('#verdict .verdict') !== null", timeout=30)
    assert finding(page) == "valid", session.log()


def test_a_photo_upload_shows_the_verdict_of_each_code(kiosk: Page, synced: DemoCodes, tmp_path: Path) -> None:
    photo = tmp_path / "diploma.jpg"
    photo.write_bytes(document_bytes(synced.revoked, kind="jpeg"))
    kiosk.set_input_files("#upload-photo", str(photo))
    assert finding(kiosk) == "revoked"


def test_a_printed_receipt_proves_itself_with_sehat_receipt_verify(
    kiosk: Page, synced: DemoCodes, box: DataDir, tmp_path: Path
) -> None:
    kiosk.fill("#code", synced.valid)
    kiosk.keyboard.press("Enter")
    assert finding(kiosk) == "valid"
    with kiosk.context.expect_page() as opened:
        kiosk.click("[data-action=receipt]")
    receipt = opened.value
    receipt.wait_for_load_state()
    screenshot(receipt, SCREENSHOTS / "receipt-fa-valid.png")
    printed = tmp_path / "receipt.pdf"
    receipt.pdf(path=str(printed), format="A4")
    result = CliRunner().invoke(cli, ["appliance", "receipt", "verify", str(printed), "--datadir", str(box.path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Valid receipt ")
    assert f"code {synced.valid} was " in result.output


@pytest.mark.parametrize("device", ["desktop", "phone"])
@pytest.mark.parametrize("lang", ["fa", "en"])
def test_screenshots_of_each_verdict_for_the_readme(
    make_app: Callable[..., Flask],
    simulator: FeedSimulator,
    synced: DemoCodes,
    chromium: Callable[..., BrowserSession],
    lang: str,
    device: str,
) -> None:
    """The kiosk as a clerk sees it, in docs/screenshots/: each finding, each language, phone and desktop."""
    other = "0499370899" if synced.valid_national_id != "0499370899" else "0013542419"
    cases = [("valid", synced.valid, ""), ("revoked", synced.revoked, ""), ("mismatch", synced.valid, other)]
    page = chromium().new_page()
    page.set_viewport_size(DESKTOP if device == "desktop" else PHONE)
    with serving(make_app()) as base:
        page.goto(f"{base}/?lang={lang}")
        for expected, code, national_id in cases:
            page.fill("#code", code)
            if national_id:
                page.click("details.national-id summary")
                page.fill("#national_id", national_id)
            page.keyboard.press("Enter")
            wait_until(page, f"document.querySelector('#verdict .verdict')?.dataset.finding === '{expected}'")
            assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
            screenshot(page, SCREENSHOTS / f"kiosk-{lang}-{expected}-{device}.png")
            page.keyboard.press("Escape")
    simulator.advance(timedelta(days=3))
    with serving(make_app()) as base:
        page.goto(f"{base}/?lang={lang}")
        page.fill("#code", synced.valid)
        page.keyboard.press("Enter")
        wait_until(page, "document.querySelector('#verdict .verdict')?.dataset.stale === 'true'")
        screenshot(page, SCREENSHOTS / f"kiosk-{lang}-stale-{device}.png")
