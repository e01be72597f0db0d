"""The box's audit log: every verification it performs, hash-chained, in its own encrypted store.

``DATADIR/audit.db`` is a SQLCipher database keyed with the replica's raw key. An
entry records when, through which channel, for which client and actor, the issuer,
the lookup id (never the raw code or national ID) and the verdict's status.

Operators' actions are entries too, on the ``admin`` channel: the actor is the
operator (``operator:NAME``; ``unknown`` for a failed login under a name the box does
not have, so a password typed into the name field is never kept), and the status
names the action, ``ACTION`` or ``ACTION:TARGET`` (the key id or user name acted on):
see ``ADMIN_ACTIONS``. Passwords and tokens are never recorded. Each
entry carries ``hash = SHA-256(prev_hash ‖ canonical_json(fields, id included))``,
the first chaining to ``SHA-256(b"sehat/audit/v1\\x00")``; ``audit_meta`` keeps the
last id and hash, written in the same transaction as every append.

What this protects against, and what it does not:

- Without the key nothing can be read or changed at all: SQLCipher authenticates
  every page.
- With the key (a shell on the box, a bug, a careless repair), an edited, deleted,
  inserted or reordered entry is found and named by ``verify()``, as is the removal
  of the newest entries, since ``audit_meta`` still names the last one.
- Someone who holds the key *and* rewrites the whole chain, ``audit_meta`` and the
  checkpoints consistently is not caught by anything on the box: the checkpoint key
  is derived from the box key too. Only what is kept off the box catches that, so
  operators should record the checkpoint public key (a log re-created under another
  key no longer verifies against it) and, from time to time, the last entry's id
  and hash (``sehat appliance audit verify`` prints them, and every export carries
  every hash): a rewritten log no longer holds the hash they wrote down. Rotating
  the box key changes the checkpoint key, so existing checkpoints must be re-signed.

Retention: ``prune`` deletes the oldest entries and writes a checkpoint signed with
an Ed25519 key derived from the box key, recording where the chain was cut; the
remaining entries then chain to the checkpoint instead of the genesis value.

Times are stored and hashed as ISO 8601 UTC with microseconds
(``2026-11-23T09:00:00.123456Z``) rather than the feed's whole seconds: many
verifications fall within one second, and a fixed-width UTC string sorts as time
does, which export's and prune's range queries rely on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.datadir import DataDir
from storage.database import Connection, Migration, migrate, open_store, transaction
from storage.errors import StoreExistsError, StoreMissingError
from verifier.canonical import canonical_json, format_timestamp, parse_json_object, require_count, require_hex
from verifier.errors import FeedError, OperatorError
from verifier.sealing import LOOKUP_ID_BYTES
from verifier.signing import public_key_bytes, sign_envelope, split_envelope, verify_envelope
from verifier.verdict import Status

AUDIT_FILE = "audit.db"
AUDIT_RETENTION_DAYS = 365  # days an entry is kept before `prune` may remove it
CHANNELS = ("kiosk", "api", "bulk", "cli", "scan", "desk", "admin")
STATUSES = tuple(status.value for status in Status)
ADMIN_ACTIONS = (
    "login",
    "login_failed",
    "logout",
    "key_create",
    "key_revoke",
    "user_add",
    "user_remove",
    "user_disable",
    "user_enable",
    "user_passwd",
    "audit_export",
)
EXPORT_BATCH = 1000  # rows read per query while exporting, so an export never holds a long read
GENESIS_HASH = hashlib.sha256(b"sehat/audit/v1\x00").hexdigest()
CHECKPOINT_TYPE = "sehat/audit-checkpoint"
CHECKPOINT_KEY_INFO = b"sehat/audit-checkpoint/v1"
CSV_COLUMNS = ("id", "at", "channel", "client", "actor", "issuer", "lookup_id", "status", "hash")
_HASHED_COLUMNS = CSV_COLUMNS[:-1]
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_HEX_DIGITS = frozenset("0123456789abcdef")
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")

MIGRATIONS = (
    Migration(
        "0001_audit_initial",
        f"""
        CREATE TABLE entries (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            channel TEXT NOT NULL,
            client TEXT NOT NULL,
            actor TEXT,
            issuer TEXT,
            lookup_id TEXT,
            status TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        ) STRICT;
        CREATE INDEX entries_at ON entries (at);
        CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, envelope TEXT NOT NULL) STRICT;
        CREATE TABLE audit_meta (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            last_id INTEGER NOT NULL,
            last_hash TEXT NOT NULL,
            checkpoint_up_to INTEGER NOT NULL
        ) STRICT;
        INSERT INTO audit_meta (singleton, last_id, last_hash, checkpoint_up_to) VALUES (1, 0, '{GENESIS_HASH}', 0)
        """,
    ),
)


def format_audit_time(moment: datetime) -> str:
    """An entry's time as stored and hashed: UTC, microseconds, fixed width (so it sorts as time)."""
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """``SHA-256(prev_hash bytes ‖ canonical JSON of the entry's fields, id included)``, hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_json(fields)).hexdigest()


def checkpoint_signing_key(box_key: bytes) -> Ed25519PrivateKey:
    """The checkpoint key, derived from the box key so that no second secret must be kept."""
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CHECKPOINT_KEY_INFO).derive(box_key)
    return Ed25519PrivateKey.from_private_bytes(seed)


@dataclass(frozen=True)
class AuditEntry:
    """One verification as the log keeps it; refuses anything that could carry a raw code."""

    at: datetime
    channel: str
    client: str
    actor: str | None
    issuer: str | None
    lookup_id: str | None
    status: str

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("an audit entry's time must be timezone-aware")
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, not {self.channel!r}")
        if self.channel == "admin":
            action, _, target = self.status.partition(":")
            if action not in ADMIN_ACTIONS or len(target) > 128 or not target.isprintable():
                raise ValueError(f"an admin entry's status must be ACTION[:TARGET], not {self.status!r}")
        elif self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        # A lookup id is 32 lowercase hex digits; a 20-digit code or a national ID is not, so neither slips in.
        if self.lookup_id is not None and (
            len(self.lookup_id) != 2 * LOOKUP_ID_BYTES or not set(self.lookup_id) <= _HEX_DIGITS
        ):
            raise ValueError("lookup_id must be a lookup id (32 lowercase hex digits), never a raw code")

    def fields(self, entry_id: int) -> dict[str, Any]:
        """The hashed form: every field, the id, and the time as stored."""
        return {
            "id": entry_id,
            "at": format_audit_time(self.at),
            "channel": self.channel,
            "client": self.client,
            "actor": self.actor,
            "issuer": self.issuer,
            "lookup_id": self.lookup_id,
            "status": self.status,
        }


def admin_entry(at: datetime, client: str, actor: str, action: str, target: str | None = None) -> AuditEntry:
    """An operator's action as an ``admin`` entry: who, from where, what, on what — never a secret.

    The target (a key id or user name) is kept printable and at most 128 characters.
    """
    if target:
        target = "".join(char if char.isprintable() else "?" for char in target)[:128]
    return AuditEntry(
        at=at,
        channel="admin",
        client=client,
        actor=actor,
        issuer=None,
        lookup_id=None,
        status=f"{action}:{target}" if target else action,
    )


@dataclass(frozen=True)
class AuditCheck:
    """The outcome of ``AuditLog.verify``: intact, or the first problem and where it is."""

    ok: bool
    checked: int
    problem: str | None
    entry_id: int | None
    problem_fa: str | None = None


class AuditTamperedError(OperatorError):
    code = "audit_tampered"

    def __init__(self, check: AuditCheck) -> None:
        super().__init__(
            f"The audit log does not verify: {check.problem}.",
            f"درستی دفتر ممیزی تأیید نشد: {check.problem_fa}.",
        )
        self.check = check


# Each way the log can fail to verify: one line naming the place, in English and Persian.
_PROBLEMS = {
    "meta_missing": ("the record of the last entry is missing", "سابقهٔ آخرین ردیف وجود ندارد"),
    "bad_checkpoint": ("the checkpoint's signature does not verify", "امضای نقطهٔ وارسی معتبر نیست"),
    "checkpoint_missing": (
        "the checkpoint up to entry {up_to} is missing (deleted)",
        "نقطهٔ وارسی تا ردیف {up_to} وجود ندارد (حذف شده است)",
    ),
    "before_start": (
        "entry {id} comes before the start of the chain at entry {first} (inserted)",
        "ردیف {id} پیش از آغاز زنجیره (ردیف {first}) آمده است؛ افزوده شده است",
    ),
    "missing": ("entry {id} is missing (deleted)", "ردیف {id} وجود ندارد (حذف شده است)"),
    "missing_range": (
        "entries {id}–{high} are missing (deleted)",
        "ردیف‌های {id} تا {high} وجود ندارند (حذف شده‌اند)",
    ),
    "unchained": (
        "entry {id} does not chain to entry {before} (inserted, rewritten or reordered)",
        "ردیف {id} به ردیف {before} زنجیر نمی‌شود؛ ردیفی افزوده، بازنویسی یا جابه‌جا شده است",
    ),
    "unchained_first": (
        "entry {id} does not chain to the start of the chain (inserted, rewritten or reordered)",
        "ردیف {id} به آغاز زنجیره زنجیر نمی‌شود؛ ردیفی افزوده، بازنویسی یا جابه‌جا شده است",
    ),
    "changed": (
        "entry {id} was changed (its hash does not match)",
        "ردیف {id} تغییر داده شده است (هش آن مطابقت ندارد)",
    ),
    "tail_deleted": (
        "entries after {end} were deleted (the log had entries up to {last})",
        "ردیف‌های پس از {end} حذف شده‌اند (دفتر تا ردیف {last} ثبت داشت)",
    ),
    "beyond_end": (
        "entry {id} is beyond the last appended entry {last} (inserted)",
        "ردیف {id} پس از آخرین ردیف ثبت‌شده ({last}) آمده است؛ افزوده شده است",
    ),
    "last_replaced": (
        "entry {id}, the last, was replaced (its hash differs from the one recorded)",
        "ردیف {id}، آخرین ردیف، جایگزین شده است (هش آن با هش ثبت‌شده یکی نیست)",
    ),
}


def _failed(kind: str, checked: int, entry_id: int | None = None, **numbers: int) -> AuditCheck:
    english, persian = _PROBLEMS[kind]
    if entry_id is not None:
        numbers["id"] = entry_id
    return AuditCheck(
        ok=False,
        checked=checked,
        problem=english.format(**numbers),
        entry_id=entry_id,
        problem_fa=persian.format(**{name: str(n).translate(_PERSIAN_DIGITS) for name, n in numbers.items()}),
    )


class Appender(Protocol):
    """Something that chains entries onto the log durably: the web app's group-commit writer."""

    def append(self, entries: Sequence[AuditEntry]) -> None: ...


