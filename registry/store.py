"""The registry's own store: issued records, the change log, and what has been cut into the feed.

Holds the master data of an issuing body, so it is an encrypted SQLCipher store
like the box's replica. ``records`` is the current state (one sealed box per
code); ``changes`` is the append-only log every feed segment is cut from;
``segments`` and ``snapshots`` remember what was published and how it chains.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from storage.database import Connection, Migration, migrate
from verifier.objects import ChunkRef, SegmentRef, SnapshotRef, segment_path, snapshot_path

MIGRATIONS = (
    Migration(
        "0001_initial",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE records (
            code TEXT PRIMARY KEY,
            lookup_id BLOB NOT NULL UNIQUE,
            national_id TEXT NOT NULL,
            full_name TEXT NOT NULL,
            document_type TEXT NOT NULL,
            degree_level TEXT NOT NULL,
            field TEXT NOT NULL,
            institution TEXT NOT NULL,
            issued_on TEXT NOT NULL,
            revocation_reason TEXT,
            revoked_on TEXT,
            superseded_by TEXT REFERENCES records(code),
            box BLOB NOT NULL,
            seq INTEGER NOT NULL
        );
        CREATE INDEX records_superseded_by ON records(superseded_by);
        CREATE TABLE changes (
            seq INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            lookup_id BLOB NOT NULL,
            box BLOB NOT NULL,
            recorded_at TEXT NOT NULL
        );
        CREATE TABLE segments (
            first_seq INTEGER PRIMARY KEY,
            last_seq INTEGER NOT NULL UNIQUE,
            prev_chain TEXT NOT NULL,
            chain TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL
        );
        CREATE TABLE snapshots (
            seq INTEGER PRIMARY KEY,
            chain TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            records INTEGER NOT NULL,
            digest TEXT NOT NULL
        )
        """,
    ),
    # Protocol 2: public names are published once per issuer, in a catalogue payloads refer to.
    Migration(
        "0002_catalogue",
        """
        CREATE TABLE catalogue (
            kind TEXT NOT NULL,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            PRIMARY KEY (kind, position),
            UNIQUE (kind, name)
        );
        CREATE TABLE snapshot_chunks (
            seq INTEGER NOT NULL REFERENCES snapshots(seq),
            position INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            records INTEGER NOT NULL,
            PRIMARY KEY (seq, position)
        )
        """,
    ),
    # Imports that resume where a killed run stopped (registry.import_ledger).
    Migration(
        "0003_imports",
        """
        CREATE TABLE imports (
            sha256 TEXT PRIMARY KEY,
            rows INTEGER NOT NULL,
            committed INTEGER NOT NULL DEFAULT 0,
            last_line INTEGER NOT NULL DEFAULT 0,
            done INTEGER NOT NULL DEFAULT 0,
            started_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE TABLE import_codes (
            sha256 TEXT NOT NULL,
            line INTEGER NOT NULL,
            code TEXT NOT NULL,
            PRIMARY KEY (sha256, line)
        ) WITHOUT ROWID;
        CREATE TABLE import_pending (
            code TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            line INTEGER NOT NULL,
            PRIMARY KEY (code, sha256)
        ) WITHOUT ROWID;
        CREATE INDEX import_pending_file ON import_pending(sha256)
        """,
    ),
)

RECORD_COLUMNS = (
    "code",
    "lookup_id",
    "national_id",
    "full_name",
    "document_type",
    "degree_level",
    "field",
    "institution",
    "issued_on",
    "revocation_reason",
    "revoked_on",
    "superseded_by",
    "box",
    "seq",
)


@dataclass(frozen=True)
class StoredRecord:
    code: str
    lookup_id: bytes
    national_id: str
    full_name: str
    document_type: str
    degree_level: str
    field: str
    institution: str
    issued_on: str
    revocation_reason: str | None
    revoked_on: str | None
    superseded_by: str | None
    box: bytes
    seq: int


