"""The registry's keys on disk: the root key, the online signing key and the store key.

``DIR/keys/`` holds ``root.pem`` (the issuer's long-lived root; in production it
is moved offline after ``init`` and brought back only to rotate the signing key),
``signing.pem`` (the online key that signs heads) and ``store.key`` (the raw key
of the encrypted registry store). All are created with mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from storage.durable import write_atomic
from storage.errors import KeyFileError

KEYS_DIR = "keys"
ROOT_KEY_FILE = "root.pem"
SIGNING_KEY_FILE = "signing.pem"
STORE_KEY_FILE = "store.key"


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    write_atomic(path, pem, mode=0o600)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Load an Ed25519 private key written by ``write_private_key``."""
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as error:
        raise KeyFileError(
            f"Key {path} is missing (the root key is needed only to rotate the signing key).",
            f"کلید {path} پیدا نشد.",
        ) from error
    except ValueError as error:
        raise KeyFileError(f"Key {path} is not a valid private key.", f"کلید {path} معتبر نیست.") from error
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"Key {path} is not an Ed25519 key.", f"کلید {path} از نوع Ed25519 نیست.")
    if os.stat(path).st_mode & 0o077:
        raise KeyFileError(
            f"Key {path} is readable by other users; run: chmod 600 {path}",
            f"کلید {path} برای کاربران دیگر خواندنی است؛ دستور chmod 600 {path} را اجرا کنید.",
        )
    return key
