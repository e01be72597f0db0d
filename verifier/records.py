"""The record a sealed box holds: document, holder, and what happened to it since.

The payload is a compact UTF-8 JSON array (format 2)::

    [2, type, degree_level, field, institution, "issued_on", "holder name", "national id",
     null | ["reason", "revoked_on"], null | [type, "issued_on", "…1234"]]

``type`` is the position in ``DOCUMENT_TYPES``; degree level, field and institution
are positions in the issuer's published catalogue (``verifier.catalogue``): public
names are published once, not in every sealed record. The array is padded with
spaces to a bucket — a multiple of ``PAYLOAD_PADDING`` bytes, at least
``PAYLOAD_MIN_BYTES`` — so a box's length says little about the name inside.
Status is not stored: it follows from the revocation and supersession fields, so
a record cannot claim to be both valid and revoked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from verifier.catalogue import Catalogue
from verifier.errors import MalformedObjectError

PAYLOAD_FORMAT = 2
PAYLOAD_PADDING = 64
PAYLOAD_MIN_BYTES = 128  # one bucket for every name up to about 28 Persian letters

DOCUMENT_TYPES: tuple[str, ...] = ("diploma", "provisional", "transcript", "confirmation", "enrolment")

DOCUMENT_TYPE_NAMES_FA: dict[str, str] = {
    "diploma": "دانشنامه",
    "provisional": "گواهینامه موقت",
    "transcript": "ریزنمرات",
    "confirmation": "تأییدیه تحصیلی",
    "enrolment": "گواهی اشتغال به تحصیل",
}

DOCUMENT_TYPE_NAMES_EN: dict[str, str] = {
    "diploma": "Diploma",
    "provisional": "Provisional certificate",
    "transcript": "Transcript",
    "confirmation": "Academic confirmation",
    "enrolment": "Certificate of enrolment",
}

_NAME = "record payload"


CataloguePosition = Callable[[str, str], int]
"""``(kind, name) -> position`` in the issuer's catalogue: how a registry encodes a payload."""


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise MalformedObjectError(_NAME, f"{what} is not a text")
    return value


def _iso_date(value: Any, what: str) -> str:
    text = _text(value, what)
    if len(text) != 10:
        raise MalformedObjectError(_NAME, f"{what} is not an ISO date")
    try:
        if date.fromisoformat(text).isoformat() != text:
            raise ValueError(text)
    except ValueError as error:
        raise MalformedObjectError(_NAME, f"{what} is not an ISO date") from error
    return text


def _position(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedObjectError(_NAME, f"{what} is not a position")
    return value


def _document_type(value: Any) -> str:
    position = _position(value, "document type")
    if position >= len(DOCUMENT_TYPES):
        raise MalformedObjectError(_NAME, f"unknown document type {position}")
    return DOCUMENT_TYPES[position]


@dataclass(frozen=True)
class Document:
    """The document a code was printed on."""

    document_type: str
    degree_level: str
    field: str
    institution: str
    issued_on: str

    def to_dict(self) -> dict[str, str]:
        return {
            "type": self.document_type,
            "degree_level": self.degree_level,
            "field": self.field,
            "institution": self.institution,
            "issued_on": self.issued_on,
        }


@dataclass(frozen=True)
class Revocation:
    reason: str
    revoked_on: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "revoked_on": self.revoked_on}


@dataclass(frozen=True)
class Supersession:
    """The newer document that replaced this one; its code is shown only by its last digits."""

    document_type: str
    issued_on: str
    code_hint: str

    def to_dict(self) -> dict[str, str]:
        return {"document_type": self.document_type, "issued_on": self.issued_on, "code_hint": self.code_hint}


@dataclass(frozen=True)
class RecordPayload:
    """Everything a box reveals to the holder of its code."""

    document: Document
    holder_name: str
    national_id: str
    revocation: Revocation | None = None
    superseded_by: Supersession | None = None

    @property
    def status(self) -> str:
        if self.revocation is not None:
            return "revoked"
        if self.superseded_by is not None:
            return "superseded"
        return "valid"

    def revoked(self, reason: str, revoked_on: str) -> RecordPayload:
        return replace(self, revocation=Revocation(reason=reason, revoked_on=revoked_on))

    def to_bytes(self, position: CataloguePosition) -> bytes:
        """The padded format-2 array, public names replaced by their catalogue positions."""
        document = self.document
        fields: list[Any] = [
            PAYLOAD_FORMAT,
            DOCUMENT_TYPES.index(document.document_type),
            position("degree_levels", document.degree_level),
            position("fields", document.field),
            position("institutions", document.institution),
            document.issued_on,
            self.holder_name,
            self.national_id,
            [self.revocation.reason, self.revocation.revoked_on] if self.revocation else None,
            (
                [
                    DOCUMENT_TYPES.index(self.superseded_by.document_type),
                    self.superseded_by.issued_on,
                    self.superseded_by.code_hint,
                ]
                if self.superseded_by
                else None
            ),
        ]
        # UTF-8 rather than ASCII escapes: Persian text as \uXXXX would triple the payload.
        body = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        size = max(PAYLOAD_MIN_BYTES, len(body) + -len(body) % PAYLOAD_PADDING)
        return body + b" " * (size - len(body))

    @classmethod
    def from_bytes(cls, data: bytes, catalogue: Catalogue) -> RecordPayload:
        """Read a payload, resolving its catalogue positions.

        Raises:
            MalformedObjectError: not a format-2 payload, or a position the catalogue lacks.
        """
        try:
            fields = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise MalformedObjectError(_NAME, "not valid JSON") from error
        if not isinstance(fields, list) or len(fields) != 10:
            raise MalformedObjectError(_NAME, "not a payload array of ten fields")
        if fields[0] != PAYLOAD_FORMAT or isinstance(fields[0], bool):
            raise MalformedObjectError(_NAME, f"unknown payload format {fields[0]!r}")
        _, kind, level, field, institution, issued_on, name, national_id, revocation, superseded = fields
        if revocation is not None and not (isinstance(revocation, list) and len(revocation) == 2):
            raise MalformedObjectError(_NAME, "revocation is not a pair")
        if superseded is not None and not (isinstance(superseded, list) and len(superseded) == 3):
            raise MalformedObjectError(_NAME, "superseded_by is not a triple")
        return cls(
            document=Document(
                document_type=_document_type(kind),
                degree_level=catalogue.name("degree_levels", _position(level, "degree level")),
                field=catalogue.name("fields", _position(field, "field")),
                institution=catalogue.name("institutions", _position(institution, "institution")),
                issued_on=_iso_date(issued_on, "issued_on"),
            ),
            holder_name=_text(name, "holder name"),
            national_id=_text(national_id, "national ID"),
            revocation=(
                Revocation(reason=_text(revocation[0], "reason"), revoked_on=_iso_date(revocation[1], "revoked_on"))
                if revocation is not None
                else None
            ),
            superseded_by=(
                Supersession(
                    document_type=_document_type(superseded[0]),
                    issued_on=_iso_date(superseded[1], "issued_on"),
                    code_hint=_text(superseded[2], "code hint"),
                )
                if superseded is not None
                else None
            ),
        )
