"""One backup file: a tar of a manifest and store files, streamed out and read back strictly.

The archive is produced as a stream of chunks so that ``write_atomic`` writes it once,
whole or not at all, however large the replica. Reading accepts only what a backup can
hold — regular files with the names expected, each once, the manifest first and small —
so a damaged or hostile archive is refused instead of unpacked.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from storage.errors import StoreError

BLOCK = 512
MANIFEST_NAME = "manifest.json"
MANIFEST_MAX_BYTES = 1 << 20
_CHUNK = 1 << 20


class ArchiveError(StoreError):
    """The backup file is not a backup archive, or is cut short or altered."""

    code = "backup_damaged"


@dataclass(frozen=True)
class Member:
    """A file to put in the archive: its name there and the file (or bytes) it holds."""

    name: str
    source: Path | bytes


def _header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o600
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def stream_archive(members: Sequence[Member], mtime: int) -> Iterator[bytes]:
    """The tar archive of ``members``, in order, as chunks of at most about a megabyte."""
    for member in members:
        if isinstance(member.source, bytes):
            yield _header(member.name, len(member.source), mtime)
            yield member.source + _padding(len(member.source))
            continue
        size = member.source.stat().st_size
        yield _header(member.name, size, mtime)
        written = 0
        with open(member.source, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                written += len(chunk)
                yield chunk
        if written != size:
            raise ArchiveError(
                f"{member.source} changed while it was archived.", f"{member.source} هنگام بایگانی تغییر کرد."
            )
        yield _padding(size)
    yield b"\0" * (2 * BLOCK)


def _damaged(path: Path, why: str) -> ArchiveError:
    return ArchiveError(f"{path} is not a whole Sehat backup ({why}).", f"{path} یک پشتیبان کامل Sehat نیست ({why}).")


class ArchiveReader:
    """Reads a backup archive: the manifest first, then each store into a file, hashing as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._tar = tarfile.open(path, "r:")  # noqa: SIM115 - closed by close(), as a context manager
        except (tarfile.TarError, OSError) as error:
            raise _damaged(path, "not a tar archive") from error
        self._seen: set[str] = set()

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _next(self) -> tarfile.TarInfo | None:
        try:
            member = self._tar.next()
        except (tarfile.TarError, OSError) as error:
            raise _damaged(self.path, "a damaged entry") from error
        if member is None:
            return None
        if not member.isreg() or "/" in member.name or member.name in self._seen:
            raise _damaged(self.path, f"an unexpected entry {member.name!r}")
        self._seen.add(member.name)
        return member

    def _open(self, member: tarfile.TarInfo) -> IO[bytes]:
        handle = self._tar.extractfile(member)
        if handle is None:
            raise _damaged(self.path, f"an unreadable entry {member.name!r}")
        return handle

    def manifest(self) -> bytes:
        """The manifest's bytes; it must come first."""
        member = self._next()
        if member is None or member.name != MANIFEST_NAME or member.size > MANIFEST_MAX_BYTES:
            raise _damaged(self.path, "no manifest first")
        try:
            return self._open(member).read()
        except (tarfile.TarError, OSError) as error:
            raise _damaged(self.path, "the manifest is cut short") from error

    def files(self, expected: set[str], directory: Path) -> Iterator[tuple[str, Path, str, int]]:
        """Extract each remaining member, whose names must be among ``expected``, into ``directory``.

        Yields:
            (name, path written, SHA-256 hex, size) for each member, as it is written.
        """
        while (member := self._next()) is not None:
            if member.name not in expected:
                raise _damaged(self.path, f"an unexpected entry {member.name!r}")
            target = directory / member.name
            digest, size = hashlib.sha256(), 0
            try:
                source = self._open(member)
                with open(target, "wb", opener=lambda name, flags: os.open(name, flags, 0o600)) as out:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
            except (tarfile.TarError, OSError, EOFError) as error:
                raise _damaged(self.path, f"{member.name} is cut short") from error
            yield member.name, target, digest.hexdigest(), size
