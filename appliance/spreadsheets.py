"""An HR officer's spreadsheet in and out: read a CSV or XLSX upload, find its code column, write it back.

Reading. The upload is bytes already in memory (the desk never lets it reach the disk);
rows are then produced one at a time, so a file of 200,000 rows is never held as Python
objects. A zip is read as XLSX (``openpyxl`` in read-only mode, first sheet, formulas'
cached values); anything else is CSV, decoded by the first rule that fits:

1. a byte-order mark: UTF-8 (Excel's "CSV UTF-8"), or UTF-16 (Excel's "Unicode Text");
2. NUL bytes without a mark: UTF-16 when every other byte is NUL, else not a spreadsheet;
3. the whole file is valid UTF-8: UTF-8;
4. otherwise Windows-1256, what Excel on a Persian Windows writes for plain "CSV".

The delimiter is whichever of ``,`` ``;`` tab or ``؛`` the header line holds most of, and
the result is written with the same one. Excel's old binary ``.xls`` is refused by name.

Numbers. A spreadsheet keeps a number as a double, 15–17 significant digits; a 20-digit
code typed into a number cell has lost its last digits for good. Such a cell (a number,
or text in scientific notation such as ``1.23457E+19`` from a CSV that went through
Excel) is reported, never "repaired" into some other code.

Writing. The officer's columns come back as they were (values and XLSX number formats),
followed by the appended columns whose headers the caller gives. CSV gets a UTF-8 BOM so
that Excel shows Persian; XLSX is written by openpyxl in write-only mode, its worksheet XML
kept deflated in memory instead of openpyxl's usual temporary file. Results name people,
so no byte of them is written to disk, and ``SheetOutput`` holds them deflated.
"""

from __future__ import annotations

import codecs
import csv
import enum
import io
import itertools
import re
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any, Protocol

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.writer.excel import ExcelWriter

from verifier.errors import InputError, InvalidFormatError, InvalidNationalIdError
from verifier.national_id import normalize_national_id
from verifier.normalize import normalize_code, to_ascii_digits

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SAMPLE_ROWS = 50  # data rows looked at to find the code and national-ID columns
# A zip bomb must not expand into the box's memory: the whole workbook, and its shared
# strings (which openpyxl holds in memory), are bounded by their declared sizes.
XLSX_MAX_EXPANDED_BYTES = 1 << 30
XLSX_MAX_SHARED_STRINGS_BYTES = 128 << 20
_DELIMITERS = (",", ";", "\t", "؛")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97–2003 .xls
_FLUSH_BYTES = 64 << 10
PIECE_BYTES = 4 << 10  # a download's pieces: under waitress's 8 KiB small-write limit

# Header names, compared after header_key(): the specific ones win over a bare "code".
_CODE_HEADER_WORDS = ("صحت", "authenticity", "sehat", "verification")
_CODE_HEADERS_GENERIC = frozenset({"code", "codes", "کد", "کدها", "شمارهکد"})
_NATIONAL_ID_HEADERS = frozenset(
    {"nationalid", "nationalcode", "nationalidnumber", "nid", "codemelli", "mellicode", "melicode", "کدملی", "شمارهملی"}
)


class SheetError(InputError):
    """An upload that cannot be read as a spreadsheet, or columns that cannot be used; ``reason`` says which."""

    code = "bad_sheet"

    def __init__(self, reason: str, **values: object) -> None:
        message, message_fa = _SHEET_MESSAGES[reason]
        persian = {f"{name}_fa": _persian_digits(str(value)) for name, value in values.items()}
        super().__init__(message.format(**values), message_fa.format(**values, **persian))
        self.reason = reason
        self.http_status = 413 if reason == "too_many_rows" else 422


