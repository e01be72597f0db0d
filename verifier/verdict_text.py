"""What a verdict says to people, in Persian (Solar Hijri dates, Persian digits) and English.

Every sentence is honest about what a box can know: ``not_found`` is "not in this
box's data as of <date>", never "fake"; a ``valid`` from a stale replica is "valid as
of <date>; revocations since are unknown".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import jdatetime

from verifier.records import DOCUMENT_TYPE_NAMES_EN, DOCUMENT_TYPE_NAMES_FA
from verifier.verdict import Status, Verdict

_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def persian_digits(text: str) -> str:
    return text.translate(_PERSIAN_DIGITS)


def jalali_date(value: date | datetime | str) -> str:
    """A date as Persian readers write it: Solar Hijri, Persian digits (e.g. ۱۴۰۲/۰۶/۳۰)."""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return persian_digits(jdatetime.date.fromgregorian(date=value).strftime("%Y/%m/%d"))


def gregorian_date(value: date | datetime | str) -> str:
    if isinstance(value, str):
        return value[:10]
    return value.strftime("%Y-%m-%d")


@dataclass(frozen=True)
class VerdictText:
    """One verdict's headline and detail, in one language."""

    headline: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"headline": self.headline, "detail": self.detail}


def describe_fa(verdict: Verdict) -> VerdictText:
    replica = verdict.replica
    as_of = jalali_date(replica.as_of) if replica and replica.as_of else None
    if verdict.status is Status.INVALID_FORMAT:
        return VerdictText("کد نامعتبر", verdict.error.message_fa if verdict.error else "ورودی کد صحت نیست.")
    if verdict.status is Status.NOT_FOUND:
        when = f"تا تاریخ {as_of}" if as_of else "(این دستگاه هنوز داده‌ای ندارد)"
        return VerdictText(
            "در داده‌های این دستگاه یافت نشد",
            f"این کد در داده‌های این دستگاه {when} نیست؛ کدی که پس از آن صادر شده باشد "
            "به‌صورت آفلاین قابل تأیید نیست. این به معنای جعلی بودن سند نیست.",
        )
    document = verdict.document or {}
    kind = DOCUMENT_TYPE_NAMES_FA.get(document.get("type", ""), "سند")
    holder = verdict.holder.name if verdict.holder else ""
    issuer = verdict.issuer.name_fa if verdict.issuer else ""
    if verdict.status is Status.REVOKED and verdict.revocation:
        return VerdictText(
            "باطل شده",
            f"این {kind} به نام {holder} در تاریخ {jalali_date(verdict.revocation.revoked_on)} "
            f"باطل شده است. دلیل: {verdict.revocation.reason}",
        )
    if verdict.status is Status.SUPERSEDED and verdict.superseded_by:
        newer = verdict.superseded_by
        newer_kind = DOCUMENT_TYPE_NAMES_FA.get(newer.document_type, "سند")
        return VerdictText(
            "جایگزین شده",
            f"این {kind} به نام {holder} با {newer_kind} صادرشده در تاریخ {jalali_date(newer.issued_on)} "
            f"(کد صحت منتهی به {persian_digits(newer.code_hint.lstrip('…'))}) جایگزین شده است؛ سند جدید را بخواهید.",
        )
    if replica and replica.stale:
        return VerdictText(
            f"معتبر تا تاریخ {as_of}",
            f"این {kind} به نام {holder}، صادرشده از سوی {issuer}، تا تاریخ {as_of} معتبر بوده است؛ "
            "داده‌های این دستگاه به‌روز نیست و از ابطال‌های پس از آن خبری ندارد.",
        )
    return VerdictText("معتبر", f"این {kind} به نام {holder} از سوی {issuer} صادر شده و معتبر است.")


def describe_en(verdict: Verdict) -> VerdictText:
    replica = verdict.replica
    as_of = gregorian_date(replica.as_of) if replica and replica.as_of else None
    if verdict.status is Status.INVALID_FORMAT:
        return VerdictText("Not a code", verdict.error.message if verdict.error else "The input is not a code.")
    if verdict.status is Status.NOT_FOUND:
        when = f"as of {as_of}" if as_of else "(this box has no data yet)"
        return VerdictText(
            "Not in this box's data",
            f"This code is not in this box's data {when}; a code issued since cannot be confirmed offline. "
            "This does not mean the document is fake.",
        )
    document = verdict.document or {}
    kind = DOCUMENT_TYPE_NAMES_EN.get(document.get("type", ""), "Document").lower()
    holder = verdict.holder.name if verdict.holder else ""
    issuer = verdict.issuer.name_en if verdict.issuer else ""
    if verdict.status is Status.REVOKED and verdict.revocation:
        return VerdictText(
            "Revoked",
            f"This {kind} of {holder} was revoked on {verdict.revocation.revoked_on}. "
            f"Reason: {verdict.revocation.reason}",
        )
    if verdict.status is Status.SUPERSEDED and verdict.superseded_by:
        newer = verdict.superseded_by
        newer_kind = DOCUMENT_TYPE_NAMES_EN.get(newer.document_type, "document").lower()
        return VerdictText(
            "Superseded",
            f"This {kind} of {holder} was replaced by a {newer_kind} issued on {newer.issued_on} "
            f"(code ending {newer.code_hint.lstrip('…')}); ask for the newer document.",
        )
    if replica and replica.stale:
        return VerdictText(
            f"Valid as of {as_of}",
            f"This {kind} of {holder}, issued by {issuer}, was valid as of {as_of}; this box's data is out of "
            "date, so revocations since are unknown.",
        )
    return VerdictText("Valid", f"This {kind} of {holder} was issued by {issuer} and is valid.")
