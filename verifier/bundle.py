"""Offline bundles: a head and the objects it lists, in one file for a USB stick.

Layout (every byte is accounted for, so any flipped byte is caught)::

    SEHAT-BUNDLE 2\\n
    head <size>\\n<head bytes>\\n
    catalogue <sha256> <size>\\n<bytes>\\n      (at most one: the issuer's catalogue)
    chunk <sha256> <size>\\n<bytes>\\n          (the chunks of at most one snapshot)
    segment <sha256> <size>\\n<bytes>\\n        (zero or more segments; any order)
    end <object count>\\n

The head is the signed head, verified exactly as if it had been downloaded; each
object must be one the head lists, with the listed size and hash. Parsing takes a
seekable binary stream and skips over object bodies, so a bundle of any size is
indexed without reading it into memory; the bodies are hashed afterwards from
their offsets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from verifier.errors import MalformedObjectError
from verifier.head import Head
from verifier.limits import DEFAULT_LIMITS, FeedLimits
from verifier.objects import ChunkRef, ObjectRef, SegmentRef

MAGIC = b"SEHAT-BUNDLE 2\n"
_NAME = "bundle"
_MAX_HEADER_LINE = 128


@dataclass(frozen=True)
class BundleEntry:
    """One object inside a bundle: what it claims to be and where its bytes are."""

    kind: str
    sha256: str
    size: int
    offset: int


@dataclass(frozen=True)
class BundleIndex:
    head: bytes
    entries: tuple[BundleEntry, ...]


_KINDS = (b"segment", b"chunk", b"catalogue")


def object_kind(ref: ObjectRef) -> str:
    if isinstance(ref, SegmentRef):
        return "segment"
    return "chunk" if isinstance(ref, ChunkRef) else "catalogue"


def bundle_object_header(ref: ObjectRef) -> bytes:
    return f"{object_kind(ref)} {ref.sha256} {ref.size}\n".encode("ascii")


def encode_bundle_prefix(head: bytes) -> bytes:
    """The bytes before the first object: magic and head."""
    return MAGIC + f"head {len(head)}\n".encode("ascii") + head + b"\n"


def encode_bundle_end(count: int) -> bytes:
    return f"end {count}\n".encode("ascii")


def _read_line(stream: BinaryIO) -> bytes:
    line = stream.readline(_MAX_HEADER_LINE)
    if not line.endswith(b"\n"):
        raise MalformedObjectError(_NAME, "truncated or damaged framing")
    return line[:-1]


def _parse_size(text: bytes, limit: int) -> int:
    if not text.isdigit() or (len(text) > 1 and text.startswith(b"0")):
        raise MalformedObjectError(_NAME, "damaged size field")
    size = int(text)
    if size > limit:
        raise MalformedObjectError(_NAME, "an object is larger than the limit")
    return size


def _expect(stream: BinaryIO, data: bytes, what: str) -> None:
    if stream.read(len(data)) != data:
        raise MalformedObjectError(_NAME, f"damaged or truncated {what}")


def read_bundle_head(stream: BinaryIO, limits: FeedLimits = DEFAULT_LIMITS) -> bytes:
    """Read the magic line and the head, leaving the stream at the first object.

    Raises:
        MalformedObjectError: not a bundle, or its head is damaged or truncated.
    """
    _expect(stream, MAGIC, "magic line (not a Sehat bundle)")
    head_line = _read_line(stream).split(b" ")
    if len(head_line) != 2 or head_line[0] != b"head":
        raise MalformedObjectError(_NAME, "damaged head line")
    head_size = _parse_size(head_line[1], limits.max_head_bytes)
    head = stream.read(head_size)
    if len(head) != head_size:
        raise MalformedObjectError(_NAME, "truncated head")
    _expect(stream, b"\n", "head terminator")
    return head


def index_bundle(stream: BinaryIO, limits: FeedLimits = DEFAULT_LIMITS) -> BundleIndex:
    """Check a bundle's framing and index its contents.

    Raises:
        MalformedObjectError: wrong magic, damaged framing, truncation or trailing bytes.
    """
    stream.seek(0)
    head = read_bundle_head(stream, limits)
    entries: list[BundleEntry] = []
    while True:
        fields = _read_line(stream).split(b" ")
        if fields[0] == b"end" and len(fields) == 2:
            if _parse_size(fields[1], limits.max_bundle_objects) != len(entries):
                raise MalformedObjectError(_NAME, "object count at the end does not match")
            break
        if len(fields) != 3 or fields[0] not in _KINDS:
            raise MalformedObjectError(_NAME, "damaged object header")
        sha256 = fields[1].decode("ascii", errors="replace")
        if len(sha256) != 64 or any(char not in "0123456789abcdef" for char in sha256):
            raise MalformedObjectError(_NAME, "damaged object hash")
        size = _parse_size(fields[2], limits.max_object_bytes)
        offset = stream.tell()
        stream.seek(offset + size)
        entries.append(BundleEntry(kind=fields[0].decode("ascii"), sha256=sha256, size=size, offset=offset))
        if len(entries) > limits.max_bundle_objects:
            raise MalformedObjectError(_NAME, "holds more objects than the limit")
        _expect(stream, b"\n", f"terminator of object {sha256[:12]}")
    if stream.read(1):
        raise MalformedObjectError(_NAME, "trailing bytes after the end line")
    return BundleIndex(head=head, entries=tuple(entries))


def match_bundle_entries(index: BundleIndex, head: Head) -> dict[str, BundleEntry]:
    """Match every bundled object to the head's listing, by hash, kind and size.

    Returns:
        The entries keyed by SHA-256.

    Raises:
        MalformedObjectError: an object the head does not list, or listed differently.
    """
    listed: dict[str, ObjectRef] = {segment.sha256: segment for segment in head.segments}
    if head.snapshot is not None:
        listed.update((chunk.sha256, chunk) for chunk in head.snapshot.chunks)
    if head.catalogue is not None:
        listed[head.catalogue.sha256] = head.catalogue
    matched: dict[str, BundleEntry] = {}
    for entry in index.entries:
        ref = listed.get(entry.sha256)
        if ref is None:
            raise MalformedObjectError(_NAME, f"holds object {entry.sha256[:12]}… that its head does not list")
        if entry.kind != object_kind(ref) or entry.size != ref.size:
            raise MalformedObjectError(_NAME, f"object {ref.name} is framed differently from the head's listing")
        if entry.sha256 in matched:
            raise MalformedObjectError(_NAME, f"holds {ref.name} twice")
        matched[entry.sha256] = entry
    return matched


def bundle_refs(head: Head, since_seq: int | None) -> list[ObjectRef]:
    """Choose which of a head's objects a bundle carries for boxes at ``since_seq``.

    The catalogue always; then deltas when the head lists a segment that starts right
    after ``since_seq``, otherwise the snapshot's chunks and the segments after it.
    ``None`` means a new box.
    """
    catalogue: list[ObjectRef] = [head.catalogue] if head.catalogue is not None else []
    if since_seq is not None:
        for index, segment in enumerate(head.segments):
            if segment.first_seq == since_seq + 1:
                return catalogue + list(head.segments[index:])
        if since_seq == head.seq:
            return catalogue
    snapshot = head.snapshot
    if snapshot is None:
        return catalogue + list(head.segments)
    refs: list[ObjectRef] = [*catalogue, *snapshot.chunks]
    refs.extend(segment for segment in head.segments if segment.first_seq > snapshot.seq)
    return refs


def iter_entry_chunks(stream: BinaryIO, entry: BundleEntry, chunk_size: int = 1 << 16) -> Iterable[bytes]:
    """Read one object's bytes from an indexed bundle, chunk by chunk."""
    stream.seek(entry.offset)
    remaining = entry.size
    while remaining:
        chunk = stream.read(min(chunk_size, remaining))
        if not chunk:
            raise MalformedObjectError(_NAME, "truncated object")
        remaining -= len(chunk)
        yield chunk
