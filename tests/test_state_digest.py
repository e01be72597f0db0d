"""The state digest is a multiset hash: kept row by row, in any order, it equals the digest computed afresh."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.digest import SUM_BYTES, StateDigest, state_digest

ROW_IDS = st.binary(min_size=16, max_size=16)
BOXES = st.binary(min_size=1, max_size=64)


def row(number: int, box: bytes = b"box") -> tuple[bytes, bytes]:
    return number.to_bytes(16, "big"), box


@given(st.dictionaries(ROW_IDS, BOXES, max_size=30), st.randoms())
@settings(max_examples=60)
def test_the_order_rows_arrive_in_does_not_matter(rows: dict[bytes, bytes], shuffler: object) -> None:
    items = list(rows.items())
    shuffled = items[:]
    shuffler.shuffle(shuffled)  # type: ignore[attr-defined]
    assert state_digest("msrt", items) == state_digest("msrt", shuffled)


@given(
    st.dictionaries(ROW_IDS, BOXES, min_size=1, max_size=20),
    st.lists(st.tuples(st.integers(0, 19), BOXES), max_size=30),
)
@settings(max_examples=60)
def test_replacing_rows_one_by_one_equals_the_digest_of_the_final_rows(
    rows: dict[bytes, bytes], changes: list[tuple[int, bytes]]
) -> None:
    kept = StateDigest("msrt")
    kept.add_many(rows.items())
    current = dict(rows)
    ids = list(rows)
    for index, box in changes:
        lookup_id = ids[index % len(ids)]
        kept.replace(lookup_id, current[lookup_id], box)
        current[lookup_id] = box
    assert kept.hexdigest() == state_digest("msrt", current.items())
    assert kept.records == len(current)


def test_a_new_row_changes_the_digest() -> None:
    assert state_digest("msrt", [row(1)]) != state_digest("msrt", [row(1), row(2)])


def test_a_changed_box_changes_the_digest() -> None:
    assert state_digest("msrt", [row(1, b"a")]) != state_digest("msrt", [row(1, b"b")])


def test_a_box_moved_to_another_row_changes_the_digest() -> None:
    swapped = [(row(1)[0], b"b"), (row(2)[0], b"a")]
    assert state_digest("msrt", [(row(1)[0], b"a"), (row(2)[0], b"b")]) != state_digest("msrt", swapped)


def test_the_issuer_is_part_of_the_digest() -> None:
    assert state_digest("msrt", [row(1)]) != state_digest("azad", [row(1)])


def test_the_empty_state_has_a_digest_of_its_own_per_issuer() -> None:
    assert state_digest("msrt") != state_digest("azad")
    assert StateDigest("msrt").hexdigest() == state_digest("msrt")


def test_the_kept_sum_survives_storage() -> None:
    kept = StateDigest("msrt")
    kept.add_many([row(1), row(2), row(3)])
    stored = kept.to_bytes()
    assert len(stored) == SUM_BYTES
    assert StateDigest.from_bytes("msrt", stored, kept.records).hexdigest() == kept.hexdigest()


def test_removing_every_row_returns_to_the_empty_digest() -> None:
    kept = StateDigest("msrt")
    kept.add_many([row(1), row(2)])
    kept.remove(*row(1))
    kept.remove(*row(2))
    assert kept.hexdigest() == state_digest("msrt")


def test_a_stored_sum_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="512 bytes"):
        StateDigest.from_bytes("msrt", b"\0" * 32, 0)
