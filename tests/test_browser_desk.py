"""The HR desk in a real browser: a spreadsheet in, the same spreadsheet with verdicts out."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Page

from tests.conftest import DemoCodes
from tests.support.browser import BrowserSession, screenshot, wait_until

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
HEADER = ["نام متقاضی", "کد صحت", "یادداشت"]


def applicants(synced: DemoCodes) -> list[list[str]]:
    return [
        ["مریم احمدی", synced.valid, "مصاحبه اول"],
        ["رضا کریمی", synced.revoked, ""],
        ["سارا رحیمی", synced.valid[:19], "کد ناقص"],
    ]


def upload_and_download(page: Page, base: str, upload: Path, tmp_path: Path) -> Path:
    page.goto(base + "/desk?lang=fa")
    page.set_input_files("#desk-file", str(upload))
    page.click("#desk-submit")
    wait_until(
        page, "document.querySelector('#desk-download') !== null && !document.querySelector('#desk-download').hidden"
    )
    with page.expect_download() as downloading:
        page.click("#desk-download")
    target = tmp_path / f"result-{upload.name}"
    downloading.value.save_as(str(target))
    return target


@pytest.fixture
def desk(live_box: str, chromium: Callable[..., BrowserSession]) -> tuple[Page, str]:
    return chromium().new_page(), live_box


def test_a_csv_comes_back_with_the_officers_columns_and_a_verdict_each(
    desk: tuple[Page, str], synced: DemoCodes, tmp_path: Path
) -> None:
    page, base = desk
    upload = tmp_path / "applicants.csv"
    with upload.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *applicants(synced)])
    result = upload_and_download(page, base, upload, tmp_path)
    raw = result.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads Persian only with the BOM
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == HEADER
    assert [row[:3] for row in rows[1:]] == applicants(synced)
    statuses = [" ".join(row[3:]) for row in rows[1:]]
    assert "Valid" in statuses[0] and "Revoked" in statuses[1] and "Not a code" in statuses[2]
    screenshot(page, SCREENSHOTS / "desk-fa-done-desktop.png")


def test_an_xlsx_comes_back_as_an_xlsx_with_the_same_columns_first(
    desk: tuple[Page, str], synced: DemoCodes, tmp_path: Path
) -> None:
    page, base = desk
    upload = tmp_path / "applicants.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    for row in [HEADER, *applicants(synced)]:
        sheet.append(row)
    book.save(upload)
    result = upload_and_download(page, base, upload, tmp_path)
    rows = [list(row) for row in openpyxl.load_workbook(result, read_only=True).active.iter_rows(values_only=True)]
    assert rows[0][:3] == HEADER
    assert [[cell or "" for cell in row[:3]] for row in rows[1:]] == applicants(synced)
    assert "Revoked" in " ".join(str(cell) for cell in rows[2][3:] if cell)
