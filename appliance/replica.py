"""The box's replica: every trusted issuer's sealed rows, cursors and sync history, encrypted.

One SQLCipher database holds all issuers. The sync agent is its only writer and
applies each verified segment in one transaction that also moves the issuer's
cursor (seq + chain), so a crash at any instant leaves every issuer at a whole
seq. Readers (the web app) use their own connections and, thanks to WAL, see the
state before a transaction or after it and are never blocked by one.

Each issuer's state digest is kept row by row (``verifier.digest``): applying a
segment reads only the rows it changes, so its cost follows the change, not the
replica's size.

Bootstrapping an issuer from a snapshot builds a new *generation* of the database
file — everything copied, that issuer's rows streamed in from the snapshot's chunks
with SQLite's bulk-load settings (the file is not in use until it is complete and
synced) — and switches the ``CURRENT`` pointer to it atomically; readers notice the
switch and reopen. A crash before the switch leaves the old generation in use and
the unfinished one is removed at the next open.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from appliance.datadir import DataDir
from storage.database import Connection, Migration, migrate, open_store, transaction
from storage.durable import fsync_directory
from storage.keyfile import create_key_file
from verifier.canonical import format_timestamp, parse_timestamp
from verifier.catalogue import Catalogue
from verifier.chain import genesis_chain
from verifier.digest import StateDigest, state_digest
from verifier.errors import ChainGapError, DigestMismatchError, MalformedObjectError, OperatorError
from verifier.freshness import is_stale
from verifier.head import AcceptedHead, Head, IssuerProfile
from verifier.objects import SegmentRef, SnapshotRef
from verifier.rows import Change, Row
from verifier.signing import TrustAnchor

_BATCH = 1000  # rows per executemany: large enough to amortise, small enough to stay cheap
_LOOKUP_BATCH = 500  # lookup ids per query when reading the rows a segment replaces (under SQLite's 999 variables)
HISTORY_KEPT = 2000  # sync history entries kept per issuer

MIGRATIONS = (
    Migration(
        "0001_initial",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE issuers (
            issuer TEXT PRIMARY KEY,
            anchor TEXT NOT NULL,
            feed_url TEXT,
            profile TEXT,
            seq INTEGER NOT NULL DEFAULT 0,
            chain TEXT NOT NULL,
            records INTEGER NOT NULL DEFAULT 0,
            digest TEXT,
            as_of TEXT,
            expires TEXT,
            accepted_seq INTEGER,
            accepted_chain TEXT,
            accepted_issued_at TEXT,
            key_version INTEGER NOT NULL DEFAULT 0,
            head BLOB,
            etag TEXT,
            last_attempt TEXT,
            last_error TEXT,
            last_success TEXT
        );
        CREATE TABLE records (
            issuer TEXT NOT NULL,
            lookup_id BLOB NOT NULL,
            box BLOB NOT NULL,
            PRIMARY KEY (issuer, lookup_id)
        ) WITHOUT ROWID;
        CREATE TABLE sync_history (
            id INTEGER PRIMARY KEY,
            issuer TEXT NOT NULL,
            source TEXT NOT NULL,
            started_at TEXT NOT NULL,
            duration_ms INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            seq_before INTEGER NOT NULL,
            seq_after INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            error TEXT
        );
        CREATE INDEX sync_history_issuer ON sync_history (issuer, id)
        """,
    ),
    Migration(
        "0002_sync_counts",
        """
        CREATE TABLE sync_counts (
            issuer TEXT NOT NULL,
            outcome TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (issuer, outcome)
        ) WITHOUT ROWID
        """,
    ),
    # The clock floor is now each issuer's own (its accepted head's issued_at): one issuer's
    # heads, or one stolen key's, no longer move every issuer's freshness.
    Migration("0003_per_issuer_clock_floor", "DELETE FROM meta WHERE key = 'clock_floor'"),
    Migration("0004_protocol_v2", lambda connection: _start_protocol_v2(connection)),
)


