"""Bulk verification files: a CSV with a ``code`` column in, verdicts streamed out as CSV or JSON.

Rows are read and answered one at a time, so a file of 100,000 rows neither holds
the server's memory nor waits for the last row before the first answer leaves.
Columns other than ``code`` and ``national_id`` (names, notes — whatever an HR
spreadsheet carries) are ignored, and never logged.

Each answer row also says what it means to a person, in Persian and in English
whatever the asker's language (``RowWords``): the HR desk appends the same words
to an officer's own spreadsheet, so the API and the desk cannot word a verdict apart.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import IO

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from appliance.national_id_notes import NATIONAL_ID_NOTES
from appliance.verification import Outcome
from appliance.web_errors import ApiError
from verifier.records import DOCUMENT_TYPE_NAMES_EN, DOCUMENT_TYPE_NAMES_FA
from verifier.verdict import Status, Verdict
from verifier.verdict_text import describe_en, describe_fa, gregorian_date, jalali_date

RESULT_COLUMNS = (
    "line",
    "code",
    "status",
    "issuer",
    "holder_name",
    "national_id_masked",
    "national_id_match",
    "document_type",
    "issued_on",
    "revoked_on",
    "revocation_reason",
    "superseded_by_type",
    "superseded_by_issued_on",
    "as_of",
    "stale",
    "error",
    # Added later, so after the first ones: what the row means, in both languages.
    "status_fa",
    "status_en",
    "document_fa",
    "document_en",
    "issuer_name_fa",
    "issuer_name_en",
    "reason_fa",
    "reason_en",
    "as_of_jalali",
    "national_id_note",  # why a national ID given was not compared: not_permitted or limited
)


@dataclass(frozen=True)
class BulkRow:
    line: int
    code: str
    national_id: str | None


def read_rows(stream: IO[bytes], max_rows: int) -> Iterator[BulkRow]:
    """Check the header at once (so a bad file is a 422, not a half answer), then yield rows lazily.

    Raises:
        ApiError: no header, or no ``code`` column.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.reader(text)
    header = [name.strip().lower() for name in next(reader, [])]
    if "code" not in header:
        raise ApiError(
            422,
            "bad_bulk_file",
            "The CSV needs a header row with a 'code' column.",
            "فایل CSV باید ستون code داشته باشد.",
        )
    code_at = header.index("code")
    id_at = header.index("national_id") if "national_id" in header else None

    def rows() -> Iterator[BulkRow]:
        try:
            for count, fields in enumerate(reader, start=1):
                if count > max_rows:
                    raise ApiError(413, "too_many_rows", f"A bulk file may hold at most {max_rows} rows.")
                if not any(field.strip() for field in fields):
                    continue
                code = fields[code_at] if code_at < len(fields) else ""
                national_id = fields[id_at].strip() if id_at is not None and id_at < len(fields) else ""
                yield BulkRow(line=reader.line_num, code=code, national_id=national_id or None)
        except csv.Error as error:
            raise ApiError(422, "bad_bulk_file", f"Line {reader.line_num} is not valid CSV: {error}") from error
        finally:
            text.detach().close()

    return rows()


@dataclass(frozen=True)
class Bilingual:
    """One phrase in both of the box's languages."""

    fa: str
    en: str

    def both(self) -> str:
        return f"{self.fa} / {self.en}"


def bilingual(message: object) -> Bilingual:
    """A catalogue message (a lazy msgid) in Persian and in English, whatever the page's language."""
    with force_locale("fa"):
        fa = str(message)
    with force_locale("en"):
        en = str(message)
    return Bilingual(fa, en)


@dataclass(frozen=True)
class RowWords:
    """One row's verdict as people read it, in both languages: the columns appended to a spreadsheet."""

    status_fa: str = ""
    status_en: str = ""
    holder_name: str = ""
    document_fa: str = ""
    document_en: str = ""
    issuer_name_fa: str = ""
    issuer_name_en: str = ""
    reason_fa: str = ""
    reason_en: str = ""
    as_of_jalali: str = ""
    as_of: str = ""  # the data's day, Gregorian

    def cells(self) -> tuple[str, ...]:
        return tuple(getattr(self, field.name) for field in fields(self))


