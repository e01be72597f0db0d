"""References to the feed's immutable objects, and checking an object against its reference.

Segments and snapshots are content-addressed: an object's path is derived from
its SHA-256, so a file never changes once published and any static server, CDN
or object store can cache it forever. The head lists each object with its size
and hash; a box checks both before it parses a byte.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from verifier.canonical import require_count, require_fields, require_hex
from verifier.errors import HashMismatchError, LengthMismatchError, MalformedObjectError

SEGMENT_DIR = "segments"
SNAPSHOT_DIR = "snapshots"
SEGMENT_SUFFIX = ".seg"
SNAPSHOT_SUFFIX = ".snap"
HEAD_PATH = "head.json"

_HEX64 = 64
_PATH_PATTERN = re.compile(r"^(segments/[0-9a-f]{64}\.seg|snapshots/[0-9a-f]{64}\.snap)$")


def segment_path(sha256: str) -> str:
    return f"{SEGMENT_DIR}/{sha256}{SEGMENT_SUFFIX}"


def snapshot_path(sha256: str) -> str:
    return f"{SNAPSHOT_DIR}/{sha256}{SNAPSHOT_SUFFIX}"


@dataclass(frozen=True)
class SegmentRef:
    """A segment as its head lists it: changes ``first_seq..last_seq``, chained."""

    path: str
    size: int
    sha256: str
    first_seq: int
    last_seq: int
    prev_chain: str
    chain: str

    @property
    def name(self) -> str:
        return f"segment {self.first_seq}–{self.last_seq}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "prev_chain": self.prev_chain,
            "chain": self.chain,
        }

    @classmethod
    def from_dict(cls, fields: Any, object_name: str) -> SegmentRef:
        if not isinstance(fields, dict):
            raise MalformedObjectError(object_name, "segment entry is not an object")
        require_fields(fields, {"path", "size", "sha256", "first_seq", "last_seq", "prev_chain", "chain"}, object_name)
        sha256 = require_hex(fields, "sha256", _HEX64, object_name)
        ref = cls(
            path=fields["path"],
            size=require_count(fields, "size", object_name, minimum=1),
            sha256=sha256,
            first_seq=require_count(fields, "first_seq", object_name, minimum=1),
            last_seq=require_count(fields, "last_seq", object_name, minimum=1),
            prev_chain=require_hex(fields, "prev_chain", _HEX64, object_name),
            chain=require_hex(fields, "chain", _HEX64, object_name),
        )
        if ref.path != segment_path(sha256):
            raise MalformedObjectError(object_name, f"segment path {ref.path!r} is not its content address")
        if ref.last_seq < ref.first_seq:
            raise MalformedObjectError(object_name, "segment ends before it starts")
        return ref


@dataclass(frozen=True)
class SnapshotRef:
    """A snapshot as its head lists it: the whole state at ``seq``."""

    path: str
    size: int
    sha256: str
    seq: int
    chain: str
    records: int
    digest: str

    @property
    def name(self) -> str:
        return f"snapshot at seq {self.seq}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "seq": self.seq,
            "chain": self.chain,
            "records": self.records,
            "digest": self.digest,
        }

    @classmethod
    def from_dict(cls, fields: Any, object_name: str) -> SnapshotRef:
        if not isinstance(fields, dict):
            raise MalformedObjectError(object_name, "snapshot entry is not an object")
        require_fields(fields, {"path", "size", "sha256", "seq", "chain", "records", "digest"}, object_name)
        sha256 = require_hex(fields, "sha256", _HEX64, object_name)
        ref = cls(
            path=fields["path"],
            size=require_count(fields, "size", object_name, minimum=1),
            sha256=sha256,
            seq=require_count(fields, "seq", object_name, minimum=1),
            chain=require_hex(fields, "chain", _HEX64, object_name),
            records=require_count(fields, "records", object_name),
            digest=require_hex(fields, "digest", _HEX64, object_name),
        )
        if ref.path != snapshot_path(sha256):
            raise MalformedObjectError(object_name, f"snapshot path {ref.path!r} is not its content address")
        return ref


ObjectRef = SegmentRef | SnapshotRef


def is_object_path(path: str) -> bool:
    """Tell whether ``path`` is a well-formed content address (no traversal possible)."""
    return bool(_PATH_PATTERN.match(path))


def check_object(ref: ObjectRef, size: int, sha256: str) -> None:
    """Compare a downloaded object's size and hash with what its head announced.

    Raises:
        LengthMismatchError: the object is not the announced size.
        HashMismatchError: its SHA-256 differs.
    """
    if size != ref.size:
        raise LengthMismatchError(ref.name, f"is {size} bytes, the head announced {ref.size}")
    if sha256 != ref.sha256:
        raise HashMismatchError(ref.name, "content does not match the hash the head announced")


def check_object_bytes(ref: ObjectRef, data: bytes) -> None:
    """``check_object`` for an object held in memory."""
    check_object(ref, len(data), hashlib.sha256(data).hexdigest())
