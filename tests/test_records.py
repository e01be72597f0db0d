"""Tests for the record payload a sealed box holds: byte form, catalogue positions, padding and derived status."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from verifier.catalogue import Catalogue
from verifier.errors import MalformedObjectError
from verifier.records import (
    DOCUMENT_TYPE_NAMES_EN,
    DOCUMENT_TYPE_NAMES_FA,
    DOCUMENT_TYPES,
    PAYLOAD_MIN_BYTES,
    PAYLOAD_PADDING,
    Document,
    RecordPayload,
    Revocation,
    Supersession,
)

DOCUMENT = Document(
    document_type="provisional",
    degree_level="کارشناسی",
    field="مهندسی کامپیوتر",
    institution="دانشگاه تهران",
    issued_on="2024-07-01",
)
SUPERSESSION = Supersession(document_type="diploma", issued_on="2025-01-15", code_hint="…7890")
REVOCATION = Revocation(reason="صدور اشتباه", revoked_on="2025-03-01")
CATALOGUE = Catalogue(
    issuer="msrt",
    degree_levels=("کاردانی", "کارشناسی"),
    fields=("مهندسی کامپیوتر",),
    institutions=("دانشگاه شریف", "دانشگاه تهران"),
)


def position(kind: str, name: str) -> int:
    return CATALOGUE.names(kind).index(name)


def to_bytes(payload: RecordPayload) -> bytes:
    return payload.to_bytes(position)


def from_bytes(data: bytes) -> RecordPayload:
    return RecordPayload.from_bytes(data, CATALOGUE)


def make_payload(**changes: Any) -> RecordPayload:
    payload = RecordPayload(document=DOCUMENT, holder_name="زهرا احمدی", national_id="0499370899")
    return replace(payload, **changes)


def payload_fields(payload: RecordPayload | None = None) -> list[Any]:
    """The decoded JSON array of a payload, for tampering with."""
    result: list[Any] = json.loads(to_bytes(payload or make_payload()))
    return result


def encode(fields: list[Any]) -> bytes:
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def unpadded_length(payload: RecordPayload) -> int:
    return len(to_bytes(payload).rstrip(b" "))


# --- round trip ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        make_payload(),
        make_payload(revocation=REVOCATION),
        make_payload(superseded_by=SUPERSESSION),
        make_payload(revocation=REVOCATION, superseded_by=SUPERSESSION),
        make_payload(holder_name="Ali Rezaei", national_id="0084575948"),
        make_payload(document=replace(DOCUMENT, degree_level="کاردانی", institution="دانشگاه شریف")),
    ],
    ids=["plain", "revoked", "superseded", "revoked-and-superseded", "ascii-name", "other-catalogue-entries"],
)
def test_payload_round_trips_through_bytes(payload: RecordPayload) -> None:
    assert from_bytes(to_bytes(payload)) == payload


@pytest.mark.parametrize("document_type", DOCUMENT_TYPES)
def test_every_document_type_round_trips(document_type: str) -> None:
    payload = make_payload(document=replace(DOCUMENT, document_type=document_type))
    assert from_bytes(to_bytes(payload)).document.document_type == document_type


@pytest.mark.parametrize("document_type", DOCUMENT_TYPES)
def test_every_document_type_has_persian_and_english_names(document_type: str) -> None:
    assert DOCUMENT_TYPE_NAMES_FA[document_type]
    assert DOCUMENT_TYPE_NAMES_EN[document_type]


def test_payload_bytes_are_deterministic() -> None:
    assert to_bytes(make_payload()) == to_bytes(make_payload())


def test_public_names_are_catalogue_positions_not_text() -> None:
    data = to_bytes(make_payload())
    assert "دانشگاه تهران".encode() not in data and "مهندسی کامپیوتر".encode() not in data
    assert payload_fields()[:5] == [2, DOCUMENT_TYPES.index("provisional"), 1, 0, 1]


def test_the_holder_is_in_the_payload_as_text() -> None:
    assert payload_fields()[6:8] == ["زهرا احمدی", "0499370899"]


def test_a_position_the_catalogue_lacks_is_malformed() -> None:
    fields = payload_fields()
    fields[4] = len(CATALOGUE.institutions)
    with pytest.raises(MalformedObjectError, match="catalogue lacks"):
        from_bytes(encode(fields))


def test_a_newer_catalogue_still_reads_an_older_payload() -> None:
    grown = replace(CATALOGUE, institutions=(*CATALOGUE.institutions, "دانشگاه اصفهان"))
    assert grown.extends(CATALOGUE) and not CATALOGUE.extends(grown)
    assert RecordPayload.from_bytes(to_bytes(make_payload()), grown) == make_payload()


def test_a_catalogue_that_moves_a_name_does_not_extend_the_old_one() -> None:
    moved = replace(CATALOGUE, institutions=tuple(reversed(CATALOGUE.institutions)))
    assert not moved.extends(CATALOGUE)


def test_catalogue_round_trips_through_bytes() -> None:
    assert Catalogue.from_bytes(CATALOGUE.to_bytes(), "msrt") == CATALOGUE


def test_revoked_returns_a_copy_with_the_revocation() -> None:
    payload = make_payload()
    revoked = payload.revoked("صدور اشتباه", "2025-03-01")
    assert revoked.revocation == REVOCATION
    assert payload.revocation is None


# --- padding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "holder_name",
    ["", "A", "زهرا", "محمدحسین رضایی‌نژاد", "x" * 127, "x" * 128, "x" * 500, "ع" * 300],
)
def test_payload_length_is_a_bucket(holder_name: str) -> None:
    length = len(to_bytes(make_payload(holder_name=holder_name)))
    assert length % PAYLOAD_PADDING == 0 and length >= PAYLOAD_MIN_BYTES


def test_buckets_are_64_bytes_from_128() -> None:
    assert (PAYLOAD_PADDING, PAYLOAD_MIN_BYTES) == (64, 128)


def test_padding_is_spaces_after_the_json() -> None:
    data = to_bytes(make_payload())
    body = data.rstrip(b" ")
    assert body.endswith(b"]")
    assert data[len(body) :] == b" " * (len(data) - len(body))


def test_every_persian_name_up_to_28_letters_gives_the_same_length() -> None:
    lengths = {len(to_bytes(make_payload(holder_name="ع" * letters))) for letters in range(1, 29)}
    assert lengths == {PAYLOAD_MIN_BYTES}


def test_two_names_of_different_lengths_in_one_bucket_give_the_same_length() -> None:
    base = unpadded_length(make_payload(holder_name=""))
    # Names whose payloads end 1 and 61 bytes into the same 64-byte bucket, past the smallest.
    short_name = "x" * ((1 - base) % PAYLOAD_PADDING + PAYLOAD_MIN_BYTES)
    long_name = short_name + "y" * 60
    short_payload, long_payload = make_payload(holder_name=short_name), make_payload(holder_name=long_name)
    assert unpadded_length(long_payload) - unpadded_length(short_payload) == 60
    assert len(to_bytes(short_payload)) == len(to_bytes(long_payload))


def test_padded_payload_still_decodes() -> None:
    payload = make_payload(holder_name="x")
    assert len(to_bytes(payload)) > unpadded_length(payload)
    assert from_bytes(to_bytes(payload)) == payload


# --- status -------------------------------------------------------------------------


def test_status_is_valid_without_revocation_or_supersession() -> None:
    assert make_payload().status == "valid"


def test_status_is_revoked_when_a_revocation_is_set() -> None:
    assert make_payload(revocation=REVOCATION).status == "revoked"


def test_status_is_superseded_when_a_newer_document_is_named() -> None:
    assert make_payload(superseded_by=SUPERSESSION).status == "superseded"


def test_revoked_wins_over_superseded() -> None:
    assert make_payload(revocation=REVOCATION, superseded_by=SUPERSESSION).status == "revoked"


def test_status_survives_the_round_trip() -> None:
    payload = make_payload(superseded_by=SUPERSESSION)
    assert from_bytes(to_bytes(payload)).status == "superseded"


def test_status_is_not_stored_in_the_payload() -> None:
    assert "status" not in payload_fields()


# --- strict decoding ----------------------------------------------------------------


def tampered(index: int, value: Any, inner: int | None = None) -> bytes:
    """The payload's bytes with field ``index`` (or item ``inner`` of it) set to ``value``."""
    fields = payload_fields(make_payload(revocation=REVOCATION, superseded_by=SUPERSESSION))
    if inner is None:
        fields[index] = value
    else:
        fields[index][inner] = value
    return encode(fields)


