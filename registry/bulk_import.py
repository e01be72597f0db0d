"""Importing a CSV file of any size: checked whole first, sealed on every core, resumable after a kill.

An import reads its file three times and never holds more than a few batches of rows:

1. **Identify.** The SHA-256 of the file names the import. A file imported whole before is
   not imported again (its codes can be printed again); one an earlier run did not finish
   resumes where that run stopped.
2. **Check.** Every row is checked and every problem named by its line; if any row is bad,
   nothing is imported. Codes the file supplies go to the ``import_pending`` table
   (``registry.import_ledger``), where a code repeated within the file or already issued
   shows up without a set of every code in memory; their randomness is estimated from a
   uniform sample (``CodeSample``).
3. **Seal and store.** Rows are encoded on the calling thread (a new catalogue name is stored
   as it first appears, which is not thread-safe), sealed — one scrypt each — by a pool of
   threads (scrypt releases the GIL, so every core works), and committed in file order,
   one batch per transaction together with the import's progress row. While the pool seals
   one batch, the calling thread stores the batch before it.

A run killed at any point leaves whole batches committed and the progress row saying up to
which line; the next run of the same file skips those rows — they are neither sealed nor
stored again — and carries on. The registry then holds exactly the rows of one clean import.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO

from registry.code_randomness import (
    RandomnessEstimate,
    estimate_code_randomness,
    kdf_cost_restoring_bound,
    patterned_code_estimate,
)
from registry.config import RegistryConfig
from registry.errors import (
    ImportBusyError,
    ImportChangedError,
    ImportRejectedError,
    RecordStateError,
    RowProblem,
    WeakCodesError,
)
from registry.import_ledger import ImportLedger, ImportState
from registry.importer import ImportRow, iter_import_rows
from registry.store import StoredRecord
from storage.database import transaction
from verifier.canonical import format_timestamp
from verifier.records import Document, RecordPayload
from verifier.sealing import KdfParams

if TYPE_CHECKING:
    from registry.registry import Registry

CHECKING = "checking"
SEALING = "sealing"


@dataclass(frozen=True)
class ImportSource:
    """An import file: its name for messages, and how to open it (again) for reading bytes."""

    name: str
    open: Callable[[], BinaryIO]


@dataclass(frozen=True)
class ImportProgress:
    """Where an import is, for a progress display."""

    phase: str  # CHECKING or SEALING
    rows: int  # checking: rows read so far; sealing: rows imported, earlier runs' included
    total: int | None  # data rows in the file; None while checking
    resumed_from: int  # rows an earlier, interrupted run of this file had imported


ProgressCallback = Callable[[ImportProgress], None]


@dataclass(frozen=True)
class ImportSummary:
    """What an import did. The codes are not held here (there may be millions): see ``Registry.import_codes``."""

    sha256: str  # names the import; the key of its codes
    rows: int  # data rows in the file
    imported: int  # rows this run imported
    resumed_from: int  # rows an earlier, interrupted run had imported
    repeated: bool  # the file had been imported whole before: nothing was done
    finished_at: str


def default_workers() -> int:
    """One sealing thread per core this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class CodeSample:
    """A uniform random sample of at most ``size`` codes (reservoir sampling, Vitter's algorithm R).

    The randomness estimate sorts and counts the codes it is given; fed every code of a file
    of millions it would hold them all. A uniform sample of 100,000 (the default size) judges
    what it looks for — skewed positions, shared prefixes, a narrow numeric range — nearly as
    well as the whole: per-position entropies are then off by well under a hundredth of a bit,
    the range of the sample spans all but about 1/100,000 of the whole range, and prefixes
    are judged up to about one digit shorter than with ten times as many codes. The one
    test about single codes, a patterned code, runs on every code instead
    (``code_randomness.patterned_code_estimate``). The generator is seeded from the file's
    SHA-256, so a resumed run of the same file draws the same sample and reaches the same verdict.
    """

    def __init__(self, size: int, seed: str) -> None:
        self.size = size
        self.codes: list[str] = []
        self.seen = 0
        self._random = random.Random(seed)

    def add(self, code: str) -> None:
        self.seen += 1
        if len(self.codes) < self.size:
            self.codes.append(code)
            return
        slot = self._random.randrange(self.seen)
        if slot < self.size:
            self.codes[slot] = code