class RegistryStore:
    """Queries over one open registry connection; the caller owns transactions."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        migrate(connection, MIGRATIONS)

    def get_meta(self, key: str) -> str | None:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.connection.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def get_meta_json(self, key: str) -> Any:
        value = self.get_meta(key)
        return None if value is None else json.loads(value)

    def set_meta_json(self, key: str, value: Any) -> None:
        self.set_meta(key, json.dumps(value, sort_keys=True, ensure_ascii=False))

    def last_seq(self) -> int:
        row = self.connection.execute("SELECT max(seq) FROM changes").fetchone()
        return int(row[0] or 0)

    def code_exists(self, code: str) -> bool:
        return self.connection.execute("SELECT 1 FROM records WHERE code = ?", (code,)).fetchone() is not None

    def get_record(self, code: str) -> StoredRecord | None:
        row = self.connection.execute(
            f"SELECT {', '.join(RECORD_COLUMNS)} FROM records WHERE code = ?", (code,)
        ).fetchone()
        return None if row is None else StoredRecord(*row)

    def records_superseded_by(self, code: str) -> list[StoredRecord]:
        rows = self.connection.execute(
            f"SELECT {', '.join(RECORD_COLUMNS)} FROM records WHERE superseded_by = ?", (code,)
        ).fetchall()
        return [StoredRecord(*row) for row in rows]

    def put_record(self, record: StoredRecord) -> None:
        placeholders = ", ".join("?" for _ in RECORD_COLUMNS)
        self.connection.execute(
            f"INSERT OR REPLACE INTO records ({', '.join(RECORD_COLUMNS)}) VALUES ({placeholders})",
            tuple(getattr(record, column) for column in RECORD_COLUMNS),
        )

    def catalogue_entries(self) -> dict[str, list[str]]:
        """Every catalogue entry, by kind, in position order."""
        entries: dict[str, list[str]] = {}
        for kind, name in self.connection.execute("SELECT kind, name FROM catalogue ORDER BY kind, position"):
            entries.setdefault(kind, []).append(name)
        return entries

    def add_catalogue_entry(self, kind: str, position: int, name: str) -> None:
        self.connection.execute("INSERT INTO catalogue (kind, position, name) VALUES (?, ?, ?)", (kind, position, name))

    def append_change(self, seq: int, kind: str, lookup_id: bytes, box: bytes, recorded_at: str) -> None:
        self.connection.execute(
            "INSERT INTO changes (seq, kind, lookup_id, box, recorded_at) VALUES (?, ?, ?, ?, ?)",
            (seq, kind, lookup_id, box, recorded_at),
        )

    def iter_changes(self, after_seq: int) -> Iterator[tuple[int, bytes, bytes]]:
        yield from self.connection.execute(
            "SELECT seq, lookup_id, box FROM changes WHERE seq > ? ORDER BY seq", (after_seq,)
        )

    def iter_rows(self) -> Iterator[tuple[bytes, bytes]]:
        """Current sealed rows in lookup-id order: what the digest and snapshots cover."""
        yield from self.connection.execute("SELECT lookup_id, box FROM records ORDER BY lookup_id")

    def count_records(self) -> int:
        return int(self.connection.execute("SELECT count(*) FROM records").fetchone()[0])

    def add_segment(self, ref: SegmentRef) -> None:
        self.connection.execute(
            "INSERT INTO segments (first_seq, last_seq, prev_chain, chain, sha256, size) VALUES (?, ?, ?, ?, ?, ?)",
            (ref.first_seq, ref.last_seq, ref.prev_chain, ref.chain, ref.sha256, ref.size),
        )

    def add_snapshot(self, ref: SnapshotRef) -> None:
        self.connection.execute(
            "INSERT INTO snapshots (seq, chain, sha256, size, records, digest) VALUES (?, ?, ?, ?, ?, ?)",
            (ref.seq, ref.chain, ref.chunks[0].sha256, ref.size, ref.records, ref.digest),
        )
        self.connection.executemany(
            "INSERT INTO snapshot_chunks (seq, position, sha256, size, records) VALUES (?, ?, ?, ?, ?)",
            [(ref.seq, chunk.index, chunk.sha256, chunk.size, chunk.records) for chunk in ref.chunks],
        )

    def latest_segments(self, limit: int) -> list[SegmentRef]:
        rows = self.connection.execute(
            "SELECT first_seq, last_seq, prev_chain, chain, sha256, size FROM segments ORDER BY first_seq DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            SegmentRef(
                path=segment_path(sha256),
                size=size,
                sha256=sha256,
                first_seq=first,
                last_seq=last,
                prev_chain=prev,
                chain=chain,
            )
            for first, last, prev, chain, sha256, size in reversed(rows)
        ]

    def segments_after(self, seq: int) -> int:
        row = self.connection.execute("SELECT count(*) FROM segments WHERE first_seq > ?", (seq,)).fetchone()
        return int(row[0])

    def latest_snapshot(self) -> SnapshotRef | None:
        row = self.connection.execute(
            "SELECT seq, chain, records, digest FROM snapshots ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        seq, chain, records, digest = row
        chunks = tuple(
            ChunkRef(path=snapshot_path(sha256), size=size, sha256=sha256, records=count, seq=seq, index=position)
            for position, sha256, size, count in self.connection.execute(
                "SELECT position, sha256, size, records FROM snapshot_chunks WHERE seq = ? ORDER BY position", (seq,)
            )
        )
        return SnapshotRef(seq=seq, chain=chain, records=records, digest=digest, chunks=chunks)

    def cut_position(self) -> tuple[int, str | None]:
        """The seq and chain value of the end of the last cut segment (``None`` chain: nothing cut)."""
        row = self.connection.execute("SELECT last_seq, chain FROM segments ORDER BY last_seq DESC LIMIT 1").fetchone()
        return (0, None) if row is None else (int(row[0]), str(row[1]))
