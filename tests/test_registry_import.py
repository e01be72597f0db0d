"""Importing a CSV: whole or not at all, every bad row named by its line."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from registry.errors import ImportRejectedError
from registry.registry import Registry
from tests.conftest import NOW, graduates_csv
from tests.support.import_rows import GOOD_ROW, HEADER, make_csv
from verifier.check_digits import passes_check


def test_every_row_gets_a_fresh_code(make_registry: Callable[..., Registry]) -> None:
    registry = make_registry()
    issued = registry.import_csv(graduates_csv(50), NOW)
    codes = [code for _, code in issued]
    assert len(set(codes)) == 50
    assert all(len(code) == 20 and code.isdigit() for code in codes)
    assert [line for line, _ in issued] == list(range(2, 52))


def test_a_row_can_carry_its_own_code_in_persian_digits(make_registry: Callable[..., Registry]) -> None:
    registry = make_registry()
    row = "۸۲۰۵۱۹۴۷۳۶۰۲۸۸۱۵۴۷۳۹" + GOOD_ROW
    assert registry.import_csv(make_csv(row), NOW) == [(2, "82051947360288154739")]


def test_issued_codes_carry_the_issuers_check_digit(make_registry: Callable[..., Registry]) -> None:
    registry = make_registry(check_digits="luhn")
    codes = [code for _, code in registry.import_csv(graduates_csv(20), NOW)]
    assert all(passes_check(code, "luhn") for code in codes)


def test_a_spreadsheet_byte_order_mark_is_accepted(make_registry: Callable[..., Registry]) -> None:
    registry = make_registry()
    assert len(registry.import_csv(b"\xef\xbb\xbf" + make_csv(GOOD_ROW), NOW)) == 1


def test_columns_may_come_in_any_order(make_registry: Callable[..., Registry]) -> None:
    registry = make_registry()
    header = "full_name,code,national_id,document_type,degree_level,field,institution,issued_on\n"
    row = "سارا احمدی,,0499370899,diploma,کارشناسی,مهندسی کامپیوتر,دانشگاه تهران,2023-09-21\n"
    assert len(registry.import_csv(make_csv(row, header=header), NOW)) == 1


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (",0499370898,سارا احمدی,diploma,کارشناسی,فیزیک,دانشگاه تهران,2023-09-21\n", "national_id"),
        (",0499370899,,diploma,کارشناسی,فیزیک,دانشگاه تهران,2023-09-21\n", "full_name is empty"),
        (",0499370899,سارا احمدی,certificate,کارشناسی,فیزیک,دانشگاه تهران,2023-09-21\n", "document_type"),
        (",0499370899,سارا احمدی,diploma,کارشناسی,فیزیک,دانشگاه تهران,2023/09/21\n", "issued_on"),
        (",0499370899,سارا احمدی,diploma,کارشناسی,فیزیک,دانشگاه تهران,2099-01-01\n", "future"),
        ("123,0499370899,سارا احمدی,diploma,کارشناسی,فیزیک,دانشگاه تهران,2023-09-21\n", "code"),
        (",0499370899,سارا احمدی,diploma,کارشناسی,فیزیک,دانشگاه تهران,2023-09-21,extra\n", "more fields"),
    ],
)
def test_a_bad_row_is_reported_by_line_and_nothing_is_imported(
    make_registry: Callable[..., Registry], row: str, expected: str
) -> None:
    registry = make_registry()
    with pytest.raises(ImportRejectedError) as caught:
        registry.import_csv(make_csv(GOOD_ROW, GOOD_ROW, row, GOOD_ROW), NOW)
    (problem,) = caught.value.problems
    assert problem.line == 4
    assert expected in problem.message
    assert registry.digest()[0] == 0
    assert registry.store.count_records() == 0


def test_all_bad_rows_are_reported_at_once(make_registry: Callable[..., Registry]) -> None:
    registry = make_registry()
    bad = ",1,x,diploma,کارشناسی,فیزیک,دانشگاه تهران,2023-09-21\n"
    with pytest.raises(ImportRejectedError) as caught:
        registry.import_csv(make_csv(bad, GOOD_ROW, bad), NOW)
    assert [problem.line for problem in caught.value.problems] == [2, 4]
    assert "ردیف" in caught.value.message_fa


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (HEADER.replace("\n", ",notes\n"), "unknown columns: notes"),
        (HEADER.replace("field,", ""), "missing columns: field"),
        (HEADER.replace("\n", ",code\n"), "repeated columns: code"),
    ],
)
def test_a_bad_header_is_refused(make_registry: Callable[..., Registry], header: str, expected: str) -> None:
    registry = make_registry()
    with pytest.raises(ImportRejectedError, match=expected):
        registry.import_csv(make_csv(header=header), NOW)


def test_a_file_that_is_not_utf8_is_refused(make_registry: Callable[..., Registry]) -> None:
    registry = make_registry()
    with pytest.raises(ImportRejectedError, match="not UTF-8"):
        registry.import_csv(make_csv(GOOD_ROW).decode("utf-8").encode("cp1256", errors="replace") + b"\xff", NOW)


def test_an_empty_file_is_refused(make_registry: Callable[..., Registry]) -> None:
    with pytest.raises(ImportRejectedError, match="empty"):
        make_registry().import_csv(b"", NOW)


def test_a_header_without_rows_is_refused(make_registry: Callable[..., Registry]) -> None:
    with pytest.raises(ImportRejectedError, match="no data rows"):
        make_registry().import_csv(make_csv(), NOW)


def test_a_code_repeated_within_the_file_is_refused(make_registry: Callable[..., Registry]) -> None:
    row = "12345678901234567890" + GOOD_ROW
    with pytest.raises(ImportRejectedError, match="line 2"):
        make_registry().import_csv(make_csv(row, row), NOW)


def test_a_code_already_issued_is_refused_and_nothing_is_imported(make_registry: Callable[..., Registry]) -> None:
    registry = make_registry()
    registry.import_csv(make_csv("82051947360288154739" + GOOD_ROW), NOW)
    with pytest.raises(ImportRejectedError, match="already issued"):
        registry.import_csv(make_csv(GOOD_ROW, "82051947360288154739" + GOOD_ROW), NOW)
    assert registry.store.count_records() == 1
