"""The record a sealed box holds: document, holder, and what happened to it since.

The payload is compact UTF-8 JSON with sorted keys, padded with spaces to a multiple of
``PAYLOAD_PADDING`` bytes, so a box's length says little about the name inside.
Status is not stored: it follows from the revocation and supersession fields, so
a record cannot claim to be both valid and revoked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from verifier.canonical import require, require_fields
from verifier.errors import MalformedObjectError

PAYLOAD_FORMAT = 1
PAYLOAD_PADDING = 128

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


def _text(fields: dict[str, Any], key: str) -> str:
    value = require(fields, key, str, _NAME)
    return str(value)


def _iso_date(fields: dict[str, Any], key: str) -> str:
    value = _text(fields, key)
    try:
        date.fromisoformat(value)
    except ValueError as error:
        raise MalformedObjectError(_NAME, f"{key} is not an ISO date") from error
    return value


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

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> Document:
        require_fields(fields, {"type", "degree_level", "field", "institution", "issued_on"}, _NAME)
        document_type = _text(fields, "type")
        if document_type not in DOCUMENT_TYPES:
            raise MalformedObjectError(_NAME, f"unknown document type {document_type!r}")
        return cls(
            document_type=document_type,
            degree_level=_text(fields, "degree_level"),
            field=_text(fields, "field"),
            institution=_text(fields, "institution"),
            issued_on=_iso_date(fields, "issued_on"),
        )


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

    def to_bytes(self) -> bytes:
        """Canonical JSON, space-padded to a multiple of ``PAYLOAD_PADDING``."""
        # UTF-8 rather than canonical ASCII JSON: Persian text escaped as \uXXXX would
        # triple the payload, and the payload is sealed, never signed or compared.
        body = json.dumps(
            {
                "format": PAYLOAD_FORMAT,
                "document": self.document.to_dict(),
                "holder": {"name": self.holder_name, "national_id": self.national_id},
                "revocation": self.revocation.to_dict() if self.revocation else None,
                "superseded_by": self.superseded_by.to_dict() if self.superseded_by else None,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")
        padding = -len(body) % PAYLOAD_PADDING
        return body + b" " * padding

    @classmethod
    def from_bytes(cls, data: bytes) -> RecordPayload:
        try:
            fields = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise MalformedObjectError(_NAME, "not valid JSON") from error
        if not isinstance(fields, dict):
            raise MalformedObjectError(_NAME, "not a JSON object")
        require_fields(fields, {"format", "document", "holder", "revocation", "superseded_by"}, _NAME)
        if fields["format"] != PAYLOAD_FORMAT:
            raise MalformedObjectError(_NAME, f"unknown payload format {fields['format']!r}")
        holder = require(fields, "holder", dict, _NAME)
        require_fields(holder, {"name", "national_id"}, _NAME)
        revocation = fields["revocation"]
        superseded = fields["superseded_by"]
        if revocation is not None:
            if not isinstance(revocation, dict):
                raise MalformedObjectError(_NAME, "revocation is not an object")
            require_fields(revocation, {"reason", "revoked_on"}, _NAME)
        if superseded is not None:
            if not isinstance(superseded, dict):
                raise MalformedObjectError(_NAME, "superseded_by is not an object")
            require_fields(superseded, {"document_type", "issued_on", "code_hint"}, _NAME)
        return cls(
            document=Document.from_dict(require(fields, "document", dict, _NAME)),
            holder_name=_text(holder, "name"),
            national_id=_text(holder, "national_id"),
            revocation=(
                Revocation(reason=_text(revocation, "reason"), revoked_on=_iso_date(revocation, "revoked_on"))
                if revocation
                else None
            ),
            superseded_by=(
                Supersession(
                    document_type=_text(superseded, "document_type"),
                    issued_on=_iso_date(superseded, "issued_on"),
                    code_hint=_text(superseded, "code_hint"),
                )
                if superseded
                else None
            ),
        )