SHEET_COLUMNS = tuple(field.name for field in fields(RowWords))
# The appended columns' headers, in SHEET_COLUMNS order.
_SHEET_HEADERS = (
    _l("Status (Persian)"),
    _l("Status (English)"),
    _l("Holder's name"),
    _l("Document (Persian)"),
    _l("Document (English)"),
    _l("Issuer (Persian)"),
    _l("Issuer (English)"),
    _l("Explanation (Persian)"),
    _l("Explanation (English)"),
    _l("Data as of (Solar Hijri)"),
    _l("Data as of (Gregorian)"),
)
_NO_CODE = _l("No code")
_NO_CODE_REASON = _l("This row has no authenticity code, so nothing was checked.")
_NUMBER = _l("Not checked: the code is a number")
_NUMBER_REASON = _l(
    "The code was stored as a number (%(shown)s). A spreadsheet keeps only about 15 digits of a number, so "
    "digits of this 20-digit code are lost. Format the column as Text, type the code again and check it again."
)
_BAD_NATIONAL_ID = _l("National ID not valid")


@dataclass(frozen=True)
class Wording:
    """The result columns' fixed phrases, looked up in both catalogues once per file, not once per row."""

    headers: tuple[Bilingual, ...]
    no_code: Bilingual
    no_code_reason: Bilingual
    number: Bilingual
    number_reason: Bilingual
    bad_national_id: Bilingual

    @classmethod
    def load(cls) -> Wording:
        """Needs an app context (Flask-Babel's catalogues)."""
        return cls(
            headers=tuple(bilingual(header) for header in _SHEET_HEADERS),
            no_code=bilingual(_NO_CODE),
            no_code_reason=bilingual(_NO_CODE_REASON),
            number=bilingual(_NUMBER),
            number_reason=bilingual(_NUMBER_REASON),
            bad_national_id=bilingual(_BAD_NATIONAL_ID),
        )

    def header_cells(self) -> tuple[str, ...]:
        return tuple(header.both() for header in self.headers)

    def no_code_words(self) -> RowWords:
        return RowWords(
            status_fa=self.no_code.fa,
            status_en=self.no_code.en,
            reason_fa=self.no_code_reason.fa,
            reason_en=self.no_code_reason.en,
        )

    def number_words(self, shown: str) -> RowWords:
        """A code cell that holds a number: its digits are lost, and no other code is guessed in their place."""
        return RowWords(
            status_fa=self.number.fa,
            status_en=self.number.en,
            reason_fa=self.number_reason.fa % {"shown": shown},
            reason_en=self.number_reason.en % {"shown": shown},
        )

    def verdict_words(self, verdict: Verdict, national_id_note: str | None = None) -> RowWords:
        """The core's wording (headline and detail) of a verdict, with the row's facts beside it.

        ``national_id_note`` says why a national ID in the row was not compared; the
        explanation then says so, so an officer never takes silence for a match.
        """
        fa, en = describe_fa(verdict), describe_en(verdict)
        status_fa, status_en, reason_fa, reason_en = fa.headline, en.headline, fa.detail, en.detail
        holder = verdict.holder
        stale = verdict.replica is not None and verdict.replica.stale
        if verdict.error is not None and verdict.error.code == "invalid_national_id":
            status_fa, status_en = self.bad_national_id.fa, self.bad_national_id.en
        elif verdict.status is Status.VALID and not stale and (holder is None or holder.national_id_match is not False):
            reason_fa = reason_en = ""  # a plain "valid" needs no explanation: the rows that do stand out
        if national_id_note is not None:
            note = NATIONAL_ID_NOTES[national_id_note]
            reason_fa = f"{reason_fa} {note['fa']}".strip()
            reason_en = f"{reason_en} {note['en']}".strip()
        document = verdict.document or {}
        as_of = verdict.replica.as_of if verdict.replica else None
        return RowWords(
            status_fa=status_fa,
            status_en=status_en,
            holder_name=holder.name if holder else "",
            document_fa=_document_text(document, DOCUMENT_TYPE_NAMES_FA, "، "),
            document_en=_document_text(document, DOCUMENT_TYPE_NAMES_EN, ", "),
            issuer_name_fa=verdict.issuer.name_fa if verdict.issuer else "",
            issuer_name_en=verdict.issuer.name_en if verdict.issuer else "",
            reason_fa=reason_fa,
            reason_en=reason_en,
            as_of_jalali=_jalali(as_of) if as_of else "",
            as_of=gregorian_date(as_of) if as_of else "",
        )


