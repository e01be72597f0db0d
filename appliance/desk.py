"""The HR desk: upload applicants' spreadsheet, watch the box check every code, download it answered.

An upload becomes a job. The request thread only reads the file's header and first rows
(to find the code column, or to show them so the officer can choose); the rows are
checked on one of ``WORKERS`` worker threads, each with its own request context (so
the audit log records the uploader's address and key, channel ``desk``) and its own
store connections, as every waitress thread has. The page polls a small JSON progress
route, so a file of 20,000 rows shows real progress, then downloads the answered file
once: a downloaded job is forgotten at once, any job nobody has looked at for
``JOB_IDLE_MINUTES`` is forgotten (a running one stops at its next row), and at most
``MAX_JOBS`` are held at once.

Privacy: the answers name the holders. A job's upload and answers live in this process's
memory only (bounded by ``max_body_bytes`` and ``bulk_max_rows``), never in a file: the
upload is parsed into memory here (Werkzeug would spool a large one to a temporary
file, so CSRFProtect, which would parse it first, is told to leave this form to us), the
answers are kept deflated, and only a job's id, row count and state are ever logged.
"""

from __future__ import annotations

import enum
import io
import logging
import secrets
import threading
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any
from urllib.parse import quote

from flask import Blueprint, Flask, Response, current_app, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, ValidationError, validate_csrf
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.formparser import FormDataParser
from werkzeug.test import EnvironBuilder

from appliance.bulk import RowWords, Wording
from appliance.security import csrf, limiter, require_verifier_access, verification_limit
from appliance.service import now, verify_many
from appliance.spreadsheets import (
    CellProblem,
    Columns,
    Sheet,
    SheetError,
    SheetOutput,
    SheetRow,
    cell_text,
    choose_columns,
    column_letter,
    columns_in,
    detect_columns,
    open_sheet,
    read_code_cell,
    read_national_id_cell,
    sheet_writer,
)
from appliance.store import BEFORE_CLOSE, app_config
from appliance.verification_budget import bulk_slots, charge_rows
from appliance.web_errors import ApiError
from verifier.errors import SehatError
from verifier.verdict import Status, Verdict

desk = Blueprint("desk", __name__, url_prefix="/desk")
logger = logging.getLogger(__name__)

EXTENSION = "sehat_desk"
JOB_IDLE_MINUTES = 5  # a job nobody has polled for this long is forgotten, a running one stopped; minutes
MAX_JOBS = 4  # jobs held at once (each holds its upload and its answers in memory)
MAX_JOBS_PER_CLIENT = 2  # of which one client address may hold
WORKERS = 2  # threads checking files, each with its own store connections
PREVIEW_ROWS = 5
# How each row counts on the page; "invalid": not a code or not a national ID; "unchecked": no code, or a number.
COUNT_KEYS = ("valid", "mismatch", "revoked", "superseded", "not_found", "invalid", "unchecked")


class JobState(enum.StrEnum):
    CHOOSE = "choose"  # the code column is not obvious: the officer picks it from the first rows
    QUEUED = "queued"
    COUNTING = "counting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DeskBusyError(ApiError):
    def __init__(self) -> None:
        super().__init__(
            503,
            "desk_busy",
            "The desk is busy with other files; try again in a few minutes.",
            "دستگاه در حال بررسی فایل‌های دیگری است؛ چند دقیقه دیگر دوباره تلاش کنید.",
        )


class JobGoneError(ApiError):
    def __init__(self) -> None:
        super().__init__(
            404,
            "desk_job_gone",
            f"This file is no longer on the box: its results were downloaded, or nobody looked at it for "
            f"{JOB_IDLE_MINUTES} minutes. Upload it again.",
            f"این فایل دیگر روی دستگاه نیست: یا نتیجهٔ آن دریافت شده یا {_persian(JOB_IDLE_MINUTES)} دقیقه "
            "بدون استفاده مانده است. آن را دوباره بارگذاری کنید.",
        )


class JobNotReadyError(ApiError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "desk_not_ready",
            "The results are not ready yet.",
            "نتیجه هنوز آماده نیست.",
        )


class _Abandoned(Exception):
    """The run a worker is doing was replaced (other columns chosen) or its job forgotten."""


@dataclass(frozen=True)
class Requester:
    """Who uploaded a job: only the same address may follow it, and the worker audits as them."""

    address: str
    api_key: Any
    operator: str | None

    @classmethod
    def current(cls) -> Requester:
        return cls(request.remote_addr or "", g.get("api_key"), g.get("operator"))


@dataclass(frozen=True)
class ColumnOption:
    index: int
    letter: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.letter} — {self.name}" if self.name else self.letter


