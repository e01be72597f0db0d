"""The one place that chooses the database driver: SQLCipher, keyed with a raw 256-bit key.

Everything else receives a connection from ``open_store``. A raw key (``x'…'``)
skips SQLCipher's per-open key derivation; the key itself is random, so there is
nothing to stretch. A wrong key, or a file that is not a store, is refused with a
clear message, and a missing store is never silently replaced by an empty one.
Migrations are named, applied in order, each in its own transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlcipher3

from storage.errors import StoreExistsError, StoreMissingError, WrongKeyError

Connection = Any  # sqlcipher3.Connection, which ships no type information
DatabaseError = sqlcipher3.DatabaseError
IntegrityError = sqlcipher3.IntegrityError


def open_store(path: Path, key: bytes, *, create: bool = False) -> Connection:
    """Open (or, with ``create``, create) an encrypted store.

    The connection is in autocommit mode; callers group writes with ``transaction``.
    WAL journaling with ``synchronous=FULL``: in WAL mode ``NORMAL`` can lose the
    last committed transaction on power loss.

    Raises:
        StoreMissingError: ``create`` is false and there is no store at ``path``.
        StoreExistsError: ``create`` is true and a file is already there.
        WrongKeyError: the key does not open the file, or it is not a store.
    """
    if create and path.exists():
        raise StoreExistsError(
            f"A store already exists at {path}; refusing to create a new one over it.",
            f"در {path} از پیش پایگاه داده وجود دارد؛ پایگاه تازه‌ای روی آن ساخته نمی‌شود.",
        )
    if not create and not path.exists():
        raise StoreMissingError(f"No store at {path}.", f"پایگاه داده‌ای در {path} پیدا نشد.")
    connection = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        connection.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher3.DatabaseError as error:
        connection.close()
        raise WrongKeyError(
            f"The key does not open {path} (wrong key, or not a Sehat store).",
            f"کلید، پایگاه داده {path} را باز نمی‌کند (کلید نادرست است یا فایل پایگاه Sehat نیست).",
        ) from error
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA busy_timeout = 10000")
    return connection


@contextlib.contextmanager
def transaction(connection: Connection, *, immediate: bool = True) -> Iterator[Connection]:
    """Run a block in one transaction: committed whole, or rolled back whole."""
    connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


@dataclass(frozen=True)
class Migration:
    """A named schema step: SQL statements, or a function of the connection."""

    name: str
    apply: str | Callable[[Connection], None]


def migrate(connection: Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations not yet applied, in order; return the names applied.

    Each migration runs in a write transaction that first checks, under SQLite's write
    lock, whether another process (the web app and the sync agent open the same stores)
    applied it meanwhile, so two openers never apply one migration twice.
    """
    connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in connection.execute("SELECT name FROM schema_migrations")}
    applied = []
    for migration in migrations:
        if migration.name in done:
            continue
        with transaction(connection):
            if connection.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (migration.name,)).fetchone():
                continue
            if isinstance(migration.apply, str):
                for statement in migration.apply.split(";"):
                    if statement.strip():
                        connection.execute(statement)
            else:
                migration.apply(connection)
            connection.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, datetime('now'))", (migration.name,)
            )
        applied.append(migration.name)
    return applied


def applied_migrations(connection: Connection) -> list[str]:
    """The names of the migrations a store has applied, in order: its schema version."""
    return [row[0] for row in connection.execute("SELECT name FROM schema_migrations ORDER BY rowid")]
