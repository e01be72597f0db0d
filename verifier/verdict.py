"""The verdict: what a box answers about a code, and how sure it can be.

Every verdict is "as of" the replica's data. ``not_found`` means "not in this
box's data as of <date>" — a code issued since cannot be confirmed offline — and
never "fake". A ``valid`` from a stale replica (its signed head expired) carries
``stale: true``: valid as of that date, revocations since unknown, as RFC 5280
treats a verifier without a current CRL.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from verifier.canonical import format_timestamp
from verifier.errors import InputError
from verifier.national_id import mask_national_id
from verifier.records import RecordPayload, Revocation, Supersession


class Status(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    NOT_FOUND = "not_found"
    INVALID_FORMAT = "invalid_format"


class Finding(enum.StrEnum):
    """What a person must take from a verdict — one look, one meaning.

    The contract's ``status`` stays as it is; the finding adds the two outcomes a
    status alone hides: a genuine document whose holder is someone else (``valid``
    with a national ID that does not match), and a box that has no data at all
    (``not_found`` before the first sync), which says nothing about the code.
    """

    VALID = "valid"
    MISMATCH = "mismatch"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    NOT_FOUND = "not_found"
    NO_DATA = "no_data"
    INVALID_FORMAT = "invalid_format"


@dataclass(frozen=True)
class IssuerInfo:
    issuer: str
    name_fa: str
    name_en: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.issuer, "name_fa": self.name_fa, "name_en": self.name_en}


@dataclass(frozen=True)
class ReplicaInfo:
    """How current the data behind a verdict is."""

    seq: int
    as_of: datetime | None  # None: the box has never held this data
    stale: bool

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "as_of": format_timestamp(self.as_of) if self.as_of else None, "stale": self.stale}


@dataclass(frozen=True)
class HolderView:
    name: str
    national_id_masked: str
    national_id_match: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "national_id_masked": self.national_id_masked,
            "national_id_match": self.national_id_match,
        }


@dataclass(frozen=True)
class Verdict:
    status: Status
    code: str | None
    checked_at: datetime
    issuer: IssuerInfo | None = None
    document: dict[str, str] | None = None
    holder: HolderView | None = None
    revocation: Revocation | None = None
    superseded_by: Supersession | None = None
    replica: ReplicaInfo | None = None
    error: InputError | None = None

    @property
    def finding(self) -> Finding:
        if self.status is Status.VALID and self.holder is not None and self.holder.national_id_match is False:
            return Finding.MISMATCH
        if self.status is Status.NOT_FOUND and (self.replica is None or self.replica.as_of is None):
            return Finding.NO_DATA
        return Finding(self.status.value)

    @property
    def stale(self) -> bool:
        """The data behind this verdict is past its signed expiry (or there is none)."""
        return self.replica is not None and self.replica.stale

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON shape."""
        body: dict[str, Any] = {
            "status": self.status.value,
            "code": self.code,
            "issuer": self.issuer.to_dict() if self.issuer else None,
            "document": self.document,
            "holder": self.holder.to_dict() if self.holder else None,
            "revocation": self.revocation.to_dict() if self.revocation else None,
            "superseded_by": self.superseded_by.to_dict() if self.superseded_by else None,
            "replica": self.replica.to_dict() if self.replica else None,
            "checked_at": format_timestamp(self.checked_at),
        }
        if self.error is not None:
            body["error"] = self.error.as_dict()
        return body


def verdict_for_record(
    code: str,
    payload: RecordPayload,
    issuer: IssuerInfo,
    replica: ReplicaInfo,
    checked_at: datetime,
    asked_national_id: str | None = None,
) -> Verdict:
    """The verdict for a code whose sealed record was found and opened.

    Args:
        asked_national_id: the normalised national ID the asker typed, if any;
            the verdict then says whether it matches the record's.
    """
    return Verdict(
        status=Status(payload.status),
        code=code,
        checked_at=checked_at,
        issuer=issuer,
        document=payload.document.to_dict(),
        holder=HolderView(
            name=payload.holder_name,
            national_id_masked=mask_national_id(payload.national_id),
            national_id_match=None if asked_national_id is None else asked_national_id == payload.national_id,
        ),
        revocation=payload.revocation,
        superseded_by=payload.superseded_by,
        replica=replica,
    )


def verdict_not_found(code: str, replica: ReplicaInfo, checked_at: datetime) -> Verdict:
    """Not in this box's data as of ``replica.as_of``; never a claim that the code is fake."""
    return Verdict(status=Status.NOT_FOUND, code=code, checked_at=checked_at, replica=replica)


def verdict_invalid_format(error: InputError, checked_at: datetime) -> Verdict:
    """Input that is not a code: a format error, never a "not found"."""
    return Verdict(status=Status.INVALID_FORMAT, code=None, checked_at=checked_at, error=error)