def _document_text(document: dict[str, str], type_names: dict[str, str], separator: str) -> str:
    """Type, level, field and institution: "Diploma, کارشناسی, فیزیک, دانشگاه شیراز"."""
    parts = (type_names.get(document.get("type", ""), ""), *(document.get(key, "") for key in _DOCUMENT_PARTS))
    return separator.join(part for part in parts if part)


_DOCUMENT_PARTS = ("degree_level", "field", "institution")


@functools.lru_cache(maxsize=64)
def _jalali(moment: datetime) -> str:
    """Every row of a file shares a handful of as-of moments: convert each once."""
    return jalali_date(moment)


def result_fields(line: int, outcome: Outcome, wording: Wording) -> dict[str, object]:
    verdict = outcome.verdict
    document = verdict.document or {}
    words = wording.verdict_words(verdict, outcome.national_id_note)
    return {
        "line": line,
        "code": verdict.code or "",
        "status": verdict.status.value,
        "issuer": verdict.issuer.issuer if verdict.issuer else "",
        "holder_name": verdict.holder.name if verdict.holder else "",
        "national_id_masked": verdict.holder.national_id_masked if verdict.holder else "",
        "national_id_match": ""
        if not verdict.holder or verdict.holder.national_id_match is None
        else str(verdict.holder.national_id_match).lower(),
        "document_type": document.get("type", ""),
        "issued_on": document.get("issued_on", ""),
        "revoked_on": verdict.revocation.revoked_on if verdict.revocation else "",
        "revocation_reason": verdict.revocation.reason if verdict.revocation else "",
        "superseded_by_type": verdict.superseded_by.document_type if verdict.superseded_by else "",
        "superseded_by_issued_on": verdict.superseded_by.issued_on if verdict.superseded_by else "",
        "as_of": verdict.replica.to_dict()["as_of"] or "" if verdict.replica else "",
        "stale": str(verdict.replica.stale).lower() if verdict.replica else "",
        "error": verdict.error.code if verdict.error else "",
        "status_fa": words.status_fa,
        "status_en": words.status_en,
        "document_fa": words.document_fa,
        "document_en": words.document_en,
        "issuer_name_fa": words.issuer_name_fa,
        "issuer_name_en": words.issuer_name_en,
        "reason_fa": words.reason_fa,
        "reason_en": words.reason_en,
        "as_of_jalali": words.as_of_jalali,
        "national_id_note": outcome.national_id_note or "",
    }


# Pieces of the answer stay under waitress's 8 KiB small-write limit (2,048 characters are at most
# ~6 KiB of Persian UTF-8): each larger write goes through a BytesIO of its own, and over a
# 100,000-row answer those fragment the server's memory (peak growth ~27 MiB against ~11 MiB).
CHUNK_CHARS = 2 << 10


def csv_chunks(results: Iterable[tuple[int, Outcome]]) -> Iterator[str]:
    wording = Wording.load()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    try:
        for line, outcome in results:
            writer.writerow(result_fields(line, outcome, wording))
            if buffer.tell() > CHUNK_CHARS:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    except ApiError as error:  # the answer has begun: the last row says why it stops here
        writer.writerow({"error": f"{error.code}: {error.message}"})
    yield buffer.getvalue()


def json_chunks(results: Iterable[tuple[int, Outcome]], document: object) -> Iterator[str]:
    """``{"results": [{"line", "verdict"}, …]}``, written piece by piece."""
    yield '{"results":['
    first = True
    try:
        for line, outcome in results:
            item = {"line": line, "verdict": document(outcome)}  # type: ignore[operator]
            yield ("" if first else ",") + json.dumps(item, ensure_ascii=False)
            first = False
    except ApiError as error:  # the answer has begun: say why it stops here
        yield "]," + json.dumps({"error": {"code": error.code, "message": error.message}})[1:]
        return
    yield "]}"
