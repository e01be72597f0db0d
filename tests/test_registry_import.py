"""Importing a CSV: whole or not at all, every bad row named by its line."""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry import registry as registry_module
from registry.bulk_import import SEALING, BulkImport, CodeSample, ImportProgress, ImportSource
from registry.config import RegistryConfig
from registry.errors import ImportChangedError, ImportRejectedError, WeakCodesError
from registry.registry import MIN_CODE_ENTROPY_BITS, Registry
from tests.conftest import FAST_KDF, NOW, graduates_csv
from tests.support.import_rows import GOOD_ROW, HEADER, make_csv
from verifier.check_digits import passes_check
from verifier.records import RecordPayload
from verifier.sealing import derive_record_keys, unseal


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


# --- streaming, batches and repeats ----------------------------------------------------------------


def _rows_with_codes(codes: list[str]) -> bytes:
    return make_csv(*(code + GOOD_ROW for code in codes))


def _random_codes(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.randrange(10**19, 10**20)}" for _ in range(count)]


def test_a_file_is_imported_from_disk_and_its_codes_kept_by_line(
    make_registry: Callable[..., Registry], tmp_path: Path
) -> None:
    registry = make_registry()
    source = tmp_path / "graduates.csv"
    source.write_bytes(graduates_csv(30))
    summary = registry.import_file(source, NOW)
    assert (summary.rows, summary.imported, summary.resumed_from, summary.repeated) == (30, 30, 0, False)
    codes = list(registry.import_codes(summary.sha256))
    assert [line for line, _ in codes] == list(range(2, 32))
    assert all(registry.lookup(code) for _, code in codes)


def test_the_same_file_imported_again_is_reported_not_imported_twice(
    make_registry: Callable[..., Registry], tmp_path: Path
) -> None:
    registry = make_registry()
    source = tmp_path / "graduates.csv"
    source.write_bytes(graduates_csv(12))
    first = registry.import_file(source, NOW)
    again = registry.import_file(source, NOW)
    assert again.repeated and again.imported == 0 and again.sha256 == first.sha256
    assert registry.store.count_records() == 12
    assert registry.import_csv(graduates_csv(12), NOW) == list(registry.import_codes(first.sha256))


def test_rows_are_committed_in_batches_in_file_order(make_registry: Callable[..., Registry]) -> None:
    registry = make_registry()
    seen: list[ImportProgress] = []
    source = ImportSource("graduates.csv", lambda: io.BytesIO(graduates_csv(35)))
    BulkImport(registry, RegistryConfig(import_batch_rows=10), MIN_CODE_ENTROPY_BITS).run(
        source, NOW, on_progress=seen.append
    )
    assert [progress.rows for progress in seen if progress.phase == SEALING] == [0, 10, 20, 30, 35]
    seqs = [seq for (seq,) in registry.connection.execute("SELECT seq FROM records ORDER BY code")]
    assert sorted(seqs) == list(range(1, 36))


