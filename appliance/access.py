"""Who may use the box: integrators' API keys and operators' accounts, in DATADIR/access.db.

API keys are random and long, so only their SHA-256 is stored — a slow hash adds
nothing to a 192-bit secret. Operator passwords are people's, so they are hashed
with scrypt (Werkzeug's default).

Sessions are records here, not only signed cookies: the cookie carries a random
token whose SHA-256 names a row in ``sessions``. Logging out deletes that row;
removing, disabling or re-passwording an operator deletes all of theirs, so every
copy of their cookie stops working on its next request. A session also ends a fixed
time after login (``session_max_hours``), however busy it is.

Lockout is per client, not per account. Failed logins are counted for the address
they come from; after ``after`` of them that address may not try again for a while,
doubling with each further failure. A lock on the account would let anyone on the LAN
keep the admin out for ever by typing wrong passwords under the admin's name; a lock
on the client only stops the client that guesses. (Behind a reverse proxy the app must
see each client's own address, not the proxy's, or all clients share one lock.) The check spends the same work
whatever the name: the password hash runs for an unknown or disabled name exactly as
for a known one, and a locked client is refused before any name is looked at, so
neither the answer nor its timing tells which names exist.

``national_id_questions`` remembers, per record lookup id (never the code), when a
national ID was compared with that record, so the per-code limit on such questions
survives a restart.
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
    Migration(
        "0003_sessions",
        """
        ALTER TABLE users ADD COLUMN disabled_at TEXT;
        CREATE TABLE sessions (
            token_sha256 TEXT PRIMARY KEY,
            name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE INDEX sessions_name ON sessions (name);
        CREATE TABLE login_failures (
            client TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            last_at TEXT NOT NULL,
            locked_until TEXT
        )
        """,
    ),
    Migration(
        "0004_national_id_checks",
        """
        ALTER TABLE api_keys ADD COLUMN national_id_checks INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE national_id_questions (lookup_id TEXT NOT NULL, at TEXT NOT NULL);
        CREATE INDEX national_id_questions_lookup ON national_id_questions (lookup_id, at);
        CREATE INDEX national_id_questions_at ON national_id_questions (at)
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
    national_id_checks: bool = False  # may ask whether a national ID matches a record (still per-code limited)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Operator:
    name: str
    created_at: datetime
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True)
class LoginResult:
    """A login attempt's outcome; ``locked_until`` is set when the client must wait before trying again."""

    ok: bool
    locked_until: datetime | None = None
    known_name: bool = False  # for the audit log only, never for the answer


@dataclass(frozen=True)
class LockoutPolicy:
    """How long a client that keeps failing must wait; counted per client address, never per account."""

    after: int = 5  # failures in a row from one client before it must wait
    seconds: int = 60  # the first wait; doubles with each further failure
    max_seconds: int = 3600

    def lock_for(self, failures: int) -> timedelta | None:
        if failures < self.after:
            return None
        return timedelta(seconds=min(self.max_seconds, self.seconds * 2 ** (failures - self.after)))