@dataclass(frozen=True)
class JobView:
    """A job as its page and progress route show it, taken under the job's lock."""

    id: str
    name: str
    state: JobState
    total: int | None
    done: int
    counts: dict[str, int]
    error: tuple[str, str] | None  # (English, Persian)
    columns: Columns
    options: tuple[ColumnOption, ...]
    preview: tuple[tuple[str, ...], ...]

    @property
    def working(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.COUNTING, JobState.RUNNING)

    def option(self, index: int | None) -> ColumnOption | None:
        return self.options[index] if index is not None and index < len(self.options) else None


@dataclass
class DeskJob:
    """One upload and its answers, in memory only. The worker writes it and requests read it, under ``lock``."""

    id: str
    requester: Requester
    name: str  # the upload's file name, to name the download; never logged
    sheet: Sheet
    preview: tuple[SheetRow, ...]
    width: int
    columns: Columns
    touched: datetime
    state: JobState = JobState.CHOOSE
    run: int = 0
    total: int | None = None
    done: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    result: SheetOutput | None = None
    error: tuple[str, str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, columns: Columns) -> int:
        """A new run with these columns; a run still going stops at its next row."""
        with self.lock:
            self.run += 1
            self.columns, self.state, self.total, self.done = columns, JobState.QUEUED, None, 0
            self.counts, self.result, self.error = Counter(), None, None
            return self.run

    def abandon(self) -> None:
        with self.lock:
            self.run += 1
            self.result = None

    def update(self, run: int, state: JobState, total: int | None = None) -> None:
        with self.lock:
            self._check(run)
            self.state, self.total = state, total

    def advance(self, run: int, category: str | None) -> None:
        with self.lock:
            self._check(run)
            self.done += 1
            if category:
                self.counts[category] += 1

    def finish(self, run: int, result: SheetOutput) -> None:
        with self.lock:
            self._check(run)
            self.state, self.result = JobState.DONE, result

    def fail(self, run: int, message: str, message_fa: str) -> None:
        with self.lock:
            if self.run == run:
                self.state, self.error = JobState.FAILED, (message, message_fa)

    def view(self) -> JobView:
        with self.lock:
            return JobView(
                id=self.id,
                name=self.name,
                state=self.state,
                total=self.total,
                done=self.done,
                counts={key: self.counts[key] for key in COUNT_KEYS},
                error=self.error,
                columns=self.columns,
                options=tuple(
                    ColumnOption(index, column_letter(index), cell_text(self.sheet.header[index]).strip())
                    if index < len(self.sheet.header)
                    else ColumnOption(index, column_letter(index), "")
                    for index in range(self.width)
                ),
                preview=tuple(
                    tuple(cell_text(row.value(index)) for index in range(self.width)) for row in self.preview
                ),
            )

    def _check(self, run: int) -> None:
        if self.run != run:
            raise _Abandoned


class DeskJobs:
    """The box's desk jobs: bounded in number, forgotten when idle, each checked on a worker thread."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._jobs: dict[str, DeskJob] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sehat-desk")

    def add(self, job: DeskJob, moment: datetime) -> None:
        """Raises: DeskBusyError: the box, or this client, holds as many jobs as it may."""
        with self._lock:
            self._forget_idle(moment)
            mine = sum(1 for other in self._jobs.values() if other.requester.address == job.requester.address)
            if len(self._jobs) >= MAX_JOBS or mine >= MAX_JOBS_PER_CLIENT:
                raise DeskBusyError()
            self._jobs[job.id] = job

    def find(self, job_id: str, requester: Requester, moment: datetime) -> DeskJob:
        """The job, if it is still held and this client's; looking at it keeps it alive.

        Raises:
            JobGoneError: downloaded, forgotten, never existed, or another client's.
        """
        with self._lock:
            self._forget_idle(moment)
            job = self._jobs.get(job_id)
            if job is None or job.requester.address != requester.address:
                raise JobGoneError()
            job.touched = moment
            return job

    def take(self, job_id: str, requester: Requester, moment: datetime) -> tuple[DeskJob, SheetOutput]:
        """A finished job's results, handed over once: the job is forgotten with them."""
        job = self.find(job_id, requester, moment)
        with self._lock:
            if job.state is not JobState.DONE or job.result is None:
                raise JobNotReadyError()
            self._jobs.pop(job_id, None)
        return job, job.result

    def start(self, app: Flask, job: DeskJob, columns: Columns) -> None:
        run = job.begin(columns)
        self._executor.submit(_check_job, app, job, run)

    def close(self) -> None:
        """Stop every job and wait for the workers, so no worker touches a store being closed."""
        with self._lock:
            for job in self._jobs.values():
                job.abandon()
            self._jobs.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _forget_idle(self, moment: datetime) -> None:
        for job_id, job in list(self._jobs.items()):
            if moment - job.touched > timedelta(minutes=JOB_IDLE_MINUTES):
                job.abandon()
                del self._jobs[job_id]
                logger.info("desk job %s forgotten after %d idle minutes", job_id[:8], JOB_IDLE_MINUTES)


