"""An HR officer's spreadsheet, read and written back: encodings, formats, columns, numbers, no disk."""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest

from appliance import spreadsheets
from appliance.spreadsheets import (
    CellProblem,
    Columns,
    Sheet,
    SheetError,
    SheetFormat,
    choose_columns,
    detect_columns,
    open_sheet,
    read_code_cell,
    read_national_id_cell,
    sheet_writer,
)

CODE = "12345678901234567890"
OTHER_CODE = "98765432109876543210"
PERSIAN_CODE = CODE.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
NATIONAL_ID = "0084575948"  # a valid national ID (check digit 8)
APPENDED = ("وضعیت / Status", "توضیح / Explanation")


def make_csv(
    rows: Sequence[Sequence[object]], *, bom: bool = True, encoding: str = "utf-8", delimiter: str = ","
) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    data = buffer.getvalue().encode(encoding)
    return (codecs.BOM_UTF8 + data) if bom and encoding == "utf-8" else data


def make_xlsx(rows: Sequence[Sequence[object]], title: str = "متقاضیان", text: str = "", **formats: str) -> bytes:
    """A workbook whose first sheet holds ``rows``; ``formats`` maps cells ("D2") to number formats,
    and the cell ``text`` (say "A2") is text even if it starts with "=" (else openpyxl makes it a formula)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    for cell, number_format in formats.items():
        sheet[cell].number_format = number_format
    if text:
        sheet[text].data_type = "s"
    workbook.create_sheet("دیگر").append(["code", OTHER_CODE])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def with_cached_value(xlsx: bytes, formula: str, value: str) -> bytes:
    """The workbook as Excel would save it: the formula ``formula`` carries its computed ``value``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                text, count = re.subn(
                    rf"<f>{re.escape(formula)}</f><v\s*/?>(</v>)?", f"<f>{formula}</f><v>{value}</v>", text
                )
                assert count == 1
                data = text.encode()
            target.writestr(item, data)
    return out.getvalue()


def all_rows(sheet: Sheet) -> list[tuple[Any, ...]]:
    return [row.values for row in sheet.rows()]


def columns_of(data: bytes) -> Columns:
    sheet = open_sheet(data)
    return detect_columns(sheet, sheet.sample())


def written(data: bytes, answers: Sequence[str] = ("x", "y")) -> bytes:
    """The sheet written back with the same two appended cells on every row."""
    sheet = open_sheet(data)
    shape = sheet.measure(1000)
    writer = sheet_writer(sheet, shape.width, APPENDED)
    for row in sheet.rows():
        writer.write_row(row, answers)
    return writer.finish().read()


def read_xlsx(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]


# --- reading -------------------------------------------------------------------------------------


def test_a_csv_with_a_bom_is_read_as_utf8() -> None:
    sheet = open_sheet(make_csv([["نام", "code"], ["علی رضایی", CODE]]))
    assert (sheet.format, sheet.encoding) == (SheetFormat.CSV, "utf-8-sig")
    assert sheet.header == ("نام", "code")
    assert all_rows(sheet) == [("علی رضایی", CODE)]


def test_a_csv_without_a_bom_is_read_as_utf8() -> None:
    sheet = open_sheet(make_csv([["نام", "code"], ["علی رضایی", CODE]], bom=False))
    assert sheet.encoding == "utf-8"
    assert all_rows(sheet) == [("علی رضایی", CODE)]


def test_a_windows_1256_csv_from_persian_excel_is_read() -> None:
    # Windows-1256 has the Arabic yeh and kaf, which Persian Windows writes for ی and ک.
    sheet = open_sheet(make_csv([["نام", "كد صحت"], ["علي", CODE]], encoding="cp1256", delimiter=";"))
    assert (sheet.encoding, sheet.delimiter) == ("cp1256", ";")
    assert all_rows(sheet) == [("علي", CODE)]
    assert detect_columns(sheet, sheet.sample()).code == 1


