"""Who may use the box: integrators' API keys and operators' accounts, in DATADIR/access.db.

API keys are random and long, so only their SHA-256 is stored — a slow hash adds
nothing to a 192-bit secret. Operator passwords are people's, so they are hashed
with scrypt (Werkzeug's default). Repeated wrong passwords lock an account for a
while, doubling with each further failure, and an unknown name costs the same time
as a known one, so the login form does not tell which names exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from appliance.datadir import DataDir
from storage.database import Connection, Migration, migrate, open_store, transaction
from verifier.canonical import format_timestamp, parse_timestamp
from verifier.errors import OperatorError

ACCESS_FILE = "access.db"
MIN_PASSWORD_LENGTH = 8
KEY_PREFIX = "sehat"
_DUMMY_HASH = generate_password_hash("not a real password, only spends the same time")

MIGRATIONS = (
    Migration(
        "0001_initial",
        """
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            failures INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT
        );
        CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            secret_sha256 TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )
        """,
    ),
    Migration(
        "0002_receipt_key",
        """
        CREATE TABLE receipt_key (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            private_key BLOB NOT NULL CHECK (length(private_key) = 32),
            created_at TEXT NOT NULL
        )
        """,
    ),
)


class AccessError(OperatorError):
    code = "access"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    locked_until: datetime | None = None


@dataclass(frozen=True)
class LockoutPolicy:
    after: int = 5  # failures in a row before the account locks
    seconds: int = 60  # the first lock; doubles with each further failure
    max_seconds: int = 3600

    def lock_for(self, failures: int) -> timedelta | None:
        if failures < self.after:
            return None
        return timedelta(seconds=min(self.max_seconds, self.seconds * 2 ** (failures - self.after)))


class AccessStore:
    """API keys and operator accounts of one box."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        migrate(connection, MIGRATIONS)

    @classmethod
    def open(cls, datadir: DataDir) -> AccessStore:
        path: Path = datadir.path / ACCESS_FILE
        return cls(open_store(path, datadir.read_key(), create=not path.exists()))

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> AccessStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- API keys -----------------------------------------------------------------------------

    def add_key(self, name: str, now: datetime) -> tuple[ApiKey, str]:
        """Create a key; return it and the token to give the integrator (shown only this once)."""
        name = name.strip()
        if not name:
            raise AccessError("An API key needs a name (who it is for).", "کلید API باید نامی داشته باشد.")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        with transaction(self.connection):
            self.connection.execute(
                "INSERT INTO api_keys (key_id, name, secret_sha256, created_at) VALUES (?, ?, ?, ?)",
                (key_id, name, _sha256(secret), format_timestamp(now)),
            )
        return ApiKey(key_id, name, now, None), f"{KEY_PREFIX}_{key_id}_{secret}"

    def keys(self) -> list[ApiKey]:
        rows = self.connection.execute(
            "SELECT key_id, name, created_at, revoked_at FROM api_keys ORDER BY created_at"
        ).fetchall()
        return [_api_key(row) for row in rows]

    def revoke_key(self, key_id: str, now: datetime) -> None:
        with transaction(self.connection):
            changed = self.connection.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (format_timestamp(now), key_id),
            ).rowcount
        if not changed:
            raise AccessError(f"No active API key {key_id!r}.", f"کلید فعالی با شناسه {key_id} وجود ندارد.")

    def authenticate_key(self, token: str) -> ApiKey | None:
        """The active key a bearer token belongs to, or None (unknown, malformed or revoked)."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        row = self.connection.execute(
            "SELECT key_id, name, created_at, revoked_at, secret_sha256 FROM api_keys WHERE key_id = ?", (parts[1],)
        ).fetchone()
        if row is None or not hmac.compare_digest(row[4], _sha256(parts[2])):
            return None
        key = _api_key(row[:4])
        return key if key.active else None

    # --- the box's receipt key -----------------------------------------------------------------

    def receipt_key(self) -> bytes | None:
        """The box's Ed25519 receipt key (its 32-byte private seed), or None if none was made yet."""
        row = self.connection.execute("SELECT private_key FROM receipt_key WHERE id = 1").fetchone()
        return bytes(row[0]) if row else None

    def keep_receipt_key(self, private_key: bytes, now: datetime) -> bytes:
        """Store ``private_key`` as the box's receipt key unless it has one; return the one it keeps.

        Two first uses at once (two threads, or the CLI beside the server) both offer a key;
        the first one stored wins and both get it, so a box never signs with two keys.
        """
        with transaction(self.connection):
            self.connection.execute(
                "INSERT OR IGNORE INTO receipt_key (id, private_key, created_at) VALUES (1, ?, ?)",
                (private_key, format_timestamp(now)),
            )
            row = self.connection.execute("SELECT private_key FROM receipt_key WHERE id = 1").fetchone()
        return bytes(row[0])

    # --- operators ----------------------------------------------------------------------------

    def add_user(self, name: str, password: str, now: datetime) -> None:
        name = name.strip()
        if not name:
            raise AccessError("A user needs a name.", "نام کاربر نمی‌تواند خالی باشد.")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccessError(
                f"A password needs at least {MIN_PASSWORD_LENGTH} characters.",
                f"گذرواژه باید دست‌کم {MIN_PASSWORD_LENGTH} نویسه باشد.",
            )
        with transaction(self.connection):
            if self.connection.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AccessError(f"User {name!r} already exists.", f"کاربر «{name}» از پیش وجود دارد.")
            self.connection.execute(
                "INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)",
                (name, generate_password_hash(password), format_timestamp(now)),
            )

    def check_login(self, name: str, password: str, now: datetime, policy: LockoutPolicy) -> LoginResult:
        """Check a password, counting failures and locking the account after too many."""
        with transaction(self.connection):
            row = self.connection.execute(
                "SELECT password_hash, failures, locked_until FROM users WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                check_password_hash(_DUMMY_HASH, password)
                return LoginResult(ok=False)
            password_hash, failures, locked_until = row
            locked = parse_timestamp(locked_until, "users", "locked_until") if locked_until else None
            if locked is not None and now < locked:
                return LoginResult(ok=False, locked_until=locked)
            if check_password_hash(password_hash, password):
                self.connection.execute("UPDATE users SET failures = 0, locked_until = NULL WHERE name = ?", (name,))
                return LoginResult(ok=True)
            failures += 1
            lock = policy.lock_for(failures)
            until = now + lock if lock else None
            self.connection.execute(
                "UPDATE users SET failures = ?, locked_until = ? WHERE name = ?",
                (failures, format_timestamp(until) if until else None, name),
            )
            return LoginResult(ok=False, locked_until=until)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _api_key(row: tuple[str, str, str, str | None]) -> ApiKey:
    key_id, name, created_at, revoked_at = row
    return ApiKey(
        key_id=key_id,
        name=name,
        created_at=parse_timestamp(created_at, "api_keys", "created_at"),
        revoked_at=parse_timestamp(revoked_at, "api_keys", "revoked_at") if revoked_at else None,
    )