class AuditLog:
    """An open audit log; one per thread, or shared (its methods hold a lock).

    Given a ``writer`` (the web app's ``AuditWriter``), ``append`` hands entries to it, so
    that every thread's verifications share its transactions; reads stay on this connection.
    """

    def __init__(self, connection: Connection, box_key: bytes, writer: Appender | None = None) -> None:
        self._connection = connection
        self._signing_key = checkpoint_signing_key(box_key)
        self._lock = threading.Lock()
        self._writer = writer

    @classmethod
    def open(cls, datadir: DataDir, *, create: bool = False, writer: Appender | None = None) -> AuditLog:
        """Open ``DATADIR/audit.db``; with ``create``, create it first if it is missing (never over one).

        Raises:
            StoreMissingError: there is no audit log and ``create`` is false.
            KeyFileError, WrongKeyError: the box's key is unusable or does not open the log.
        """
        path = datadir.path / AUDIT_FILE
        if not create and not path.exists():
            raise StoreMissingError(
                f"No audit log at {path}; the box creates it when it first serves verifications.",
                f"دفتر ممیزی در {path} وجود ندارد؛ این دفتر وقتی ساخته می‌شود که دستگاه نخستین استعلام را پاسخ دهد.",
            )
        key = datadir.read_key()
        try:
            connection = open_store(path, key, create=create and not path.exists())
        except StoreExistsError:  # another process created it a moment ago
            connection = open_store(path, key)
        try:
            migrate(connection, MIGRATIONS)
        except BaseException:
            connection.close()
            raise
        return cls(connection, key, writer)

    @property
    def connection(self) -> Connection:
        """The underlying connection (the web app ends stray transactions on it after each request)."""
        return self._connection

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def append(self, entries: Sequence[AuditEntry]) -> None:
        """Chain ``entries`` onto the log in one transaction: one fsync however many there are.

        ``BEGIN IMMEDIATE`` takes the write lock before the last hash is read, so
        appenders on other connections or processes wait their turn and the chain
        never forks. Through a writer, the entries share a transaction with other
        callers' and this returns once it is committed.
        """
        if not entries:
            return
        if self._writer is not None:
            self._writer.append(entries)
            return
        with self._lock, transaction(self._connection):
            last_id, prev = self._connection.execute("SELECT last_id, last_hash FROM audit_meta").fetchone()
            rows = []
            for entry in entries:
                last_id += 1
                fields = entry.fields(last_id)
                digest = entry_hash(prev, fields)
                rows.append((*(fields[column] for column in _HASHED_COLUMNS), prev, digest))
                prev = digest
            self._connection.executemany(
                "INSERT INTO entries (id, at, channel, client, actor, issuer, lookup_id, status, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._connection.execute("UPDATE audit_meta SET last_id = ?, last_hash = ?", (last_id, prev))

    def verify(self) -> AuditCheck:
        """Walk the chain in id order from the newest checkpoint; name the first problem found."""
        with self._lock, transaction(self._connection, immediate=False):
            return self._walk()

    def _walk(self) -> AuditCheck:
        meta = self._connection.execute("SELECT last_id, last_hash, checkpoint_up_to FROM audit_meta").fetchone()
        if meta is None:
            return _failed("meta_missing", 0)
        last_id, last_hash, checkpoint_up_to = meta
        start = self._chain_start(checkpoint_up_to)
        if isinstance(start, AuditCheck):
            return start
        first, prev = start
        expected, checked = first, 0
        columns = ", ".join(_HASHED_COLUMNS)
        for row in self._connection.execute(f"SELECT {columns}, prev_hash, hash FROM entries ORDER BY id"):
            entry_id, stored_prev, stored_hash = row[0], row[-2], row[-1]
            if entry_id < expected:
                return _failed("before_start", checked, entry_id, first=first)
            if entry_id == expected + 1:
                return _failed("missing", checked, expected)
            if entry_id > expected:
                return _failed("missing_range", checked, expected, high=entry_id - 1)
            if stored_prev != prev and entry_id == first:
                return _failed("unchained_first", checked, entry_id)
            if stored_prev != prev:
                return _failed("unchained", checked, entry_id, before=entry_id - 1)
            try:
                recomputed = entry_hash(prev, dict(zip(_HASHED_COLUMNS, row[:-2], strict=True)))
            except (ValueError, TypeError):  # a value no append could have written
                recomputed = None
            if recomputed != stored_hash:
                return _failed("changed", checked, entry_id)
            prev, expected, checked = stored_hash, entry_id + 1, checked + 1
        # The chain must end exactly where audit_meta says the last append left it.
        end = expected - 1
        if end < last_id:
            return _failed("tail_deleted", checked, end + 1, end=end, last=last_id)
        if end > last_id:
            return _failed("beyond_end", checked, last_id + 1, last=last_id)
        if prev != last_hash:
            return _failed("last_replaced", checked, end)
        return AuditCheck(ok=True, checked=checked, problem=None, entry_id=None)

    def _chain_start(self, checkpoint_up_to: int) -> tuple[int, str] | AuditCheck:
        """Where the remaining chain must begin: after the newest checkpoint, else at entry 1."""
        newest: dict[str, Any] | None = None
        for (envelope,) in self._connection.execute("SELECT envelope FROM checkpoints ORDER BY id"):
            try:
                signed = self._open_checkpoint(envelope)
            except (FeedError, ValueError, TypeError):
                return _failed("bad_checkpoint", 0)
            if newest is None or signed["up_to_id"] > newest["up_to_id"]:
                newest = signed
        up_to = 0 if newest is None else newest["up_to_id"]
        if up_to != checkpoint_up_to:
            return _failed("checkpoint_missing", 0, up_to=checkpoint_up_to)
        return (1, GENESIS_HASH) if newest is None else (up_to + 1, newest["last_hash"])

    def _open_checkpoint(self, envelope: str) -> dict[str, Any]:
        name = "audit checkpoint"
        signed, signatures = split_envelope(parse_json_object(envelope.encode("utf-8"), name), name)
        verify_envelope(signed, signatures, self.checkpoint_public_key(), name)
        if signed.get("type") != CHECKPOINT_TYPE:
            raise ValueError(f"not a {CHECKPOINT_TYPE}")
        require_count(signed, "up_to_id", name, minimum=1)
        require_hex(signed, "last_hash", 64, name)
        return signed

    def csv_lines(self, since: datetime | None = None, until: datetime | None = None) -> Iterator[str]:
        """The export as CSV text, header first, a batch of rows at a time (``since <= at < until``)."""
        for text, _rows in self.csv_batches(since, until):
            yield text

    def csv_batches(self, since: datetime | None = None, until: datetime | None = None) -> Iterator[tuple[str, int]]:
        """The export as (CSV text, rows in it), the header first (0 rows), streamed from the database.

        Reads ``EXPORT_BATCH`` rows at a time under the lock and yields them with it
        released, so an export of any size takes constant memory, never holds a long read
        open, and may share this ``AuditLog`` with other work on the same thread. The
        entries exported are those appended before the export began.
        """
        clauses, params = ["id > ?", "id <= ?"], []
        if since is not None:
            clauses.append("at >= ?")
            params.append(format_audit_time(since))
        if until is not None:
            clauses.append("at < ?")
            params.append(format_audit_time(until))
        query = f"SELECT {', '.join(CSV_COLUMNS)} FROM entries WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?"
        buffer = io.StringIO()
        writer = csv.writer(buffer)

        def lines(rows: Sequence[Sequence[Any]]) -> str:
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(rows)
            return buffer.getvalue()

        with self._lock:
            (last_id,) = self._connection.execute("SELECT last_id FROM audit_meta").fetchone()
        yield lines([CSV_COLUMNS]), 0
        after = 0
        while True:
            with self._lock:
                rows = self._connection.execute(query, [after, last_id, *params, EXPORT_BATCH]).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            yield lines(rows), len(rows)

    def export_csv(self, out: TextIO, since: datetime | None = None, until: datetime | None = None) -> int:
        """Write the entries with ``since <= at < until`` to ``out`` as CSV; return how many rows."""
        total = 0
        for text, rows in self.csv_batches(since, until):
            out.write(text)
            total += rows
        return total

    def prune(self, older_than: datetime) -> int:
        """Delete the oldest entries, those before ``older_than``, behind a signed checkpoint.

        Only a prefix of the chain can go, so pruning stops at the first entry not
        older than the cut-off. The log is verified first: pruning a tampered log
        would erase the evidence.

        Raises:
            AuditTamperedError: the log does not verify, so nothing is pruned.
        """
        with self._lock, transaction(self._connection):
            check = self._walk()
            if not check.ok:
                raise AuditTamperedError(check)
            last_id, checkpoint_up_to = self._connection.execute(
                "SELECT last_id, checkpoint_up_to FROM audit_meta"
            ).fetchone()
            (keep_from,) = self._connection.execute(
                "SELECT min(id) FROM entries WHERE at >= ?", (format_audit_time(older_than),)
            ).fetchone()
            up_to = last_id if keep_from is None else keep_from - 1
            if up_to <= checkpoint_up_to:
                return 0
            (last_hash,) = self._connection.execute("SELECT hash FROM entries WHERE id = ?", (up_to,)).fetchone()
            pruned: int = self._connection.execute("DELETE FROM entries WHERE id <= ?", (up_to,)).rowcount
            signed = {
                "type": CHECKPOINT_TYPE,
                "up_to_id": up_to,
                "last_hash": last_hash,
                "pruned_count": pruned,
                "at": format_timestamp(datetime.now(UTC)),
            }
            envelope = canonical_json(sign_envelope(signed, self._signing_key)).decode("ascii")
            self._connection.execute("INSERT INTO checkpoints (envelope) VALUES (?)", (envelope,))
            self._connection.execute("UPDATE audit_meta SET checkpoint_up_to = ?", (up_to,))
        return pruned

    def count(self) -> int:
        """How many entries the log holds now (pruned ones not counted)."""
        with self._lock:
            return int(self._connection.execute("SELECT count(*) FROM entries").fetchone()[0])

    def head(self) -> tuple[int, str]:
        """The last appended entry's id and hash, for operators to record off the box."""
        with self._lock:
            last_id, last_hash = self._connection.execute("SELECT last_id, last_hash FROM audit_meta").fetchone()
        return int(last_id), str(last_hash)

    def checkpoint_public_key(self) -> bytes:
        """The raw Ed25519 key that checks checkpoints; record it outside the box."""
        return public_key_bytes(self._signing_key)
