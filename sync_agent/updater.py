"""Bringing one issuer's replica up to date from one source: download, verify, apply.

The order is the whole point: the head is verified in the core before anything is
written; each object is downloaded within its announced size, checked against its
announced hash, then parsed and applied in one transaction that also moves the
cursor. Nothing unverified ever reaches the replica.

A snapshot's chunks are all downloaded and checked before the bootstrap starts, and
stay in the downloads folder until it is done: a sync cut off halfway (a dropped
link, a power cut) resumes with the chunks it already has.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from appliance.clock import Clock
from appliance.replica import Replica
from sync_agent.config import SyncConfig
from sync_agent.transport import Fetcher
from verifier.errors import ChainGapError, HashMismatchError, ReplayedHeadError
from verifier.freshness import CHANNELS
from verifier.head import plan_update, snapshot_plan, verify_head
from verifier.objects import ObjectRef, SnapshotRef, check_object
from verifier.rows import Row
from verifier.segment import parse_segment
from verifier.snapshot import parse_chunk


@dataclass(frozen=True)
class UpdateResult:
    issuer: str
    outcome: str  # "updated" or "current"
    seq_before: int
    seq_after: int
    bytes: int


class IssuerUpdater:
    """One sync of one issuer from one fetcher."""

    def __init__(
        self,
        replica: Replica,
        issuer: str,
        fetcher: Fetcher,
        config: SyncConfig,
        clock: Clock,
        writes: threading.RLock | None = None,
    ) -> None:
        self.replica = replica
        self.issuer = issuer
        self.fetcher = fetcher
        self.config = config
        self.clock = clock
        self.downloaded = 0
        self._writes: AbstractContextManager[object] = writes if writes is not None else nullcontext()

    @contextmanager
    def _writing(self) -> Iterator[Replica]:
        """Take the agent's write turn, on the current generation (another issuer may have switched it)."""
        with self._writes:
            self.replica.refresh()
            yield self.replica

    def run(self) -> UpdateResult:
        """Sync once.

        Raises:
            FeedError: the feed is wrong (tampered, replayed, expired, …); nothing applied from it.
            DownloadError: the feed could not be fetched; what was applied before stays.
        """
        with self._writing() as replica:
            state = replica.issuer_state(self.issuer)
        before = state.seq
        head_bytes, etag = self._head_bytes(state.etag, state.head)
        head = verify_head(
            head_bytes,
            state.anchor,
            self.clock(),
            state.accepted,
            self.config.limits,
            channel=self.fetcher.source if self.fetcher.source in CHANNELS else None,
            min_key_version=state.key_version,
        )
        with self._writing() as replica:
            replica.accept_head(self.issuer, head, head_bytes, etag)
        available = self.fetcher.available(head)
        try:
            plan = plan_update(available, state.seq, state.chain)
        except (ChainGapError, ReplayedHeadError):
            # After a signing-key rotation the issuer's history may differ from what a retired
            # (perhaps stolen) key made this box apply: re-base on the new history's snapshot.
            rebase = snapshot_plan(available)
            if head.key_version <= state.key_version or rebase is None:
                raise
            plan = rebase
        catalogue = head.catalogue
        fresh_catalogue: tuple[bytes, str] | None = None
        with self._writing() as replica:
            held_catalogue = replica.catalogue_sha256(self.issuer)
        if catalogue is not None and catalogue.sha256 != held_catalogue:
            path = self._download(catalogue)
            fresh_catalogue = (path.read_bytes(), catalogue.sha256)
            path.unlink()
        if plan.snapshot is not None:
            # A snapshot replaces every row, so its catalogue replaces the one held, whatever it was.
            paths = [self._download(chunk) for chunk in plan.snapshot.chunks]
            rows = self._snapshot_rows(plan.snapshot, paths)
            with self._writing() as replica:
                replica.bootstrap(self.issuer, plan.snapshot, rows, head, fresh_catalogue)
            for path in paths:
                path.unlink()
        elif fresh_catalogue is not None:
            with self._writing() as replica:
                replica.store_catalogue(self.issuer, *fresh_catalogue)
        for segment in plan.segments:
            path = self._download(segment)
            with open(path, "rb") as handle:
                changes = parse_segment(handle, segment, self.issuer, self.config.limits)
                with self._writing() as replica:
                    replica.apply_segment(self.issuer, segment, changes, head)
            path.unlink()
        with self._writing() as replica:
            after = replica.issuer_state(self.issuer).seq
        return UpdateResult(
            issuer=self.issuer,
            outcome="current" if plan.empty else "updated",
            seq_before=before,
            seq_after=after,
            bytes=self.downloaded,
        )

    def _head_bytes(self, etag: str | None, stored: bytes | None) -> tuple[bytes, str | None]:
        response = self.fetcher.fetch_head(etag if stored is not None else None)
        if response.data is None:
            assert stored is not None
            return stored, response.etag
        self.downloaded += len(response.data)
        return response.data, response.etag

    def _snapshot_rows(self, snapshot: SnapshotRef, paths: list[Path]) -> Iterator[Row]:
        """The rows of every chunk in turn, in one lookup-id order across chunks."""
        last: bytes | None = None
        for chunk, path in zip(snapshot.chunks, paths, strict=True):
            with open(path, "rb") as handle:
                for row in parse_chunk(handle, snapshot, chunk, self.issuer, last, self.config.limits):
                    last = row.lookup_id
                    yield row

    def _download(self, ref: ObjectRef) -> Path:
        """Fetch an object into the downloads folder and check its size and hash."""
        downloads = self.replica.datadir.downloads
        downloads.mkdir(exist_ok=True, mode=0o700)
        path = downloads / ref.sha256
        if not path.exists():
            self.downloaded += self.fetcher.fetch_object(ref, path)
        size, sha256 = _file_digest(path)
        try:
            check_object(ref, size, sha256)
        except HashMismatchError:
            path.unlink()
            raise
        return path


def _file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