def test_a_utf16_unicode_text_file_from_excel_is_read_with_its_tabs() -> None:
    data = "نام\tcode\r\nعلی\t" + CODE + "\r\n"
    sheet = open_sheet(data.encode("utf-16"))
    assert (sheet.encoding, sheet.delimiter) == ("utf-16", "\t")
    assert all_rows(sheet) == [("علی", CODE)]


def test_an_xlsx_first_sheet_is_read_with_its_title() -> None:
    sheet = open_sheet(make_xlsx([["نام", "کد صحت"], ["علی", CODE]]))
    assert (sheet.format, sheet.title) == (SheetFormat.XLSX, "متقاضیان")
    assert all_rows(sheet) == [("علی", CODE)]


def test_an_xlsx_formula_is_read_as_its_cached_value() -> None:
    data = with_cached_value(make_xlsx([["نام", "تعداد"], ["علی", "=1+1"]]), "1+1", "2")
    assert all_rows(open_sheet(data)) == [("علی", 2)]


def test_blank_rows_are_kept_in_place_and_trailing_ones_dropped() -> None:
    sheet = open_sheet(make_csv([[], ["name", "code"], ["a", CODE], [], ["b", CODE], [], []]))
    rows = list(sheet.rows())
    assert [(row.line, row.blank) for row in rows] == [(3, False), (4, True), (5, False)]


def test_rows_wider_than_the_header_widen_the_sheet() -> None:
    sheet = open_sheet(make_csv([["name", "code"], ["a", CODE, "note", ""]]))
    assert sheet.measure(10).width == 3


def test_more_rows_than_allowed_are_refused() -> None:
    sheet = open_sheet(make_csv([["code"], *([CODE] for _ in range(4))]))
    with pytest.raises(SheetError) as refused:
        sheet.measure(3)
    assert (refused.value.reason, refused.value.http_status) == ("too_many_rows", 413)
    assert "3" in refused.value.message and "۳" in refused.value.message_fa


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"\r\n\r\n", "empty", id="blank"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "xls", id="old-excel"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01", "not_a_sheet", id="png"),
        pytest.param(b"PK\x03\x04 not really a zip", "bad_xlsx", id="broken-zip"),
    ],
)
def test_a_file_that_is_not_a_spreadsheet_is_refused_in_both_languages(data: bytes, reason: str) -> None:
    with pytest.raises(SheetError) as refused:
        open_sheet(data)
    assert refused.value.reason == reason
    assert refused.value.message and re.search("[\u0600-\u06ff]", refused.value.message_fa)


def test_a_zip_that_is_not_a_workbook_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    with pytest.raises(SheetError) as refused:
        open_sheet(buffer.getvalue())
    assert refused.value.reason == "bad_xlsx"


def test_a_workbook_that_expands_too_far_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spreadsheets, "XLSX_MAX_EXPANDED_BYTES", 1000)
    data = make_xlsx([["name", "code"], ["علی", CODE]])
    with pytest.raises(SheetError) as refused:
        open_sheet(data)
    assert refused.value.reason == "too_big"


# --- finding the columns -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["code", "Code", "Authenticity code", "authenticity_code", "کد صحت", "کد", "كد صحت", "کد‌صحت", "کد صحت مدرک"],
)
def test_the_code_column_is_found_by_its_header(header: str) -> None:
    columns = columns_of(make_csv([["نام", header], ["علی", CODE]]))
    assert (columns.code, columns.found_by) == (1, "header")


@pytest.mark.parametrize("header", ["national_id", "National ID", "کد ملی", "كد ملي", "شماره ملی"])
def test_the_national_id_column_is_found_by_its_header(header: str) -> None:
    columns = columns_of(make_csv([[header, "code"], [NATIONAL_ID, CODE]]))
    assert (columns.code, columns.national_id) == (1, 0)


