"""Group commit for the audit log: one writer thread, one transaction and one fsync per batch.

Every verification is in the audit log, durably, before it is answered. With one
connection per web thread, each answer cost its own ``BEGIN IMMEDIATE … COMMIT`` and
fsync, and the threads queued on SQLite's write lock one fsync at a time. Here the
threads hand their entries to a single writer instead: while it commits one batch, the
entries that arrive meanwhile wait in a bounded queue, and the next batch takes them
all — as many verifications as arrived during one fsync share the next.

What a caller is promised is unchanged:

- ``append`` returns only once its entries are committed (``synchronous=FULL``: on
  disk), so an answer never leaves the box ahead of its audit record;
- entries are chained in commit order by ``AuditLog.append``, exactly as before, and a
  caller's entries are never split across transactions;
- if a batch's commit fails, the whole transaction is rolled back and *every* caller in
  that batch gets ``AuditWriteError`` (the request fails; nothing is half-written);
- the queue is bounded (``QUEUE_BOUND`` submissions): when it is full, callers wait —
  back-pressure, never unbounded memory;
- ``close`` writes everything already queued, then stops the thread; an ``append``
  after it raises ``AuditWriteError``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from appliance.audit import AuditEntry, AuditLog
from storage.errors import StoreError

logger = logging.getLogger(__name__)

QUEUE_BOUND = 1024  # submissions waiting for the writer; more callers wait to enqueue (back-pressure)
MAX_BATCH_ENTRIES = 2000  # entries gathered into one transaction (one caller's entries are never split)


class AuditWriteError(StoreError):
    """The audit log could not record a verification, so it must not be answered."""

    code = "audit_write_failed"


@dataclass
class _Submission:
    """One caller's entries and the event it waits on until their batch is committed (or failed)."""

    entries: Sequence[AuditEntry]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


@dataclass
class WriterCounts:
    """What the writer has done, for metrics and tests: commits made and entries committed."""

    commits: int = 0
    entries: int = 0
    failed_commits: int = 0


class AuditWriter:
    """The one thread that appends to the audit log for a whole app; ``append`` is safe from any thread."""

    def __init__(self, log: AuditLog, *, queue_bound: int = QUEUE_BOUND, max_batch: int = MAX_BATCH_ENTRIES) -> None:
        self._log = log
        # None is the stop marker queued by close(): the writer finishes what came before it, then exits.
        self._queue: queue.Queue[_Submission | None] = queue.Queue(maxsize=queue_bound)
        self._max_batch = max_batch
        self._closed = False
        self._enqueue_lock = threading.Lock()  # no append may slip in behind the stop marker
        self.counts = WriterCounts()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Submissions queued and not yet taken by the writer (a gauge for metrics: how far behind it is)."""
        return self._queue.qsize()

    def append(self, entries: Sequence[AuditEntry]) -> None:
        """Chain ``entries`` onto the log; return once they are durable.

        Raises:
            AuditWriteError: the batch they were in failed to commit, or the writer is closed.
        """
        if not entries:
            return
        submission = _Submission(list(entries))
        with self._enqueue_lock:
            if self._closed:
                raise AuditWriteError(
                    "The audit log is closed; the verification was not recorded.",
                    "دفتر ممیزی بسته است؛ استعلام ثبت نشد.",
                )
            self._queue.put(submission)  # blocks while the queue is full
        submission.done.wait()
        if submission.error is not None:
            raise AuditWriteError(
                f"The audit log could not record the verification: {submission.error}",
                "دفتر ممیزی نتوانست استعلام را ثبت کند.",
            ) from submission.error

    def close(self) -> None:
        """Write every entry already queued, stop the thread, and close the writer's connection."""
        with self._enqueue_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        self._log.close()

    def _run(self) -> None:
        """Take what is queued (at least one, up to ``max_batch`` entries) and commit it, until stopped.

        No waiting for a batch to fill: the batch is whatever queued up during the last commit.
        """
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch: list[_Submission] = []
            size = 0
            while True:
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
                    size += len(item.entries)
                if stopping or size >= self._max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, submissions: list[_Submission]) -> None:
        """One transaction for the whole batch; then wake every caller in it, with the error if it failed."""
        if not submissions:
            return
        entries = [entry for submission in submissions for entry in submission.entries]
        try:
            self._log.append(entries)
        except BaseException as error:  # every caller must hear of it, or it would wait for ever
            logger.error("audit log: a batch of %d entries was not committed: %s", len(entries), error)
            self.counts.failed_commits += 1
            for submission in submissions:
                submission.error = error
        else:
            self.counts.commits += 1
            self.counts.entries += len(entries)
        for submission in submissions:
            submission.done.set()
