"""Revoking, superseding and correcting records: each a sealed change with the next seq."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from registry.errors import RecordStateError, RegistryError, UnknownCodeError
from registry.keys import KEYS_DIR, SIGNING_KEY_FILE
from registry.publisher import Publisher
from registry.registry import Registry
from tests.conftest import FAST_KDF, NOW, graduates_csv, root_key_of
from tests.support.import_rows import DIPLOMA, GOOD_ROW, OTHER_HOLDER, PROVISIONAL, make_csv
from verifier.errors import OperatorError
from verifier.records import RecordPayload
from verifier.sealing import derive_record_keys, unseal


def opened(registry: Registry, code: str) -> RecordPayload:
    record = registry.lookup(code)
    keys = derive_record_keys(code, registry.issuer, FAST_KDF)
    assert keys.lookup_id == record.lookup_id
    return RecordPayload.from_bytes(unseal(record.box, keys, registry.issuer), registry.catalogue())


@pytest.fixture
def registry(make_registry: Callable[..., Registry]) -> Registry:
    return make_registry()


@pytest.fixture
def codes(registry: Registry) -> list[str]:
    return [code for _, code in registry.import_csv(make_csv(PROVISIONAL, DIPLOMA, OTHER_HOLDER, GOOD_ROW), NOW)]


def test_revoking_reseals_the_record_with_the_reason_and_date(registry: Registry, codes: list[str]) -> None:
    seq = registry.revoke(codes[1], "صدور اشتباه", NOW)
    payload = opened(registry, codes[1])
    assert seq == 5
    assert payload.status == "revoked"
    assert payload.revocation is not None
    assert (payload.revocation.reason, payload.revocation.revoked_on) == ("صدور اشتباه", "2026-11-23")


def test_a_record_cannot_be_revoked_twice(registry: Registry, codes: list[str]) -> None:
    registry.revoke(codes[1], "x", NOW)
    with pytest.raises(RecordStateError, match="already revoked"):
        registry.revoke(codes[1], "y", NOW)


def test_a_revocation_needs_a_reason(registry: Registry, codes: list[str]) -> None:
    with pytest.raises(RecordStateError, match="reason"):
        registry.revoke(codes[1], "  ", NOW)


def test_an_unknown_code_is_named_as_such(registry: Registry, codes: list[str]) -> None:
    with pytest.raises(UnknownCodeError):
        registry.revoke("0" * 20, "x", NOW)


def test_a_malformed_code_is_a_format_error_not_unknown(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="20 digits"):
        registry.revoke("123", "x", NOW)


def test_superseding_names_the_newer_document_by_its_last_digits(registry: Registry, codes: list[str]) -> None:
    registry.supersede(codes[0], codes[1], NOW)
    payload = opened(registry, codes[0])
    assert payload.status == "superseded"
    assert payload.superseded_by is not None
    assert payload.superseded_by.document_type == "diploma"
    assert payload.superseded_by.code_hint == "…" + codes[1][-4:]
    assert codes[1] not in payload.to_bytes(registry.catalogue_position).decode()


def test_superseding_across_holders_is_refused(registry: Registry, codes: list[str]) -> None:
    with pytest.raises(RecordStateError, match="different holders"):
        registry.supersede(codes[0], codes[2], NOW)


def test_a_document_cannot_supersede_itself(registry: Registry, codes: list[str]) -> None:
    with pytest.raises(RecordStateError, match="itself"):
        registry.supersede(codes[0], codes[0], NOW)


def test_an_older_document_cannot_supersede_a_newer_one(registry: Registry, codes: list[str]) -> None:
    with pytest.raises(RecordStateError, match="issued before"):
        registry.supersede(codes[1], codes[0], NOW)


def test_a_revoked_document_cannot_supersede(registry: Registry, codes: list[str]) -> None:
    registry.revoke(codes[1], "x", NOW)
    with pytest.raises(RecordStateError, match="revoked or superseded"):
        registry.supersede(codes[0], codes[1], NOW)


def test_correcting_a_name_reseals_the_record(registry: Registry, codes: list[str]) -> None:
    registry.correct(codes[3], {"full_name": "سارا احمدی‌نژاد"}, NOW)
    assert opened(registry, codes[3]).holder_name == "سارا احمدی‌نژاد"


def test_correcting_a_superseding_document_reseals_what_it_superseded(registry: Registry, codes: list[str]) -> None:
    registry.supersede(codes[0], codes[1], NOW)
    before = registry.digest()[0]
    registry.correct(codes[1], {"issued_on": "2023-09-23"}, NOW)
    assert registry.digest()[0] == before + 2
    superseded_by = opened(registry, codes[0]).superseded_by
    assert superseded_by is not None
    assert superseded_by.issued_on == "2023-09-23"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"national_id": "1234567890"}, "check digit"),
        ({"document_type": "certificate"}, "document_type"),
        ({"issued_on": "yesterday"}, "ISO date"),
        ({"code": "1"}, "Correctable fields"),
        ({"full_name": " "}, "empty"),
    ],
)
def test_a_bad_correction_is_refused(
    registry: Registry, codes: list[str], changes: dict[str, str], expected: str
) -> None:
    with pytest.raises(RecordStateError, match=expected):
        registry.correct(codes[3], changes, NOW)


def test_every_change_takes_the_next_seq(registry: Registry, codes: list[str]) -> None:
    registry.revoke(codes[3], "x", NOW)
    registry.supersede(codes[0], codes[1], NOW)
    seqs = [row[0] for row in registry.connection.execute("SELECT seq FROM changes ORDER BY seq")]
    assert seqs == list(range(1, 7))


def test_an_issuer_id_must_be_a_slug(make_registry: Callable[..., Registry]) -> None:
    with pytest.raises(OperatorError, match="issuer id"):
        make_registry("Bad Issuer!")


def test_a_scheme_leaving_under_sixty_random_bits_is_refused(make_registry: Callable[..., Registry]) -> None:
    with pytest.raises(OperatorError, match="60 random bits"):
        make_registry(check_digits="iso7064-mod97-10")


def test_a_rotation_cut_short_before_the_key_moved_still_signs_with_the_certified_key(
    registry: Registry, codes: list[str]
) -> None:
    keys = Path(registry.directory) / KEYS_DIR
    old_key = (keys / SIGNING_KEY_FILE).read_bytes()
    registry.rotate_signing_key(NOW, root_key_of(registry))
    new_key = (keys / SIGNING_KEY_FILE).read_bytes()
    # As if the process died after committing the certificate, before moving the new key into place.
    (keys / SIGNING_KEY_FILE).write_bytes(old_key)
    pending = keys / (SIGNING_KEY_FILE + ".new")
    pending.write_bytes(new_key)
    pending.chmod(0o600)
    _, head = Publisher(registry).signed_head(NOW)
    assert head.key_version == 2
    assert not pending.exists()
    assert (keys / SIGNING_KEY_FILE).read_bytes() == new_key


def test_a_large_import_does_not_hold_the_store_while_it_seals(registry: Registry) -> None:
    statements: list[str] = []
    registry.connection.set_trace_callback(statements.append)
    registry.import_csv(graduates_csv(20), NOW)
    registry.connection.set_trace_callback(None)
    begin = statements.index("BEGIN IMMEDIATE")
    assert sum(1 for statement in statements[begin:] if statement.startswith("INSERT INTO changes")) == 20
    assert not any("BEGIN" in statement for statement in statements[:begin])


def test_the_digest_kept_change_by_change_equals_the_digest_of_every_row(registry: Registry, codes: list[str]) -> None:
    registry.supersede(codes[0], codes[1], NOW)
    registry.revoke(codes[2], "صدور اشتباه", NOW)
    registry.correct(codes[1], {"full_name": "نام اصلاح‌شده"}, NOW)
    assert registry.state() == registry.digest()
    assert registry.state()[2] == len(codes)
