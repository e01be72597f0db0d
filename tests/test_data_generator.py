"""Tests for the synthetic graduate data generator and its committed sample."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import random
import re
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from data.generator import (
    BODIES,
    CSV_COLUMNS,
    DOCUMENT_TYPES,
    FEMALE_FIRST_NAMES,
    INSTITUTIONS,
    ISSUER_SAMPLES,
    Graduate,
    generate_graduates,
    generate_issuer_sample,
    main,
    write_csv,
)
from verifier.national_id import is_valid_national_id

DATA = Path(__file__).parent.parent / "data"
SAMPLE_CSV = DATA / "sample.csv"
LATEST = datetime.date(2026, 11, 1)
PERSIAN_LETTERS = frozenset("آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیئ")
ZWNJ = "\u200c"


@pytest.fixture(scope="module")
def sample() -> list[Graduate]:
    return list(generate_graduates(2000, seed=1404))


@pytest.fixture(scope="module")
def many() -> list[Graduate]:
    return list(generate_graduates(100_000, seed=7))


def _csv_text(graduates: list[Graduate]) -> str:
    buffer = io.StringIO(newline="")
    write_csv(graduates, buffer)
    return buffer.getvalue()


def _pairs(graduates: list[Graduate]) -> list[tuple[Graduate, Graduate]]:
    """Consecutive rows sharing a national ID: the provisional/diploma pairs."""
    return [(a, b) for a, b in pairwise(graduates) if a.national_id == b.national_id]


def test_csv_header_and_column_order(sample: list[Graduate]) -> None:
    assert [f.name for f in dataclasses.fields(Graduate)] == list(CSV_COLUMNS)
    rows = list(csv.reader(io.StringIO(_csv_text(sample[:5]))))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[0] == ["code", "national_id", "full_name", "document_type",
                       "degree_level", "field", "institution", "issued_on"]  # fmt: skip
    assert rows[1] == list(dataclasses.astuple(sample[0]))


def test_write_csv_returns_row_count_and_writes_utf8_without_bom(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    assert write_csv(generate_graduates(7, seed=3), out) == 7
    raw = out.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert len(raw.decode("utf-8").splitlines()) == 8


def test_codes_are_left_empty_for_the_registry(sample: list[Graduate]) -> None:
    assert {g.code for g in sample} == {""}


def test_same_seed_gives_same_rows() -> None:
    assert list(generate_graduates(500, seed=42)) == list(generate_graduates(500, seed=42))


def test_generation_does_not_depend_on_global_random_state() -> None:
    random.seed(1)
    first = list(generate_graduates(50, seed=9))
    random.seed(2)
    assert list(generate_graduates(50, seed=9)) == first


def test_different_seeds_give_different_rows() -> None:
    assert list(generate_graduates(100, seed=1)) != list(generate_graduates(100, seed=2))


def test_yields_exactly_count_rows() -> None:
    for count in (0, 1, 2, 3, 199):
        assert len(list(generate_graduates(count, seed=count))) == count


def test_negative_count_is_rejected() -> None:
    with pytest.raises(ValueError):
        generate_graduates(-1)


def test_national_ids_valid_and_unique_per_graduate_in_100000_rows(many: list[Graduate]) -> None:
    assert len(many) == 100_000
    assert all(is_valid_national_id(g.national_id) for g in many)
    counts = Counter(g.national_id for g in many)
    assert max(counts.values()) == 2
    # Only a provisional/diploma pair may share an ID, and then as consecutive rows.
    assert 2 * len(_pairs(many)) == sum(n for n in counts.values() if n == 2)


def test_every_document_type_appears(sample: list[Graduate]) -> None:
    assert {g.document_type for g in sample} == set(DOCUMENT_TYPES)


def test_pairs_are_provisional_then_later_diploma_of_the_same_degree(sample: list[Graduate]) -> None:
    pairs = _pairs(sample)
    assert pairs
    for provisional, diploma in pairs:
        assert (provisional.document_type, diploma.document_type) == ("provisional", "diploma")
        assert dataclasses.replace(provisional, document_type="diploma", issued_on=diploma.issued_on) == diploma
        gap = datetime.date.fromisoformat(diploma.issued_on) - datetime.date.fromisoformat(provisional.issued_on)
        assert 175 <= gap.days <= 24 * 31


def test_pairs_are_roughly_a_fifth_of_graduates(many: list[Graduate]) -> None:
    graduates = len({g.national_id for g in many})
    assert 0.17 < len(_pairs(many)) / graduates < 0.23


def test_issued_on_is_iso_date_not_after_2026_11_01(many: list[Graduate]) -> None:
    for graduate in many:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", graduate.issued_on)
        assert datetime.date(2006, 3, 21) <= datetime.date.fromisoformat(graduate.issued_on) <= LATEST


def test_names_use_persian_letters_only(sample: list[Graduate]) -> None:
    for graduate in sample:
        name = graduate.full_name
        assert "\u064a" not in name and "\u0643" not in name
        assert not re.search(r"[A-Za-z]", name)
        assert set(name) <= PERSIAN_LETTERS | {" ", ZWNJ}, name
        first, family = name.split(" ")
        for part in (first, family):
            assert part and not part.startswith(ZWNJ) and not part.endswith(ZWNJ)


def test_no_arabic_yeh_or_kaf_in_any_text_column(sample: list[Graduate]) -> None:
    for graduate in sample:
        text = f"{graduate.full_name} {graduate.degree_level} {graduate.field} {graduate.institution}"
        assert "\u064a" not in text and "\u0643" not in text
        assert not re.search(r"[A-Za-z]", text)


def test_all_five_bodies_are_represented(sample: list[Graduate]) -> None:
    assert len(INSTITUTIONS) == 5
    institutions = {g.institution for g in sample}
    for body, names in INSTITUTIONS.items():
        assert institutions & set(names), body


def test_professional_doctorate_fields_and_seminary_levels_fit(many: list[Graduate]) -> None:
    seminary = set(INSTITUTIONS["seminary"]) | set(INSTITUTIONS["zahra"])
    for graduate in many:
        if graduate.field in {"پزشکی", "دندانپزشکی", "داروسازی"}:
            assert graduate.degree_level == "دکتری حرفه\u200cای"
            assert graduate.institution in INSTITUTIONS["health"]
        assert graduate.degree_level.startswith("سطح") == (graduate.institution in seminary)


def test_committed_sample_matches_generator() -> None:
    committed = SAMPLE_CSV.read_bytes().decode("utf-8")
    assert committed == _csv_text(list(generate_graduates(200, 1404)))


def test_main_writes_file_with_defaults(tmp_path: Path) -> None:
    out = tmp_path / "sample.csv"
    assert main(["--out", str(out)]) == 0
    assert out.read_bytes() == SAMPLE_CSV.read_bytes()


# --- one sample per issuing body, for the demo's five registries -------------------------------


@pytest.fixture(scope="module")
def issuer_samples() -> dict[str, list[Graduate]]:
    return {issuer: list(generate_issuer_sample(issuer)) for issuer in ISSUER_SAMPLES}


def test_there_is_one_sample_per_body() -> None:
    assert set(ISSUER_SAMPLES) == {"msrt", "behdasht", "azad", "hawzeh", "jz"}
    assert sorted(sample.body for sample in ISSUER_SAMPLES.values()) == sorted(BODIES)


@pytest.mark.parametrize("issuer", sorted(ISSUER_SAMPLES))
def test_committed_issuer_sample_matches_generator(issuer: str, issuer_samples: dict[str, list[Graduate]]) -> None:
    committed = (DATA / f"sample-{issuer}.csv").read_bytes().decode("utf-8")
    assert committed == _csv_text(issuer_samples[issuer])
    assert 60 <= len(issuer_samples[issuer]) <= 120


@pytest.mark.parametrize("issuer", sorted(ISSUER_SAMPLES))
def test_main_writes_an_issuers_committed_sample(issuer: str, tmp_path: Path) -> None:
    out = tmp_path / f"sample-{issuer}.csv"
    assert main(["--issuer", issuer, "--out", str(out)]) == 0
    assert out.read_bytes() == (DATA / f"sample-{issuer}.csv").read_bytes()


def test_an_issuers_sample_holds_only_its_bodys_institutions(issuer_samples: dict[str, list[Graduate]]) -> None:
    for issuer, rows in issuer_samples.items():
        body = ISSUER_SAMPLES[issuer].body
        assert {g.institution for g in rows} <= set(INSTITUTIONS[body]), issuer


def test_an_issuers_sample_has_a_pair_and_diplomas_for_the_demo(issuer_samples: dict[str, list[Graduate]]) -> None:
    for issuer, rows in issuer_samples.items():
        assert _pairs(rows), issuer
        assert sum(g.document_type == "diploma" for g in rows) >= 3, issuer


def test_degree_levels_fit_each_body(issuer_samples: dict[str, list[Graduate]]) -> None:
    levels = {issuer: {g.degree_level for g in rows} for issuer, rows in issuer_samples.items()}
    for seminary in ("hawzeh", "jz"):
        assert all(level.startswith("سطح ") for level in levels[seminary]), seminary
    assert "سطح ۱" in {g.degree_level for g in generate_graduates(2000, seed=1, body="seminary")}
    assert "سطح ۱" not in {g.degree_level for g in generate_graduates(2000, seed=1, body="zahra")}
    for university in ("msrt", "behdasht", "azad"):
        assert not any(level.startswith("سطح") for level in levels[university]), university
    assert "دکتری حرفه\u200cای" in levels["behdasht"]
    assert {"پزشکی", "پرستاری"} <= {g.field for g in generate_graduates(2000, seed=1, body="health")}


def test_jamiat_al_zahra_is_written_without_a_zwnj_and_teaches_women(
    issuer_samples: dict[str, list[Graduate]],
) -> None:
    assert {g.institution for g in issuer_samples["jz"]} == {"جامعةالزهرا"}
    assert all(g.full_name.split(" ")[0] in FEMALE_FIRST_NAMES for g in issuer_samples["jz"])


def test_no_national_id_recurs_between_the_issuers_samples(issuer_samples: dict[str, list[Graduate]]) -> None:
    owners: dict[str, set[str]] = {}
    for issuer, rows in issuer_samples.items():
        for graduate in rows:
            owners.setdefault(graduate.national_id, set()).add(issuer)
    assert all(len(issuers) == 1 for issuers in owners.values())


def test_an_unknown_body_is_rejected() -> None:
    with pytest.raises(ValueError):
        generate_graduates(5, body="msrt")
