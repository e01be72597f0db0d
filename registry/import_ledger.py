"""What the registry remembers of each import file, so that a killed import resumes where it stopped.

An import is known by the SHA-256 of its file. Three tables (migration ``0003_imports``):

- ``imports``: one row per file that passed its checks — its data rows, how many are
  committed, the line of the last one, and whether it is done.
- ``import_codes``: ``(file, line) → code`` of every committed row, written in the same
  transaction as the records, so that the codes can be printed again after a resume or
  a repeated run.
- ``import_pending``: the codes a file supplies, while it is checked and sealed. A code
  repeated within the file, and a fresh code that would collide with one the file has not
  reached yet, are found here on disk instead of in a set of every code in memory. This is
  a table of the encrypted store rather than a ``TEMP`` table on purpose: this SQLCipher
  build keeps temporary tables in memory (``SQLITE_TEMP_STORE=2``) — the very growth this
  avoids — and codes are secrets that must not reach an unencrypted temporary file.

The caller owns transactions, as with ``registry.store.RegistryStore``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from storage.database import Connection


@dataclass(frozen=True)
class ImportState:
    """How far the import of one file has come."""

    sha256: str
    rows: int  # data rows in the file
    committed: int  # rows imported so far, by this run and earlier ones
    last_line: int  # line of the last committed row (rows are committed in file order)
    done: bool
    started_at: str
    finished_at: str | None


class ImportLedger:
    """Queries over the import tables of one open registry connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def state(self, sha256: str) -> ImportState | None:
        row = self.connection.execute(
            "SELECT sha256, rows, committed, last_line, done, started_at, finished_at FROM imports WHERE sha256 = ?",
            (sha256,),
        ).fetchone()
        if row is None:
            return None
        sha, rows, committed, last_line, done, started_at, finished_at = row
        return ImportState(sha, rows, committed, last_line, bool(done), started_at, finished_at)

    def begin(self, sha256: str, rows: int, started_at: str) -> ImportState:
        """The state of the import of ``sha256``: started now, or as an earlier run left it."""
        self.connection.execute(
            "INSERT INTO imports (sha256, rows, started_at) VALUES (?, ?, ?) ON CONFLICT(sha256) DO NOTHING",
            (sha256, rows, started_at),
        )
        state = self.state(sha256)
        assert state is not None
        return state

    def record_batch(self, sha256: str, codes: list[tuple[int, str]]) -> None:
        """Note committed rows ``(line, code)``, in file order, inside their records' transaction."""
        self.connection.executemany(
            "INSERT INTO import_codes (sha256, line, code) VALUES (?, ?, ?)",
            [(sha256, line, code) for line, code in codes],
        )
        self.connection.execute(
            "UPDATE imports SET committed = committed + ?, last_line = ? WHERE sha256 = ?",
            (len(codes), codes[-1][0], sha256),
        )

    def finish(self, sha256: str, finished_at: str) -> None:
        self.connection.execute("UPDATE imports SET done = 1, finished_at = ? WHERE sha256 = ?", (finished_at, sha256))
        self.clear_pending(sha256)

    def codes(self, sha256: str) -> Iterator[tuple[int, str]]:
        """``(line, code)`` of every committed row of the file, in line order."""
        for line, code in self.connection.execute(
            "SELECT line, code FROM import_codes WHERE sha256 = ? ORDER BY line", (sha256,)
        ):
            yield int(line), str(code)

    def committed_code(self, sha256: str, line: int) -> str | None:
        row = self.connection.execute(
            "SELECT code FROM import_codes WHERE sha256 = ? AND line = ?", (sha256, line)
        ).fetchone()
        return None if row is None else str(row[0])

    # --- codes a file supplies, while it is imported ------------------------------------------------

    def add_pending(self, sha256: str, codes: Iterable[tuple[str, int]]) -> None:
        """Note that the file supplies each ``(code, line)`` (none of them noted for it before)."""
        self.connection.executemany(
            "INSERT INTO import_pending (code, sha256, line) VALUES (?, ?, ?)",
            ((code, sha256, line) for code, line in codes),
        )

    def pending_line(self, sha256: str, code: str) -> int | None:
        """The line of the file that supplies ``code``, if one was noted."""
        row = self.connection.execute(
            "SELECT line FROM import_pending WHERE code = ? AND sha256 = ?", (code, sha256)
        ).fetchone()
        return None if row is None else int(row[0])

    def is_pending(self, code: str) -> bool:
        """Whether a file being imported (this one or another) supplies ``code``."""
        return self.connection.execute("SELECT 1 FROM import_pending WHERE code = ?", (code,)).fetchone() is not None

    def clear_pending(self, sha256: str) -> None:
        self.connection.execute("DELETE FROM import_pending WHERE sha256 = ?", (sha256,))
