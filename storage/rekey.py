"""Changing a store's key so that a crash at any instant leaves it whole under one of the two keys.

``PRAGMA rekey`` rewrites the file in place, page by page, through SQLite's journal; whether
an interrupted rekey always rolls back to a file one key opens depends on SQLCipher's
journal handling, which it does not document as crash-safe. So a store is never rewritten
in place: a re-keyed copy is written beside it (``snapshot_store``), checked, fsynced, and
renamed over the original — ``rename`` is atomic, so the path always holds either the
whole old-key file or the whole new-key file. The old file's WAL is checkpointed into it
and gone before the rename, so no frame written under the old key is ever replayed into
the new file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from storage.database import Connection, open_store
from storage.durable import fsync_directory
from storage.errors import WrongKeyError
from storage.snapshot import SnapshotError, remove_store_files, snapshot_store


def rekey_temporary(path: Path) -> Path:
    """Where the re-keyed copy of ``path`` is built (removed again if a crash left it)."""
    return path.with_name(f".{path.name}.rekey")


def opens_with(path: Path, key: bytes) -> bool:
    """Whether ``key`` opens the store at ``path``."""
    try:
        open_store(path, key).close()
    except WrongKeyError:
        return False
    return True


def rekey_store(
    path: Path, old_key: bytes | None, new_key: bytes, adjust: Callable[[Connection], None] | None = None
) -> bool:
    """Put the store at ``path`` under ``new_key``; idempotent, so an interrupted run is finished by the next.

    Args:
        old_key: the key it may still be under (None: it must already be under ``new_key``).
        adjust: run on the re-keyed copy before it replaces the original (e.g. re-sign
            what was signed with a key derived from the old one).

    Returns:
        True if it was re-keyed now, False if it already was.

    Raises:
        WrongKeyError: neither key opens it.
        SnapshotError: its old WAL could not be folded into it (another process has it open).
    """
    temporary = rekey_temporary(path)
    remove_store_files(temporary)
    # A file opens under at most one key; the old one is tried first, as it is the usual case.
    if old_key is None or not opens_with(path, old_key):
        if opens_with(path, new_key):
            return False
        raise WrongKeyError(
            f"Neither the old nor the new key opens {path}.",
            f"نه کلید پیشین و نه کلید تازه پایگاه {path} را باز نمی‌کند.",
        )
    source = open_store(path, old_key)
    try:
        source.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        snapshot_store(source, temporary, new_key, adjust)
    finally:
        source.close()
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size:
        remove_store_files(temporary)
        raise SnapshotError(
            f"{path} is still being written by another process; stop the box's services and retry.",
            f"فرایند دیگری هنوز در {path} می‌نویسد؛ سرویس‌های دستگاه را متوقف کنید و دوباره تلاش کنید.",
        )
    os.replace(temporary, path)
    fsync_directory(path.parent)
    return True
