"""The sync agent: every trusted issuer, each on its own, on a schedule or on demand.

One failing issuer never blocks the others: each sync is attempted separately and
its outcome — applied, already current, refused, failed — goes into the sync
history with a one-line reason. Only one sync runs on a data directory at a time.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import schedule

from appliance.datadir import DataDir
from appliance.replica import Replica, SyncRecord
from storage.database import DatabaseError
from sync_agent.config import SyncConfig
from sync_agent.transport import BundleFetcher, Fetcher, HttpFetcher
from sync_agent.updater import Clock, IssuerUpdater
from verifier.errors import ExpiredHeadError, FeedError, OperatorError, SehatError

logger = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


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

    def _sync_issuer(self, replica: Replica, issuer: str, fetcher: Fetcher) -> SyncOutcome:
        started, clock_started = time.monotonic(), self.clock()
        before = replica.issuer_state(issuer).seq
        updater = IssuerUpdater(replica, issuer, fetcher, self.config, self.clock)
        try:
            result = updater.run()
            outcome, error, after = result.outcome, None, result.seq_after
        except SehatError as failure:
            outcome, error = _outcome_of(failure), failure.message
            after = replica.issuer_state(issuer).seq
            logger.warning("sync of %s from %s: %s", issuer, fetcher.source, error)
        except DatabaseError as failure:
            outcome, error = "failed", f"replica store error: {failure}"
            after = replica.issuer_state(issuer).seq
            logger.error("sync of %s from %s: %s", issuer, fetcher.source, error)
        except OSError as failure:
            outcome, error = "failed", f"local file error: {failure.strerror or failure}"
            after = replica.issuer_state(issuer).seq
            logger.warning("sync of %s from %s: %s", issuer, fetcher.source, error)
        finally:
            fetcher.close()
            self._prune_downloads()
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
        """Sync every issuer (or those in ``only``) over HTTP; ``feeds`` overrides feed URLs."""
        outcomes = []
        with self.datadir.sync_lock(), Replica.open(self.datadir) as replica:
            replica.remove_unfinished_generations()
            for state in replica.issuer_states():
                if only is not None and state.issuer not in only:
                    continue
                url = (feeds or {}).get(state.issuer) or state.feed_url
                if not url:
                    outcomes.append(self._no_feed(replica, state.issuer))
                    continue
                if feeds and state.issuer in feeds and feeds[state.issuer] != state.feed_url:
                    replica.set_feed_url(state.issuer, feeds[state.issuer])
                outcomes.append(self._sync_issuer(replica, state.issuer, self.fetcher_factory(url, self.config)))
        return outcomes

    def _no_feed(self, replica: Replica, issuer: str) -> SyncOutcome:
        seq = replica.issuer_state(issuer).seq
        return SyncOutcome(issuer, "http", "failed", seq, seq, 0, 0, "no feed URL configured (use --feed)")

    def import_bundle(self, path: Path) -> SyncOutcome:
        """Apply an offline bundle through the same verification and apply path as a download."""
        with self.datadir.sync_lock(), Replica.open(self.datadir) as replica:
            replica.remove_unfinished_generations()
            fetcher = BundleFetcher(path, self.config)
            try:
                issuer = fetcher.issuer_hint()
            except SehatError:
                fetcher.close()
                raise
            trusted = [state.issuer for state in replica.issuer_states()]
            if issuer not in trusted:
                fetcher.close()
                raise OperatorError(
                    f"The bundle is for issuer {issuer!r}, which this box does not trust.",
                    f"این بسته برای صادرکننده «{issuer}» است که این دستگاه به آن اعتماد ندارد.",
                )
            return self._sync_issuer(replica, issuer, fetcher)

    def run(self, stop: threading.Event) -> None:
        """Sync every issuer now, then on a schedule until ``stop`` is set.

        A healthy issuer is synced every ``interval_minutes``; after a failure the wait
        starts at ``failure_backoff_minutes`` and doubles up to the maximum, with
        jitter so that many boxes do not hammer a recovering registry together.
        """
        scheduler = schedule.Scheduler()
        failures: dict[str, int] = {}

        def attempt(issuer: str) -> type[schedule.CancelJob]:
            try:
                (outcome,) = self.sync_once(only=[issuer]) or (None,)
                ok = outcome is not None and outcome.ok
            except (SehatError, OSError, DatabaseError) as error:
                logger.warning("sync of %s could not run: %s", issuer, error)
                ok = False
            failures[issuer] = 0 if ok else failures.get(issuer, 0) + 1
            scheduler.every(self.next_delay(failures[issuer])).seconds.do(attempt, issuer)
            return schedule.CancelJob

        with Replica.open(self.datadir) as replica:
            issuers = [state.issuer for state in replica.issuer_states()]
        for issuer in issuers:
            attempt(issuer)
        while not stop.wait(1.0):
            scheduler.run_pending()

    def next_delay(self, failures: int) -> int:
        """Seconds until the next attempt after ``failures`` consecutive failures."""
        if failures == 0:
            return max(1, int(self.config.interval_minutes * 60))
        backoff = min(
            self.config.failure_backoff_max_minutes,
            self.config.failure_backoff_minutes * 2 ** (failures - 1),
        )
        return max(1, int(backoff * 60 * random.uniform(0.5, 1.0)))
