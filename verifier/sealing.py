"""Sealed records: a lookup id and an encrypted payload, both derived from the code.

Whoever holds a code can find and open its record; whoever holds the feed, the box
or its key but not the code learns nothing about the graduate. From the code alone
a memory-hard KDF (scrypt, under a protocol-wide salt) derives a master secret; HKDF
splits it, with the issuer id in the info, into a *lookup id* (the public row key)
and a *payload key* (ChaCha20-Poly1305). The issuer also enters the associated data,
so the same code under two issuers gives unrelated rows and a payload cannot be
moved to another row — yet a box trusting five issuers pays the memory-hard step
once per code, not five times (docs/protocol.md §4.1 states what this costs).

scrypt is ``hashlib.scrypt`` (OpenSSL), which releases the GIL: derivations on
waitress's threads, in bulk files and in a registry's import run on every core.
The KDF's cost is a per-issuer parameter carried in the signed head.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from verifier.canonical import require, require_fields
from verifier.errors import MalformedObjectError, UnsealError

LOOKUP_ID_BYTES = 16  # 128 bits: collisions among 10^9 records have odds below 10^-20
NONCE_BYTES = 12
TAG_BYTES = 16
BOX_VERSION = 2
BOX_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES
_SALT = b"sehat/seal/v2"
_LOOKUP_INFO = b"sehat/lookup-id/v2\x00"
_PAYLOAD_INFO = b"sehat/payload-key/v2\x00"
_AAD_DOMAIN = b"sehat/record/v2\x00"

# Bounds on what a signed head may ask a box to spend per lookup: at most
# 2^20 × 128 × 8 bytes = 1 GiB would be absurd; 2^17 (128 MiB at r=8) is the cap.
MIN_LOG2_N = 1
MAX_LOG2_N = 17
MAX_R = 16
MAX_P = 4


@dataclass(frozen=True)
class KdfParams:
    """scrypt parameters: ``N = 2**log2_n``, block size ``r``, parallelism ``p``."""

    log2_n: int = 14
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not MIN_LOG2_N <= self.log2_n <= MAX_LOG2_N:
            raise ValueError(f"scrypt log2_n must be between {MIN_LOG2_N} and {MAX_LOG2_N}")
        if not 1 <= self.r <= MAX_R or not 1 <= self.p <= MAX_P:
            raise ValueError(f"scrypt r must be 1–{MAX_R} and p 1–{MAX_P}")

    @property
    def memory_bytes(self) -> int:
        """Memory one derivation needs: 128 · r · N bytes."""
        return 128 * self.r * (1 << self.log2_n)

    def to_dict(self) -> dict[str, Any]:
        return {"name": "scrypt", "log2_n": self.log2_n, "r": self.r, "p": self.p}

    @classmethod
    def from_dict(cls, fields: Any, object_name: str) -> KdfParams:
        if not isinstance(fields, dict):
            raise MalformedObjectError(object_name, "kdf is not an object")
        require_fields(fields, {"name", "log2_n", "r", "p"}, object_name)
        if fields["name"] != "scrypt":
            raise MalformedObjectError(object_name, f"unknown kdf {fields['name']!r}")
        try:
            return cls(
                log2_n=require(fields, "log2_n", int, object_name),
                r=require(fields, "r", int, object_name),
                p=require(fields, "p", int, object_name),
            )
        except ValueError as error:
            raise MalformedObjectError(object_name, str(error)) from error


@dataclass(frozen=True)
class RecordKeys:
    """What a code yields under one issuer: the row's lookup id and its payload key."""

    lookup_id: bytes
    payload_key: bytes


def derive_master(code: str, params: KdfParams) -> bytes:
    """The memory-hard step: a 32-byte master secret from the code alone (no issuer).

    Args:
        code: the normalised 20 ASCII digits.
        params: the KDF cost, from the issuer's signed profile.
    """
    if len(code) != 20 or not code.isascii() or not code.isdigit():
        raise ValueError("derive_master takes a normalised 20-digit code")
    return hashlib.scrypt(
        code.encode("ascii"),
        salt=_SALT,
        n=1 << params.log2_n,
        r=params.r,
        p=params.p,
        maxmem=2 * params.memory_bytes + (1 << 20),
        dklen=32,
    )


def issuer_keys(master: bytes, issuer: str) -> RecordKeys:
    """Split a code's master secret into its lookup id and payload key under ``issuer`` (cheap)."""
    tag = issuer.encode("ascii")
    lookup_id = HKDFExpand(hashes.SHA256(), LOOKUP_ID_BYTES, _LOOKUP_INFO + tag).derive(master)
    payload_key = HKDFExpand(hashes.SHA256(), 32, _PAYLOAD_INFO + tag).derive(master)
    return RecordKeys(lookup_id=lookup_id, payload_key=payload_key)


def derive_record_keys(code: str, issuer: str, params: KdfParams) -> RecordKeys:
    """The lookup id and payload key of ``code`` under ``issuer``: one derivation, then the split.

    A box trusting several issuers calls ``derive_master`` once per KDF cost and
    ``issuer_keys`` per issuer instead.
    """
    return issuer_keys(derive_master(code, params), issuer)


def _associated_data(issuer: str, lookup_id: bytes) -> bytes:
    return _AAD_DOMAIN + issuer.encode("ascii") + b"\x00" + lookup_id


def seal(plaintext: bytes, keys: RecordKeys, issuer: str, nonce: bytes) -> bytes:
    """Encrypt a record payload into a box: ``version ‖ nonce ‖ ciphertext+tag``.

    The nonce is an argument so that the core stays deterministic; the registry
    passes 12 fresh random bytes for every seal (a record is resealed only when it
    changes, so random nonces under one key are far from colliding).
    """
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    ciphertext = ChaCha20Poly1305(keys.payload_key).encrypt(nonce, plaintext, _associated_data(issuer, keys.lookup_id))
    return bytes([BOX_VERSION]) + nonce + ciphertext


def unseal(box: bytes, keys: RecordKeys, issuer: str) -> bytes:
    """Open a box with the keys of its code.

    Raises:
        UnsealError: the box is damaged, of an unknown version, or not this code's.
    """
    if len(box) < BOX_OVERHEAD or box[0] != BOX_VERSION:
        raise UnsealError("sealed record", "unknown box version or truncated box")
    nonce = box[1 : 1 + NONCE_BYTES]
    try:
        return ChaCha20Poly1305(keys.payload_key).decrypt(
            nonce, box[1 + NONCE_BYTES :], _associated_data(issuer, keys.lookup_id)
        )
    except InvalidTag as error:
        raise UnsealError("sealed record", "does not open with this code") from error