@desk.record_once
def _create_jobs(state: Any) -> None:
    desk_jobs = DeskJobs()
    state.app.extensions[EXTENSION] = desk_jobs
    state.app.extensions.setdefault(BEFORE_CLOSE, []).append(desk_jobs.close)


def jobs() -> DeskJobs:
    found: DeskJobs = current_app.extensions[EXTENSION]
    return found


# --- pages -----------------------------------------------------------------------------------------


@desk.get("")
@require_verifier_access
def page() -> str:
    return _upload_page()


@desk.post("/jobs")
@csrf.exempt  # checked by hand below, once the form is parsed into memory
@limiter.limit(verification_limit)
@require_verifier_access
def upload() -> ResponseReturnValue:
    form, files = _form_in_memory()
    _check_csrf(form.get("csrf_token"))
    upload = files.get("file")
    try:
        if upload is None or not upload.filename:
            raise SheetError("no_file")
        try:
            sheet = open_sheet(upload.read())
        finally:
            upload.close()
        sample = sheet.sample()
        columns = detect_columns(sheet, sample)
    except SheetError as error:
        return _upload_page(error), error.http_status
    moment = now()
    job = DeskJob(
        id=secrets.token_urlsafe(18),
        requester=Requester.current(),
        name=_file_name(upload.filename),
        sheet=sheet,
        preview=tuple(sample[:PREVIEW_ROWS]),
        width=columns_in(sheet, sample),
        columns=columns,
        touched=moment,
    )
    jobs().add(job, moment)
    if columns.ready:
        jobs().start(current_app._get_current_object(), job, columns)  # type: ignore[attr-defined]
    logger.info("desk job %s: %s upload, columns %s", job.id[:8], sheet.format.value, columns.found_by or "to choose")
    return redirect(url_for("desk.job_page", job_id=job.id), 303)


@desk.get("/jobs/<job_id>")
@require_verifier_access
def job_page(job_id: str) -> str:
    return _job_page(jobs().find(job_id, Requester.current(), now()))


@desk.post("/jobs/<job_id>/columns")
@limiter.limit(verification_limit)
@require_verifier_access
def choose(job_id: str) -> ResponseReturnValue:
    job = jobs().find(job_id, Requester.current(), now())
    try:
        columns = choose_columns(
            job.sheet, job.width, request.form.get("code_column", ""), request.form.get("national_id_column") or None
        )
    except SheetError as error:
        return _job_page(job, error), error.http_status
    jobs().start(current_app._get_current_object(), job, columns)  # type: ignore[attr-defined]
    return redirect(url_for("desk.job_page", job_id=job.id), 303)


@desk.get("/jobs/<job_id>/progress")
@require_verifier_access
def progress(job_id: str) -> Response:
    view = jobs().find(job_id, Requester.current(), now()).view()
    return jsonify(
        {
            "state": view.state.value,
            "done": view.done,
            "total": view.total,
            "counts": view.counts,
            "error": {"message": view.error[0], "message_fa": view.error[1]} if view.error else None,
            "download": url_for("desk.download", job_id=view.id) if view.state is JobState.DONE else None,
        }
    )


@desk.get("/jobs/<job_id>/download")
@require_verifier_access
def download(job_id: str) -> Response:
    job, output = jobs().take(job_id, Requester.current(), now())
    response = Response(output.chunks(), content_type=output.format.media_type)
    name = f"{job.name}-sehat.{output.format.value}"
    response.headers["Content-Disposition"] = f"attachment; filename=sehat-results.{output.format.value}; " + (
        f"filename*=UTF-8''{quote(name)}"
    )
    logger.info("desk job %s downloaded and forgotten", job.id[:8])
    return response


def _upload_page(error: SehatError | None = None) -> str:
    config = app_config()
    return render_template(
        "desk.html",
        job=None,
        error=error,
        max_rows=config.bulk_max_rows,
        max_megabytes=config.max_body_bytes >> 20,
        idle_minutes=JOB_IDLE_MINUTES,
    )


def _job_page(job: DeskJob, error: SehatError | None = None) -> str:
    return render_template("desk.html", job=job.view(), error=error, idle_minutes=JOB_IDLE_MINUTES)


# --- the upload, in memory -------------------------------------------------------------------------