@pytest.mark.parametrize("code", [CODE, PERSIAN_CODE, "1234-5678-9012-3456-7890"], ids=["latin", "persian", "dashes"])
def test_the_code_column_is_found_by_its_content_in_any_digit_system(code: str) -> None:
    columns = columns_of(make_csv([["نام", "شماره مدرک", "یادداشت"], ["علی", code, "x"], ["رضا", code, ""]]))
    assert (columns.code, columns.found_by) == (1, "content")


def test_a_column_of_valid_national_ids_is_found_by_its_content() -> None:
    columns = columns_of(make_csv([["ستون ۱", "ستون ۲"], [NATIONAL_ID, CODE]]))
    assert (columns.code, columns.national_id) == (1, 0)


def test_a_header_naming_the_authenticity_code_beats_a_bare_code() -> None:
    columns = columns_of(make_csv([["کد", "کد صحت"], ["1024", CODE]]))
    assert columns.code == 1


def test_a_bare_code_header_yields_to_the_column_that_holds_codes() -> None:
    columns = columns_of(make_csv([["code", "شماره"], ["1024", CODE]]))
    assert (columns.code, columns.found_by) == (1, "content")


def test_two_columns_of_codes_are_left_to_the_officer() -> None:
    columns = columns_of(make_csv([["قدیم", "جدید"], [CODE, OTHER_CODE]]))
    assert not columns.ready


def test_a_file_without_codes_is_left_to_the_officer() -> None:
    assert not columns_of(make_csv([["name", "note"], ["a", "b"]])).ready


def test_a_code_column_of_numbers_is_still_the_code_column() -> None:
    columns = columns_of(make_xlsx([["نام", "شماره"], ["علی", float(CODE)]]))
    assert columns.code == 1


def test_the_caller_chooses_columns_by_index_or_header_name() -> None:
    sheet = open_sheet(make_csv([["a", "b", "c"], [CODE, OTHER_CODE, NATIONAL_ID]]))
    assert choose_columns(sheet, 3, "1", "c") == Columns(1, 2, "chosen")
    assert choose_columns(sheet, 3, 0, None) == Columns(0, None, "chosen")


@pytest.mark.parametrize(("code", "national_id", "reason"), [("7", None, "unknown_column"), ("a", "a", "same_column")])
def test_a_column_choice_that_cannot_be_used_is_refused(code: str, national_id: str | None, reason: str) -> None:
    sheet = open_sheet(make_csv([["a", "b"], [CODE, NATIONAL_ID]]))
    with pytest.raises(SheetError) as refused:
        choose_columns(sheet, 2, code, national_id)
    assert refused.value.reason == reason


# --- cells ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        1.2345678901234567e19,
        12345678901234567890,
        "1.23457E+19",
        "1,23457E+19",
        "۱٫۲۳۴۵۷E+۱۹",
        "12345678901234567000.0",
    ],
    ids=["float", "int", "scientific", "decimal-comma", "persian-scientific", "float-text"],
)
def test_a_code_stored_as_a_number_is_reported_never_read(value: object) -> None:
    cell = read_code_cell(value)
    assert (cell.problem, cell.text) == (CellProblem.NUMBER, "")
    assert cell.shown


def test_a_code_in_persian_digits_is_text_to_verify() -> None:
    assert read_code_cell(PERSIAN_CODE).text == PERSIAN_CODE


@pytest.mark.parametrize("value", [None, "", "   "])
def test_an_empty_code_cell_has_nothing_to_verify(value: object) -> None:
    assert read_code_cell(value).problem is CellProblem.EMPTY


@pytest.mark.parametrize(("value", "text"), [(84575948, "84575948"), (1234567890.0, "1234567890"), (" ۰۰۸۴ ", "۰۰۸۴")])
def test_a_national_id_cell_keeps_its_digits(value: object, text: str) -> None:
    assert read_national_id_cell(value) == text