class _HashedLines:
    """The lines of a binary stream, hashed as they are read: proof the pass read the file identified."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.digest = hashlib.sha256()

    def readline(self, size: int = -1, /) -> bytes:
        data = self._stream.readline(size)
        self.digest.update(data)
        return data


class _PendingCodes:
    """The codes a file supplies, noted in ``import_pending`` a batch at a time.

    Each batch is one short write transaction: the registry's lock is not held for the
    whole check, so a scheduled publish is not kept waiting behind a long file.
    """

    def __init__(self, ledger: ImportLedger, sha256: str, size: int) -> None:
        self.ledger = ledger
        self.sha256 = sha256
        self.size = size
        self.unsaved: dict[str, int] = {}

    def add(self, code: str, line: int) -> int | None:
        """Note ``code`` at ``line``; if an earlier line supplies it already, return that line instead."""
        first = self.unsaved[code] if code in self.unsaved else self.ledger.pending_line(self.sha256, code)
        if first is not None:
            return first
        self.unsaved[code] = line
        if len(self.unsaved) >= self.size:
            self.flush()
        return None

    def flush(self) -> None:
        if self.unsaved:
            with transaction(self.ledger.connection):
                self.ledger.add_pending(self.sha256, self.unsaved.items())
            self.unsaved.clear()


class _ReservedCodes:
    """Codes a freshly issued code must not take: those of uncommitted batches, and those files being imported supply.

    Issued codes are only stored when their batch commits, and the file's own codes only
    when the import reaches their line; ``Registry.issue_code`` checks the stored ones itself.
    """

    def __init__(self, ledger: ImportLedger) -> None:
        self._ledger = ledger
        self.held: set[str] = set()  # at most two batches' worth

    def __contains__(self, code: object) -> bool:
        return code in self.held or (isinstance(code, str) and self._ledger.is_pending(code))


@dataclass(frozen=True)
class _Checked:
    rows: int
    weak_bits: int | None  # the estimate to record in the signed profile, if the codes are weak


@dataclass(frozen=True)
class _Batch:
    lines: list[int]
    records: list[StoredRecord]  # not yet sealed: lookup_id and box are empty
    sealed: list[Future[tuple[bytes, bytes]]]
    issued: list[str]  # codes issued fresh for this batch


class BulkImport:
    """One import run against an open registry; ``run`` does the work.

    Args:
        registry: the registry to import into (used on the calling thread only).
        config: batch size, sealing threads, problem-list and code-sample sizes.
        min_code_bits: supplied codes estimated below this are refused unless accepted.
    """

    def __init__(self, registry: Registry, config: RegistryConfig, min_code_bits: int) -> None:
        self.registry = registry
        self.config = config
        self.min_code_bits = min_code_bits
        self.ledger = ImportLedger(registry.connection)

    def run(
        self,
        source: ImportSource,
        now: datetime,
        *,
        accept_weak_codes: bool = False,
        workers: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ImportSummary:
        """Import ``source`` whole (or finish an interrupted import of it); see the module docstring.

        Raises:
            ImportRejectedError: bad rows, each named by line; nothing was imported.
            WeakCodesError: the supplied codes look non-random; nothing was imported.
            ImportChangedError: the file changed while it was read.
            ImportBusyError: another process is importing the same file.
        """
        report = on_progress or (lambda progress: None)
        sha256 = _file_sha256(source)
        earlier = self.ledger.state(sha256)
        if earlier is not None and earlier.done:
            return ImportSummary(sha256, earlier.rows, 0, earlier.committed, True, earlier.finished_at or "")
        checked = self._check(source, sha256, now, earlier, accept_weak_codes, report)
        with transaction(self.registry.connection):
            state = self.ledger.begin(sha256, checked.rows, format_timestamp(now))
        report(ImportProgress(SEALING, state.committed, state.rows, state.committed))
        threads = workers or self.config.import_workers or default_workers()
        imported = self._seal_and_store(source, state, now, checked.weak_bits, threads, report)
        finished_at = format_timestamp(now)
        with transaction(self.registry.connection):
            self.ledger.finish(sha256, finished_at)
        return ImportSummary(sha256, state.rows, imported, state.committed, False, finished_at)

    # --- the checking pass ------------------------------------------------------------------------

    def _check(
        self,
        source: ImportSource,
        sha256: str,
        now: datetime,
        earlier: ImportState | None,
        accept_weak_codes: bool,
        report: ProgressCallback,
    ) -> _Checked:
        """Check every row, note the supplied codes as pending; raise if anything is wrong."""
        connection = self.registry.connection
        scheme = self.registry.profile.check_digits
        problems: list[RowProblem] = []
        omitted = 0
        sample = CodeSample(self.config.import_code_sample, sha256)
        weakest = RandomnessEstimate(math.inf, "no patterned code")
        rows = 0
        with transaction(connection):
            self.ledger.clear_pending(sha256)  # what a killed check left
        pending = _PendingCodes(self.ledger, sha256, self.config.import_batch_rows)
        with source.open() as raw:
            stream = _HashedLines(raw)
            for item in iter_import_rows(stream, now.date(), scheme):
                problem = item if isinstance(item, RowProblem) else None
                if isinstance(item, ImportRow):
                    rows += 1
                    if item.code is not None:
                        problem = self._check_supplied(pending, item.line, item.code)
                        sample.add(item.code)
                        weakest = min(weakest, patterned_code_estimate(item.code, scheme), key=_bits)
                    if rows % self.config.import_batch_rows == 0:
                        report(ImportProgress(CHECKING, rows, None, earlier.committed if earlier else 0))
                if problem is not None:
                    if len(problems) < self.config.import_max_problems:
                        problems.append(problem)
                    else:
                        omitted += 1
        try:
            if problems:
                raise ImportRejectedError(problems, omitted)
            pending.flush()
            if stream.digest.hexdigest() != sha256:
                raise ImportChangedError(source.name)
            estimate = None
            if sample.codes:
                estimate = min(estimate_code_randomness(sample.codes, scheme), weakest, key=_bits)
            weak = estimate is not None and estimate.bits < self.min_code_bits
            # A resumed import was accepted when it began: its first run checked the same codes.
            if weak and not accept_weak_codes and not (earlier and earlier.committed):
                assert estimate is not None
                raise WeakCodesError(
                    estimate.bits,
                    estimate.reason,
                    self.min_code_bits,
                    kdf_cost_restoring_bound(estimate.bits, self.min_code_bits, KdfParams().log2_n),
                )
        except BaseException:
            with transaction(connection):
                self.ledger.clear_pending(sha256)
            raise
        return _Checked(rows, estimate.whole_bits if weak and estimate is not None else None)

    def _check_supplied(self, pending: _PendingCodes, line: int, code: str) -> RowProblem | None:
        first = pending.add(code, line)
        if first is not None:
            return RowProblem(line, f"code repeats the code of line {first}")
        if self.registry.store.code_exists(code) and self.ledger.committed_code(pending.sha256, line) != code:
            return RowProblem(line, "code is already issued")
        return None

    # --- the sealing pass -------------------------------------------------------------------------

    def _seal_and_store(
        self,
        source: ImportSource,
        state: ImportState,
        now: datetime,
        weak_bits: int | None,
        workers: int,
        report: ProgressCallback,
    ) -> int:
        """Seal the rows after ``state.last_line`` on ``workers`` threads and store them in order; return how many."""
        reserved = _ReservedCodes(self.ledger)
        size = self.config.import_batch_rows
        imported = 0
        pending: deque[_Batch] = deque()

        def store_oldest() -> None:
            nonlocal imported
            imported += self._store(source, state, pending.popleft(), now, weak_bits, reserved)
            report(ImportProgress(SEALING, state.committed + imported, state.rows, state.committed))

        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sehat-seal")
        try:
            with source.open() as raw:
                stream = _HashedLines(raw)
                rows: list[ImportRow] = []
                read = 0
                for item in iter_import_rows(stream, now.date(), self.registry.profile.check_digits):
                    read += 1
                    # A bad row passed the check, or a row more than it counted: the file changed since.
                    if not isinstance(item, ImportRow) or read > state.rows:
                        raise ImportChangedError(source.name)
                    if item.line <= state.last_line:  # committed by an earlier run
                        continue
                    rows.append(item)
                    if len(rows) == size:
                        pending.append(self._submit(pool, rows, reserved))
                        rows = []
                        if len(pending) > 1:  # the pool seals the newer batch meanwhile
                            store_oldest()
                if rows:
                    pending.append(self._submit(pool, rows, reserved))
                while pending:
                    store_oldest()
            if read != state.rows or stream.digest.hexdigest() != state.sha256:
                raise ImportChangedError(source.name)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return imported

    def _submit(self, pool: ThreadPoolExecutor, rows: list[ImportRow], reserved: _ReservedCodes) -> _Batch:
        """Encode ``rows`` here (catalogue writes stay on this thread) and hand their sealing to ``pool``."""
        registry = self.registry
        batch = _Batch([], [], [], [])
        for row in rows:
            code = row.code
            if code is None:
                code = registry.issue_code(reserved)
                reserved.held.add(code)
                batch.issued.append(code)
            document = Document(
                document_type=row.document_type,
                degree_level=row.degree_level,
                field=row.field,
                institution=row.institution,
                issued_on=row.issued_on,
            )
            plaintext = registry.payload_bytes(
                RecordPayload(document=document, holder_name=row.full_name, national_id=row.national_id)
            )
            batch.lines.append(row.line)
            batch.records.append(
                StoredRecord(
                    code=code,
                    lookup_id=b"",
                    national_id=row.national_id,
                    full_name=row.full_name,
                    document_type=row.document_type,
                    degree_level=row.degree_level,
                    field=row.field,
                    institution=row.institution,
                    issued_on=row.issued_on,
                    revocation_reason=None,
                    revoked_on=None,
                    superseded_by=None,
                    box=b"",
                    seq=0,
                )
            )
            batch.sealed.append(pool.submit(registry.seal_plaintext, code, plaintext))
        return batch

    def _store(
        self,
        source: ImportSource,
        state: ImportState,
        batch: _Batch,
        now: datetime,
        weak_bits: int | None,
        reserved: _ReservedCodes,
    ) -> int:
        """Commit one sealed batch with the import's progress, in one transaction; return its rows."""
        registry = self.registry
        sealed = []
        for record, future in zip(batch.records, batch.sealed, strict=True):
            lookup_id, box = future.result()
            sealed.append(replace(record, lookup_id=lookup_id, box=box))
        with transaction(registry.connection):
            current = self.ledger.state(state.sha256)
            if current is None or current.done or current.last_line >= batch.lines[0]:
                raise ImportBusyError(source.name)
            for record in sealed:
                if registry.store.code_exists(record.code):  # issued by another import meanwhile
                    raise RecordStateError(
                        "A code was issued meanwhile; import the file again.",
                        "هم‌زمان کدی صادر شد؛ فایل را دوباره وارد کنید.",
                    )
            registry._store_changes(sealed, "issue", now)
            self.ledger.record_batch(
                state.sha256, [(line, record.code) for line, record in zip(batch.lines, sealed, strict=True)]
            )
            if weak_bits is not None:
                registry._record_code_bits(weak_bits)
        reserved.held.difference_update(batch.issued)
        return len(sealed)


def _file_sha256(source: ImportSource) -> str:
    digest = hashlib.sha256()
    with source.open() as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _bits(estimate: RandomnessEstimate) -> float:
    return estimate.bits
