"""The signed head: the small, frequently re-signed object that says what is current.

A head names the issuer's latest seq and chain value, the state digest at that seq,
the segments and newest snapshot with their sizes and hashes, when it was issued and
when it expires, and the issuer's profile (names, check-digit scheme, KDF cost). It
is signed by the online signing key, whose certificate from the root travels inside
it. The registry re-signs it on a schedule even when nothing changed, so a box can
tell a quiet feed from a frozen one.

``verify_head`` is the trust decision for one head and does no I/O: bytes, the
pinned anchor, what the box accepted before and the time go in; a ``Head`` or a
named ``FeedError`` comes out. The time rules it applies (clock floor, judging time,
lifetime caps) are in ``verifier.freshness``.

The signed body names the ``channel`` (``http`` or ``bundle``) the head was made
for, so that a copy of a USB bundle's long-lived head cannot be served as an online
feed's. Format 3 is feed protocol 2: snapshots in chunks and the issuer's catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
    MalformedObjectError,
    ReplayedHeadError,
    WrongIssuerError,
)
from verifier.freshness import CHANNELS, HTTP_CHANNEL, check_issued_at, check_lifetime, floor_for, judging_time
from verifier.limits import DEFAULT_LIMITS, FeedLimits
from verifier.objects import CatalogueRef, SegmentRef, SnapshotRef
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
HEAD_FORMAT = 3  # feed protocol 2
_NAME = "head"


@dataclass(frozen=True)
class IssuerProfile:
    """What a box needs to know about an issuer to check and look up its codes.

    ``code_bits`` is present only for an issuer that imported codes estimated to carry
    fewer random bits than the protocol's bound assumes: the issuer says so, signed.
    """

    name_fa: str
    name_en: str
    check_digits: str = "none"
    kdf: KdfParams = field(default_factory=KdfParams)
    code_bits: int | None = None

    def to_dict(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "name_fa": self.name_fa,
            "name_en": self.name_en,
            "check_digits": self.check_digits,
            "kdf": self.kdf.to_dict(),
        }
        if self.code_bits is not None:
            fields["code_bits"] = self.code_bits
        return fields

    @classmethod
    def from_dict(cls, fields: Any, object_name: str) -> IssuerProfile:
        if not isinstance(fields, dict):
            raise MalformedObjectError(object_name, "profile is not an object")
        expected = {"name_fa", "name_en", "check_digits", "kdf"} | ({"code_bits"} & fields.keys())
        require_fields(fields, expected, object_name)
        scheme = require(fields, "check_digits", str, object_name)
        if scheme not in SCHEMES:
            raise MalformedObjectError(object_name, f"unknown check-digit scheme {scheme!r}")
        code_bits = require_count(fields, "code_bits", object_name) if "code_bits" in fields else None
        if code_bits is not None and code_bits > 20 * 4:
            raise MalformedObjectError(object_name, "code_bits is more than 20 digits can hold")
        return cls(
            name_fa=require(fields, "name_fa", str, object_name),
            name_en=require(fields, "name_en", str, object_name),
            check_digits=scheme,
            kdf=KdfParams.from_dict(fields["kdf"], object_name),
            code_bits=code_bits,
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
    catalogue: CatalogueRef | None
    key_version: int
    channel: str


@dataclass(frozen=True)
class AcceptedHead:
    """What a box remembers of the newest head it accepted, to refuse older ones.

    Its ``issued_at`` is the issuer's clock floor for heads of the same ``key_version``.
    """

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
    catalogue: CatalogueRef | None,
    key_certificate: dict[str, Any],
    signing_key: Ed25519PrivateKey,
    channel: str = HTTP_CHANNEL,
) -> bytes:
    """Sign a head with the online key and return its bytes (canonical JSON).

    ``channel`` says what the head is made for: ``"http"`` (a published feed) or
    ``"bundle"`` (a USB bundle); boxes cap its lifetime accordingly.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    signed = {
        "type": HEAD_TYPE,
        "format": HEAD_FORMAT,
        "channel": channel,
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
        "catalogue": catalogue.to_dict() if catalogue else None,
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
    "catalogue",
    "signing_key",
    "channel",
}


