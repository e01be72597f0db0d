"""Ed25519 envelopes, the trust anchor and signing-key certificates.

Two keys per issuer: a long-lived *root* key, pinned on every box as the trust
anchor and kept offline, and an online *signing* key that signs heads. The root
vouches for a signing key with a certificate that carries a version; a box
remembers the highest version it has seen and refuses certificates below it, so
rotating the signing key (the root signs version n+1) retires every older key on
every box that has seen the new one.

Every signed object is an envelope ``{"signed": {...}, "signatures": [{"keyid",
"sig"}]}``; the signature is over the canonical JSON of ``signed``, whose
``type`` field keeps one kind of object from being passed off as another.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from verifier.canonical import (
    b64decode,
    b64encode,
    canonical_json,
    format_timestamp,
    parse_json_object,
    parse_timestamp,
    require,
    require_count,
    require_fields,
)
from verifier.errors import BadSignatureError, MalformedObjectError, UnknownKeyError, WrongIssuerError

ISSUER_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
KEY_CERTIFICATE_TYPE = "sehat/signing-key"
TRUST_ANCHOR_TYPE = "sehat/trust-anchor"


def check_issuer_id(issuer: str) -> str:
    """Issuer ids are short lowercase slugs: they name files, URLs and key domains."""
    if not ISSUER_ID_PATTERN.match(issuer):
        raise ValueError(f"issuer id {issuer!r} must be 2–32 of a–z, 0–9 and '-', starting with a letter or digit")
    return issuer


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32 bytes of an Ed25519 public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    """A key's id: the SHA-256 of its raw public bytes, hex."""
    return hashlib.sha256(public_key).hexdigest()


def sign_envelope(signed: dict[str, Any], private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """Wrap ``signed`` in an envelope signed by ``private_key``."""
    signature = private_key.sign(canonical_json(signed))
    return {
        "signed": signed,
        "signatures": [{"keyid": key_id(public_key_bytes(private_key)), "sig": b64encode(signature)}],
    }


def split_envelope(envelope: Any, object_name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Check an envelope's shape and return its signed part and signatures."""
    if not isinstance(envelope, dict):
        raise MalformedObjectError(object_name, "not a signed envelope")
    require_fields(envelope, {"signed", "signatures"}, object_name)
    signed = require(envelope, "signed", dict, object_name)
    signatures = require(envelope, "signatures", list, object_name)
    for entry in signatures:
        if not isinstance(entry, dict):
            raise MalformedObjectError(object_name, "a signature entry is not an object")
        require_fields(entry, {"keyid", "sig"}, object_name)
        require(entry, "keyid", str, object_name)
        require(entry, "sig", str, object_name)
    return signed, signatures


def verify_envelope(
    signed: dict[str, Any], signatures: list[dict[str, Any]], public_key: bytes, object_name: str
) -> None:
    """Check that one of ``signatures`` is ``public_key``'s valid signature over ``signed``.

    Raises:
        UnknownKeyError: no signature by this key is present.
        BadSignatureError: the key's signature does not verify.
    """
    wanted = key_id(public_key)
    matching = [entry for entry in signatures if entry["keyid"] == wanted]
    if not matching:
        raise UnknownKeyError(object_name, "not signed by a key this box trusts")
    verifier_key = Ed25519PublicKey.from_public_bytes(public_key)
    message = canonical_json(signed)
    for entry in matching:
        signature = b64decode(entry["sig"], object_name, "signature")
        try:
            verifier_key.verify(signature, message)
        except InvalidSignature:
            continue
        return
    raise BadSignatureError(object_name, "signature does not verify")


@dataclass(frozen=True)
class TrustAnchor:
    """What a box pins for one issuer: its id and its root public key."""

    issuer: str
    root_public_key: bytes
    name_fa: str = ""
    name_en: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": TRUST_ANCHOR_TYPE,
            "issuer": self.issuer,
            "root_public_key": b64encode(self.root_public_key),
            "root_key_id": key_id(self.root_public_key),
            "name_fa": self.name_fa,
            "name_en": self.name_en,
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> TrustAnchor:
        """Parse a trust-anchor file as printed by ``sehat registry trust``."""
        name = "trust anchor"
        fields = parse_json_object(data, name)
        if fields.get("type") != TRUST_ANCHOR_TYPE:
            raise MalformedObjectError(name, f"type is not {TRUST_ANCHOR_TYPE}")
        issuer = require(fields, "issuer", str, name)
        if not ISSUER_ID_PATTERN.match(issuer):
            raise MalformedObjectError(name, "issuer is not a valid issuer id")
        root = b64decode(fields.get("root_public_key"), name, "root_public_key")
        if len(root) != 32:
            raise MalformedObjectError(name, "root_public_key is not an Ed25519 key")
        if "root_key_id" in fields and fields["root_key_id"] != key_id(root):
            raise MalformedObjectError(name, "root_key_id does not match root_public_key")
        name_fa = fields.get("name_fa", "")
        name_en = fields.get("name_en", "")
        if not isinstance(name_fa, str) or not isinstance(name_en, str):
            raise MalformedObjectError(name, "names must be strings")
        return cls(issuer=issuer, root_public_key=root, name_fa=name_fa, name_en=name_en)


@dataclass(frozen=True)
class SigningKeyCertificate:
    """The root's statement that ``public_key`` signs heads for ``issuer`` from ``version`` on."""

    issuer: str
    public_key: bytes
    version: int
    issued_at: datetime


def make_key_certificate(
    issuer: str, signing_public_key: bytes, version: int, issued_at: datetime, root_key: Ed25519PrivateKey
) -> dict[str, Any]:
    """Have the root vouch for a signing key (the envelope, ready to embed in heads)."""
    signed = {
        "type": KEY_CERTIFICATE_TYPE,
        "issuer": issuer,
        "public_key": b64encode(signing_public_key),
        "version": version,
        "issued_at": format_timestamp(issued_at),
    }
    return sign_envelope(signed, root_key)


def verify_key_certificate(envelope: Any, anchor: TrustAnchor, min_version: int) -> SigningKeyCertificate:
    """Verify a signing-key certificate against the pinned root.

    Args:
        envelope: the certificate envelope as embedded in a head.
        anchor: the pinned trust anchor of the issuer.
        min_version: the highest certificate version this box has accepted; an
            older one belongs to a retired key.

    Raises:
        MalformedObjectError, WrongIssuerError, UnknownKeyError, BadSignatureError.
    """
    name = "signing key certificate"
    signed, signatures = split_envelope(envelope, name)
    require_fields(signed, {"type", "issuer", "public_key", "version", "issued_at"}, name)
    if signed["type"] != KEY_CERTIFICATE_TYPE:
        raise MalformedObjectError(name, f"type is not {KEY_CERTIFICATE_TYPE}")
    verify_envelope(signed, signatures, anchor.root_public_key, name)
    if signed["issuer"] != anchor.issuer:
        raise WrongIssuerError(name, f"issued for {signed['issuer']!r}, not {anchor.issuer!r}")
    public_key = b64decode(signed["public_key"], name, "public_key")
    if len(public_key) != 32:
        raise MalformedObjectError(name, "public_key is not an Ed25519 key")
    version = require_count(signed, "version", name, minimum=1)
    if version < min_version:
        raise UnknownKeyError(name, f"version {version} was retired by version {min_version}")
    return SigningKeyCertificate(
        issuer=anchor.issuer,
        public_key=public_key,
        version=version,
        issued_at=parse_timestamp(signed["issued_at"], name, "issued_at"),
    )
