"""Tests for sealed records: key derivation from the code, and the AEAD box."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.errors import FeedError, MalformedObjectError, UnsealError
from verifier.sealing import (
    BOX_VERSION,
    LOOKUP_ID_BYTES,
    NONCE_BYTES,
    KdfParams,
    RecordKeys,
    derive_master,
    derive_record_keys,
    issuer_keys,
    seal,
    unseal,
)

CHEAP = KdfParams(log2_n=1)
CODE = "12345678901234567890"
OTHER_CODE = "12345678901234567891"
ISSUER = "saorg"
OTHER_ISSUER = "msrt"
NONCE = bytes(range(NONCE_BYTES))
PLAINTEXT = b'{"holder":"example","padding":"                "}'
TAG_BYTES = 16
BOX_LENGTH = 1 + NONCE_BYTES + len(PLAINTEXT) + TAG_BYTES

FAST = settings(max_examples=200, deadline=None, database=None)


def keys_for(code: str = CODE, issuer: str = ISSUER, params: KdfParams = CHEAP) -> RecordKeys:
    return derive_record_keys(code, issuer, params)


def sealed(plaintext: bytes = PLAINTEXT, keys: RecordKeys | None = None, issuer: str = ISSUER) -> bytes:
    return seal(plaintext, keys or keys_for(issuer=issuer), issuer, NONCE)


def flip(box: bytes, index: int, mask: int = 0x01) -> bytes:
    return box[:index] + bytes([box[index] ^ mask]) + box[index + 1 :]


# --- key derivation ----------------------------------------------------------------


def test_same_code_and_issuer_give_the_same_lookup_id() -> None:
    assert keys_for().lookup_id == keys_for().lookup_id


def test_same_code_and_issuer_give_the_same_payload_key() -> None:
    assert keys_for().payload_key == keys_for().payload_key


def test_lookup_id_and_payload_key_have_their_sizes() -> None:
    keys = keys_for()
    assert len(keys.lookup_id) == LOOKUP_ID_BYTES
    assert len(keys.payload_key) == 32


def test_lookup_id_differs_from_payload_key() -> None:
    keys = keys_for()
    assert keys.lookup_id != keys.payload_key


def test_different_issuer_gives_a_different_lookup_id() -> None:
    assert keys_for(issuer=ISSUER).lookup_id != keys_for(issuer=OTHER_ISSUER).lookup_id


def test_different_issuer_gives_a_different_payload_key() -> None:
    assert keys_for(issuer=ISSUER).payload_key != keys_for(issuer=OTHER_ISSUER).payload_key


def test_different_code_gives_a_different_lookup_id_and_key() -> None:
    keys, other = keys_for(CODE), keys_for(OTHER_CODE)
    assert keys.lookup_id != other.lookup_id
    assert keys.payload_key != other.payload_key


def test_different_kdf_cost_gives_a_different_lookup_id() -> None:
    assert keys_for(params=KdfParams(log2_n=1)).lookup_id != keys_for(params=KdfParams(log2_n=2)).lookup_id


def test_default_kdf_params_derive_keys_distinct_from_cheap_ones() -> None:
    default = keys_for(params=KdfParams())
    assert len(default.lookup_id) == LOOKUP_ID_BYTES
    assert default.lookup_id != keys_for(params=CHEAP).lookup_id


@pytest.mark.parametrize(
    "code",
    [CODE[:19], CODE + "0", "1234-5678-9012-3456-7", "۱۲۳۴۵۶۷۸۹۰۱۲۳۴۵۶۷۸۹۰", "1234567890123456789a", ""],
)
def test_derivation_refuses_a_code_that_is_not_normalised(code: str) -> None:
    with pytest.raises(ValueError):
        derive_record_keys(code, ISSUER, CHEAP)


# --- sealing -----------------------------------------------------------------------


def test_seal_then_unseal_returns_the_plaintext() -> None:
    keys = keys_for()
    assert unseal(seal(PLAINTEXT, keys, ISSUER, NONCE), keys, ISSUER) == PLAINTEXT


def test_empty_plaintext_round_trips() -> None:
    keys = keys_for()
    assert unseal(seal(b"", keys, ISSUER, NONCE), keys, ISSUER) == b""


def test_box_is_version_then_nonce_then_ciphertext_and_tag() -> None:
    box = sealed()
    assert box[0] == BOX_VERSION
    assert box[1 : 1 + NONCE_BYTES] == NONCE
    assert len(box) == BOX_LENGTH


def test_box_does_not_contain_the_plaintext() -> None:
    assert b"holder" not in sealed()


def test_seal_is_deterministic_for_a_given_nonce() -> None:
    assert sealed() == sealed()


def test_different_nonces_give_different_boxes() -> None:
    keys = keys_for()
    assert seal(PLAINTEXT, keys, ISSUER, NONCE) != seal(PLAINTEXT, keys, ISSUER, bytes(NONCE_BYTES))


@pytest.mark.parametrize("length", [0, 11, 13, 24])
def test_seal_refuses_a_nonce_of_the_wrong_length(length: int) -> None:
    with pytest.raises(ValueError):
        seal(PLAINTEXT, keys_for(), ISSUER, bytes(length))


def test_unseal_with_another_codes_keys_fails() -> None:
    with pytest.raises(UnsealError):
        unseal(sealed(), keys_for(OTHER_CODE), ISSUER)


def test_unseal_with_the_same_code_under_another_issuer_fails() -> None:
    with pytest.raises(UnsealError):
        unseal(sealed(), keys_for(issuer=OTHER_ISSUER), OTHER_ISSUER)


def test_unseal_naming_another_issuer_with_the_right_keys_fails() -> None:
    with pytest.raises(UnsealError):
        unseal(sealed(), keys_for(), OTHER_ISSUER)


def test_box_moved_to_another_lookup_id_fails() -> None:
    keys = keys_for()
    moved = RecordKeys(lookup_id=keys_for(OTHER_CODE).lookup_id, payload_key=keys.payload_key)
    with pytest.raises(UnsealError):
        unseal(sealed(keys=keys), moved, ISSUER)


@pytest.mark.parametrize("index", range(BOX_LENGTH))
def test_flipped_byte_anywhere_in_the_box_fails(index: int) -> None:
    with pytest.raises(UnsealError):
        unseal(flip(sealed(), index), keys_for(), ISSUER)


@FAST
@given(index=st.integers(min_value=0, max_value=BOX_LENGTH - 1), mask=st.integers(min_value=1, max_value=255))
def test_property_any_corruption_of_one_byte_fails(index: int, mask: int) -> None:
    with pytest.raises(UnsealError):
        unseal(flip(sealed(), index, mask), keys_for(), ISSUER)


@pytest.mark.parametrize("length", [0, 1, 1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES - 1, BOX_LENGTH - 1])
def test_truncated_box_fails(length: int) -> None:
    with pytest.raises(UnsealError):
        unseal(sealed()[:length], keys_for(), ISSUER)


def test_box_with_a_trailing_byte_fails() -> None:
    with pytest.raises(UnsealError):
        unseal(sealed() + b"\x00", keys_for(), ISSUER)


def test_unseal_error_is_a_feed_error_naming_the_sealed_record() -> None:
    with pytest.raises(FeedError) as caught:
        unseal(sealed(), keys_for(OTHER_CODE), ISSUER)
    assert isinstance(caught.value, UnsealError)
    assert caught.value.object_name == "sealed record"
    assert caught.value.code == "unseal_failed"


# --- KDF parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"log2_n": 0},
        {"log2_n": -1},
        {"log2_n": 18},
        {"log2_n": 30},
        {"r": 0},
        {"r": 17},
        {"p": 0},
        {"p": 5},
    ],
)
def test_kdf_params_out_of_bounds_raise_value_error(fields: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        KdfParams(**fields)


@pytest.mark.parametrize(
    "fields",
    [{"log2_n": 1}, {"log2_n": 17}, {"r": 1}, {"r": 16}, {"p": 1}, {"p": 4}],
)
def test_kdf_params_at_the_bounds_are_accepted(fields: dict[str, int]) -> None:
    assert KdfParams(**fields)


def test_default_kdf_params() -> None:
    assert KdfParams() == KdfParams(log2_n=14, r=8, p=1)


@pytest.mark.parametrize(("log2_n", "r"), [(1, 1), (1, 8), (10, 8), (14, 8), (17, 8), (17, 16)])
def test_memory_bytes_is_128_r_n(log2_n: int, r: int) -> None:
    assert KdfParams(log2_n=log2_n, r=r).memory_bytes == 128 * r * 2**log2_n


def test_default_params_need_sixteen_mebibytes() -> None:
    assert KdfParams().memory_bytes == 16 * 1024 * 1024


def test_kdf_params_dict_round_trips() -> None:
    params = KdfParams(log2_n=12, r=4, p=2)
    assert params.to_dict() == {"name": "scrypt", "log2_n": 12, "r": 4, "p": 2}
    assert KdfParams.from_dict(params.to_dict(), "head") == params


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "scrypt", "log2_n": 14, "r": 8, "p": 1, "salt": "x"},
        {"name": "scrypt", "log2_n": 14, "r": 8},
        {},
        {"name": "argon2id", "log2_n": 14, "r": 8, "p": 1},
        {"name": "SCRYPT", "log2_n": 14, "r": 8, "p": 1},
        {"name": "scrypt", "log2_n": "14", "r": 8, "p": 1},
        {"name": "scrypt", "log2_n": 14, "r": True, "p": 1},
        {"name": "scrypt", "log2_n": 14.0, "r": 8, "p": 1},
        {"name": "scrypt", "log2_n": 30, "r": 8, "p": 1},
        {"name": "scrypt", "log2_n": 14, "r": 8, "p": 0},
        ["scrypt", 14, 8, 1],
        None,
    ],
    ids=[
        "unknown-field",
        "missing-field",
        "empty",
        "unknown-name",
        "name-case",
        "string-number",
        "bool-number",
        "float-number",
        "too-costly",
        "zero-p",
        "list",
        "null",
    ],
)
def test_kdf_params_from_bad_dict_is_malformed_naming_the_object(fields: Any) -> None:
    with pytest.raises(MalformedObjectError) as caught:
        KdfParams.from_dict(fields, "head")
    assert caught.value.object_name == "head"


# --- one derivation per code ----------------------------------------------------------------


def test_the_master_secret_depends_on_the_code_alone() -> None:
    assert derive_master(CODE, CHEAP) == derive_master(CODE, CHEAP)
    assert issuer_keys(derive_master(CODE, CHEAP), ISSUER) == derive_record_keys(CODE, ISSUER, CHEAP)
    assert issuer_keys(derive_master(CODE, CHEAP), OTHER_ISSUER) == derive_record_keys(CODE, OTHER_ISSUER, CHEAP)


def test_one_master_secret_gives_each_issuer_unrelated_keys() -> None:
    master = derive_master(CODE, CHEAP)
    keys = [issuer_keys(master, issuer) for issuer in ("msrt", "behdasht", "azad", "hawzeh", "jz")]
    assert len({key.lookup_id for key in keys}) == len({key.payload_key for key in keys}) == 5


def test_the_kdf_releases_the_gil_so_threads_derive_at_once() -> None:
    """hashlib.scrypt drops the GIL: while one thread derives, another thread's Python runs."""
    progress: list[int] = []
    finished = threading.Event()

    def count() -> None:
        while not finished.is_set():
            progress.append(1)
            time.sleep(0)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        derive_master(CODE, KdfParams(log2_n=16))  # ~0.2 s of memory-hard work
    finally:
        finished.set()
        counter.join()
    assert len(progress) > 100
