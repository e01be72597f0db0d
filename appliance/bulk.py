"""Bulk verification files: a CSV with a ``code`` column in, verdicts streamed out as CSV or JSON.

Rows are read and answered one at a time, so a file of 100,000 rows neither holds
the server's memory nor waits for the last row before the first answer leaves.
Columns other than ``code`` and ``national_id`` (names, notes — whatever an HR
spreadsheet carries) are ignored, and never logged.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from appliance.verification import Outcome
from appliance.web_errors import ApiError

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


def result_fields(line: int, outcome: Outcome) -> dict[str, object]:
    verdict = outcome.verdict
    document = verdict.document or {}
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
    }


def csv_chunks(results: Iterable[tuple[int, Outcome]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    try:
        for line, outcome in results:
            writer.writerow(result_fields(line, outcome))
            if buffer.tell() > 32 << 10:
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
