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
from verifier.verdict import Finding, Status, Verdict

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


# For a scanned QR that carries no authenticity code: said plainly, never "invalid".
NO_CODE_MESSAGE = {
    "en": "This QR code holds no authenticity code (it may be another kind of QR on the page).",
    "fa": "این کد QR کد صحتی در خود ندارد (ممکن است کد QR دیگری روی سند باشد).",
}


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
    finding = verdict.finding
    if finding is Finding.INVALID_FORMAT:
        if verdict.error is not None and verdict.error.code == "invalid_national_id":
            return VerdictText("کد ملی نادرست است", verdict.error.message_fa)
        return VerdictText("کد صحت نیست", verdict.error.message_fa if verdict.error else "ورودی کد صحت نیست.")
    if finding is Finding.NO_DATA:
        return VerdictText(
            "این دستگاه هنوز داده‌ای ندارد",
            "داده‌های هیچ مرجع صادرکننده‌ای هنوز به این دستگاه نرسیده است، پس هیچ کدی را نمی‌توان تأیید کرد. "
            "این به معنای جعلی بودن سند نیست؛ از متصدی دستگاه بخواهید داده‌ها را به‌روز کند.",
        )
    if finding is Finding.NOT_FOUND:
        return VerdictText(
            "در داده‌های این دستگاه یافت نشد",
            f"این کد در داده‌های این دستگاه (به‌روز تا {as_of}) نیست؛ کدی که پس از آن صادر شده باشد "
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
    if finding is Finding.MISMATCH:
        masked = persian_digits(verdict.holder.national_id_masked) if verdict.holder else ""
        return VerdictText(
            "سند اصل است، اما متعلق به شخص دیگری است",
            f"این {kind} از سوی {issuer} به نام {holder} (کد ملی {masked}) صادر شده است و "
            "کد ملی واردشده با کد ملی دارنده مطابقت ندارد. این سند را به نام ارائه‌کننده نپذیرید.",
        )
    if replica and replica.stale:
        return VerdictText(
            f"معتبر بر اساس داده‌های {as_of}",
            f"ابطال‌های پس از آن نامعلوم است. این {kind} به نام {holder}، صادرشده از سوی {issuer}، "
            f"بر اساس داده‌های {as_of} معتبر است؛ داده‌های این دستگاه به‌روز نیست.",
        )
    return VerdictText("معتبر", f"این {kind} به نام {holder} از سوی {issuer} صادر شده و معتبر است.")


def describe_en(verdict: Verdict) -> VerdictText:
    replica = verdict.replica
    as_of = gregorian_date(replica.as_of) if replica and replica.as_of else None
    finding = verdict.finding
    if finding is Finding.INVALID_FORMAT:
        if verdict.error is not None and verdict.error.code == "invalid_national_id":
            return VerdictText("Not a valid national ID", verdict.error.message)
        return VerdictText("Not a code", verdict.error.message if verdict.error else "The input is not a code.")
    if finding is Finding.NO_DATA:
        return VerdictText(
            "This box has no data yet",
            "No issuer's data has reached this box yet, so no code can be confirmed. This does not mean the "
            "document is fake; ask the box's operator to bring its data up to date.",
        )
    if finding is Finding.NOT_FOUND:
        return VerdictText(
            "Not in this box's data",
            f"This code is not in this box's data as of {as_of}; a code issued since cannot be confirmed offline. "
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
    if finding is Finding.MISMATCH:
        masked = verdict.holder.national_id_masked if verdict.holder else ""
        return VerdictText(
            "Genuine document — but it belongs to someone else",
            f"This {kind} was issued by {issuer} to {holder} (national ID {masked}); the national ID given does not "
            "match the holder's. Do not accept it as the presenter's own.",
        )
    if replica and replica.stale:
        return VerdictText(
            f"Valid as of the data of {as_of}",
            f"This {kind} of {holder}, issued by {issuer}, is valid as of this box's data of {as_of}; "
            "revocations since are unknown, because the data is out of date.",
        )
    return VerdictText("Valid", f"This {kind} of {holder} was issued by {issuer} and is valid.")


def summary(verdict: Verdict) -> dict[str, object]:
    """The API's ``summary``: the finding a person must take away, worded in both languages."""
    return {
        "outcome": verdict.finding.value,
        "fa": describe_fa(verdict).to_dict(),
        "en": describe_en(verdict).to_dict(),
    }