def _start_protocol_v2(connection: Connection) -> None:
    """Feed protocol 2 seals and frames records anew: forget protocol-1 rows and follow each feed afresh.

    Trust anchors, feed URLs and the signing-key version stay (retired keys stay retired);
    the next sync bootstraps every issuer from its protocol-2 snapshot.
    """
    connection.execute("ALTER TABLE issuers ADD COLUMN state_sum BLOB")
    connection.execute("ALTER TABLE issuers ADD COLUMN catalogue BLOB")
    connection.execute("ALTER TABLE issuers ADD COLUMN catalogue_sha256 TEXT")
    connection.execute("DELETE FROM records")
    for (issuer,) in connection.execute("SELECT issuer FROM issuers").fetchall():
        connection.execute(
            "UPDATE issuers SET seq = 0, chain = ?, records = 0, digest = ?, state_sum = NULL, as_of = NULL, "
            "expires = NULL, accepted_seq = NULL, accepted_chain = NULL, accepted_issued_at = NULL, head = NULL, "
            "etag = NULL WHERE issuer = ?",
            (genesis_chain(issuer), state_digest(issuer), issuer),
        )


def batched(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most ``size`` items (``itertools.batched`` arrives in Python 3.12)."""
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _time(text: str | None) -> datetime | None:
    return None if text is None else parse_timestamp(text, "replica", "timestamp")


@dataclass(frozen=True)
class IssuerState:
    """What the replica knows of one issuer."""

    issuer: str
    anchor: TrustAnchor
    feed_url: str | None
    profile: IssuerProfile | None
    seq: int
    chain: str
    records: int
    digest: str | None
    as_of: datetime | None
    expires: datetime | None
    accepted: AcceptedHead | None
    key_version: int
    head: bytes | None
    etag: str | None
    last_attempt: datetime | None
    last_error: str | None
    last_success: datetime | None

    @property
    def clock_floor(self) -> datetime | None:
        """This issuer's clock floor: the issued_at of the newest head accepted under its current key."""
        return self.accepted.issued_at if self.accepted else None

    def is_stale(self, now: datetime) -> bool:
        """Stale unless the replica holds the state of a head not expired at ``now`` (never before the floor)."""
        return is_stale(self.expires, now, self.clock_floor)


@dataclass(frozen=True)
class SyncRecord:
    issuer: str
    source: str
    started_at: datetime
    duration_ms: int
    outcome: str
    seq_before: int
    seq_after: int
    bytes: int
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "source": self.source,
            "started_at": format_timestamp(self.started_at),
            "duration_ms": self.duration_ms,
            "outcome": self.outcome,
            "seq_before": self.seq_before,
            "seq_after": self.seq_after,
            "bytes": self.bytes,
            "error": self.error,
        }


_ISSUER_COLUMNS = (
    "issuer, anchor, feed_url, profile, seq, chain, records, digest, as_of, expires, accepted_seq, "
    "accepted_chain, accepted_issued_at, key_version, head, etag, last_attempt, last_error, last_success"
)


def _issuer_state(row: tuple[Any, ...]) -> IssuerState:
    (
        issuer, anchor, feed_url, profile, seq, chain, records, digest, as_of, expires, accepted_seq,
        accepted_chain, accepted_issued_at, key_version, head, etag, last_attempt, last_error, last_success,
    ) = row  # fmt: skip
    accepted = None
    if accepted_seq is not None:
        accepted = AcceptedHead(
            seq=accepted_seq,
            chain=accepted_chain,
            issued_at=parse_timestamp(accepted_issued_at, "replica", "accepted_issued_at"),
            key_version=key_version,
        )
    return IssuerState(
        issuer=issuer,
        anchor=TrustAnchor.from_bytes(anchor.encode("utf-8")),
        feed_url=feed_url,
        profile=IssuerProfile.from_dict(json.loads(profile), "replica") if profile else None,
        seq=seq,
        chain=chain,
        records=records,
        digest=digest,
        as_of=_time(as_of),
        expires=_time(expires),
        accepted=accepted,
        key_version=key_version,
        head=bytes(head) if head is not None else None,
        etag=etag,
        last_attempt=_time(last_attempt),
        last_error=last_error,
        last_success=_time(last_success),
    )


