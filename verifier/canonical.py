"""Canonical JSON and strict decoding: the byte form everything signed or hashed takes.

Signatures and hashes are over bytes, so two programs must turn the same object
into the same bytes: keys sorted, no insignificant white space, ASCII only,
integers and strings only (no floats). Decoding is strict for the same reason:
duplicate keys, floats and NaN are refused rather than silently resolved.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from verifier.errors import MalformedObjectError
from verifier.limits import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_INTEGER


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise ValueError("canonical JSON has no floating-point numbers")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)


def canonical_json(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON bytes (sorted keys, compact, ASCII, no floats).

    Raises:
        ValueError: ``value`` holds a float, which no reader would accept.
    """
    _refuse_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _refuse_float(text: str) -> Any:
    raise ValueError(f"floating-point number {text!r} is not allowed")


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not allowed")


def parse_json_object(data: bytes, object_name: str) -> dict[str, Any]:
    """Decode bytes that must hold one JSON object, strictly.

    Raises:
        MalformedObjectError: not UTF-8, not JSON, not an object, or uses
            duplicate keys, floats or NaN.
    """
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_refuse_duplicates,
            parse_float=_refuse_float,
            parse_constant=_refuse_constant,
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedObjectError(object_name, f"not valid JSON ({error})") from error
    except RecursionError as error:
        raise MalformedObjectError(object_name, "nested too deeply") from error
    if not isinstance(value, dict):
        raise MalformedObjectError(object_name, "not a JSON object")
    return value


def b64encode(data: bytes) -> str:
    """Standard base64 with padding, as text."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: Any, object_name: str, field: str) -> bytes:
    """Decode strict base64, naming the object and field on failure."""
    if not isinstance(text, str):
        raise MalformedObjectError(object_name, f"{field} is not a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise MalformedObjectError(object_name, f"{field} is not valid base64") from error


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the second: the only timestamp form in the feed."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: Any, object_name: str, field: str) -> datetime:
    """Parse a feed timestamp (``YYYY-MM-DDTHH:MM:SSZ``) into an aware datetime."""
    if not isinstance(text, str):
        raise MalformedObjectError(object_name, f"{field} is not a timestamp")
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as error:
        raise MalformedObjectError(object_name, f"{field} is not a UTC timestamp") from error
    if not EARLIEST_TIMESTAMP <= moment < LATEST_TIMESTAMP:
        raise MalformedObjectError(object_name, f"{field} is outside the years a feed can name")
    return moment


def require(mapping: dict[str, Any], field: str, kind: type | tuple[type, ...], object_name: str) -> Any:
    """Fetch ``field`` of the expected type, or name what is wrong."""
    if field not in mapping:
        raise MalformedObjectError(object_name, f"{field} is missing")
    value = mapping[field]
    if isinstance(value, bool) and kind is not bool:
        raise MalformedObjectError(object_name, f"{field} has the wrong type")
    if not isinstance(value, kind):
        raise MalformedObjectError(object_name, f"{field} has the wrong type")
    return value


def field_problems(mapping: dict[str, Any], expected: set[str] | frozenset[str]) -> str | None:
    """What is missing or unexpected in ``mapping``'s fields, or None when they are exactly ``expected``."""
    keys = set(mapping)
    if keys == expected:
        return None
    problems = []
    if expected - keys:
        problems.append("missing " + ", ".join(sorted(expected - keys)))
    if keys - expected:
        problems.append("unexpected " + ", ".join(sorted(keys - expected)))
    return "; ".join(problems)


def require_fields(mapping: dict[str, Any], expected: set[str], object_name: str) -> None:
    """Refuse unknown or missing fields, so a signed object means exactly one thing."""
    problems = field_problems(mapping, expected)
    if problems is not None:
        raise MalformedObjectError(object_name, problems)


def require_hex(mapping: dict[str, Any], field: str, length: int, object_name: str) -> str:
    """Fetch a lowercase hex string of exactly ``length`` characters."""
    value = require(mapping, field, str, object_name)
    if len(value) != length or any(char not in "0123456789abcdef" for char in value):
        raise MalformedObjectError(object_name, f"{field} is not {length} lowercase hex digits")
    return value


def require_count(mapping: dict[str, Any], field: str, object_name: str, minimum: int = 0) -> int:
    """Fetch a non-negative integer (sequence numbers, sizes, counts), at most ``MAX_INTEGER``."""
    value = require(mapping, field, int, object_name)
    if value < minimum:
        raise MalformedObjectError(object_name, f"{field} is below {minimum}")
    if value > MAX_INTEGER:
        raise MalformedObjectError(object_name, f"{field} is beyond any sane count")
    return int(value)
