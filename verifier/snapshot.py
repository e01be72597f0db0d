"""Snapshots: an issuer's whole state at one seq, rows sorted by lookup id.

Header line::

    {"chain":..,"format":1,"issuer":..,"records":..,"seq":..,"type":"sehat/snapshot"}

then ``records`` lines ``{"box":..,"id":..}`` in strictly increasing id order, so a
new box can stream the file into its store and compute the state digest as it goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from verifier.canonical import require, require_count, require_fields, require_hex
from verifier.errors import ChainGapError, MalformedObjectError, WrongIssuerError
from verifier.limits import DEFAULT_LIMITS, FeedLimits
from verifier.objects import SnapshotRef
from verifier.rows import Row, decode_row_fields, encode_line, encode_row_fields, split_lines

SNAPSHOT_TYPE = "sehat/snapshot"
SNAPSHOT_FORMAT = 1


def snapshot_header(issuer: str, seq: int, chain: str, records: int) -> bytes:
    """The first line of a snapshot file."""
    fields: dict[str, Any] = {
        "type": SNAPSHOT_TYPE,
        "format": SNAPSHOT_FORMAT,
        "issuer": issuer,
        "seq": seq,
        "chain": chain,
        "records": records,
    }
    return encode_line(fields)


def snapshot_row(row: Row) -> bytes:
    """One row line of a snapshot file."""
    return encode_line(encode_row_fields(row.lookup_id, row.box))


def parse_snapshot(
    lines: Iterable[bytes], ref: SnapshotRef, issuer: str, limits: FeedLimits = DEFAULT_LIMITS
) -> Iterator[Row]:
    """Stream the rows of a snapshot whose size and hash were already checked.

    Raises:
        MalformedObjectError, WrongIssuerError, ChainGapError.
    """
    name = ref.name
    rows = split_lines(lines, name, limits)
    header = next(rows, None)
    if header is None:
        raise MalformedObjectError(name, "empty snapshot")
    require_fields(header, {"type", "format", "issuer", "seq", "chain", "records"}, name)
    if header["type"] != SNAPSHOT_TYPE or header["format"] != SNAPSHOT_FORMAT:
        raise MalformedObjectError(name, "not a snapshot of a known format")
    if require(header, "issuer", str, name) != issuer:
        raise WrongIssuerError(name, f"belongs to issuer {header['issuer']!r}")
    if require_count(header, "seq", name) != ref.seq or require_hex(header, "chain", 64, name) != ref.chain:
        raise ChainGapError(name, "its seq or chain differs from the head's listing")
    if require_count(header, "records", name) != ref.records:
        raise MalformedObjectError(name, "its record count differs from the head's listing")
    count = 0
    previous: bytes | None = None
    for fields in rows:
        require_fields(fields, {"id", "box"}, name)
        lookup_id, box = decode_row_fields(fields, name, limits)
        if previous is not None and lookup_id <= previous:
            raise MalformedObjectError(name, "rows are not in strictly increasing id order")
        previous = lookup_id
        count += 1
        if count > ref.records:
            raise MalformedObjectError(name, "holds more rows than announced")
        yield Row(lookup_id=lookup_id, box=box)
    if count != ref.records:
        raise MalformedObjectError(name, f"holds {count} rows, announced {ref.records}")
