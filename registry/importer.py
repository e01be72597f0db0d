"""Reading an import CSV as a stream: one row at a time, every problem reported by its line.

Columns (header row required, order free, no others): ``code`` (20 digits, or
empty to have one issued), ``national_id``, ``full_name``, ``document_type``,
``degree_level``, ``field``, ``institution``, ``issued_on`` (ISO date). The file
is UTF-8; a byte-order mark, as spreadsheet programs write, is accepted.

Only one row is held at a time, so a file of millions of rows reads in constant
memory. Checks that need the whole file (a code repeated in it, a code already
issued) belong to the caller, ``registry.bulk_import``, which keeps them on disk.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from registry.errors import RowProblem
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
# A good row is under 3 KB (eight fields of at most 300 characters); a "line" far longer is
# a binary file or a broken export, and is refused before it is held in memory.
MAX_LINE_BYTES = 64 * 1024
_TEXT_COLUMNS = ("full_name", "degree_level", "field", "institution")
_BOM = b"\xef\xbb\xbf"


class ByteLines(Protocol):
    """What the reader needs of a file: binary lines, each at most ``size`` bytes."""

    def readline(self, size: int = -1, /) -> bytes: ...


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


class _LineTooLongError(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _TextLines:
    """Decoded lines of a binary stream, for ``csv``; lines that are not UTF-8 are noted, not fatal.

    Decoding line by line (a newline byte never occurs inside a UTF-8 sequence) names the
    exact line of a bad byte, and lets the rest of the file still be checked.
    """

    def __init__(self, stream: ByteLines) -> None:
        self._stream = stream
        self.number = 0
        self.undecodable: list[tuple[int, str]] = []  # (line, reason) since the caller last looked

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self._stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise _LineTooLongError(self.number)
        if self.number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            self.undecodable.append((self.number, str(error.reason)))
            return raw.decode("utf-8", errors="replace")


def iter_import_rows(stream: ByteLines, today: date, check_digits: str) -> Iterator[ImportRow | RowProblem]:
    """Read and check an import file row by row.

    A good row yields its ``ImportRow``; a bad one yields its problems instead (one or
    more ``RowProblem``). A bad header, a malformed CSV or an over-long line yields its
    problem and ends the file: what follows cannot be read reliably.

    Args:
        stream: the file, opened in binary mode.
        today: the registry's date; documents cannot be issued after it.
        check_digits: the issuer's check-digit scheme, for codes given in the file.
    """
    lines = _TextLines(stream)
    reader = csv.DictReader(lines, strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as error:
        yield RowProblem(1, f"unreadable header ({error})")
        return
    except _LineTooLongError as error:
        yield RowProblem(error.line, f"the line is longer than {MAX_LINE_BYTES} bytes; this is not an import file")
        return
    if lines.undecodable:
        yield RowProblem(1, f"the file is not UTF-8 ({lines.undecodable[0][1]})")
        return
    if not header:
        yield RowProblem(1, "the file is empty; a header row is required")
        return
    names = [name.strip() for name in header]
    problems = _header_problems(names)
    if problems:
        yield from problems
        return
    reader.fieldnames = names
    rows = 0
    try:
        for record in reader:
            rows += 1
            line = reader.line_num
            if lines.undecodable:
                yield RowProblem(line, f"the file is not UTF-8 here ({lines.undecodable[0][1]})")
                lines.undecodable.clear()
                continue
            row, row_problems = _check_row(record, line, today, check_digits)
            if row is not None:
                yield row
            yield from row_problems
    except csv.Error as error:
        yield RowProblem(reader.line_num, f"malformed CSV ({error})")
        return
    except _LineTooLongError as error:
        yield RowProblem(error.line, f"the line is longer than {MAX_LINE_BYTES} bytes; this is not an import file")
        return
    if lines.undecodable:  # bad bytes in lines csv read as no row (blank, or the tail of the file)
        yield RowProblem(lines.undecodable[0][0], f"the file is not UTF-8 here ({lines.undecodable[0][1]})")
    elif not rows:
        yield RowProblem(2, "the file has no data rows")


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
