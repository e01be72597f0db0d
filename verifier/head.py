"""The signed head: the small, frequently re-signed object that says what is current.

A head names the issuer's latest seq and chain value, the state digest at that seq,
the segments and newest snapshot with their sizes and hashes, when it was issued and
when it expires, and the issuer's profile (names, check-digit scheme, KDF cost). It
is signed by the online signing key, whose certificate from the root travels inside
it. The registry re-signs it on a schedule even when nothing changed, so a box can
tell a quiet feed from a frozen one.

``verify_head`` is the trust decision for one head and does no I/O: bytes, the
pinned anchor, what the box accepted before and the time go in; a ``Head`` or a
named ``FeedError`` comes out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from verifier.canonical import (
    canonical_json,
    format_timestamp,
    parse_json_object,
    parse_timestamp,
    require,
    require_count,
    require_fields,
    require_hex,
)
from verifier.chain import genesis_chain
from verifier.check_digits import SCHEMES
from verifier.errors import (
    ChainGapError,
    ExpiredHeadError,
    FutureHeadError,
    MalformedObjectError,
    ReplayedHeadError,
    WrongIssuerError,
)
from verifier.limits import DEFAULT_LIMITS, FeedLimits
from verifier.objects import SegmentRef, SnapshotRef
from verifier.sealing import KdfParams
from verifier.signing import (
    SigningKeyCertificate,
    TrustAnchor,
    sign_envelope,
    split_envelope,
    verify_envelope,
    verify_key_certificate,
)

HEAD_TYPE = "sehat/head"
HEAD_FORMAT = 1
_NAME = "head"


@dataclass(frozen=True)
class IssuerProfile:
    """What a box needs to know about an issuer to check and look up its codes."""

    name_fa: str
    name_en: str
    check_digits: str = "none"
    kdf: KdfParams = field(default_factory=KdfParams)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name_fa": self.name_fa,
            "name_en": self.name_en,
            "check_digits": self.check_digits,
            "kdf": self.kdf.to_dict(),
        }

    @classmethod
    def from_dict(cls, fields: Any, object_name: str) -> IssuerProfile:
        if not isinstance(fields, dict):
            raise MalformedObjectError(object_name, "profile is not an object")
        require_fields(fields, {"name_fa", "name_en", "check_digits", "kdf"}, object_name)
        scheme = require(fields, "check_digits", str, object_name)
        if scheme not in SCHEMES:
            raise MalformedObjectError(object_name, f"unknown check-digit scheme {scheme!r}")
        return cls(
            name_fa=require(fields, "name_fa", str, object_name),
            name_en=require(fields, "name_en", str, object_name),
            check_digits=scheme,
            kdf=KdfParams.from_dict(fields["kdf"], object_name),
        )


@dataclass(frozen=True)
class Head:
    """A verified head."""

    issuer: str
    seq: int
    chain: str
    digest: str
    records: int
    issued_at: datetime
    expires: datetime
    profile: IssuerProfile
    segments: tuple[SegmentRef, ...]
    snapshot: SnapshotRef | None
    key_version: int


@dataclass(frozen=True)
class AcceptedHead:
    """What a box remembers of the newest head it accepted, to refuse older ones."""

    seq: int
    chain: str
    issued_at: datetime
    key_version: int


def build_head(
    *,
    issuer: str,
    seq: int,
    chain: str,
    digest: str,
    records: int,
    issued_at: datetime,
    expires: datetime,
    profile: IssuerProfile,
    segments: list[SegmentRef],
    snapshot: SnapshotRef | None,
    key_certificate: dict[str, Any],
    signing_key: Ed25519PrivateKey,
) -> bytes:
    """Sign a head with the online key and return its bytes (canonical JSON)."""
    signed = {
        "type": HEAD_TYPE,
        "format": HEAD_FORMAT,
        "issuer": issuer,
        "seq": seq,
        "chain": chain,
        "digest": digest,
        "records": records,
        "issued_at": format_timestamp(issued_at),
        "expires": format_timestamp(expires),
        "profile": profile.to_dict(),
        "segments": [segment.to_dict() for segment in segments],
        "snapshot": snapshot.to_dict() if snapshot else None,
        "signing_key": key_certificate,
    }
    return canonical_json(sign_envelope(signed, signing_key))


_HEAD_FIELDS = {
    "type",
    "format",
    "issuer",
    "seq",
    "chain",
    "digest",
    "records",
    "issued_at",
    "expires",
    "profile",
    "segments",
    "snapshot",
    "signing_key",
}


# How far ahead of a box's (sane) clock a head may claim to be issued. A head from further
# ahead would drag the box's clock floor and rollback state into the future.
MAX_CLOCK_SKEW = timedelta(hours=24)


def verify_head(
    data: bytes,
    anchor: TrustAnchor,
    now: datetime,
    accepted: AcceptedHead | None = None,
    limits: FeedLimits = DEFAULT_LIMITS,
    trusted_clock: datetime | None = None,
) -> Head:
    """Decide whether a head can be trusted.

    Args:
        data: the head's bytes as downloaded or read from a bundle.
        anchor: the issuer's pinned trust anchor.
        now: the time to judge expiry by; callers pass the later of the system
            clock and their clock floor, so a clock set back cannot revive a head.
        accepted: the newest head this box accepted before, if any. A head certified
            by a newer signing-key version re-bases the history: the rotation is how an
            issuer recovers from heads a stolen key signed.
        limits: size limits.
        trusted_clock: the box's clock when it is not behind its floor; a head issued
            more than ``MAX_CLOCK_SKEW`` after it is refused.

    Returns:
        The verified head.

    Raises:
        MalformedObjectError: not a head, or inconsistent listings.
        WrongIssuerError: a head of another issuer.
        UnknownKeyError / BadSignatureError: not signed by a key the root vouches for.
        ReplayedHeadError: older than the head already accepted.
        ChainGapError: same seq as the accepted head but another history (a fork).
        ExpiredHeadError: past its expiry (the feed is frozen).
        FutureHeadError: issued implausibly far ahead of ``trusted_clock``.
    """
    if len(data) > limits.max_head_bytes:
        raise MalformedObjectError(_NAME, f"larger than {limits.max_head_bytes} bytes")
    signed, signatures = split_envelope(parse_json_object(data, _NAME), _NAME)
    require_fields(signed, _HEAD_FIELDS, _NAME)
    if signed["type"] != HEAD_TYPE or signed["format"] != HEAD_FORMAT:
        raise MalformedObjectError(_NAME, "not a head of a known format")
    if signed["issuer"] != anchor.issuer:
        raise WrongIssuerError(_NAME, f"of issuer {signed['issuer']!r}, expected {anchor.issuer!r}")
    certificate = verify_key_certificate(signed["signing_key"], anchor, accepted.key_version if accepted else 0)
    verify_envelope(signed, signatures, certificate.public_key, _NAME)
    head = _parse_signed_head(signed, certificate, limits)
    _check_listing(head)
    if trusted_clock is not None and head.issued_at > trusted_clock + MAX_CLOCK_SKEW:
        raise FutureHeadError(
            _NAME, f"issued at {format_timestamp(head.issued_at)}, more than a day ahead of this box's clock"
        )
    if accepted is not None and head.key_version == accepted.key_version:
        if head.seq < accepted.seq:
            raise ReplayedHeadError(_NAME, f"seq {head.seq} is older than the accepted seq {accepted.seq}")
        if head.issued_at < accepted.issued_at:
            raise ReplayedHeadError(_NAME, "issued before the head already accepted")
        if head.seq == accepted.seq and head.chain != accepted.chain:
            raise ChainGapError(_NAME, f"a different history at the accepted seq {head.seq}")
    if now >= head.expires:
        raise ExpiredHeadError(_NAME, f"expired at {format_timestamp(head.expires)}")
    return head


def _parse_signed_head(signed: dict[str, Any], certificate: SigningKeyCertificate, limits: FeedLimits) -> Head:
    segments_raw = require(signed, "segments", list, _NAME)
    if len(segments_raw) > limits.max_segments_listed:
        raise MalformedObjectError(_NAME, "lists more segments than the limit")
    sizes = [entry.get("size") for entry in segments_raw if isinstance(entry, dict)]
    if isinstance(signed["snapshot"], dict):
        sizes.append(signed["snapshot"].get("size"))
    if any(isinstance(size, int) and size > limits.max_object_bytes for size in sizes):
        raise MalformedObjectError(_NAME, f"lists an object larger than {limits.max_object_bytes} bytes")
    snapshot_raw = signed["snapshot"]
    issued_at = parse_timestamp(signed["issued_at"], _NAME, "issued_at")
    expires = parse_timestamp(signed["expires"], _NAME, "expires")
    if expires <= issued_at:
        raise MalformedObjectError(_NAME, "expires before it was issued")
    return Head(
        issuer=certificate.issuer,
        seq=require_count(signed, "seq", _NAME),
        chain=require_hex(signed, "chain", 64, _NAME),
        digest=require_hex(signed, "digest", 64, _NAME),
        records=require_count(signed, "records", _NAME),
        issued_at=issued_at,
        expires=expires,
        profile=IssuerProfile.from_dict(signed["profile"], _NAME),
        segments=tuple(SegmentRef.from_dict(entry, _NAME) for entry in segments_raw),
        snapshot=SnapshotRef.from_dict(snapshot_raw, _NAME) if snapshot_raw is not None else None,
        key_version=certificate.version,
    )


def _check_listing(head: Head) -> None:
    """The listed segments must form one unbroken chain ending at the head."""
    for earlier, later in pairwise(head.segments):
        if later.first_seq != earlier.last_seq + 1 or later.prev_chain != earlier.chain:
            raise MalformedObjectError(_NAME, f"segment list breaks between {earlier.name} and {later.name}")
    if head.segments:
        last = head.segments[-1]
        if last.last_seq != head.seq or last.chain != head.chain:
            raise MalformedObjectError(_NAME, "the last segment does not end at the head")
    snapshot = head.snapshot
    if snapshot is not None:
        if snapshot.seq > head.seq:
            raise MalformedObjectError(_NAME, "the snapshot is newer than the head")
        if snapshot.seq == head.seq and (snapshot.chain != head.chain or snapshot.digest != head.digest):
            raise MalformedObjectError(_NAME, "the snapshot at the head's seq disagrees with it")
    if head.seq == 0 and head.chain != genesis_chain(head.issuer):
        raise MalformedObjectError(_NAME, "an empty feed must carry the genesis chain")
    if head.seq > 0 and not head.segments and (snapshot is None or snapshot.seq != head.seq):
        raise MalformedObjectError(_NAME, "lists nothing that reaches its seq")


@dataclass(frozen=True)
class UpdatePlan:
    """What to fetch to move a replica from its cursor to a head: a snapshot, then segments."""

    snapshot: SnapshotRef | None
    segments: tuple[SegmentRef, ...]

    @property
    def download_bytes(self) -> int:
        return (self.snapshot.size if self.snapshot else 0) + sum(segment.size for segment in self.segments)

    @property
    def empty(self) -> bool:
        return self.snapshot is None and not self.segments


def snapshot_plan(head: Head) -> UpdatePlan | None:
    """The snapshot and the segments after it: the way back onto an issuer's history from anywhere."""
    snapshot = head.snapshot
    if snapshot is None:
        return None
    following = tuple(segment for segment in head.segments if segment.first_seq > snapshot.seq)
    return UpdatePlan(snapshot=snapshot, segments=following)


