"""Consistent, encrypted copies of a live store, and telling whether another process has one open.

A copy is made with SQLite's online backup API in a single step: the source is read in
one read transaction, so the copy is one committed state even while other connections
write, and in WAL mode those writers are never blocked by it. SQLCipher (4.x) decrypts
each page with the source's key and encrypts it with the destination's, so the same call
makes a copy under the same key (a backup) or under another (a key rotation); the copy is
checked page by page (``cipher_integrity_check``) before it counts. The copy is left in
rollback-journal mode with no ``-wal`` beside it, so it is one self-contained file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from storage.database import Connection, open_store
from storage.errors import StoreError

T = TypeVar("T")
STORE_SIDE_FILES = ("-wal", "-shm", "-journal")
# SQLite's unix VFS: every connection to a WAL database holds a shared lock on this byte of
# the ``-shm`` file for as long as it is open ("DMS", after the 120 bytes of other locks).
_SHM_DMS_OFFSET = 128


class SnapshotError(StoreError):
    code = "snapshot_failed"


def key_check(key: bytes, purpose: bytes) -> str:
    """A value that tells whether two keys are the same without revealing either: HMAC-SHA256, 128 bits."""
    return hmac.new(key, purpose, hashlib.sha256).hexdigest()[:32]


def remove_store_files(path: Path) -> None:
    """Remove a store file and its journal files, whichever exist."""
    for suffix in ("", *STORE_SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def file_sha256(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def store_in_use(path: Path) -> bool:
    """Whether another process has the WAL store at ``path`` open (the web app, the sync agent).

    Probes the lock every open connection holds on the ``-shm`` file. POSIX locks belong to
    the process and closing any descriptor of the file drops them all, so call this only
    while this process has no connection to the store open.
    """
    try:
        fd = os.open(f"{path}-shm", os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_OFFSET)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return True
        raise
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _SHM_DMS_OFFSET)
        return False
    finally:
        os.close(fd)


def snapshot_store(
    source: Connection,
    destination: Path,
    key: bytes,
    inspect: Callable[[Connection], T] | None = None,
) -> T | None:
    """Copy the store open on ``source`` to a new file ``destination``, encrypted under ``key``.

    ``inspect`` runs on the finished copy before it is closed — to read what a manifest
    records from exactly the state copied, or to adjust the copy (re-sign what depends on
    the key). The file is fsynced; on any error it is removed.

    Raises:
        SnapshotError: the copy does not pass SQLCipher's page check.
    """
    remove_store_files(destination)
    copy = open_store(destination, key, create=True)
    try:
        source.backup(copy)  # pages=-1: one step, one read transaction on the source
        result = inspect(copy) if inspect is not None else None
        copy.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        copy.execute("PRAGMA journal_mode = DELETE").fetchall()
        problems = copy.execute("PRAGMA cipher_integrity_check").fetchall()
        if problems:
            raise SnapshotError(
                f"The copy {destination} failed SQLCipher's page check: {problems[0][0]}",
                f"رونوشت {destination} در بررسی صفحه‌های SQLCipher رد شد.",
            )
        copy.close()
        fsync_file(destination)
    except BaseException:
        with contextlib.suppress(Exception):
            copy.close()
        remove_store_files(destination)
        raise
    return result