def _in_memory(
    total_content_length: int | None, content_type: str | None, filename: str | None, content_length: int | None = None
) -> IO[bytes]:
    """Where an uploaded file's bytes go: memory, bounded by ``max_body_bytes`` — never a temporary file."""
    return io.BytesIO()


def _form_in_memory() -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
    parser = FormDataParser(
        _in_memory,
        max_form_memory_size=request.max_form_memory_size,
        max_content_length=request.max_content_length,
        max_form_parts=request.max_form_parts,
    )
    _, form, files = parser.parse(request.stream, request.mimetype, request.content_length, request.mimetype_params)
    return form, files


def _check_csrf(token: str | None) -> None:
    try:
        validate_csrf(token)
    except ValidationError as error:
        raise CSRFError(error.args[0]) from error


def _file_name(filename: str) -> str:
    """The upload's name without folders, extension or control characters, to name the results after it."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return "".join(char for char in stem if char.isprintable() and char not in '"')[:80].strip() or "sehat"


def _persian(number: int) -> str:
    return str(number).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))


# --- the worker ------------------------------------------------------------------------------------


def _check_job(app: Flask, job: DeskJob, run: int) -> None:
    """Check a job's rows on a worker thread, in a request context of its own (as the uploader) and its stores."""
    environ = EnvironBuilder(path="/desk/jobs", environ_base={"REMOTE_ADDR": job.requester.address}).get_environ()
    with app.request_context(environ):
        g.api_key = job.requester.api_key
        g.operator = job.requester.operator
        try:
            with bulk_slots().taken_in_turn():
                job.finish(run, _answer(job, run))
            logger.info("desk job %s done: %d rows", job.id[:8], job.done)
        except _Abandoned:
            logger.info("desk job %s: run %d stopped", job.id[:8], run)
        except SehatError as error:  # a file unreadable part-way, too many rows, or the store
            job.fail(run, error.message, error.message_fa)
            logger.info("desk job %s failed: %s", job.id[:8], error.code)
        except ApiError as error:  # its rows are more than the asker may have checked now
            job.fail(run, error.message, error.message_fa)
            logger.info("desk job %s refused: %s", job.id[:8], error.code)
        except Exception as error:  # logged by type only: its message could quote a cell
            fallback = ApiError(500, "internal_error")
            job.fail(run, fallback.message, fallback.message_fa)
            logger.error("desk job %s failed: %s", job.id[:8], type(error).__name__)


def _answer(job: DeskJob, run: int) -> SheetOutput:
    columns = job.columns
    job.update(run, JobState.COUNTING)
    shape = job.sheet.measure(app_config().bulk_max_rows)
    charge_rows(shape.rows, "desk")
    job.update(run, JobState.RUNNING, shape.rows)
    wording = Wording.load()
    writer = sheet_writer(job.sheet, shape.width, wording.header_cells())
    for row, words, category in _answered_rows(job.sheet, columns, wording):
        writer.write_row(row, words.cells())
        job.advance(run, category)
    return writer.finish()


def _answered_rows(sheet: Sheet, columns: Columns, wording: Wording) -> Iterator[tuple[SheetRow, RowWords, str | None]]:
    """Every row in file order with its words; rows with a code are verified (and audited) by ``verify_many``.

    Rows without a code to check (blank, empty code cell, a number) are not verified and not
    audited; they wait in ``waiting`` until the verified row after them comes back.
    """
    waiting: deque[tuple[SheetRow, RowWords | None, str | None]] = deque()

    def codes() -> Iterator[tuple[int, str, str | None]]:
        for row in sheet.rows():
            if row.blank:
                waiting.append((row, RowWords(), None))
                continue
            cell = read_code_cell(row.value(columns.code))
            if cell.problem is CellProblem.NUMBER:
                waiting.append((row, wording.number_words(cell.shown), "unchecked"))
            elif cell.problem is CellProblem.EMPTY:
                waiting.append((row, wording.no_code_words(), "unchecked"))
            else:
                waiting.append((row, None, None))
                yield row.line, cell.text, read_national_id_cell(row.value(columns.national_id))

    for _line, outcome in verify_many(codes(), "desk"):
        while waiting:
            row, words, category = waiting.popleft()
            if words is None:
                yield row, wording.verdict_words(outcome.verdict, outcome.national_id_note), _category(outcome.verdict)
                break
            yield row, words, category
    yield from waiting  # type: ignore[misc]


def _category(verdict: Verdict) -> str:
    if verdict.status is Status.VALID:
        mismatch = verdict.holder is not None and verdict.holder.national_id_match is False
        return "mismatch" if mismatch else "valid"
    if verdict.status is Status.INVALID_FORMAT:
        return "invalid"
    return verdict.status.value
