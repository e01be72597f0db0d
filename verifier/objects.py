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
CATALOGUE_DIR = "catalogues"
SEGMENT_SUFFIX = ".seg"
SNAPSHOT_SUFFIX = ".snap"
CATALOGUE_SUFFIX = ".cat"
HEAD_PATH = "head.json"

_HEX64 = 64
_PATH_PATTERN = re.compile(r"^(segments/[0-9a-f]{64}\.seg|snapshots/[0-9a-f]{64}\.snap|catalogues/[0-9a-f]{64}\.cat)$")


def segment_path(sha256: str) -> str:
    return f"{SEGMENT_DIR}/{sha256}{SEGMENT_SUFFIX}"


def snapshot_path(sha256: str) -> str:
    return f"{SNAPSHOT_DIR}/{sha256}{SNAPSHOT_SUFFIX}"


def catalogue_path(sha256: str) -> str:
    return f"{CATALOGUE_DIR}/{sha256}{CATALOGUE_SUFFIX}"


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
class ChunkRef:
    """One chunk of a snapshot: ``records`` rows, the next stretch of the lookup-id order."""

    path: str
    size: int
    sha256: str
    records: int
    seq: int = 0  # the snapshot's seq and this chunk's place, for messages only
    index: int = 0

    @property
    def name(self) -> str:
        return f"snapshot at seq {self.seq}, chunk {self.index + 1}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "records": self.records}

    @classmethod
    def from_dict(cls, fields: Any, object_name: str, seq: int, index: int) -> ChunkRef:
        if not isinstance(fields, dict):
            raise MalformedObjectError(object_name, "snapshot chunk entry is not an object")
        require_fields(fields, {"path", "size", "sha256", "records"}, object_name)
        sha256 = require_hex(fields, "sha256", _HEX64, object_name)
        ref = cls(
            path=fields["path"],
            size=require_count(fields, "size", object_name, minimum=1),
            sha256=sha256,
            records=require_count(fields, "records", object_name),
            seq=seq,
            index=index,
        )
        if ref.path != snapshot_path(sha256):
            raise MalformedObjectError(object_name, f"snapshot chunk path {ref.path!r} is not its content address")
        return ref


@dataclass(frozen=True)
class SnapshotRef:
    """A snapshot as its head lists it: the whole state at ``seq``, in chunks of bounded size."""

    seq: int
    chain: str
    records: int
    digest: str
    chunks: tuple[ChunkRef, ...]

    @property
    def name(self) -> str:
        return f"snapshot at seq {self.seq}"

    @property
    def size(self) -> int:
        return sum(chunk.size for chunk in self.chunks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "chain": self.chain,
            "records": self.records,
            "digest": self.digest,
            "chunks": [chunk.to_dict() for chunk in self.chunks],
        }

    @classmethod
    def from_dict(cls, fields: Any, object_name: str, max_chunks: int) -> SnapshotRef:
        if not isinstance(fields, dict):
            raise MalformedObjectError(object_name, "snapshot entry is not an object")
        require_fields(fields, {"seq", "chain", "records", "digest", "chunks"}, object_name)
        seq = require_count(fields, "seq", object_name, minimum=1)
        raw_chunks = fields["chunks"]
        if not isinstance(raw_chunks, list) or not raw_chunks or len(raw_chunks) > max_chunks:
            raise MalformedObjectError(object_name, f"a snapshot lists 1–{max_chunks} chunks")
        chunks = tuple(ChunkRef.from_dict(chunk, object_name, seq, index) for index, chunk in enumerate(raw_chunks))
        ref = cls(
            seq=seq,
            chain=require_hex(fields, "chain", _HEX64, object_name),
            records=require_count(fields, "records", object_name),
            digest=require_hex(fields, "digest", _HEX64, object_name),
            chunks=chunks,
        )
        if sum(chunk.records for chunk in chunks) != ref.records:
            raise MalformedObjectError(object_name, "the snapshot's chunks do not add up to its record count")
        if len({chunk.sha256 for chunk in chunks}) != len(chunks):
            raise MalformedObjectError(object_name, "a snapshot lists the same chunk twice")
        return ref


@dataclass(frozen=True)
class CatalogueRef:
    """The issuer's catalogue of public names, as its head lists it."""

    path: str
    size: int
    sha256: str
    entries: int

    @property
    def name(self) -> str:
        return "catalogue"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "entries": self.entries}

    @classmethod
    def from_dict(cls, fields: Any, object_name: str, max_bytes: int) -> CatalogueRef:
        if not isinstance(fields, dict):
            raise MalformedObjectError(object_name, "catalogue entry is not an object")
        require_fields(fields, {"path", "size", "sha256", "entries"}, object_name)
        sha256 = require_hex(fields, "sha256", _HEX64, object_name)
        ref = cls(
            path=fields["path"],
            size=require_count(fields, "size", object_name, minimum=1),
            sha256=sha256,
            entries=require_count(fields, "entries", object_name),
        )
        if ref.path != catalogue_path(sha256):
            raise MalformedObjectError(object_name, f"catalogue path {ref.path!r} is not its content address")
        if ref.size > max_bytes:
            raise MalformedObjectError(object_name, "the catalogue is larger than the limit")
        return ref


ObjectRef = SegmentRef | ChunkRef | CatalogueRef


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
