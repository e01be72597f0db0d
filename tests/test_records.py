"""Tests for the record payload a sealed box holds: byte form, padding and derived status."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from verifier.canonical import canonical_json
from verifier.errors import MalformedObjectError
from verifier.records import (
    DOCUMENT_TYPE_NAMES_EN,
    DOCUMENT_TYPE_NAMES_FA,
    DOCUMENT_TYPES,
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


def make_payload(**changes: Any) -> RecordPayload:
    payload = RecordPayload(document=DOCUMENT, holder_name="زهرا احمدی", national_id="0499370899")
    return replace(payload, **changes)


def payload_fields(payload: RecordPayload | None = None) -> dict[str, Any]:
    """The decoded JSON object of a payload, for tampering with."""
    result: dict[str, Any] = json.loads((payload or make_payload()).to_bytes())
    return result


def encode(fields: dict[str, Any]) -> bytes:
    return canonical_json(fields)


def unpadded_length(payload: RecordPayload) -> int:
    return len(payload.to_bytes().rstrip(b" "))


# --- round trip ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        make_payload(),
        make_payload(revocation=REVOCATION),
        make_payload(superseded_by=SUPERSESSION),
        make_payload(revocation=REVOCATION, superseded_by=SUPERSESSION),
        make_payload(holder_name="Ali Rezaei", national_id="0084575948"),
        make_payload(holder_name=""),
    ],
    ids=["plain", "revoked", "superseded", "revoked-and-superseded", "ascii-name", "empty-name"],
)
def test_payload_round_trips_through_bytes(payload: RecordPayload) -> None:
    assert RecordPayload.from_bytes(payload.to_bytes()) == payload


@pytest.mark.parametrize("document_type", DOCUMENT_TYPES)
def test_every_document_type_round_trips(document_type: str) -> None:
    payload = make_payload(document=replace(DOCUMENT, document_type=document_type))
    assert RecordPayload.from_bytes(payload.to_bytes()).document.document_type == document_type


@pytest.mark.parametrize("document_type", DOCUMENT_TYPES)
def test_every_document_type_has_persian_and_english_names(document_type: str) -> None:
    assert DOCUMENT_TYPE_NAMES_FA[document_type]
    assert DOCUMENT_TYPE_NAMES_EN[document_type]


def test_payload_bytes_are_deterministic() -> None:
    assert make_payload().to_bytes() == make_payload().to_bytes()


def test_payload_bytes_are_compact_utf8_json_with_sorted_keys() -> None:
    body = make_payload().to_bytes().rstrip(b" ")
    decoded = json.loads(body.decode("utf-8"))
    assert body == json.dumps(decoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


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
def test_payload_length_is_a_multiple_of_the_padding(holder_name: str) -> None:
    assert len(make_payload(holder_name=holder_name).to_bytes()) % PAYLOAD_PADDING == 0


def test_padding_is_128_bytes() -> None:
    assert PAYLOAD_PADDING == 128


def test_padding_is_spaces_after_the_json() -> None:
    data = make_payload().to_bytes()
    body = data.rstrip(b" ")
    assert body.endswith(b"}")
    assert data[len(body) :] == b" " * (len(data) - len(body))
    assert len(data) - len(body) < PAYLOAD_PADDING


def test_two_names_of_different_lengths_in_one_bucket_give_the_same_length() -> None:
    base = unpadded_length(make_payload(holder_name=""))
    # Names whose payloads end 1 and 101 bytes into the same 128-byte bucket.
    short_name = "x" * ((1 - base) % PAYLOAD_PADDING)
    long_name = short_name + "y" * 100
    short_payload, long_payload = make_payload(holder_name=short_name), make_payload(holder_name=long_name)
    assert unpadded_length(long_payload) - unpadded_length(short_payload) == 100
    assert len(short_payload.to_bytes()) == len(long_payload.to_bytes())


def test_two_persian_names_in_one_bucket_give_the_same_length() -> None:
    base = unpadded_length(make_payload(holder_name=""))
    filler = "x" * ((1 - base) % PAYLOAD_PADDING)  # puts the name at the start of a bucket
    short_payload = make_payload(holder_name=filler + "علی")
    long_payload = make_payload(holder_name=filler + "علی‌رضا کریمی‌نژاد")
    assert unpadded_length(short_payload) != unpadded_length(long_payload)
    assert len(short_payload.to_bytes()) == len(long_payload.to_bytes())


def test_padded_payload_still_decodes() -> None:
    payload = make_payload(holder_name="x")
    assert len(payload.to_bytes()) > unpadded_length(payload)
    assert RecordPayload.from_bytes(payload.to_bytes()) == payload


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
    assert RecordPayload.from_bytes(payload.to_bytes()).status == "superseded"


def test_status_is_not_stored_in_the_payload() -> None:
    assert "status" not in payload_fields()


# --- strict decoding ----------------------------------------------------------------


def tampered(path: tuple[str, ...], value: Any) -> bytes:
    """The payload's bytes with the field at ``path`` set to ``value``."""
    fields = payload_fields(make_payload(revocation=REVOCATION, superseded_by=SUPERSESSION))
    target = fields
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return encode(fields)


def removed(path: tuple[str, ...]) -> bytes:
    fields = payload_fields(make_payload(revocation=REVOCATION, superseded_by=SUPERSESSION))
    target = fields
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return encode(fields)


@pytest.mark.parametrize("document_type", ["certificate", "Diploma", "", "دانشنامه"])
def test_unknown_document_type_is_malformed(document_type: str) -> None:
    with pytest.raises(MalformedObjectError, match="document type"):
        RecordPayload.from_bytes(tampered(("document", "type"), document_type))


@pytest.mark.parametrize(
    "path",
    [
        ("status",),
        ("document", "grade"),
        ("holder", "birth_date"),
        ("revocation", "by"),
        ("superseded_by", "code"),
    ],
    ids=["top-level", "document", "holder", "revocation", "superseded_by"],
)
def test_extra_field_is_malformed(path: tuple[str, ...]) -> None:
    with pytest.raises(MalformedObjectError, match="unexpected"):
        RecordPayload.from_bytes(tampered(path, "extra"))


@pytest.mark.parametrize(
    "path",
    [("format",), ("holder",), ("revocation",), ("document", "issued_on"), ("holder", "national_id")],
)
def test_missing_field_is_malformed(path: tuple[str, ...]) -> None:
    with pytest.raises(MalformedObjectError, match="missing"):
        RecordPayload.from_bytes(removed(path))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("format",), 2),
        (("format",), "1"),
        (("holder",), "زهرا"),
        (("holder", "name"), 7),
        (("document",), None),
        (("document", "issued_on"), "1403-04-11x"),
        (("document", "issued_on"), "01/07/2024"),
        (("revocation",), "yes"),
        (("revocation", "revoked_on"), "soon"),
        (("superseded_by",), []),
        (("superseded_by", "issued_on"), "2025-13-01"),
    ],
)
def test_field_of_the_wrong_shape_is_malformed(path: tuple[str, ...], value: Any) -> None:
    with pytest.raises(MalformedObjectError):
        RecordPayload.from_bytes(tampered(path, value))


@pytest.mark.parametrize("data", [b"", b"not json", b"\xff\xfe", b"[]", b'"payload"', b"null", b" " * 128])
def test_bytes_that_are_not_a_json_object_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedObjectError):
        RecordPayload.from_bytes(data)


def test_malformed_payload_error_names_the_record_payload() -> None:
    with pytest.raises(MalformedObjectError) as caught:
        RecordPayload.from_bytes(tampered(("document", "type"), "certificate"))
    assert caught.value.object_name == "record payload"
