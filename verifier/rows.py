"""The line format shared by segments and snapshots: one canonical JSON object a line.

Both files are a header line followed by one line per row, so a box can stream
them without holding a whole file in memory, and an operator can inspect one
with ``head`` — there is nothing in them to read without the codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from verifier.canonical import b64decode, b64encode, canonical_json, parse_json_object, require_hex
from verifier.errors import MalformedObjectError
from verifier.limits import FeedLimits
from verifier.sealing import LOOKUP_ID_BYTES


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


def encode_line(fields: dict[str, Any]) -> bytes:
    return canonical_json(fields) + b"\n"


def encode_row_fields(lookup_id: bytes, box: bytes) -> dict[str, Any]:
    return {"id": lookup_id.hex(), "box": b64encode(box)}


def split_lines(lines: Iterable[bytes], object_name: str, limits: FeedLimits) -> Iterator[dict[str, Any]]:
    """Decode each newline-terminated line into a JSON object, within the line limit."""
    for line in lines:
        if len(line) > limits.max_line_bytes:
            raise MalformedObjectError(object_name, "a line exceeds the line limit")
        if not line.endswith(b"\n"):
            raise MalformedObjectError(object_name, "truncated: the last line has no newline")
        fields = parse_json_object(line[:-1], object_name)
        if encode_line(fields) != line:
            raise MalformedObjectError(object_name, "a line is not in canonical form")
        yield fields


def decode_row_fields(fields: dict[str, Any], object_name: str, limits: FeedLimits) -> tuple[bytes, bytes]:
    lookup_id = bytes.fromhex(require_hex(fields, "id", 2 * LOOKUP_ID_BYTES, object_name))
    box = b64decode(fields.get("box"), object_name, "box")
    if not 0 < len(box) <= limits.max_box_bytes:
        raise MalformedObjectError(object_name, "a box is empty or larger than the limit")
    return lookup_id, box
