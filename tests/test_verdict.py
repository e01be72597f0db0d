"""Tests for the verdict a box answers: its contract shape, holder view and "as of" data."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from verifier.canonical import format_timestamp
from verifier.errors import InputError, InvalidFormatError, InvalidNationalIdError
from verifier.records import Document, RecordPayload, Revocation, Supersession
from verifier.verdict import (
    IssuerInfo,
    ReplicaInfo,
    Status,
    Verdict,
    verdict_for_record,
    verdict_invalid_format,
    verdict_not_found,
)

CONTRACT_KEYS = {
    "status",
    "code",
    "issuer",
    "document",
    "holder",
    "revocation",
    "superseded_by",
    "replica",
    "checked_at",
}
HOLDER_KEYS = {"name", "national_id_masked", "national_id_match"}
REPLICA_KEYS = {"seq", "as_of", "stale"}
ERROR_KEYS = {"code", "message", "message_fa"}

CODE = "12345678901234567890"
NATIONAL_ID = "0499370899"
OTHER_NATIONAL_ID = "0084575948"
AS_OF = datetime(2025, 3, 1, 6, 0, 0, tzinfo=UTC)
CHECKED_AT = datetime(2025, 3, 2, 9, 15, 30, tzinfo=UTC)
ISSUER = IssuerInfo(issuer="saorg", name_fa="سازمان امور دانشجویان", name_en="Student Affairs Organisation")
REPLICA = ReplicaInfo(seq=42, as_of=AS_OF, stale=False)
DOCUMENT = Document(
    document_type="provisional",
    degree_level="کارشناسی",
    field="مهندسی کامپیوتر",
    institution="دانشگاه تهران",
    issued_on="2024-07-01",
)
PAYLOAD = RecordPayload(document=DOCUMENT, holder_name="زهرا احمدی", national_id=NATIONAL_ID)
REVOCATION = Revocation(reason="صدور اشتباه", revoked_on="2025-02-01")
SUPERSESSION = Supersession(document_type="diploma", issued_on="2025-01-15", code_hint="…7890")


def record_verdict(payload: RecordPayload = PAYLOAD, asked_national_id: str | None = None) -> Verdict:
    return verdict_for_record(CODE, payload, ISSUER, REPLICA, CHECKED_AT, asked_national_id=asked_national_id)


def format_error(reason: str = "wrong_length") -> InvalidFormatError:
    return InvalidFormatError(reason)


# --- contract shape -----------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [PAYLOAD, replace(PAYLOAD, revocation=REVOCATION), replace(PAYLOAD, superseded_by=SUPERSESSION)],
    ids=["valid", "revoked", "superseded"],
)
def test_record_verdict_has_exactly_the_contract_keys(payload: RecordPayload) -> None:
    assert set(record_verdict(payload).to_dict()) == CONTRACT_KEYS


def test_not_found_verdict_has_exactly_the_contract_keys() -> None:
    assert set(verdict_not_found(CODE, REPLICA, CHECKED_AT).to_dict()) == CONTRACT_KEYS


def test_invalid_format_verdict_has_the_contract_keys_plus_error() -> None:
    assert set(verdict_invalid_format(format_error(), CHECKED_AT).to_dict()) == CONTRACT_KEYS | {"error"}


def test_holder_has_exactly_name_masked_id_and_match() -> None:
    assert set(record_verdict().to_dict()["holder"]) == HOLDER_KEYS


def test_replica_has_seq_as_of_and_stale() -> None:
    assert record_verdict().to_dict()["replica"] == {"seq": 42, "as_of": "2025-03-01T06:00:00Z", "stale": False}


def test_issuer_has_id_and_both_names() -> None:
    assert record_verdict().to_dict()["issuer"] == {
        "id": "saorg",
        "name_fa": "سازمان امور دانشجویان",
        "name_en": "Student Affairs Organisation",
    }


def test_document_carries_type_level_field_institution_and_date() -> None:
    assert record_verdict().to_dict()["document"] == {
        "type": "provisional",
        "degree_level": "کارشناسی",
        "field": "مهندسی کامپیوتر",
        "institution": "دانشگاه تهران",
        "issued_on": "2024-07-01",
    }


def test_checked_at_is_a_utc_timestamp() -> None:
    assert record_verdict().to_dict()["checked_at"] == "2025-03-02T09:15:30Z"


def test_verdict_dict_is_json_serialisable() -> None:
    body = record_verdict(replace(PAYLOAD, revocation=REVOCATION, superseded_by=SUPERSESSION), NATIONAL_ID).to_dict()
    assert json.loads(json.dumps(body)) == body


# --- status -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (PAYLOAD, "valid"),
        (replace(PAYLOAD, revocation=REVOCATION), "revoked"),
        (replace(PAYLOAD, superseded_by=SUPERSESSION), "superseded"),
        (replace(PAYLOAD, revocation=REVOCATION, superseded_by=SUPERSESSION), "revoked"),
    ],
    ids=["valid", "revoked", "superseded", "revoked-and-superseded"],
)
def test_record_verdict_status_follows_the_payload(payload: RecordPayload, status: str) -> None:
    assert record_verdict(payload).to_dict()["status"] == status


def test_valid_verdict_has_no_revocation_or_supersession() -> None:
    body = record_verdict().to_dict()
    assert body["revocation"] is None
    assert body["superseded_by"] is None


def test_revoked_verdict_carries_reason_and_date() -> None:
    assert record_verdict(replace(PAYLOAD, revocation=REVOCATION)).to_dict()["revocation"] == {
        "reason": "صدور اشتباه",
        "revoked_on": "2025-02-01",
    }


def test_superseded_verdict_names_the_newer_document() -> None:
    assert record_verdict(replace(PAYLOAD, superseded_by=SUPERSESSION)).to_dict()["superseded_by"] == {
        "document_type": "diploma",
        "issued_on": "2025-01-15",
        "code_hint": "…7890",
    }


def test_status_values_are_the_contract_strings() -> None:
    assert {status.value for status in Status} == {"valid", "revoked", "superseded", "not_found", "invalid_format"}


def test_record_verdict_names_code_and_issuer() -> None:
    body = record_verdict().to_dict()
    assert body["code"] == CODE
    assert body["issuer"]["id"] == "saorg"


# --- holder and national ID ---------------------------------------------------------


def test_holder_name_is_shown() -> None:
    assert record_verdict().to_dict()["holder"]["name"] == "زهرا احمدی"


def test_holder_national_id_is_masked_to_the_last_four_digits() -> None:
    assert record_verdict().to_dict()["holder"]["national_id_masked"] == "******0899"


def test_full_national_id_appears_nowhere_in_the_verdict() -> None:
    body = json.dumps(record_verdict(asked_national_id=NATIONAL_ID).to_dict(), ensure_ascii=False)
    assert NATIONAL_ID not in body
    assert NATIONAL_ID[:6] not in body


def test_national_id_match_is_none_when_not_asked() -> None:
    assert record_verdict().to_dict()["holder"]["national_id_match"] is None


def test_national_id_match_is_true_when_the_asked_id_matches() -> None:
    assert record_verdict(asked_national_id=NATIONAL_ID).to_dict()["holder"]["national_id_match"] is True


def test_national_id_match_is_false_when_the_asked_id_differs() -> None:
    assert record_verdict(asked_national_id=OTHER_NATIONAL_ID).to_dict()["holder"]["national_id_match"] is False


@pytest.mark.parametrize(
    "payload",
    [replace(PAYLOAD, revocation=REVOCATION), replace(PAYLOAD, superseded_by=SUPERSESSION)],
    ids=["revoked", "superseded"],
)
def test_national_id_match_is_reported_for_every_found_status(payload: RecordPayload) -> None:
    assert record_verdict(payload, asked_national_id=NATIONAL_ID).to_dict()["holder"]["national_id_match"] is True


# --- not found ----------------------------------------------------------------------


def test_not_found_carries_the_replicas_as_of() -> None:
    body = verdict_not_found(CODE, REPLICA, CHECKED_AT).to_dict()
    assert body["replica"]["as_of"] == format_timestamp(AS_OF)
    assert body["replica"]["seq"] == 42


def test_not_found_carries_a_stale_replicas_flag() -> None:
    stale = ReplicaInfo(seq=7, as_of=AS_OF - timedelta(days=30), stale=True)
    body = verdict_not_found(CODE, stale, CHECKED_AT).to_dict()
    assert body["replica"] == {"seq": 7, "as_of": "2025-01-30T06:00:00Z", "stale": True}


def test_not_found_names_the_code_and_reveals_no_record() -> None:
    body = verdict_not_found(CODE, REPLICA, CHECKED_AT).to_dict()
    assert body["status"] == "not_found"
    assert body["code"] == CODE
    for key in ("issuer", "document", "holder", "revocation", "superseded_by"):
        assert body[key] is None


def test_not_found_has_no_error() -> None:
    assert "error" not in verdict_not_found(CODE, REPLICA, CHECKED_AT).to_dict()


# --- invalid format -----------------------------------------------------------------


@pytest.mark.parametrize("reason", ["empty", "bad_characters", "wrong_length", "bad_check_digit", "url_without_code"])
def test_invalid_format_carries_the_errors_code_and_messages(reason: str) -> None:
    error = format_error(reason)
    assert verdict_invalid_format(error, CHECKED_AT).to_dict()["error"] == {
        "code": "invalid_format",
        "message": error.message,
        "message_fa": error.message_fa,
    }


def test_invalid_format_error_has_exactly_code_and_messages() -> None:
    assert set(verdict_invalid_format(format_error(), CHECKED_AT).to_dict()["error"]) == ERROR_KEYS


def test_invalid_format_has_status_and_no_code_or_record() -> None:
    body = verdict_invalid_format(format_error(), CHECKED_AT).to_dict()
    assert body["status"] == "invalid_format"
    assert body["code"] is None
    for key in ("issuer", "document", "holder", "revocation", "superseded_by", "replica"):
        assert body[key] is None


def test_invalid_format_keeps_checked_at() -> None:
    assert verdict_invalid_format(format_error(), CHECKED_AT).to_dict()["checked_at"] == "2025-03-02T09:15:30Z"


def test_invalid_national_id_error_is_carried_with_its_own_code() -> None:
    error: InputError = InvalidNationalIdError("bad_check_digit")
    assert verdict_invalid_format(error, CHECKED_AT).to_dict()["error"]["code"] == "invalid_national_id"
