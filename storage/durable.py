"""Durable files: written whole or not at all, and still there after a power cut.

A temporary file in the same folder is written and fsynced, renamed over the
target with ``os.replace`` (atomic on POSIX), and the folder is fsynced so the
rename itself survives. On any error the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, content: bytes | Iterable[bytes], mode: int = 0o644) -> None:
    """Replace ``path`` with ``content`` atomically and durably, with permissions ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            if isinstance(content, bytes):
                handle.write(content)
            else:
                for chunk in content:
                    handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_directory(path.parent)
