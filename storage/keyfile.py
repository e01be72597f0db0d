"""Raw 256-bit store keys in files only their owner can read.

A key file holds 64 hex digits and a newline. It is created with mode 0600 and
refused when group or others can read it — as ssh refuses a private key — so a
key that leaked into a world-readable backup is noticed instead of trusted.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from storage.errors import KeyFileError

KEY_BYTES = 32


def create_key_file(path: Path) -> bytes:
    """Create a new random key at ``path`` (mode 0600); never overwrites an existing file."""
    key = secrets.token_bytes(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as error:
        raise KeyFileError(
            f"A key file already exists at {path}; refusing to replace it.",
            f"در {path} از پیش فایل کلید وجود دارد؛ جایگزین نمی‌شود.",
        ) from error
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


def read_key_file(path: Path) -> bytes:
    """Read a key file, refusing one that is missing, malformed or readable by others."""
    try:
        info = path.stat()
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError as error:
        raise KeyFileError(f"Key file {path} does not exist.", f"فایل کلید {path} وجود ندارد.") from error
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(f"Key file {path} cannot be read: {error}", f"فایل کلید {path} خوانده نمی‌شود.") from error
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"Key file {path} is accessible to other users; run: chmod 600 {path}",
            f"فایل کلید {path} برای کاربران دیگر هم قابل دسترسی است؛ دستور chmod 600 {path} را اجرا کنید.",
        )
    try:
        key = bytes.fromhex(text)
    except ValueError as error:
        raise KeyFileError(f"Key file {path} is not hex.", f"محتوای فایل کلید {path} معتبر نیست.") from error
    if len(key) != KEY_BYTES:
        raise KeyFileError(
            f"Key file {path} must hold {KEY_BYTES} bytes as hex.", f"فایل کلید {path} باید کلیدی ۲۵۶ بیتی باشد."
        )
    return key
