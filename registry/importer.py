"""Reading an import CSV: every row checked, every problem reported by line, nothing half-read.

Columns (header row required, order free, no others): ``code`` (20 digits, or
empty to have one issued), ``national_id``, ``full_name``, ``document_type``,
``degree_level``, ``field``, ``institution``, ``issued_on`` (ISO date). The file
is UTF-8; a byte-order mark, as spreadsheet programs write, is accepted.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from registry.errors import ImportRejectedError, RowProblem
from verifier.errors import InputError
from verifier.national_id import normalize_national_id
from verifier.normalize import normalize_code
from verifier.records import DOCUMENT_TYPES

COLUMNS: tuple[str, ...] = (
    "code",
    "national_id",
    "full_name",
    "document_type",
    "degree_level",
    "field",
    "institution",
    "issued_on",
)
MAX_FIELD_LENGTH = 300
_TEXT_COLUMNS = ("full_name", "degree_level", "field", "institution")


@dataclass(frozen=True)
class ImportRow:
    """One checked row; ``code`` is ``None`` when the registry is to issue one."""

    line: int
    code: str | None
    national_id: str
    full_name: str
    document_type: str
    degree_level: str
    field: str
    institution: str
    issued_on: str


def parse_import_csv(data: bytes, today: date, check_digits: str) -> list[ImportRow]:
    """Parse and check a whole import file.

    Args:
        data: the file's bytes.
        today: the registry's date; documents cannot be issued after it.
        check_digits: the issuer's check-digit scheme, for codes given in the file.

    Raises:
        ImportRejectedError: every problem found, each with its line number.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportRejectedError([RowProblem(0, f"the file is not UTF-8 ({error.reason})")]) from error
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise ImportRejectedError([RowProblem(1, f"unreadable header ({error})")]) from error
    if not header:
        raise ImportRejectedError([RowProblem(1, "the file is empty; a header row is required")])
    names = [name.strip() for name in header]
    problems = _header_problems(names)
    if problems:
        raise ImportRejectedError(problems)
    reader.fieldnames = names
    rows: list[ImportRow] = []
    seen_codes: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            row, row_problems = _check_row(record, line, today, check_digits)
            if row and row.code:
                if row.code in seen_codes:
                    row_problems.append(RowProblem(line, f"code repeats the code of line {seen_codes[row.code]}"))
                seen_codes.setdefault(row.code, line)
            problems.extend(row_problems)
            if row and not row_problems:
                rows.append(row)
    except csv.Error as error:
        problems.append(RowProblem(reader.line_num, f"malformed CSV ({error})"))
    if problems:
        raise ImportRejectedError(problems)
    if not rows:
        raise ImportRejectedError([RowProblem(2, "the file has no data rows")])
    return rows


def _header_problems(names: list[str]) -> list[RowProblem]:
    problems = []
    unknown = [name for name in names if name not in COLUMNS]
    missing = [name for name in COLUMNS if name not in names]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if unknown:
        problems.append(RowProblem(1, "unknown columns: " + ", ".join(unknown)))
    if missing:
        problems.append(RowProblem(1, "missing columns: " + ", ".join(missing)))
    if duplicated:
        problems.append(RowProblem(1, "repeated columns: " + ", ".join(duplicated)))
    return problems


def _check_row(
    record: dict[str | None, str | list[str] | None], line: int, today: date, check_digits: str
) -> tuple[ImportRow | None, list[RowProblem]]:
    problems: list[RowProblem] = []
    if None in record:
        return None, [RowProblem(line, "more fields than columns")]
    values = {name: (record.get(name) or "") for name in COLUMNS}
    if any(not isinstance(value, str) for value in values.values()):
        return None, [RowProblem(line, "fewer fields than columns")]
    fields = {name: str(value).strip() for name, value in values.items()}
    code: str | None = None
    if fields["code"]:
        try:
            code = normalize_code(fields["code"], (check_digits,))
        except InputError as error:
            problems.append(RowProblem(line, f"code: {error.message}"))
    try:
        national_id = normalize_national_id(fields["national_id"])
    except InputError as error:
        problems.append(RowProblem(line, f"national_id: {error.message}"))
        national_id = ""
    for name in _TEXT_COLUMNS:
        if not fields[name]:
            problems.append(RowProblem(line, f"{name} is empty"))
        elif len(fields[name]) > MAX_FIELD_LENGTH:
            problems.append(RowProblem(line, f"{name} is longer than {MAX_FIELD_LENGTH} characters"))
    if fields["document_type"] not in DOCUMENT_TYPES:
        problems.append(
            RowProblem(
                line, f"document_type must be one of {', '.join(DOCUMENT_TYPES)}, not {fields['document_type']!r}"
            )
        )
    try:
        issued = date.fromisoformat(fields["issued_on"])
        if issued > today:
            problems.append(RowProblem(line, f"issued_on {issued.isoformat()} is in the future"))
    except ValueError:
        problems.append(RowProblem(line, f"issued_on must be an ISO date (YYYY-MM-DD), not {fields['issued_on']!r}"))
    if problems:
        return None, problems
    return (
        ImportRow(
            line=line,
            code=code,
            national_id=national_id,
            full_name=fields["full_name"],
            document_type=fields["document_type"],
            degree_level=fields["degree_level"],
            field=fields["field"],
            institution=fields["institution"],
            issued_on=fields["issued_on"],
        ),
        [],
    )
