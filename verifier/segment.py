"""Segments: an issuer's changes ``first_seq..last_seq``, in order, chained to the past.

Header line::

    {"first_seq":..,"format":2,"issuer":..,"last_seq":..,"prev_chain":..,"type":"sehat/segment"}

then exactly ``last_seq - first_seq + 1`` binary rows (``verifier.rows``), the change
with seq ``first_seq + i`` being row ``i``. The segment's chain value is
``next_chain(prev_chain, sha256(file))``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from verifier.canonical import require, require_count, require_fields, require_hex
from verifier.chain import next_chain
from verifier.errors import ChainGapError, MalformedObjectError, WrongIssuerError
from verifier.limits import DEFAULT_LIMITS, FeedLimits
from verifier.objects import SegmentRef, segment_path
from verifier.rows import Change, encode_header, encode_row, read_header, read_rows

SEGMENT_TYPE = "sehat/segment"
SEGMENT_FORMAT = 2


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
    data = encode_header(header) + b"".join(encode_row(change.lookup_id, change.box) for change in changes)
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
    stream: BinaryIO, ref: SegmentRef, issuer: str, limits: FeedLimits = DEFAULT_LIMITS
) -> Iterator[Change]:
    """Stream the changes of a segment whose size and hash were already checked.

    The header must agree with the head's reference (issuer, range, predecessor) and
    the rows must be exactly as many as the range. Errors surface while iterating,
    so callers apply inside a transaction they can roll back.

    Raises:
        MalformedObjectError, WrongIssuerError, ChainGapError.
    """
    name = ref.name
    header = read_header(stream, name, limits)
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
    seq = ref.first_seq
    for lookup_id, box in read_rows(stream, name, limits):
        if seq > ref.last_seq:
            raise MalformedObjectError(name, f"holds more changes than its range {ref.first_seq}–{ref.last_seq}")
        yield Change(seq=seq, lookup_id=lookup_id, box=box)
        seq += 1
    if seq != ref.last_seq + 1:
        raise MalformedObjectError(name, f"ends at change {seq - 1}, announced {ref.last_seq}")
