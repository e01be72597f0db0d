"""The file format shared by segments and snapshot chunks: a JSON header line, then binary rows.

The header is one canonical JSON object and a newline, so an operator can read it
with ``head -1``. Each row after it is::

    lookup_id (16 bytes) ‖ box length (2 bytes, big-endian) ‖ box

— 18 bytes of framing around the sealed box, where JSON lines with hex ids and
base64 boxes took about 100. There is nothing in a row to read without its code.
Rows are parsed from a stream in blocks, so an object of any size is read in
bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from verifier.canonical import canonical_json, parse_json_object
from verifier.errors import MalformedObjectError
from verifier.limits import FeedLimits
from verifier.sealing import LOOKUP_ID_BYTES

ROW_FRAMING = LOOKUP_ID_BYTES + 2
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Row:
    """One sealed record: its lookup id and its box."""

    lookup_id: bytes
    box: bytes


@dataclass(frozen=True)
class Change:
    """One change of an issuer's state: row ``lookup_id`` now holds ``box``, as of ``seq``."""

    seq: int
    lookup_id: bytes
    box: bytes


def encode_header(fields: dict[str, Any]) -> bytes:
    return canonical_json(fields) + b"\n"


def encode_row(lookup_id: bytes, box: bytes) -> bytes:
    if len(lookup_id) != LOOKUP_ID_BYTES or not 0 < len(box) < 1 << 16:
        raise ValueError("a row is a 16-byte lookup id and a box of 1–65535 bytes")
    return lookup_id + len(box).to_bytes(2, "big") + box


def read_header(stream: BinaryIO, object_name: str, limits: FeedLimits) -> dict[str, Any]:
    """Read and check the header line: canonical JSON, newline-terminated, within the line limit."""
    line = stream.readline(limits.max_line_bytes + 1)
    if not line:
        raise MalformedObjectError(object_name, "empty object")
    if len(line) > limits.max_line_bytes:
        raise MalformedObjectError(object_name, "the header exceeds the line limit")
    if not line.endswith(b"\n"):
        raise MalformedObjectError(object_name, "truncated: the header has no newline")
    fields = parse_json_object(line[:-1], object_name)
    if encode_header(fields) != line:
        raise MalformedObjectError(object_name, "the header is not in canonical form")
    return fields


def read_rows(stream: BinaryIO, object_name: str, limits: FeedLimits) -> Iterator[tuple[bytes, bytes]]:
    """Stream ``(lookup_id, box)`` pairs until the end of the object.

    Raises (while iterating):
        MalformedObjectError: a box empty or over the limit, or a row cut short.
    """
    buffer = b""
    offset = 0
    max_box = limits.max_box_bytes
    while True:
        while len(buffer) - offset < ROW_FRAMING + max_box and (block := stream.read(_BLOCK)):
            buffer = buffer[offset:] + block
            offset = 0
        if offset == len(buffer):
            return
        if len(buffer) - offset < ROW_FRAMING:
            raise MalformedObjectError(object_name, "truncated: a row is cut short")
        end_id = offset + LOOKUP_ID_BYTES
        size = int.from_bytes(buffer[end_id : end_id + 2], "big")
        if not 0 < size <= max_box:
            raise MalformedObjectError(object_name, "a box is empty or larger than the limit")
        start = end_id + 2
        if len(buffer) - start < size:
            raise MalformedObjectError(object_name, "truncated: a box is cut short")
        yield buffer[offset:end_id], buffer[start : start + size]
        offset = start + size