_SHEET_MESSAGES: dict[str, tuple[str, str]] = {
    "no_file": ("Choose a CSV or Excel (.xlsx) file first.", "ابتدا یک فایل CSV یا اکسل (xlsx) انتخاب کنید."),
    "empty": ("The file is empty.", "فایل خالی است."),
    "xls": (
        "This is an old Excel 97–2003 (.xls) file. Save it in Excel as .xlsx or CSV and upload it again.",
        "این فایل در قالب قدیمی اکسل (xls) است. آن را در اکسل با قالب xlsx یا CSV ذخیره و دوباره بارگذاری کنید.",
    ),
    "not_a_sheet": (
        "This is not a CSV file or an Excel (.xlsx) workbook.",
        "این فایل نه CSV است و نه فایل اکسل (xlsx).",
    ),
    "bad_xlsx": (
        "The Excel file cannot be read; it may be damaged. Open it in Excel, save it again and upload it.",
        "فایل اکسل خوانده نمی‌شود و شاید آسیب دیده باشد. آن را در اکسل باز کنید، دوباره ذخیره و بارگذاری کنید.",
    ),
    "too_big": (
        "The Excel file expands to more data than the box reads at once; split it into smaller files.",
        "داده‌های این فایل اکسل بیش از اندازه‌ای است که دستگاه یک‌جا می‌خواند؛ آن را به چند فایل کوچک‌تر تقسیم کنید.",
    ),
    "no_header": (
        "The file has no header row (the first row should name the columns).",
        "فایل ردیف عنوان ندارد (ردیف اول باید نام ستون‌ها باشد).",
    ),
    "bad_csv": ("Line {line} of the CSV file cannot be read.", "سطر {line_fa} فایل CSV خوانا نیست."),
    "unknown_column": ("The file has no such column: {column}.", "چنین ستونی در فایل نیست: {column}."),
    "same_column": (
        "The codes and the national IDs cannot be in the same column.",
        "کد صحت و کد ملی نمی‌توانند در یک ستون باشند.",
    ),
    "too_many_rows": (
        "The file has more than {limit} rows; split it into smaller files.",
        "فایل بیش از {limit_fa} ردیف دارد؛ آن را به چند فایل کوچک‌تر تقسیم کنید.",
    ),
}


class SheetFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"

    @property
    def media_type(self) -> str:
        return "text/csv; charset=utf-8" if self is SheetFormat.CSV else XLSX_MEDIA_TYPE


class CellProblem(enum.StrEnum):
    """Why a row's code cell was not checked."""

    EMPTY = "empty"
    NUMBER = "number"  # stored as a number: digits past the 15th or so are gone


@dataclass(frozen=True)
class CodeCell:
    """What a code cell holds: text to verify, or the problem that stops it being checked."""

    text: str = ""
    problem: CellProblem | None = None
    shown: str = ""  # a number as the spreadsheet holds it, for the row's reason


@dataclass(frozen=True)
class SheetRow:
    """One data row: its line (as the spreadsheet numbers it), values, and XLSX number formats."""

    line: int
    values: tuple[Any, ...]
    formats: tuple[str | None, ...] = ()

    def value(self, column: int | None) -> Any:
        if column is None or column >= len(self.values):
            return None
        return self.values[column]

    @property
    def blank(self) -> bool:
        return all(_blank(value) for value in self.values)


@dataclass(frozen=True)
class Columns:
    """Where the codes and national IDs are; ``code`` None means the officer must choose."""

    code: int | None
    national_id: int | None
    found_by: str  # "header", "content", "chosen", or "" when not found

    @property
    def ready(self) -> bool:
        return self.code is not None


@dataclass(frozen=True)
class SheetShape:
    rows: int
    width: int


@dataclass(frozen=True)
class Sheet:
    """An uploaded spreadsheet, still as bytes, with what was learnt opening it; rows are read on demand."""

    format: SheetFormat
    data: bytes
    header: tuple[Any, ...]
    header_line: int
    title: str = "Sheet1"
    encoding: str = ""
    delimiter: str = ","

    def rows(self) -> Iterator[SheetRow]:
        """Data rows after the header; blank rows kept in place, trailing blank rows dropped."""
        blanks: list[SheetRow] = []
        for row in self._raw_rows():
            if row.line <= self.header_line:
                continue
            if row.blank:
                blanks.append(row)
                continue
            yield from blanks
            blanks.clear()
            yield row

    def sample(self, count: int = SAMPLE_ROWS) -> list[SheetRow]:
        return list(itertools.islice(self.rows(), count))

    def measure(self, max_rows: int) -> SheetShape:
        """Count the rows and the widest row (to line up the appended columns), refusing past ``max_rows``."""
        count, width = 0, _width(self.header)
        for row in self.rows():
            count += 1
            if count > max_rows:
                raise SheetError("too_many_rows", limit=max_rows)
            width = max(width, _width(row.values))
        return SheetShape(count, width)

    @property
    def right_to_left(self) -> bool:
        """A sheet whose header is Persian reads right to left."""
        return any(isinstance(cell, str) and _ARABIC_SCRIPT.search(cell) for cell in self.header)

    def _raw_rows(self) -> Iterator[SheetRow]:
        if self.format is SheetFormat.XLSX:
            return _xlsx_rows(self.data)
        return _csv_rows(self.data, self.encoding, self.delimiter)


