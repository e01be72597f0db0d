"""A box's data directory: where its replica, key, downloads and lock live.

Layout::

    DATADIR/                 mode 0700
      replica.key            the replica's raw key, mode 0600 (unless kept elsewhere)
      CURRENT                names the replica generation in use
      replica-000001.db      the encrypted replica (SQLCipher), one generation at a time
      downloads/             partial and verified feed objects (sealed; nothing readable)
      sync.lock              held by the one sync that may run at a time
      rekey.journal          only while a key rotation is under way (appliance/rekey.py)

The key is looked up in this order: an explicit ``--key-file``; the systemd
credential ``$CREDENTIALS_DIRECTORY/sehat-replica-key``; ``DATADIR/replica.key``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from storage.durable import write_atomic
from storage.errors import StoreMissingError
from storage.keyfile import read_key_file
from verifier.errors import OperatorError

KEY_FILE = "replica.key"
CURRENT_FILE = "CURRENT"
DOWNLOADS_DIR = "downloads"
LOCK_FILE = "sync.lock"
CREDENTIAL_NAME = "sehat-replica-key"
REKEY_JOURNAL = "rekey.journal"
GENERATION_PREFIX = "replica-"
GENERATION_SUFFIX = ".db"


class SyncBusyError(OperatorError):
    code = "sync_busy"

    def __init__(self) -> None:
        super().__init__(
            "Another sync is running on this data directory; try again when it has finished.",
            "همگام‌سازی دیگری روی این پوشه در حال اجراست؛ پس از پایان آن دوباره تلاش کنید.",
        )


class RekeyPendingError(OperatorError):
    code = "rekey_pending"

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"A key rotation of {path} was interrupted; finish it with: sehat appliance rekey {path}",
            f"چرخش کلید {path} نیمه‌کاره مانده است؛ با این فرمان تمامش کنید: sehat appliance rekey {path}",
        )


@dataclass(frozen=True)
class DataDir:
    """Paths of one box's data directory."""

    path: Path
    key_file: Path | None = None

    @property
    def current_file(self) -> Path:
        return self.path / CURRENT_FILE

    @property
    def downloads(self) -> Path:
        return self.path / DOWNLOADS_DIR

    def resolve_key_file(self) -> Path:
        if self.key_file is not None:
            return self.key_file
        credentials = os.environ.get("CREDENTIALS_DIRECTORY")
        if credentials and (Path(credentials) / CREDENTIAL_NAME).exists():
            return Path(credentials) / CREDENTIAL_NAME
        return self.path / KEY_FILE

    def read_key(self) -> bytes:
        """The box key; refused while a key rotation is unfinished, when stores may be under either key."""
        if (self.path / REKEY_JOURNAL).exists():
            raise RekeyPendingError(self.path)
        return read_key_file(self.resolve_key_file())

    def generation_path(self, generation: int) -> Path:
        return self.path / f"{GENERATION_PREFIX}{generation:06d}{GENERATION_SUFFIX}"

    def current_generation(self) -> int:
        """The generation CURRENT names; a missing CURRENT means no replica here."""
        try:
            text = self.current_file.read_text(encoding="ascii").strip()
        except FileNotFoundError as error:
            raise StoreMissingError(
                f"No replica in {self.path} (run: sehat appliance init {self.path} --trust FILE).",
                f"در {self.path} پایگاه داده‌ای نیست؛ ابتدا sehat appliance init را اجرا کنید.",
            ) from error
        if not text.isdigit():
            raise StoreMissingError(f"{self.current_file} is damaged.", f"فایل {self.current_file} آسیب دیده است.")
        return int(text)

    def set_current_generation(self, generation: int) -> None:
        """Point CURRENT at ``generation``: the atomic switch to a rebuilt replica."""
        write_atomic(self.current_file, f"{generation}\n".encode("ascii"), mode=0o600)

    def remove_generation(self, generation: int) -> None:
        base = self.generation_path(generation)
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{base}{suffix}")

    def generations_on_disk(self) -> list[int]:
        found = []
        for path in self.path.glob(f"{GENERATION_PREFIX}*{GENERATION_SUFFIX}"):
            number = path.name[len(GENERATION_PREFIX) : -len(GENERATION_SUFFIX)]
            if number.isdigit():
                found.append(int(number))
        return sorted(found)

    @contextlib.contextmanager
    def sync_lock(self) -> Iterator[None]:
        """Hold the directory's sync lock; refuse at once if another sync holds it."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK_FILE, "a") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as error:
                raise SyncBusyError() from error
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
