"""Tests for canonical JSON encoding, strict decoding and feed timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.canonical import (
    b64decode,
    b64encode,
    canonical_json,
    format_timestamp,
    parse_json_object,
    parse_timestamp,
)
from verifier.errors import FeedError, MalformedObjectError

FAST = settings(max_examples=200, deadline=None, database=None)

TEHRAN = timezone(timedelta(hours=3, minutes=30))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


def malformed(data: bytes, object_name: str = "head") -> MalformedObjectError:
    with pytest.raises(MalformedObjectError) as caught:
        parse_json_object(data, object_name)
    return caught.value


# --- canonical_json -----------------------------------------------------------------


def test_canonical_json_sorts_keys() -> None:
    assert canonical_json({"b": 1, "a": 2, "c": 3}) == b'{"a":2,"b":1,"c":3}'


def test_canonical_json_sorts_nested_keys() -> None:
    assert (
        canonical_json({"z": {"y": 1, "x": 2}, "a": [{"d": 1, "c": 2}]}) == b'{"a":[{"c":2,"d":1}],"z":{"x":2,"y":1}}'
    )


def test_canonical_json_is_compact() -> None:
    assert canonical_json({"a": [1, 2], "b": {"c": None}}) == b'{"a":[1,2],"b":{"c":null}}'


def test_canonical_json_escapes_persian_as_ascii() -> None:
    assert canonical_json({"name": "علی"}) == b'{"name":"\\u0639\\u0644\\u06cc"}'


def test_canonical_json_escapes_zwnj_and_bidi_marks() -> None:
    assert canonical_json("\u200c\u200f") == b'"\\u200c\\u200f"'


def test_canonical_json_is_independent_of_insertion_order() -> None:
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_canonical_json_refuses_non_finite_numbers(value: float) -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": value})


@FAST
@given(json_objects)
def test_property_canonical_json_is_ascii_and_parses_back(value: dict[str, Any]) -> None:
    data = canonical_json(value)
    assert data.isascii()
    assert parse_json_object(data, "object") == value


@FAST
@given(json_objects)
def test_property_canonical_json_is_a_fixed_point(value: dict[str, Any]) -> None:
    data = canonical_json(value)
    assert canonical_json(parse_json_object(data, "object")) == data


# --- parse_json_object --------------------------------------------------------------


def test_parse_json_object_returns_the_object() -> None:
    assert parse_json_object(b'{"a":1,"b":["x",null,true]}', "head") == {"a": 1, "b": ["x", None, True]}


def test_parse_json_object_accepts_utf8_persian() -> None:
    assert parse_json_object('{"name":"علی"}'.encode(), "head") == {"name": "علی"}


@pytest.mark.parametrize(
    "data",
    [b'{"a":1,"a":2}', b'{"a":1,"a":1}', b'{"x":{"b":1,"b":2}}', b'{"x":[{"c":1,"c":1}]}'],
)
def test_duplicate_keys_are_refused(data: bytes) -> None:
    assert "duplicate" in malformed(data).detail


@pytest.mark.parametrize("data", [b'{"a":1.5}', b'{"a":1.0}', b'{"a":1e3}', b'{"a":-0.0}', b'{"a":[2E-1]}'])
def test_floats_are_refused(data: bytes) -> None:
    assert "floating-point" in malformed(data).detail


@pytest.mark.parametrize("data", [b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}'])
def test_nan_and_infinity_are_refused(data: bytes) -> None:
    malformed(data)


@pytest.mark.parametrize("data", [b"[]", b"[1,2]", b'"text"', b"1", b"null", b"true"])
def test_non_objects_are_refused(data: bytes) -> None:
    assert "not a JSON object" in malformed(data).detail


@pytest.mark.parametrize("data", [b'{"a":"\xff"}', b"\xfe\xff{}", b'{"a":"\xd8"}', b"\xc0\x80{}"])
def test_invalid_utf8_is_refused(data: bytes) -> None:
    malformed(data)


@pytest.mark.parametrize("data", [b"", b"{", b"{}{}", b"{'a':1}", b'{"a":1,}', b"\xef\xbb\xbf{}"])
def test_invalid_json_is_refused(data: bytes) -> None:
    malformed(data)


@pytest.mark.parametrize("data", [b'{"a":1,"a":2}', b'{"a":1.5}', b"[]", b"\xff", b""])
def test_malformed_error_names_the_object(data: bytes) -> None:
    error = malformed(data, object_name="segments/000042.jsonl")
    assert error.object_name == "segments/000042.jsonl"
    assert "segments/000042.jsonl" in error.message
    assert "segments/000042.jsonl" in error.message_fa
    assert isinstance(error, FeedError)


# Regression: json.loads raises RecursionError for deeply nested arrays; a hostile head
# or row of a couple of kilobytes (nesting 1000 is ~2 KB, under max_line_bytes) must be
# refused as malformed, inside the FeedError handling, not crash the update.
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_malformed_not_a_crash(depth: int) -> None:
    malformed(b'{"a":' + b"[" * depth + b"]" * depth + b"}")


# --- base64 -------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=64))
def test_property_base64_round_trips(data: bytes) -> None:
    assert b64decode(b64encode(data), "head", "sig") == data


@pytest.mark.parametrize("text", ["not base64!", "AAA", "AA=A", "٠٠٠٠", 12, None])
def test_invalid_base64_is_malformed_naming_the_field(text: Any) -> None:
    with pytest.raises(MalformedObjectError, match="sig"):
        b64decode(text, "head", "sig")


# --- timestamps ---------------------------------------------------------------------


def test_timestamp_is_utc_with_z_to_the_second() -> None:
    assert format_timestamp(datetime(2025, 3, 21, 8, 30, 15, 999_999, tzinfo=UTC)) == "2025-03-21T08:30:15Z"


def test_timestamp_in_another_zone_is_converted_to_utc() -> None:
    assert format_timestamp(datetime(2025, 3, 21, 12, 0, 0, tzinfo=TEHRAN)) == "2025-03-21T08:30:00Z"


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2025, 3, 21, 8, 30, 15))


def test_parsed_timestamp_is_aware_utc() -> None:
    moment = parse_timestamp("2025-03-21T08:30:15Z", "head", "issued_at")
    assert moment == datetime(2025, 3, 21, 8, 30, 15, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0)


@FAST
@given(st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1), max_value=datetime(2199, 12, 31)))
def test_property_timestamp_round_trips_to_the_second(moment: datetime) -> None:
    parsed = parse_timestamp(format_timestamp(moment), "head", "issued_at")
    assert parsed == moment.replace(microsecond=0)


@FAST
@given(st.datetimes(timezones=st.just(TEHRAN), min_value=datetime(2000, 1, 2), max_value=datetime(2199, 12, 30)))
def test_property_timestamp_from_another_zone_round_trips(moment: datetime) -> None:
    assert parse_timestamp(format_timestamp(moment), "head", "issued_at") == moment.replace(microsecond=0)


@pytest.mark.parametrize(
    "text", ["1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2200-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
)
def test_a_timestamp_outside_the_years_a_feed_can_name_is_malformed(text: str) -> None:
    with pytest.raises(MalformedObjectError, match="outside the years"):
        parse_timestamp(text, "head", "issued_at")


@pytest.mark.parametrize(
    "text",
    [
        "2025-03-21T08:30:15",
        "2025-03-21T08:30:15+00:00",
        "2025-03-21T12:00:15+03:30",
        "2025-03-21T08:30:15.5Z",
        "2025-03-21 08:30:15Z",
        "2025-03-21",
        "2025-13-21T08:30:15Z",
        "",
        20250321,
        None,
    ],
)
def test_timestamp_in_another_form_is_malformed_naming_the_field(text: Any) -> None:
    with pytest.raises(MalformedObjectError, match="issued_at") as caught:
        parse_timestamp(text, "head", "issued_at")
    assert caught.value.object_name == "head"


def test_canonical_json_refuses_floats_that_no_reader_would_accept() -> None:
    with pytest.raises(ValueError, match="floating-point"):
        canonical_json({"a": [1, {"b": 1.5}]})