def open_sheet(data: bytes) -> Sheet:
    """Recognise the upload's format (and a CSV's encoding and delimiter) and read its header row.

    Raises:
        SheetError: empty, an old ``.xls``, not a spreadsheet, unreadable, or no header row.
    """
    if not data.strip():
        raise SheetError("empty")
    if data.startswith(_OLE_MAGIC):
        raise SheetError("xls")
    if data.startswith(b"PK\x03\x04"):
        workbook = _open_workbook(data)
        try:
            title = workbook.worksheets[0].title if workbook.worksheets else "Sheet1"
        finally:
            workbook.close()
        sheet = Sheet(SheetFormat.XLSX, data, (), 0, title=title)
    else:
        encoding = _csv_encoding(data)
        sheet = Sheet(SheetFormat.CSV, data, (), 0, encoding=encoding, delimiter=_csv_delimiter(data, encoding))
    header = next((row for row in sheet._raw_rows() if not row.blank), None)
    if header is None:
        raise SheetError("no_header")
    return Sheet(sheet.format, data, header.values, header.line, sheet.title, sheet.encoding, sheet.delimiter)


# --- columns -----------------------------------------------------------------------------------------


def header_key(name: object) -> str:
    """A header name reduced for comparison: case, spaces, ZWNJ, punctuation and Arabic letter forms ignored."""
    text = unicodedata.normalize("NFKC", "" if name is None else str(name)).casefold()
    return "".join(char for char in text.replace("ي", "ی").replace("ك", "ک") if char.isalnum())


def detect_columns(sheet: Sheet, sample: Sequence[SheetRow]) -> Columns:
    """Find the code column (and the optional national-ID column), or say it is not obvious.

    Codes: a header naming the authenticity code («کد صحت», "authenticity code") wins; a bare
    "code" or «کد» counts only if no other column is mostly codes; failing both, the one column
    whose values are mostly codes (any digit system, links included). Two equal candidates,
    or none: not obvious, and the officer chooses. National IDs: a header naming them, else the
    one column of valid national IDs; never a guess between two.
    """
    width = columns_in(sheet, sample)
    keys = _header_keys(sheet, width)
    scores = [_share(sample, index, _looks_like_code) for index in range(width)]
    specific = [
        index
        for index, key in enumerate(keys)
        if any(word in key for word in _CODE_HEADER_WORDS) and not _names_national_id(key)
    ]
    generic = [index for index, key in enumerate(keys) if key in _CODE_HEADERS_GENERIC]
    by_content = [index for index in range(width) if scores[index] >= 0.5]
    if specific:
        code, found_by = _best(specific, scores), "header"
    elif generic and (not by_content or any(scores[index] >= 0.5 for index in generic)):
        code, found_by = _best(generic, scores), "header"
    else:
        code, found_by = _best(by_content, scores), "content"
    if code is None:
        return Columns(None, None, "")
    national = [i for i, key in enumerate(keys) if _names_national_id(key) and i != code]
    national_id = national[0] if len(national) == 1 else None
    if not national:
        ids = [i for i in range(width) if i != code and _share(sample, i, _looks_like_national_id) >= 0.8]
        national_id = ids[0] if len(ids) == 1 else None
    return Columns(code, national_id, found_by)


def columns_in(sheet: Sheet, sample: Sequence[SheetRow]) -> int:
    """How many columns the header and the sampled rows span (the choices offered to the officer)."""
    return max([_width(sheet.header), *(_width(row.values) for row in sample)])


def choose_columns(sheet: Sheet, width: int, code: str | int, national_id: str | int | None) -> Columns:
    """The columns the officer (or a caller) named: a 0-based index, or a header's name.

    Raises:
        SheetError: no such column, or both in the same one.
    """
    code_at = _resolve(sheet, width, code)
    id_at = None if national_id is None or national_id == "" else _resolve(sheet, width, national_id)
    if code_at == id_at:
        raise SheetError("same_column")
    return Columns(code_at, id_at, "chosen")


