"""The sync agent: every trusted issuer, each on its own, on a schedule or on demand.

One failing or slow issuer never blocks the others: issuers sync side by side, each
in its own thread with its own connection to the replica and its own time budget
(every download has a deadline scaled to its announced size), and each outcome —
applied, already current, refused, failed — goes into the sync history with a
one-line reason, whatever went wrong. Downloads run in parallel; writes to the
replica take turns behind one lock, so a snapshot's new generation never races
another issuer's segment. Only one process syncs a data directory at a time.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from appliance.clock import Clock, utc_now
from appliance.datadir import DataDir
from appliance.replica import Replica, SyncRecord
from storage.database import DatabaseError
from sync_agent.config import SyncConfig
from sync_agent.transport import BundleFetcher, Fetcher, HttpFetcher
from sync_agent.updater import IssuerUpdater
from verifier.errors import ExpiredHeadError, FeedError, OperatorError, SehatError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncOutcome:
    """What one sync of one issuer came to; ``error`` is the one-line reason when it failed."""

    issuer: str
    source: str
    outcome: str  # updated, current, stale, refused, failed
    seq_before: int
    seq_after: int
    bytes: int
    duration_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.outcome in ("updated", "current")

    def describe(self) -> str:
        if self.outcome == "updated":
            return f"{self.issuer}: updated seq {self.seq_before} → {self.seq_after} ({self.bytes} bytes)"
        if self.outcome == "current":
            return f"{self.issuer}: already current at seq {self.seq_after}"
        return f"{self.issuer}: {self.outcome} — {self.error}"


def _outcome_of(error: SehatError) -> str:
    if isinstance(error, ExpiredHeadError):
        return "stale"
    if isinstance(error, FeedError):
        return "refused"
    return "failed"


class _SharedSyncLock:
    """The data directory's sync lock, held while any of this process's issuer threads syncs.

    ``flock`` locks belong to an open file, so threads of one process must share one
    holding rather than each take it: the first thread in takes it, the last out releases it.
    """

    def __init__(self, datadir: DataDir) -> None:
        self.datadir = datadir
        self._mutex = threading.Lock()
        self._holders = 0
        self._held: AbstractContextManager[None] | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._mutex:
            if self._holders == 0:
                lock = self.datadir.sync_lock()
                lock.__enter__()  # raises SyncBusyError when another process syncs
                self._held = lock
            self._holders += 1
        try:
            yield
        finally:
            with self._mutex:
                self._holders -= 1
                if self._holders == 0 and self._held is not None:
                    self._held.__exit__(None, None, None)
                    self._held = None


class SyncAgent:
    """Syncs the replica in ``datadir`` from its issuers' feeds or from bundles."""

    def __init__(
        self,
        datadir: DataDir,
        config: SyncConfig | None = None,
        clock: Clock = utc_now,
        fetcher_factory: Callable[[str, SyncConfig], Fetcher] | None = None,
    ) -> None:
        self.datadir = datadir
        self.config = config or SyncConfig()
        self.clock = clock
        self.fetcher_factory = fetcher_factory or (lambda url, config: HttpFetcher(url, config))
        self._lock = _SharedSyncLock(datadir)
        self._writes = threading.RLock()  # one writer at a time across this agent's issuer threads
        self._followers: list[threading.Thread] = []  # run()'s issuer loops

    def _sync_issuer(self, replica: Replica, issuer: str, fetcher: Fetcher) -> SyncOutcome:
        started, clock_started = time.monotonic(), self.clock()
        with self._writes:
            replica.refresh()
            before = replica.issuer_state(issuer).seq
        updater = IssuerUpdater(replica, issuer, fetcher, self.config, self.clock, self._writes)
        try:
            result = updater.run()
            outcome, error = result.outcome, None
        except SehatError as failure:
            outcome, error = _outcome_of(failure), failure.message
            logger.warning("sync of %s from %s: %s", issuer, fetcher.source, error)
        except DatabaseError as failure:
            outcome, error = "failed", f"replica store error: {failure}"
            logger.error("sync of %s from %s: %s", issuer, fetcher.source, error)
        except OSError as failure:
            outcome, error = "failed", f"local file error: {failure.strerror or failure}"
            logger.warning("sync of %s from %s: %s", issuer, fetcher.source, error)
        except Exception as failure:  # one issuer's bug must not stop the others; it is recorded
            outcome, error = "failed", f"internal error: {type(failure).__name__}: {failure}"
            logger.exception("sync of %s from %s failed unexpectedly", issuer, fetcher.source)
        finally:
            fetcher.close()
            self._prune_downloads()
        with self._writes:
            replica.refresh()
            after = replica.issuer_state(issuer).seq
        record = SyncOutcome(
            issuer=issuer,
            source=fetcher.source,
            outcome=outcome,
            seq_before=before,
            seq_after=after,
            bytes=updater.downloaded,
            duration_ms=int((time.monotonic() - started) * 1000),
            error=error,
        )
        with self._writes:
            replica.refresh()
            replica.record_sync(
                SyncRecord(
                    issuer=issuer,
                    source=record.source,
                    started_at=clock_started,
                    duration_ms=record.duration_ms,
                    outcome=record.outcome,
                    seq_before=record.seq_before,
                    seq_after=record.seq_after,
                    bytes=record.bytes,
                    error=record.error,
                ),
                succeeded=record.ok,
            )
        return record

    def _prune_downloads(self) -> None:
        """Remove downloads nobody resumed for a week (a cut transfer of a feed since moved on)."""
        cutoff = time.time() - self.config.download_max_age_days * 86400
        if not self.datadir.downloads.is_dir():
            return
        for path in self.datadir.downloads.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)

    def sync_once(self, feeds: dict[str, str] | None = None, only: list[str] | None = None) -> list[SyncOutcome]:
        """Sync every issuer (or those in ``only``) over HTTP, side by side; ``feeds`` overrides feed URLs.

        Returns the outcomes in issuer order once every issuer's sync has ended; each
        issuer's result is in the replica as soon as that issuer is done.
        """
        with self._lock.held():
            with self._writes, Replica.open(self.datadir) as replica:
                replica.remove_unfinished_generations()
                urls: dict[str, str | None] = {}
                for state in replica.issuer_states():
                    if only is not None and state.issuer not in only:
                        continue
                    urls[state.issuer] = (feeds or {}).get(state.issuer) or state.feed_url
                    if feeds and state.issuer in feeds and feeds[state.issuer] != state.feed_url:
                        replica.set_feed_url(state.issuer, feeds[state.issuer])
            outcomes: dict[str, SyncOutcome] = {}
            threads = [
                threading.Thread(
                    target=self._sync_in_thread, args=(issuer, url, outcomes), name=f"sync-{issuer}", daemon=True
                )
                for issuer, url in urls.items()
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        return [outcomes[issuer] for issuer in urls if issuer in outcomes]

    def _sync_in_thread(self, issuer: str, url: str | None, outcomes: dict[str, SyncOutcome]) -> None:
        """One issuer's sync on its own connection; whatever happens, an outcome is recorded."""
        try:
            with Replica.open(self.datadir) as replica:
                if not url:
                    outcomes[issuer] = self._no_feed(replica, issuer)
                    return
                outcomes[issuer] = self._sync_issuer(replica, issuer, self.fetcher_factory(url, self.config))
        except Exception as failure:  # recorded; the other issuers go on
            logger.exception("sync of %s could not run", issuer)
            outcomes[issuer] = SyncOutcome(issuer, "http", "failed", 0, 0, 0, 0, f"could not run: {failure}")

    def _no_feed(self, replica: Replica, issuer: str) -> SyncOutcome:
        seq = replica.issuer_state(issuer).seq
        return SyncOutcome(issuer, "http", "failed", seq, seq, 0, 0, "no feed URL configured (use --feed)")

    def import_bundle(self, path: Path) -> SyncOutcome:
        """Apply an offline bundle through the same verification and apply path as a download.

        The bundle is opened, and refused unless it is a regular file, before the sync lock is
        taken: a named pipe or device given by mistake must not hold every other sync up.
        """
        fetcher = BundleFetcher(path, self.config)
        try:
            with self._lock.held(), Replica.open(self.datadir) as replica:
                with self._writes:
                    replica.remove_unfinished_generations()
                issuer = fetcher.issuer_hint()
                trusted = [state.issuer for state in replica.issuer_states()]
                if issuer not in trusted:
                    raise OperatorError(
                        f"The bundle is for issuer {issuer!r}, which this box does not trust.",
                        f"این بسته برای صادرکننده «{issuer}» است که این دستگاه به آن اعتماد ندارد.",
                    )
                return self._sync_issuer(replica, issuer, fetcher)
        except BaseException:
            fetcher.close()  # closing twice (after _sync_issuer closed it) is harmless
            raise

    def reset_floor(self, issuer: str) -> SyncRecord:
        """Forget ``issuer``'s clock floor and accepted head, recorded in the sync history.

        Raises:
            OperatorError: the issuer is not trusted by this box.
            SyncBusyError: a sync is running.
        """
        with self._lock.held(), self._writes, Replica.open(self.datadir) as replica:
            return replica.reset_floor(issuer, self.clock())

    def run(self, stop: threading.Event, on_started: Callable[[list[str]], None] | None = None) -> None:
        """Sync every issuer now, then on its own schedule, each in its own thread, until ``stop`` is set.

        A healthy issuer is synced every ``interval_minutes``; after a failure the wait
        starts at ``failure_backoff_minutes`` and doubles up to the maximum, with
        jitter so that many boxes do not hammer a recovering registry together. An
        issuer whose mirror is slow or dead delays only itself.

        Args:
            on_started: called with the issuers once every issuer's loop has started
                (the daemon tells systemd it is ready there).
        """
        with Replica.open(self.datadir) as replica:
            issuers = [state.issuer for state in replica.issuer_states()]
        self._followers = [
            threading.Thread(target=self._follow, args=(issuer, stop), name=f"follow-{issuer}", daemon=True)
            for issuer in issuers
        ]
        for thread in self._followers:
            thread.start()
        if on_started is not None:
            on_started(issuers)
        for thread in self._followers:
            thread.join()

    def following(self) -> bool:
        """Whether every issuer loop ``run`` started is still alive: one that died would never sync again."""
        return all(thread.is_alive() for thread in self._followers)

    def _follow(self, issuer: str, stop: threading.Event) -> None:
        """One issuer's loop in the daemon: it survives anything one attempt raises."""
        failures = 0
        while not stop.is_set():
            try:
                (outcome,) = self.sync_once(only=[issuer]) or (None,)
                ok = outcome is not None and outcome.ok
            except (SehatError, OSError, DatabaseError) as error:
                logger.warning("sync of %s could not run: %s", issuer, error)
                ok = False
            except Exception:  # the daemon keeps following every issuer
                logger.exception("sync of %s could not run", issuer)
                ok = False
            failures = 0 if ok else failures + 1
            stop.wait(self.next_delay(failures))

    def next_delay(self, failures: int) -> int:
        """Seconds until the next attempt after ``failures`` consecutive failures."""
        if failures == 0:
            return max(1, int(self.config.interval_minutes * 60))
        backoff = min(
            self.config.failure_backoff_max_minutes,
            self.config.failure_backoff_minutes * 2 ** (failures - 1),
        )
        return max(1, int(backoff * 60 * random.uniform(0.5, 1.0)))