@pytest.mark.parametrize("document_type", [len(DOCUMENT_TYPES), -1, "diploma", None, True])
def test_unknown_document_type_is_malformed(document_type: Any) -> None:
    with pytest.raises(MalformedObjectError, match="document type"):
        from_bytes(tampered(1, document_type))


def test_an_extra_field_is_malformed() -> None:
    fields = payload_fields()
    with pytest.raises(MalformedObjectError, match="ten fields"):
        from_bytes(encode([*fields, "extra"]))


def test_a_missing_field_is_malformed() -> None:
    with pytest.raises(MalformedObjectError, match="ten fields"):
        from_bytes(encode(payload_fields()[:-1]))


@pytest.mark.parametrize(
    ("index", "inner", "value"),
    [
        (0, None, 1),
        (0, None, "2"),
        (2, None, "کارشناسی"),
        (3, None, -1),
        (5, None, "1403-04-11x"),
        (5, None, "01/07/2024"),
        (6, None, 7),
        (7, None, None),
        (8, None, "yes"),
        (8, 1, "soon"),
        (9, None, []),
        (9, 1, "2025-13-01"),
        (9, 0, "diploma"),
    ],
)
def test_field_of_the_wrong_shape_is_malformed(index: int, inner: int | None, value: Any) -> None:
    with pytest.raises(MalformedObjectError):
        from_bytes(tampered(index, value, inner))


@pytest.mark.parametrize("data", [b"", b"not json", b"\xff\xfe", b"[]", b'"payload"', b"null", b"{}", b" " * 128])
def test_bytes_that_are_not_a_payload_array_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedObjectError):
        from_bytes(data)


def test_malformed_payload_error_names_the_record_payload() -> None:
    with pytest.raises(MalformedObjectError) as caught:
        from_bytes(tampered(1, 99))
    assert caught.value.object_name == "record payload"