def test_a_number_in_an_xlsx_code_cell_reaches_the_reader_as_a_number() -> None:
    (row,) = open_sheet(make_xlsx([["name", "code"], ["علی", float(CODE)]])).rows()
    assert read_code_cell(row.values[1]).problem is CellProblem.NUMBER


# --- writing -------------------------------------------------------------------------------------


def test_csv_results_start_with_a_utf8_bom() -> None:
    assert written(make_csv([["name", "code"], ["علی", CODE]], bom=False)).startswith(codecs.BOM_UTF8)


def test_csv_results_keep_the_officers_columns_and_append_ours() -> None:
    data = make_csv([["نام", "code", "یادداشت"], ["علی", PERSIAN_CODE, "با, ویرگول"], ["رضا", "", ""]], delimiter=";")
    text = written(data).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows == [
        ["نام", "code", "یادداشت", *APPENDED],
        ["علی", PERSIAN_CODE, "با, ویرگول", "x", "y"],
        ["رضا", "", "", "x", "y"],
    ]


def test_csv_results_line_the_appended_columns_up_under_a_short_header() -> None:
    text = written(make_csv([["code"], [CODE, "extra"], [CODE]])).decode("utf-8-sig")
    assert [len(row) for row in csv.reader(io.StringIO(text))] == [4, 4, 4]


def test_xlsx_results_round_trip_through_openpyxl() -> None:
    data = make_xlsx(
        [["نام", "کد صحت", "تاریخ", "مبلغ"], ["علی", CODE, datetime(2024, 3, 20), 1250000]],
        C2="yyyy/mm/dd",
        D2="#,##0",
    )
    sheet = read_xlsx(written(data))
    rows = list(sheet.iter_rows(values_only=True))
    assert sheet.title == "متقاضیان"
    assert rows == [
        ("نام", "کد صحت", "تاریخ", "مبلغ", *APPENDED),
        ("علی", CODE, datetime(2024, 3, 20), 1250000, "x", "y"),
    ]
    assert (sheet["C2"].number_format, sheet["D2"].number_format) == ("yyyy/mm/dd", "#,##0")


def test_xlsx_results_have_a_right_to_left_sheet_and_a_bold_frozen_header() -> None:
    sheet = read_xlsx(written(make_xlsx([["نام", "کد صحت"], ["علی", CODE]])))
    assert sheet.sheet_view.rightToLeft
    assert sheet.freeze_panes == "A2"
    assert sheet["C1"].font.b and sheet["C1"].alignment.readingOrder == 2


def test_xlsx_text_that_starts_with_equals_stays_text() -> None:
    sheet = read_xlsx(written(make_xlsx([["name", "code"], ["=not a formula", CODE]], text="A2")))
    assert (sheet["A2"].value, sheet["A2"].data_type) == ("=not a formula", "s")


def test_results_are_written_without_any_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no usable temporary directory, any temporary file would fail the write."""
    uploads = (make_csv([["name", "code"], ["علی", CODE]]), make_xlsx([["name", "code"], ["علی", CODE]]))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-directory"))
    for data in uploads:
        assert written(data)


@pytest.mark.parametrize("make", [make_csv, make_xlsx], ids=["csv", "xlsx"])
def test_results_are_handed_out_in_small_pieces(make: Any) -> None:
    """Small writes keep a streaming server's memory from fragmenting."""
    data = make([["name", "code"], *(["علی" * 50, CODE] for _ in range(2000))])
    sheet = open_sheet(data)
    writer = sheet_writer(sheet, 2, APPENDED)
    for row in sheet.rows():
        writer.write_row(row, ("x", "y"))
    output = writer.finish()
    pieces = list(output.chunks())
    assert len(pieces) > 1 and max(map(len, pieces)) <= spreadsheets.PIECE_BYTES
    assert open_sheet(b"".join(pieces)).measure(5000).rows == 2000
