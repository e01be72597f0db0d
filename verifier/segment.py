"""Segments: an issuer's changes ``first_seq..last_seq``, one per line, chained to the past.

Header line::

    {"first_seq":..,"format":1,"issuer":..,"last_seq":..,"prev_chain":..,"type":"sehat/segment"}

then exactly ``last_seq - first_seq + 1`` lines ``{"box":..,"id":..,"seq":..}`` with
consecutive ``seq``. The segment's chain value is ``next_chain(prev_chain, sha256(file))``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence

from verifier.canonical import require, require_count, require_fields, require_hex
from verifier.chain import next_chain
from verifier.errors import ChainGapError, MalformedObjectError, WrongIssuerError
from verifier.limits import DEFAULT_LIMITS, FeedLimits
from verifier.objects import SegmentRef, segment_path
from verifier.rows import Change, decode_row_fields, encode_line, encode_row_fields, split_lines

SEGMENT_TYPE = "sehat/segment"
SEGMENT_FORMAT = 1


def encode_segment(issuer: str, prev_chain: str, changes: Sequence[Change]) -> tuple[bytes, SegmentRef]:
    """Build a segment file from consecutive changes, and the reference a head lists.

    Args:
        issuer: the issuer id.
        prev_chain: the chain value after the change before ``changes[0]``.
        changes: at least one change, with consecutive ``seq``.
    """
    if not changes:
        raise ValueError("a segment holds at least one change")
    first, last = changes[0].seq, changes[-1].seq
    if [change.seq for change in changes] != list(range(first, last + 1)):
        raise ValueError("segment changes must have consecutive seq")
    header = {
        "type": SEGMENT_TYPE,
        "format": SEGMENT_FORMAT,
        "issuer": issuer,
        "first_seq": first,
        "last_seq": last,
        "prev_chain": prev_chain,
    }
    parts = [encode_line(header)]
    parts.extend(
        encode_line({"seq": change.seq, **encode_row_fields(change.lookup_id, change.box)}) for change in changes
    )
    data = b"".join(parts)
    sha256 = hashlib.sha256(data).hexdigest()
    ref = SegmentRef(
        path=segment_path(sha256),
        size=len(data),
        sha256=sha256,
        first_seq=first,
        last_seq=last,
        prev_chain=prev_chain,
        chain=next_chain(prev_chain, sha256),
    )
    return data, ref


def parse_segment(
    lines: Iterable[bytes], ref: SegmentRef, issuer: str, limits: FeedLimits = DEFAULT_LIMITS
) -> Iterator[Change]:
    """Stream the changes of a segment whose size and hash were already checked.

    The header must agree with the head's reference (issuer, range, predecessor),
    rows must carry exactly the announced consecutive seq. Errors surface while
    iterating, so callers apply inside a transaction they can roll back.

    Raises:
        MalformedObjectError, WrongIssuerError, ChainGapError.
    """
    name = ref.name
    rows = split_lines(lines, name, limits)
    header = next(rows, None)
    if header is None:
        raise MalformedObjectError(name, "empty segment")
    require_fields(header, {"type", "format", "issuer", "first_seq", "last_seq", "prev_chain"}, name)
    if header["type"] != SEGMENT_TYPE or header["format"] != SEGMENT_FORMAT:
        raise MalformedObjectError(name, "not a segment of a known format")
    if require(header, "issuer", str, name) != issuer:
        raise WrongIssuerError(name, f"belongs to issuer {header['issuer']!r}")
    if (
        require_count(header, "first_seq", name) != ref.first_seq
        or require_count(header, "last_seq", name) != ref.last_seq
    ):
        raise MalformedObjectError(name, "its range differs from the head's listing")
    if require_hex(header, "prev_chain", 64, name) != ref.prev_chain:
        raise ChainGapError(name, "does not chain to the predecessor the head names")
    expected = ref.first_seq
    for fields in rows:
        require_fields(fields, {"seq", "id", "box"}, name)
        seq = require_count(fields, "seq", name)
        if seq != expected or seq > ref.last_seq:
            raise ChainGapError(name, f"change {seq} out of sequence (expected {expected})")
        lookup_id, box = decode_row_fields(fields, name, limits)
        yield Change(seq=seq, lookup_id=lookup_id, box=box)
        expected += 1
    if expected != ref.last_seq + 1:
        raise MalformedObjectError(name, f"ends at change {expected - 1}, announced {ref.last_seq}")