def column_letter(index: int) -> str:
    return str(get_column_letter(index + 1))


# --- cells -------------------------------------------------------------------------------------------

_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,٫]\d*)?[eE][+-]?\d+")
_DECIMAL_OF_LONG_NUMBER = re.compile(r"\d{12,}[.,٫]\d*")
_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff]")


def read_code_cell(value: Any) -> CodeCell:
    """What to verify in a code cell. A number, or text that is a number's rendering, is reported, not read."""
    if _blank(value):
        return CodeCell(problem=CellProblem.EMPTY)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return CodeCell(problem=CellProblem.NUMBER, shown=cell_text(value))
    text = value if isinstance(value, str) else cell_text(value)
    compact = to_ascii_digits(text.strip())
    if _SCIENTIFIC.fullmatch(compact) or _DECIMAL_OF_LONG_NUMBER.fullmatch(compact):
        return CodeCell(problem=CellProblem.NUMBER, shown=text.strip())
    return CodeCell(text=text)


def read_national_id_cell(value: Any) -> str | None:
    """A national ID as text. A number cell is exact at ten digits; its lost leading zeros are put back later."""
    if _blank(value):
        return None
    if isinstance(value, float | Decimal) and value == int(value):
        return str(int(value))
    return str(value).strip()


def cell_text(value: Any) -> str:
    """A cell as the officer would read it in the preview."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.15g}"
    if hasattr(value, "isoformat"):
        text = str(value.isoformat())
        return text.removesuffix("T00:00:00")
    return str(value)


# --- writing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SheetOutput:
    """A finished results file, held in memory: a CSV deflated, an XLSX as its (already zipped) bytes."""

    format: SheetFormat
    parts: tuple[bytes, ...]
    deflated: bool

    def chunks(self) -> Iterator[bytes]:
        """The file in pieces of at most ``PIECE_BYTES`` (small writes keep the server's memory unfragmented)."""
        if not self.deflated:
            for part in self.parts:
                for start in range(0, len(part), PIECE_BYTES):
                    yield part[start : start + PIECE_BYTES]
            return
        inflater = zlib.decompressobj()
        for part in self.parts:
            while part:
                piece = inflater.decompress(part, PIECE_BYTES)
                part = inflater.unconsumed_tail
                if piece:
                    yield piece
        tail = inflater.flush()
        if tail:
            yield tail

    def read(self) -> bytes:
        return b"".join(self.chunks())


class SheetWriter(Protocol):
    def write_row(self, row: SheetRow, appended: Sequence[str]) -> None: ...

    def finish(self) -> SheetOutput: ...


def sheet_writer(sheet: Sheet, width: int, appended_header: Sequence[str]) -> SheetWriter:
    """A writer for results in the upload's own format: its columns padded to ``width``, then ours."""
    if sheet.format is SheetFormat.XLSX:
        return XlsxSheetWriter(sheet, width, appended_header)
    return CsvSheetWriter(sheet, width, appended_header)


class _Deflated:
    """A write-only byte sink kept deflated in memory (text shrinks about tenfold)."""

    def __init__(self) -> None:
        self._deflater = zlib.compressobj(6)
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        part = self._deflater.compress(data)
        if part:
            self.parts.append(part)
        return len(data)

    def close(self) -> tuple[bytes, ...]:
        self.parts.append(self._deflater.flush())
        return tuple(self.parts)


class CsvSheetWriter:
    def __init__(self, sheet: Sheet, width: int, appended_header: Sequence[str]) -> None:
        self._width = width
        self._sink = _Deflated()
        self._sink.write(codecs.BOM_UTF8)  # Excel reads a CSV without it in the system's code page
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, delimiter=sheet.delimiter, lineterminator="\r\n")
        self.write_row(SheetRow(sheet.header_line, sheet.header), appended_header)

    def write_row(self, row: SheetRow, appended: Sequence[str]) -> None:
        cells = ["" if value is None else str(value) for value in row.values[: self._width]]
        cells.extend([""] * (self._width - len(cells)))
        self._writer.writerow([*cells, *appended])
        if self._buffer.tell() > _FLUSH_BYTES:
            self._flush()

    def finish(self) -> SheetOutput:
        self._flush()
        return SheetOutput(SheetFormat.CSV, self._sink.close(), deflated=True)

    def _flush(self) -> None:
        self._sink.write(self._buffer.getvalue().encode("utf-8"))
        self._buffer.seek(0)
        self._buffer.truncate()