class AccessStore:
    """API keys, operator accounts and their sessions, and the per-code national-ID question log."""

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

    def add_key(self, name: str, now: datetime, *, national_id_checks: bool = False) -> tuple[ApiKey, str]:
        """Create a key; return it and the token to give the integrator (shown only this once)."""
        name = name.strip()
        if not name:
            raise AccessError("An API key needs a name (who it is for).", "کلید API باید نامی داشته باشد.")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        with transaction(self.connection):
            self.connection.execute(
                "INSERT INTO api_keys (key_id, name, secret_sha256, created_at, national_id_checks) "
                "VALUES (?, ?, ?, ?, ?)",
                (key_id, name, _sha256(secret), format_timestamp(now), int(national_id_checks)),
            )
        return ApiKey(key_id, name, now, None, national_id_checks), f"{KEY_PREFIX}_{key_id}_{secret}"

    def keys(self) -> list[ApiKey]:
        rows = self.connection.execute(
            "SELECT key_id, name, created_at, revoked_at, national_id_checks FROM api_keys ORDER BY created_at"
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
            "SELECT key_id, name, created_at, revoked_at, national_id_checks, secret_sha256 "
            "FROM api_keys WHERE key_id = ?",
            (parts[1],),
        ).fetchone()
        if row is None or not hmac.compare_digest(row[5], _sha256(parts[2])):
            return None
        key = _api_key(row[:5])
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
        _check_password(password)
        with transaction(self.connection):
            if self.connection.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AccessError(f"User {name!r} already exists.", f"کاربر «{name}» از پیش وجود دارد.")
            self.connection.execute(
                "INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)",
                (name, generate_password_hash(password), format_timestamp(now)),
            )

    def users(self) -> list[Operator]:
        rows = self.connection.execute("SELECT name, created_at, disabled_at FROM users ORDER BY name").fetchall()
        return [
            Operator(
                name,
                parse_timestamp(created, "users", "created_at"),
                parse_timestamp(disabled, "users", "disabled_at") if disabled else None,
            )
            for name, created, disabled in rows
        ]

    def remove_user(self, name: str) -> None:
        """Delete an operator; every session of theirs ends with the account."""
        with transaction(self.connection):
            self.connection.execute("DELETE FROM sessions WHERE name = ?", (name,))
            if not self.connection.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount:
                raise _no_such_user(name)

    def set_disabled(self, name: str, disabled: bool, now: datetime) -> None:
        """Disable an operator (ending every session of theirs at once), or enable them again."""
        with transaction(self.connection):
            changed = self.connection.execute(
                "UPDATE users SET disabled_at = ? WHERE name = ?",
                (format_timestamp(now) if disabled else None, name),
            ).rowcount
            if not changed:
                raise _no_such_user(name)
            self.connection.execute("DELETE FROM sessions WHERE name = ?", (name,))

    def set_password(self, name: str, password: str) -> None:
        """Give an operator a new password; every session opened with the old one ends."""
        _check_password(password)
        with transaction(self.connection):
            changed = self.connection.execute(
                "UPDATE users SET password_hash = ? WHERE name = ?", (generate_password_hash(password), name)
            ).rowcount
            if not changed:
                raise _no_such_user(name)
            self.connection.execute("DELETE FROM sessions WHERE name = ?", (name,))

    def check_login(self, name: str, password: str, client: str, now: datetime, policy: LockoutPolicy) -> LoginResult:
        """Check a password from ``client``, counting that client's failures and making it wait after too many.

        The same work is done for every name: a locked client is refused before any
        lookup, and otherwise one scrypt check always runs (against a dummy hash for an
        unknown or disabled name), followed by the same single write.
        """
        with transaction(self.connection):
            row = self.connection.execute(
                "SELECT failures, locked_until FROM login_failures WHERE client = ?", (client,)
            ).fetchone()
            failures = row[0] if row else 0
            locked = parse_timestamp(row[1], "login_failures", "locked_until") if row and row[1] else None
            if locked is not None and now < locked:
                return LoginResult(ok=False, locked_until=locked)
            user = self.connection.execute(
                "SELECT password_hash, disabled_at FROM users WHERE name = ?", (name,)
            ).fetchone()
            usable = user is not None and user[1] is None
            matched = check_password_hash(user[0] if usable else _DUMMY_HASH, password) and usable
            if matched:
                self.connection.execute("DELETE FROM login_failures WHERE client = ?", (client,))
                return LoginResult(ok=True, known_name=True)
            failures += 1
            lock = policy.lock_for(failures)
            until = now + lock if lock else None
            self.connection.execute(
                "INSERT INTO login_failures (client, failures, last_at, locked_until) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (client) DO UPDATE SET failures = excluded.failures, last_at = excluded.last_at, "
                "locked_until = excluded.locked_until",
                (client, failures, format_timestamp(now), format_timestamp(until) if until else None),
            )
            # Clients that stopped failing a day ago are forgotten, so the table stays small.
            self.connection.execute(
                "DELETE FROM login_failures WHERE last_at < ?", (format_timestamp(now - timedelta(days=1)),)
            )
            return LoginResult(ok=False, locked_until=until, known_name=user is not None)

    # --- sessions -----------------------------------------------------------------------------

    def open_session(self, name: str, now: datetime, lifetime: timedelta) -> str:
        """Record a session for ``name`` that ends at ``now + lifetime`` at the latest; return its token."""
        token = secrets.token_urlsafe(32)
        with transaction(self.connection):
            self.connection.execute("DELETE FROM sessions WHERE expires_at <= ?", (format_timestamp(now),))
            self.connection.execute(
                "INSERT INTO sessions (token_sha256, name, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (_sha256(token), name, format_timestamp(now), format_timestamp(now + lifetime)),
            )
        return token

    def session_operator(self, token: str, now: datetime) -> str | None:
        """The operator a session token belongs to, or None if it ended (logout, expiry, account changes)."""
        row = self.connection.execute(
            "SELECT s.name, s.expires_at FROM sessions s JOIN users u ON u.name = s.name "
            "WHERE s.token_sha256 = ? AND u.disabled_at IS NULL",
            (_sha256(token),),
        ).fetchone()
        if row is None or now >= parse_timestamp(row[1], "sessions", "expires_at"):
            return None
        name: str = row[0]
        return name

    def end_session(self, token: str) -> None:
        with transaction(self.connection):
            self.connection.execute("DELETE FROM sessions WHERE token_sha256 = ?", (_sha256(token),))

    # --- national-ID questions ----------------------------------------------------------------

    def take_national_id_question(self, lookup_id: str, now: datetime, limit: int, window: timedelta) -> bool:
        """Count one national-ID question about a record, if fewer than ``limit`` were asked within ``window``.

        Returns False, recording nothing, when the record's quota is spent; the caller
        then answers without the comparison. Keyed by the record's lookup id, never its code.
        """
        since = format_timestamp(now - window)
        with transaction(self.connection):
            # Questions older than the window are forgotten, every record's, so the table holds one window's worth.
            self.connection.execute("DELETE FROM national_id_questions WHERE at <= ?", (since,))
            (asked,) = self.connection.execute(
                "SELECT count(*) FROM national_id_questions WHERE lookup_id = ?", (lookup_id,)
            ).fetchone()
            if asked >= limit:
                return False
            self.connection.execute(
                "INSERT INTO national_id_questions (lookup_id, at) VALUES (?, ?)", (lookup_id, format_timestamp(now))
            )
        return True


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccessError(
            f"A password needs at least {MIN_PASSWORD_LENGTH} characters.",
            f"گذرواژه باید دست‌کم {MIN_PASSWORD_LENGTH} نویسه باشد.",
        )


def _no_such_user(name: str) -> AccessError:
    return AccessError(f"No operator {name!r}.", f"کاربری با نام «{name}» وجود ندارد.")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _api_key(row: tuple[str, str, str, str | None, int]) -> ApiKey:
    key_id, name, created_at, revoked_at, national_id_checks = row
    return ApiKey(
        key_id=key_id,
        name=name,
        created_at=parse_timestamp(created_at, "api_keys", "created_at"),
        revoked_at=parse_timestamp(revoked_at, "api_keys", "revoked_at") if revoked_at else None,
        national_id_checks=bool(national_id_checks),
    )