def test_the_worker_count_is_honoured(
    make_registry: Callable[..., Registry], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    threads: set[str] = set()
    original = registry_module.seal_payload

    def recording(*args: Any) -> tuple[bytes, bytes]:
        threads.add(threading.current_thread().name)
        time.sleep(0.002)  # long enough that an idle thread would be handed work
        return original(*args)

    monkeypatch.setattr(registry_module, "seal_payload", recording)
    source = tmp_path / "graduates.csv"
    source.write_bytes(graduates_csv(60))
    make_registry().import_file(source, NOW, workers=1)
    assert len(threads) == 1 and threads.pop().startswith("sehat-seal")
    make_registry().import_file(source, NOW, workers=3)
    assert 1 < len(threads) <= 3


def test_a_fresh_code_never_takes_a_code_the_file_supplies_further_on(
    make_registry: Callable[..., Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    supplied = "82051947360288154739"
    draws = iter([int(supplied), int("31415926535897932384")])
    monkeypatch.setattr(registry_module.secrets, "randbelow", lambda _: next(draws))
    issued = make_registry().import_csv(make_csv(GOOD_ROW, supplied + GOOD_ROW), NOW)
    assert issued == [(2, "31415926535897932384"), (3, supplied)]


def test_only_the_first_problems_are_listed_and_the_rest_counted(make_registry: Callable[..., Registry]) -> None:
    bad = ",1,x,diploma,کارشناسی,فیزیک,دانشگاه تهران,2023-09-21\n"
    source = ImportSource("bad.csv", lambda: io.BytesIO(make_csv(*[bad] * 30)))
    importer = BulkImport(make_registry(), RegistryConfig(import_max_problems=5), MIN_CODE_ENTROPY_BITS)
    with pytest.raises(ImportRejectedError, match=r"\(and 25 more\)") as caught:
        importer.run(source, NOW)
    assert [problem.line for problem in caught.value.problems] == [2, 3, 4, 5, 6]
    assert caught.value.omitted == 25


def test_a_line_that_is_not_utf8_is_named_and_the_rest_still_checked(make_registry: Callable[..., Registry]) -> None:
    data = make_csv(GOOD_ROW) + GOOD_ROW.encode("utf-8").replace("سارا".encode(), b"\xff") + b",,,,,,,\n"
    with pytest.raises(ImportRejectedError) as caught:
        make_registry().import_csv(data, NOW)
    assert [(problem.line, "not UTF-8" in problem.message) for problem in caught.value.problems][:1] == [(3, True)]
    assert caught.value.problems[1].line == 4


def test_a_file_that_grows_while_it_is_imported_is_refused(make_registry: Callable[..., Registry]) -> None:
    versions = [graduates_csv(5), graduates_csv(5), graduates_csv(6)]  # identified, checked, then sealed
    source = ImportSource("growing.csv", lambda: io.BytesIO(versions.pop(0)))
    registry = make_registry()
    with pytest.raises(ImportChangedError):
        BulkImport(registry, RegistryConfig(), MIN_CODE_ENTROPY_BITS).run(source, NOW)
    assert registry.store.count_records() == 0


# --- the randomness of supplied codes, judged on a sample --------------------------------------------


def test_the_code_sample_is_uniform_bounded_and_the_same_for_the_same_file() -> None:
    samples = []
    for _ in range(2):
        sample = CodeSample(100, "a" * 64)
        for number in range(10_000):
            sample.add(f"{number:020d}")
        samples.append(sample.codes)
    assert len(samples[0]) == 100 and samples[0] == samples[1]
    assert 3_000 < sum(int(code) for code in samples[0]) / 100 < 7_000  # drawn from the whole file


def test_serial_codes_are_refused_when_judged_on_a_sample(make_registry: Callable[..., Registry]) -> None:
    serials = [str(48_213_957_310_000_000_000 + 7 * serial) for serial in range(300)]
    source = ImportSource("serials.csv", lambda: io.BytesIO(_rows_with_codes(serials)))
    importer = BulkImport(make_registry(), RegistryConfig(import_code_sample=40), MIN_CODE_ENTROPY_BITS)
    with pytest.raises(WeakCodesError) as refused:
        importer.run(source, NOW)
    assert refused.value.bits < 20  # 300 serials 7 apart span about 11 bits


def test_a_patterned_code_outside_the_sample_still_counts(make_registry: Callable[..., Registry]) -> None:
    codes = [*_random_codes(400, seed=3), "00000000000000000001"]
    source = ImportSource("moved.csv", lambda: io.BytesIO(_rows_with_codes(codes)))
    importer = BulkImport(make_registry(), RegistryConfig(import_code_sample=10), MIN_CODE_ENTROPY_BITS)
    with pytest.raises(WeakCodesError, match="run of 19"):
        importer.run(source, NOW)


def test_a_catalogue_name_another_process_added_meanwhile_keeps_its_position(
    make_registry: Callable[..., Registry],
) -> None:
    registry = make_registry()  # its catalogue read while still empty, as in a long import
    with Registry.open(registry.directory) as other:
        other.import_csv(make_csv(GOOD_ROW.replace("دانشگاه تهران", "دانشگاه شیراز")), NOW)
    ((_, code),) = registry.import_csv(make_csv(GOOD_ROW.replace("دانشگاه تهران", "دانشگاه اصفهان")), NOW)
    catalogue = registry.catalogue()
    assert catalogue.institutions == ("دانشگاه شیراز", "دانشگاه اصفهان")
    keys = derive_record_keys(code, registry.issuer, FAST_KDF)
    payload = RecordPayload.from_bytes(unseal(registry.lookup(code).box, keys, registry.issuer), catalogue)
    assert payload.document.institution == "دانشگاه اصفهان"