class Replica:
    """An open replica. ``Replica.create`` makes one, ``Replica.open`` opens the current one."""

    def __init__(self, datadir: DataDir, key: bytes) -> None:
        self.datadir = datadir
        self._key = key
        self._catalogues: dict[str, tuple[str, Catalogue]] = {}
        self._states: dict[tuple[Any, ...], IssuerState] = {}  # parsed issuer rows, keyed by the row as stored
        self._current_marker = self._current_file_marker()
        self.generation = datadir.current_generation()
        self.connection = self._connect(self.generation)

    def _connect(self, generation: int) -> Connection:
        connection = open_store(self.datadir.generation_path(generation), self._key)
        migrate(connection, MIGRATIONS)
        return connection

    @classmethod
    def create(cls, datadir: DataDir, anchors: list[TrustAnchor], feeds: dict[str, str]) -> Replica:
        """Create a box's replica: data directory, key (unless one is given) and database.

        Raises:
            OperatorError: the directory already holds a replica, or a feed names no trusted issuer.
        """
        if datadir.current_file.exists() or datadir.generations_on_disk():
            raise OperatorError(
                f"{datadir.path} already holds a replica; refusing to create a new one over it.",
                f"در {datadir.path} از پیش پایگاه داده‌ای هست؛ پایگاه تازه‌ای روی آن ساخته نمی‌شود.",
            )
        issuers = [anchor.issuer for anchor in anchors]
        if not anchors or len(set(issuers)) != len(issuers):
            raise OperatorError(
                "Give each trusted issuer's anchor once.", "نشانگر اعتماد هر صادرکننده را یک بار بدهید."
            )
        unknown = set(feeds) - set(issuers)
        if unknown:
            raise OperatorError(
                f"--feed names issuers that are not trusted: {', '.join(sorted(unknown))}",
                "برای صادرکننده‌ای که مورد اعتماد نیست نشانی خوراک داده شده است.",
            )
        datadir.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(datadir.path, 0o700)
        key_path = datadir.resolve_key_file()
        key = datadir.read_key() if key_path.exists() else create_key_file(key_path)
        connection = open_store(datadir.generation_path(1), key, create=True)
        migrate(connection, MIGRATIONS)
        with transaction(connection):
            for anchor in anchors:
                connection.execute(
                    "INSERT INTO issuers (issuer, anchor, feed_url, chain, digest) VALUES (?, ?, ?, ?, ?)",
                    (
                        anchor.issuer,
                        json.dumps(anchor.to_dict(), ensure_ascii=False),
                        feeds.get(anchor.issuer),
                        genesis_chain(anchor.issuer),
                        state_digest(anchor.issuer),
                    ),
                )
        connection.close()
        datadir.downloads.mkdir(exist_ok=True, mode=0o700)
        datadir.set_current_generation(1)
        return cls(datadir, key)

    @classmethod
    def open(cls, datadir: DataDir) -> Replica:
        """Open the current replica; refuses a wrong or missing key with a clear message.

        Opening never removes files: an unfinished generation may be one the sync agent is
        building right now. ``remove_unfinished_generations`` does that, under the sync lock.
        """
        return cls(datadir, datadir.read_key())

    def remove_unfinished_generations(self) -> None:
        """Remove generations newer than CURRENT, left by a bootstrap that crashed (hold the sync lock)."""
        current = self.datadir.current_generation()
        for leftover in self.datadir.generations_on_disk():
            if leftover > current:
                self.datadir.remove_generation(leftover)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Replica:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _current_file_marker(self) -> tuple[int, int, int] | None:
        """CURRENT's inode, size and change time: a switch replaces the file (``os.replace``), so the inode differs."""
        try:
            found = os.stat(self.datadir.current_file)
        except FileNotFoundError:
            return None
        return found.st_ino, found.st_size, found.st_ctime_ns

    def refresh(self) -> bool:
        """Reopen if the sync agent switched to a rebuilt generation; tell whether it did.

        Called before every web request, so CURRENT is read only when a ``stat`` says it was
        replaced. The marker is taken before reading: a switch in between is seen next time.
        """
        marker = self._current_file_marker()
        if marker is not None and marker == self._current_marker:
            return False
        self._current_marker = marker
        generation = self.datadir.current_generation()
        if generation == self.generation:
            return False
        old = self.connection
        self.connection, self.generation = self._connect(generation), generation
        old.close()
        return True

    # --- reading ------------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[Replica]:
        """A read transaction: every query inside sees one committed state."""
        with transaction(self.connection, immediate=False):
            yield self

    def issuer_states(self) -> list[IssuerState]:
        """Every issuer's state as stored now; a row unchanged since the last call is not parsed again.

        Parsing (the anchor's JSON and keys, the profile, six timestamps) cost more than the
        query, and every verification asks twice. The cache is keyed by the whole row, so any
        change to an issuer — by the sync agent, by this connection, in a new generation — is
        parsed afresh, and it holds only the rows of the last call.
        """
        rows = self.connection.execute(f"SELECT {_ISSUER_COLUMNS} FROM issuers ORDER BY issuer").fetchall()
        parsed = self._states
        states = [parsed.get(row) or _issuer_state(row) for row in rows]
        self._states = dict(zip(rows, states, strict=True))
        return states

    def issuer_state(self, issuer: str) -> IssuerState:
        row = self.connection.execute(f"SELECT {_ISSUER_COLUMNS} FROM issuers WHERE issuer = ?", (issuer,)).fetchone()
        if row is None:
            raise OperatorError(
                f"Issuer {issuer!r} is not trusted by this box.", f"صادرکننده {issuer} مورد اعتماد نیست."
            )
        return _issuer_state(row)

    def lookup(self, issuer: str, lookup_id: bytes) -> bytes | None:
        row = self.connection.execute(
            "SELECT box FROM records WHERE issuer = ? AND lookup_id = ?", (issuer, lookup_id)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def compute_digest(self, issuer: str) -> tuple[str, int]:
        """The content digest of the rows the replica holds for ``issuer``, computed afresh, and their count."""
        digest = StateDigest(issuer)
        digest.add_many(
            (bytes(lookup_id), bytes(box))
            for lookup_id, box in self.connection.execute(
                "SELECT lookup_id, box FROM records WHERE issuer = ?", (issuer,)
            )
        )
        return digest.hexdigest(), digest.records

    def catalogue(self, issuer: str) -> Catalogue:
        """The issuer's catalogue of public names, as last synced (parsed once per version)."""
        row = self.connection.execute("SELECT catalogue_sha256 FROM issuers WHERE issuer = ?", (issuer,)).fetchone()
        if row is None or row[0] is None:
            return Catalogue(issuer=issuer)
        cached = self._catalogues.get(issuer)
        if cached is not None and cached[0] == row[0]:
            return cached[1]  # the catalogue itself is read only when its hash changes
        sha256, data = self.connection.execute(
            "SELECT catalogue_sha256, catalogue FROM issuers WHERE issuer = ?", (issuer,)
        ).fetchone()
        cached = (sha256, Catalogue.from_bytes(bytes(data), issuer))
        self._catalogues[issuer] = cached
        return cached[1]

    def catalogue_sha256(self, issuer: str) -> str | None:
        row = self.connection.execute("SELECT catalogue_sha256 FROM issuers WHERE issuer = ?", (issuer,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def _kept_state(self, issuer: str) -> StateDigest:
        row = self.connection.execute("SELECT state_sum, records FROM issuers WHERE issuer = ?", (issuer,)).fetchone()
        return StateDigest.from_bytes(issuer, bytes(row[0]) if row[0] is not None else None, row[1] if row[0] else 0)

    def clock_floor(self, issuer: str | None = None) -> datetime | None:
        """``issuer``'s clock floor; without one, the latest of any issuer's (shown, never judged by)."""
        if issuer is not None:
            return self.issuer_state(issuer).clock_floor
        floors = [state.clock_floor for state in self.issuer_states() if state.clock_floor is not None]
        return max(floors, default=None)

    def history(self, limit: int = 20, issuer: str | None = None) -> list[SyncRecord]:
        query = (
            "SELECT issuer, source, started_at, duration_ms, outcome, seq_before, seq_after, bytes, error "
            "FROM sync_history {} ORDER BY id DESC LIMIT ?"
        )
        if issuer is None:
            rows = self.connection.execute(query.format(""), (limit,)).fetchall()
        else:
            rows = self.connection.execute(query.format("WHERE issuer = ?"), (issuer, limit)).fetchall()
        return [SyncRecord(row[0], row[1], parse_timestamp(row[2], "history", "started_at"), *row[3:]) for row in rows]

    def sync_counts(self) -> dict[tuple[str, str], int]:
        """Every sync attempt ever made, by issuer and outcome (for monotonic metrics)."""
        rows = self.connection.execute("SELECT issuer, outcome, count FROM sync_counts").fetchall()
        return {(issuer, outcome): count for issuer, outcome, count in rows}

    # --- writing (the sync agent) -------------------------------------------------------------

    def set_feed_url(self, issuer: str, url: str) -> None:
        with transaction(self.connection):
            self.issuer_state(issuer)
            self.connection.execute("UPDATE issuers SET feed_url = ?, etag = NULL WHERE issuer = ?", (url, issuer))

    def accept_head(self, issuer: str, head: Head, head_bytes: bytes, etag: str | None) -> None:
        """Remember a verified head: rollback protection, key version, profile, clock floor.

        If the replica already holds the head's state (nothing new, only re-signed),
        its freshness moves to the new head's.
        """
        with transaction(self.connection):
            self.connection.execute(
                "UPDATE issuers SET accepted_seq = ?, accepted_chain = ?, accepted_issued_at = ?, key_version = ?, "
                "profile = ?, head = ?, etag = ? WHERE issuer = ?",
                (
                    head.seq,
                    head.chain,
                    format_timestamp(head.issued_at),
                    head.key_version,
                    json.dumps(head.profile.to_dict(), ensure_ascii=False),
                    head_bytes,
                    etag,
                    issuer,
                ),
            )
            self.connection.execute(
                "UPDATE issuers SET as_of = ?, expires = ? WHERE issuer = ? AND seq = ? AND chain = ?",
                (format_timestamp(head.issued_at), format_timestamp(head.expires), issuer, head.seq, head.chain),
            )

    def store_catalogue(self, issuer: str, data: bytes, sha256: str) -> None:
        """Keep a verified catalogue, if it extends the one held (entries never move or vanish).

        Raises:
            MalformedObjectError: it drops or moves an entry of the catalogue held.
        """
        catalogue = Catalogue.from_bytes(data, issuer)
        with transaction(self.connection):
            if not catalogue.extends(self.catalogue(issuer)):
                raise MalformedObjectError("catalogue", "drops or moves names of the catalogue this box holds")
            self.connection.execute(
                "UPDATE issuers SET catalogue = ?, catalogue_sha256 = ? WHERE issuer = ?", (data, sha256, issuer)
            )

    def reset_floor(self, issuer: str, now: datetime) -> SyncRecord:
        """Forget ``issuer``'s accepted head — its clock floor and rollback state — and record it in the history.

        The operator's way back after a stolen key dragged the floor ahead and the issuer has
        not rotated yet. The key version stays, so retired keys stay retired; the replica's
        rows and cursor stay, so the next head must still continue them.
        """
        with transaction(self.connection):
            state = self.issuer_state(issuer)
            floor = format_timestamp(state.clock_floor) if state.clock_floor else "none"
            accepted_seq = state.accepted.seq if state.accepted else "-"
            record = SyncRecord(
                issuer=issuer,
                source="operator",
                started_at=now,
                duration_ms=0,
                outcome="floor_reset",
                seq_before=state.seq,
                seq_after=state.seq,
                bytes=0,
                error=f"clock floor {floor} and the accepted head (seq {accepted_seq}) reset by the operator",
            )
            self.connection.execute(
                "UPDATE issuers SET accepted_seq = NULL, accepted_chain = NULL, accepted_issued_at = NULL, "
                "etag = NULL WHERE issuer = ?",
                (issuer,),
            )
            self._insert_history(record)
        return record

    def apply_segment(self, issuer: str, ref: SegmentRef, changes: Iterable[Change], head: Head) -> None:
        """Apply one verified segment and move the cursor, in one durable transaction.

        Reads only the rows the segment changes, to keep the state digest: the cost
        follows the segment, never the replica's size.

        Raises:
            ChainGapError: the segment does not start at cursor + 1 or chain to the cursor.
            DigestMismatchError: the segment reaches the head but the rows differ from its digest.
            FeedError: the segment's lines are malformed (raised while streaming).
        """
        with transaction(self.connection):
            state = self.issuer_state(issuer)
            if ref.first_seq != state.seq + 1 or ref.prev_chain != state.chain:
                raise ChainGapError(ref.name, f"does not continue the replica at seq {state.seq}")
            latest: dict[bytes, bytes] = {}
            for change in changes:
                latest[change.lookup_id] = change.box
            digest = self._kept_state(issuer)
            for batch in batched(sorted(latest.items()), _LOOKUP_BATCH):
                ids = [lookup_id for lookup_id, _ in batch]
                marks = ", ".join("?" * len(ids))
                held = {
                    bytes(lookup_id): bytes(box)
                    for lookup_id, box in self.connection.execute(
                        f"SELECT lookup_id, box FROM records WHERE issuer = ? AND lookup_id IN ({marks})",
                        (issuer, *ids),
                    )
                }
                for lookup_id, box in batch:
                    digest.replace(lookup_id, held.get(lookup_id), box)
                self._upsert(issuer, batch)
            self._move_cursor(issuer, ref.last_seq, ref.chain, head, digest)

    def _upsert(self, issuer: str, rows: Iterable[tuple[bytes, bytes]]) -> None:
        for batch in batched(rows, _BATCH):
            self.connection.executemany(
                "INSERT INTO records (issuer, lookup_id, box) VALUES (?, ?, ?) "
                "ON CONFLICT(issuer, lookup_id) DO UPDATE SET box = excluded.box",
                [(issuer, lookup_id, box) for lookup_id, box in batch],
            )

    def _move_cursor(self, issuer: str, seq: int, chain: str, head: Head, state: StateDigest) -> None:
        """Set the cursor and the kept digest; at the head's seq, check them against the head's digest."""
        digest = state.hexdigest()
        if seq == head.seq:
            if digest != head.digest or state.records != head.records:
                raise DigestMismatchError("head", "the replica's rows differ from the state the head announces")
            self.connection.execute(
                "UPDATE issuers SET seq = ?, chain = ?, records = ?, digest = ?, state_sum = ?, as_of = ?, "
                "expires = ? WHERE issuer = ?",
                (
                    seq,
                    chain,
                    state.records,
                    digest,
                    state.to_bytes(),
                    format_timestamp(head.issued_at),
                    format_timestamp(head.expires),
                    issuer,
                ),
            )
        else:
            # Between heads no signed digest exists to check against; the next head's check covers these rows.
            self.connection.execute(
                "UPDATE issuers SET seq = ?, chain = ?, records = ?, digest = NULL, state_sum = ? WHERE issuer = ?",
                (seq, chain, state.records, state.to_bytes(), issuer),
            )

    def bootstrap(
        self,
        issuer: str,
        ref: SnapshotRef,
        rows: Iterable[Row],
        head: Head,
        catalogue: tuple[bytes, str] | None = None,
    ) -> None:
        """Replace ``issuer``'s rows with a snapshot, in a new generation switched to atomically.

        The snapshot's rows stream into the new file; nothing is held in memory whole.

        Args:
            catalogue: the head's catalogue (bytes, SHA-256) when it differs from the one held;
                every row is replaced, so it replaces the held one whatever that was.
        """
        if catalogue is not None:
            Catalogue.from_bytes(catalogue[0], issuer)
        generation = max([self.generation, *self.datadir.generations_on_disk()]) + 1
        path = self.datadir.generation_path(generation)
        self.datadir.remove_generation(generation)
        try:
            self.connection.execute(f"ATTACH DATABASE ? AS fresh KEY \"x'{self._key.hex()}'\"", (str(path),))
            try:
                self.connection.execute("SELECT sqlcipher_export('fresh')").fetchall()
            finally:
                self.connection.execute("DETACH DATABASE fresh")
            fresh = open_store(path, self._key)
            try:
                # Bulk load: the file is nobody's until it is complete, synced and switched to,
                # and a crash before that discards it, so it needs no journal while it fills.
                fresh.execute("PRAGMA journal_mode = OFF").fetchall()
                fresh.execute("PRAGMA synchronous = OFF")
                fresh.execute("PRAGMA cache_size = -65536")
                self._fill_from_snapshot(fresh, issuer, ref, rows, head)
                if catalogue is not None:
                    fresh.execute(
                        "UPDATE issuers SET catalogue = ?, catalogue_sha256 = ? WHERE issuer = ?",
                        (catalogue[0], catalogue[1], issuer),
                    )
                fresh.execute("PRAGMA journal_mode = WAL").fetchall()
                fresh.execute("PRAGMA synchronous = FULL")
                fresh.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                fresh.close()
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
            fsync_directory(path.parent)
        except BaseException:
            self.datadir.remove_generation(generation)
            raise
        self.datadir.set_current_generation(generation)
        previous = self.generation
        self.refresh()
        for old in self.datadir.generations_on_disk():
            if old < previous:
                self.datadir.remove_generation(old)

    @staticmethod
    def _fill_from_snapshot(fresh: Connection, issuer: str, ref: SnapshotRef, rows: Iterable[Row], head: Head) -> None:
        digest = StateDigest(issuer)

        def counted() -> Iterator[tuple[str, bytes, bytes]]:
            for row in rows:
                digest.add(row.lookup_id, row.box)
                yield issuer, row.lookup_id, row.box

        with transaction(fresh):
            fresh.execute("DELETE FROM records WHERE issuer = ?", (issuer,))
            for batch in batched(counted(), _BATCH):
                fresh.executemany("INSERT INTO records (issuer, lookup_id, box) VALUES (?, ?, ?)", batch)
            if digest.hexdigest() != ref.digest or digest.records != ref.records:
                raise DigestMismatchError(ref.name, "its rows differ from the digest the head announces")
            if ref.seq == head.seq:
                fresh_state = {"as_of": format_timestamp(head.issued_at), "expires": format_timestamp(head.expires)}
            else:
                current = fresh.execute("SELECT as_of, expires FROM issuers WHERE issuer = ?", (issuer,)).fetchone()
                fresh_state = {"as_of": current[0], "expires": current[1]}
            fresh.execute(
                "UPDATE issuers SET seq = ?, chain = ?, records = ?, digest = ?, state_sum = ?, as_of = ?, expires = ? "
                "WHERE issuer = ?",
                (
                    ref.seq,
                    ref.chain,
                    ref.records,
                    ref.digest,
                    digest.to_bytes(),
                    fresh_state["as_of"],
                    fresh_state["expires"],
                    issuer,
                ),
            )

    def record_sync(self, record: SyncRecord, succeeded: bool) -> None:
        """Add a sync attempt to the history and to the issuer's last-attempt fields."""
        with transaction(self.connection):
            self._insert_history(record)
            self.connection.execute(
                "INSERT INTO sync_counts (issuer, outcome, count) VALUES (?, ?, 1) "
                "ON CONFLICT(issuer, outcome) DO UPDATE SET count = count + 1",
                (record.issuer, record.outcome),
            )
            stamp = format_timestamp(record.started_at)
            self.connection.execute(
                "UPDATE issuers SET last_attempt = ?, last_error = ?, "
                "last_success = CASE WHEN ? THEN ? ELSE last_success END WHERE issuer = ?",
                (stamp, record.error, succeeded, stamp, record.issuer),
            )

    def _insert_history(self, record: SyncRecord) -> None:
        self.connection.execute(
            "INSERT INTO sync_history (issuer, source, started_at, duration_ms, outcome, seq_before, seq_after, "
            "bytes, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.issuer,
                record.source,
                format_timestamp(record.started_at),
                record.duration_ms,
                record.outcome,
                record.seq_before,
                record.seq_after,
                record.bytes,
                record.error,
            ),
        )
        self.connection.execute(
            "DELETE FROM sync_history WHERE issuer = ? AND id <= "
            "(SELECT id FROM sync_history WHERE issuer = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (record.issuer, record.issuer, HISTORY_KEPT),
        )