def plan_update(head: Head, cursor_seq: int, cursor_chain: str) -> UpdatePlan:
    """Choose the cheapest way from a cursor to the head: deltas, or a snapshot and deltas.

    Raises:
        ReplayedHeadError: the cursor is already past the head.
        ChainGapError: no listed object continues from the cursor, or the head's
            history differs from the replica's at the same seq.
    """
    if cursor_seq > head.seq:
        raise ReplayedHeadError(_NAME, f"seq {head.seq} is older than the replica's seq {cursor_seq}")
    if cursor_seq == head.seq:
        if cursor_chain != head.chain:
            raise ChainGapError(_NAME, f"a different history at the replica's seq {cursor_seq}")
        return UpdatePlan(snapshot=None, segments=())
    delta: tuple[SegmentRef, ...] | None = None
    for index, segment in enumerate(head.segments):
        if segment.first_seq == cursor_seq + 1:
            if segment.prev_chain != cursor_chain:
                raise ChainGapError(segment.name, "does not chain to the replica's cursor")
            delta = head.segments[index:]
            break
    via_snapshot = snapshot_plan(head)
    if via_snapshot is not None and via_snapshot.snapshot is not None and via_snapshot.snapshot.seq <= cursor_seq:
        via_snapshot = None
    if delta is not None:
        by_delta = UpdatePlan(snapshot=None, segments=delta)
        if via_snapshot is None or by_delta.download_bytes <= via_snapshot.download_bytes:
            return by_delta
    if via_snapshot is None:
        raise ChainGapError(_NAME, f"lists nothing that continues from seq {cursor_seq}")
    return via_snapshot