def verify_head(
    data: bytes,
    anchor: TrustAnchor,
    now: datetime,
    accepted: AcceptedHead | None = None,
    limits: FeedLimits = DEFAULT_LIMITS,
    channel: str | None = None,
    min_key_version: int = 0,
) -> Head:
    """Decide whether a head can be trusted.

    Args:
        now: the box's clock. The head is judged at the later of it and the issuer's
            clock floor (``accepted.issued_at``), so a clock set back cannot revive a head.
        accepted: the newest head this box accepted before from this issuer, if any.
            A head certified by a newer signing-key version re-bases the history and is
            not bound by the retired key's floor: the rotation is how an issuer recovers
            from heads a stolen key signed.
        limits: size, skew and lifetime limits.
        channel: how the head arrived, ``"http"`` or ``"bundle"``; ``None`` when
            not known (only the lifetime cap of the channel it was made for applies).
        min_key_version: the highest signing-key version this box has accepted, when it
            is kept apart from ``accepted`` (an operator's ``reset-floor`` forgets the
            accepted head, never the retired keys).

    Returns:
        The verified head.

    Raises:
        MalformedObjectError: not a head, or inconsistent listings.
        WrongIssuerError: a head of another issuer.
        UnknownKeyError / BadSignatureError: not signed by a key the root vouches for.
        ReplayedHeadError: older than the head already accepted.
        ChainGapError: same seq as the accepted head but another history (a fork).
        ExpiredHeadError: past its expiry (the feed is frozen).
        FutureHeadError: issued more than ``limits.max_clock_skew`` after the later of
            ``now`` and the floor.
        OverlongHeadError: valid for longer than its channel's cap.
        WrongChannelError: a bundle's head served over HTTP.
    """
    if len(data) > limits.max_head_bytes:
        raise MalformedObjectError(_NAME, f"larger than {limits.max_head_bytes} bytes")
    signed, signatures = split_envelope(parse_json_object(data, _NAME), _NAME)
    head_format = signed.get("format")
    if signed.get("type") != HEAD_TYPE or type(head_format) is not int or head_format != HEAD_FORMAT:
        raise MalformedObjectError(_NAME, "not a head of a known format")
    require_fields(signed, _HEAD_FIELDS, _NAME)
    if signed["channel"] not in CHANNELS:
        raise MalformedObjectError(_NAME, "names an unknown channel")
    if signed["issuer"] != anchor.issuer:
        raise WrongIssuerError(_NAME, f"of issuer {signed['issuer']!r}, expected {anchor.issuer!r}")
    min_version = max(min_key_version, accepted.key_version if accepted else 0)
    certificate = verify_key_certificate(signed["signing_key"], anchor, min_version)
    verify_envelope(signed, signatures, certificate.public_key, _NAME)
    head = _parse_signed_head(signed, certificate, limits)
    _check_listing(head)
    check_lifetime(head.issued_at, head.expires, head.channel, channel, limits)
    check_issued_at(head.issued_at, now, accepted.issued_at if accepted else None, limits)
    floor = floor_for(accepted.issued_at, accepted.key_version, head.key_version) if accepted else None
    if accepted is not None and head.key_version == accepted.key_version:
        if head.seq < accepted.seq:
            raise ReplayedHeadError(_NAME, f"seq {head.seq} is older than the accepted seq {accepted.seq}")
        if head.issued_at < accepted.issued_at:
            raise ReplayedHeadError(_NAME, "issued before the head already accepted")
        if head.seq == accepted.seq and head.chain != accepted.chain:
            raise ChainGapError(_NAME, f"a different history at the accepted seq {head.seq}")
    if judging_time(now, floor) >= head.expires:
        raise ExpiredHeadError(_NAME, f"expired at {format_timestamp(head.expires)}")
    return head


def _parse_signed_head(signed: dict[str, Any], certificate: SigningKeyCertificate, limits: FeedLimits) -> Head:
    segments_raw = require(signed, "segments", list, _NAME)
    if len(segments_raw) > limits.max_segments_listed:
        raise MalformedObjectError(_NAME, "lists more segments than the limit")
    snapshot_raw = signed["snapshot"]
    catalogue_raw = signed["catalogue"]
    snapshot = (
        SnapshotRef.from_dict(snapshot_raw, _NAME, limits.max_snapshot_chunks) if snapshot_raw is not None else None
    )
    segments = tuple(SegmentRef.from_dict(entry, _NAME) for entry in segments_raw)
    sizes = [segment.size for segment in segments] + [chunk.size for chunk in (snapshot.chunks if snapshot else ())]
    if any(size > limits.max_object_bytes for size in sizes):
        raise MalformedObjectError(_NAME, f"lists an object larger than {limits.max_object_bytes} bytes")
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
        segments=segments,
        snapshot=snapshot,
        catalogue=(
            CatalogueRef.from_dict(catalogue_raw, _NAME, limits.max_catalogue_bytes)
            if catalogue_raw is not None
            else None
        ),
        key_version=certificate.version,
        channel=signed["channel"],
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
    if head.records > 0 and head.catalogue is None:
        raise MalformedObjectError(_NAME, "holds records but lists no catalogue to read them by")


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
        # A new box takes the snapshot: it holds each record once, where the history from
        # genesis may carry it many times over.
        by_delta = UpdatePlan(snapshot=None, segments=delta)
        if via_snapshot is None or (cursor_seq > 0 and by_delta.download_bytes <= via_snapshot.download_bytes):
            return by_delta
    if via_snapshot is None:
        raise ChainGapError(_NAME, f"lists nothing that continues from seq {cursor_seq}")
    return via_snapshot