class _MemoryWorksheetWriter(WorksheetWriter):
    """openpyxl's worksheet writer, streaming into a deflated buffer instead of a temporary file."""

    def __init__(self, worksheet: Any, sink: _Deflated) -> None:
        super().__init__(worksheet, out=sink)

    def cleanup(self) -> None:
        """Nothing to remove: there is no temporary file."""


class _MemoryZip(zipfile.ZipFile):
    """A zip that takes a deflated buffer where openpyxl passes the temporary file's name."""

    def write(self, filename: Any, arcname: Any = None, *args: Any, **kwargs: Any) -> None:
        if not isinstance(filename, _Deflated):
            super().write(filename, arcname, *args, **kwargs)
            return
        inflater = zlib.decompressobj()
        with self.open(arcname, "w", force_zip64=True) as target:
            for part in filename.close():
                target.write(inflater.decompress(part))
            target.write(inflater.flush())


class XlsxSheetWriter:
    HEADER_FONT = Font(bold=True)
    HEADER_FILL = PatternFill("solid", fgColor="DDE7F0")
    HEADER_ALIGNMENT = Alignment(readingOrder=2, wrap_text=True, vertical="top")  # 2: right to left
    APPENDED_WIDTH = 32

    def __init__(self, sheet: Sheet, width: int, appended_header: Sequence[str]) -> None:
        self._width = width
        self._workbook = Workbook(write_only=True)
        self._sheet = self._workbook.create_sheet(sheet.title or "Sheet1")
        self._sheet.sheet_view.rightToLeft = sheet.right_to_left
        self._sheet.freeze_panes = "A2"
        for offset in range(len(appended_header)):
            self._sheet.column_dimensions[column_letter(width + offset)].width = self.APPENDED_WIDTH
        self._sink = _Deflated()
        self._sheet._writer = _MemoryWorksheetWriter(self._sheet, self._sink)
        self._sheet._writer.write_top()
        header = [self._cell(value, None) for value in _padded(sheet.header, width)]
        for text in appended_header:
            cell = WriteOnlyCell(self._sheet, _clean(text))
            cell.font, cell.fill, cell.alignment = self.HEADER_FONT, self.HEADER_FILL, self.HEADER_ALIGNMENT
            header.append(cell)
        self._sheet.append(header)

    def write_row(self, row: SheetRow, appended: Sequence[str]) -> None:
        formats = row.formats or ()
        cells = [
            self._cell(value, formats[index] if index < len(formats) else None)
            for index, value in enumerate(_padded(row.values, self._width))
        ]
        self._sheet.append([*cells, *(_clean(text) or None for text in appended)])

    def finish(self) -> SheetOutput:
        buffer = io.BytesIO()
        with _MemoryZip(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            ExcelWriter(self._workbook, archive).write_data()
        return SheetOutput(SheetFormat.XLSX, (buffer.getvalue(),), deflated=False)

    def _cell(self, value: Any, number_format: str | None) -> Any:
        if isinstance(value, str):
            value = _clean(value)
            if value.startswith("="):  # text that happens to begin with "=" stays text, not a formula
                cell = WriteOnlyCell(self._sheet, value)
                cell.data_type = "s"
                return cell
        if number_format and value is not None:
            cell = WriteOnlyCell(self._sheet, value)
            cell.number_format = number_format
            return cell
        return value


# --- internals ---------------------------------------------------------------------------------------


def _persian_digits(text: str) -> str:
    return text.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _width(values: Sequence[Any]) -> int:
    """How many cells a row really has: trailing blanks do not count."""
    width = len(values)
    while width and _blank(values[width - 1]):
        width -= 1
    return width


def _padded(values: Sequence[Any], width: int) -> list[Any]:
    cells = list(values[:width])
    cells.extend([None] * (width - len(cells)))
    return cells


def _clean(text: str) -> str:
    """Control characters have no place in a worksheet (openpyxl refuses them)."""
    return str(ILLEGAL_CHARACTERS_RE.sub("", text))


def _header_keys(sheet: Sheet, width: int) -> list[str]:
    return [header_key(sheet.header[index]) if index < len(sheet.header) else "" for index in range(width)]


def _names_national_id(key: str) -> bool:
    return key in _NATIONAL_ID_HEADERS or "national" in key or ("ملی" in key and ("کد" in key or "شماره" in key))


def _looks_like_code(value: Any) -> bool:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return 1e18 <= abs(float(value)) < 1e20  # a code that became a number: still the code column
    if not isinstance(value, str):
        return False
    try:
        normalize_code(value)
    except InvalidFormatError:
        return False
    return True


def _looks_like_national_id(value: Any) -> bool:
    text = read_national_id_cell(value)
    if text is None:
        return False
    try:
        normalize_national_id(text)
    except InvalidNationalIdError:
        return False
    return True


def _share(sample: Sequence[SheetRow], column: int, test: Callable[[Any], bool]) -> float:
    """The share of a column's non-blank sample values that pass ``test``."""
    values = [row.value(column) for row in sample if not _blank(row.value(column))]
    return sum(1 for value in values if test(value)) / len(values) if values else 0.0


def _best(candidates: Sequence[int], scores: Sequence[float]) -> int | None:
    """The candidate with the strictly highest score; None when there is none or a tie."""
    if not candidates:
        return None
    ranked = sorted(candidates, key=lambda index: scores[index], reverse=True)
    if len(ranked) > 1 and scores[ranked[0]] == scores[ranked[1]]:
        return None
    return ranked[0]


def _resolve(sheet: Sheet, width: int, wanted: str | int) -> int:
    if isinstance(wanted, int) or wanted.strip().isdigit():
        index = int(wanted)
        if 0 <= index < width:
            return index
    else:
        key = header_key(wanted)
        matches = [index for index, name in enumerate(sheet.header) if key and header_key(name) == key]
        if len(matches) == 1:
            return matches[0]
    raise SheetError("unknown_column", column=wanted)


def _csv_encoding(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in data:
        head = data[:4096]
        if head[1::2].count(0) * 2 >= len(head[1::2]):
            return "utf-16-le"
        if head[0::2].count(0) * 2 >= len(head[0::2]):
            return "utf-16-be"
        raise SheetError("not_a_sheet")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), 1 << 20):
            decoder.decode(data[start : start + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1256"
    return "utf-8"


def _csv_delimiter(data: bytes, encoding: str) -> str:
    text = data[: 64 << 10].decode(encoding, errors="replace")
    line = next((line for line in text.splitlines() if line.strip()), "")
    counts = {delimiter: line.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _text_stream(data: bytes, encoding: str) -> IO[str]:
    return io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="replace", newline="")


def _csv_rows(data: bytes, encoding: str, delimiter: str) -> Iterator[SheetRow]:
    reader = csv.reader(_text_stream(data, encoding), delimiter=delimiter)
    try:
        for fields in reader:
            yield SheetRow(reader.line_num, tuple(fields))
    except csv.Error as error:
        raise SheetError("bad_csv", line=reader.line_num + 1) from error


def _open_workbook(data: bytes) -> Any:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as error:
        raise SheetError("bad_xlsx") from error
    strings = sum(member.file_size for member in members if member.filename.lower().endswith("sharedstrings.xml"))
    if sum(member.file_size for member in members) > XLSX_MAX_EXPANDED_BYTES or strings > XLSX_MAX_SHARED_STRINGS_BYTES:
        raise SheetError("too_big")
    try:
        with warnings.catch_warnings():  # openpyxl warns about features it drops; the officer's file is fine
            warnings.simplefilter("ignore")
            return load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception as error:  # untrusted bytes: whatever openpyxl trips on, the file is unreadable
        raise SheetError("bad_xlsx") from error


def _xlsx_rows(data: bytes) -> Iterator[SheetRow]:
    workbook = _open_workbook(data)
    try:
        if not workbook.worksheets:
            return
        worksheet = workbook.worksheets[0]
        worksheet.reset_dimensions()  # the declared size may be wrong; read what is there
        rows = worksheet.iter_rows()
        line = 0
        while True:
            try:
                cells = next(rows, None)
            except Exception as error:  # damaged sheet XML, found part-way
                raise SheetError("bad_xlsx") from error
            if cells is None:
                return
            line += 1
            yield SheetRow(line, tuple(cell.value for cell in cells), tuple(_number_format(cell) for cell in cells))
    finally:
        workbook.close()


def _number_format(cell: Any) -> str | None:
    number_format = getattr(cell, "number_format", None)
    return None if number_format in (None, "General") else str(number_format)
