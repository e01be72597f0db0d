"""Snapshots: an issuer's whole state at one seq, in chunks of bounded size.

Each chunk is one content-addressed object, so no object approaches a box's limits
however large the issuer. Header line of chunk ``index`` (from 0)::

    {"chain":..,"format":2,"index":..,"issuer":..,"records":..,"seq":..,"type":"sehat/snapshot-chunk"}

then ``records`` binary rows (``verifier.rows``). Rows are in strictly increasing
lookup-id order within a chunk and from one chunk to the next, so a box streams
them into its store in key order and no row can appear twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from verifier.canonical import require, require_count, require_fields, require_hex
from verifier.errors import ChainGapError, MalformedObjectError, WrongIssuerError
from verifier.limits import DEFAULT_LIMITS, FeedLimits
from verifier.objects import ChunkRef, SnapshotRef
from verifier.rows import Row, encode_header, encode_row, read_header, read_rows

CHUNK_TYPE = "sehat/snapshot-chunk"
SNAPSHOT_FORMAT = 2


def chunk_header(issuer: str, seq: int, chain: str, index: int, records: int) -> bytes:
    """The first line of a snapshot chunk."""
    fields: dict[str, Any] = {
        "type": CHUNK_TYPE,
        "format": SNAPSHOT_FORMAT,
        "issuer": issuer,
        "seq": seq,
        "chain": chain,
        "index": index,
        "records": records,
    }
    return encode_header(fields)


def snapshot_row(row: Row) -> bytes:
    """One row of a snapshot chunk."""
    return encode_row(row.lookup_id, row.box)


def parse_chunk(
    stream: BinaryIO,
    snapshot: SnapshotRef,
    chunk: ChunkRef,
    issuer: str,
    after: bytes | None,
    limits: FeedLimits = DEFAULT_LIMITS,
) -> Iterator[Row]:
    """Stream the rows of one chunk whose size and hash were already checked.

    Args:
        after: the last lookup id of the chunk before (``None`` for the first), so
            the order holds across chunks.

    Raises:
        MalformedObjectError, WrongIssuerError, ChainGapError.
    """
    name = chunk.name
    header = read_header(stream, name, limits)
    require_fields(header, {"type", "format", "issuer", "seq", "chain", "index", "records"}, name)
    if header["type"] != CHUNK_TYPE or header["format"] != SNAPSHOT_FORMAT:
        raise MalformedObjectError(name, "not a snapshot chunk of a known format")
    if require(header, "issuer", str, name) != issuer:
        raise WrongIssuerError(name, f"belongs to issuer {header['issuer']!r}")
    if require_count(header, "seq", name) != snapshot.seq or require_hex(header, "chain", 64, name) != snapshot.chain:
        raise ChainGapError(name, "its seq or chain differs from the head's listing")
    if require_count(header, "index", name) != chunk.index or require_count(header, "records", name) != chunk.records:
        raise MalformedObjectError(name, "its place or record count differs from the head's listing")
    count = 0
    previous = after
    for lookup_id, box in read_rows(stream, name, limits):
        if previous is not None and lookup_id <= previous:
            raise MalformedObjectError(name, "rows are not in strictly increasing id order")
        previous = lookup_id
        count += 1
        if count > chunk.records:
            raise MalformedObjectError(name, "holds more rows than announced")
        yield Row(lookup_id=lookup_id, box=box)
    if count != chunk.records:
        raise MalformedObjectError(name, f"holds {count} rows, announced {chunk.records}")
