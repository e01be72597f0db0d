"""The registry's keys on disk: the root key, the online signing key and the store key.

``DIR/keys/`` holds ``signing.pem`` (the online key that signs heads) and
``store.key`` (the raw key of the encrypted registry store). The issuer's root key
is never written there: ``init`` writes it where the operator says — a removable
medium — optionally encrypted with a passphrase, and ``rotate-key`` reads it from
there, so whoever takes the publishing host cannot certify a signing key of their
own. (Registries made before this kept ``keys/root.pem``; move it offline.) All
key files are created with mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    KeySerializationEncryption,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from storage.durable import write_atomic
from storage.errors import KeyFileError

KEYS_DIR = "keys"
SIGNING_KEY_FILE = "signing.pem"
STORE_KEY_FILE = "store.key"


def write_private_key(path: Path, key: Ed25519PrivateKey, passphrase: bytes | None = None) -> None:
    """Write ``key`` as PKCS#8 PEM, mode 0600; encrypted under ``passphrase`` when one is given."""
    encryption: KeySerializationEncryption = BestAvailableEncryption(passphrase) if passphrase else NoEncryption()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
    write_atomic(path, pem, mode=0o600)


def is_encrypted_key(path: Path) -> bool:
    """Whether the PEM file at ``path`` is passphrase-protected (False if it cannot be read)."""
    try:
        return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in path.read_bytes()[:100]
    except OSError:
        return False


def load_private_key(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Load an Ed25519 private key written by ``write_private_key``."""
    try:
        key = load_pem_private_key(path.read_bytes(), password=passphrase)
    except FileNotFoundError as error:
        raise KeyFileError(
            f"Key {path} is missing (is the medium holding the root key mounted?).",
            f"کلید {path} پیدا نشد (رسانه‌ای که کلید ریشه روی آن است وصل است؟).",
        ) from error
    except TypeError as error:
        raise KeyFileError(
            f"Key {path} is passphrase-protected; give its passphrase."
            if passphrase is None
            else f"Key {path} is not passphrase-protected; give no passphrase.",
            f"گذرواژه کلید {path} درست داده نشده است.",
        ) from error
    except ValueError as error:
        raise KeyFileError(
            f"Key {path} is not a valid private key, or the passphrase is wrong.",
            f"کلید {path} معتبر نیست یا گذرواژه آن نادرست است.",
        ) from error
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"Key {path} is not an Ed25519 key.", f"کلید {path} از نوع Ed25519 نیست.")
    if os.stat(path).st_mode & 0o077:
        raise KeyFileError(
            f"Key {path} is readable by other users; run: chmod 600 {path}",
            f"کلید {path} برای کاربران دیگر خواندنی است؛ دستور chmod 600 {path} را اجرا کنید.",
        )
    return key
