"""Backing up a serving box: its replica, audit log and access store, in one encrypted archive.

Each store is copied with SQLite's online backup API (``storage.snapshot``): one read
transaction per store, so each copy is one committed state while the web app keeps
appending to the audit log and the sync agent keeps applying segments, neither of them
blocked (WAL). The copies stay encrypted under the box's key — a backup is as sensitive
as the box — and go, with a manifest, into one tar written atomically with mode 0600.

The manifest records, per store, its file, its schema version (the migrations applied),
the SHA-256 of the encrypted file and, for the replica, each issuer's seq, record count
and state digest as computed from the copied rows. It carries a key check value (an HMAC
of a fixed label under the key, never the key) so a restore can tell at once whether it
holds the right key, and an HMAC of the whole manifest under a key derived from the box
key, so that a changed byte anywhere in it is noticed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.access import ACCESS_FILE
from appliance.audit import AUDIT_FILE
from appliance.datadir import DataDir
from storage.backup_archive import MANIFEST_NAME, Member, stream_archive
from storage.database import Connection, applied_migrations, open_store
from storage.durable import write_atomic
from storage.errors import StoreMissingError
from storage.snapshot import file_sha256, key_check, snapshot_store
from verifier.canonical import canonical_json, format_timestamp
from verifier.digest import StateDigest
from verifier.errors import OperatorError

BACKUP_FORMAT = "sehat-backup"
BACKUP_VERSION = 1
KEY_CHECK_LABEL = b"sehat/backup-key-check/v1"
MANIFEST_MAC_LABEL = b"sehat/backup-manifest/v1"
BACKUP_PREFIX = "sehat-backup-"
BACKUP_SUFFIX = ".tar"
REPLICA_MEMBER = "replica.db"
STORE_NAMES = ("replica", "audit", "access")
_OPEN_ATTEMPTS = 5  # CURRENT read, then its generation opened: a bootstrap may switch between the two


class BackupError(OperatorError):
    code = "backup_failed"


def manifest_mac(key: bytes, signed: dict[str, Any]) -> str:
    """HMAC-SHA256 of the canonical manifest under a key derived from the box key."""
    mac_key = hmac.new(key, MANIFEST_MAC_LABEL, hashlib.sha256).digest()
    return hmac.new(mac_key, canonical_json(signed), hashlib.sha256).hexdigest()


def backup_key_check(key: bytes) -> str:
    return key_check(key, KEY_CHECK_LABEL)


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    removed: tuple[Path, ...]


def _replica_facts(copy: Connection) -> dict[str, Any]:
    """What the manifest records of the copied replica: schema and each issuer's position and digest."""
    issuers = []
    for issuer, seq, records, recorded in copy.execute(
        "SELECT issuer, seq, records, digest FROM issuers ORDER BY issuer"
    ).fetchall():
        digest = StateDigest(issuer)
        digest.add_many(
            (bytes(lookup_id), bytes(box))
            for lookup_id, box in copy.execute("SELECT lookup_id, box FROM records WHERE issuer = ?", (issuer,))
        )
        issuers.append(
            {
                "issuer": issuer,
                "seq": seq,
                "records": digest.records,
                "recorded_records": records,
                "digest": digest.hexdigest(),
                "recorded_digest": recorded,
            }
        )
    return {"schema": applied_migrations(copy), "issuers": issuers}


def _schema(copy: Connection) -> dict[str, Any]:
    return {"schema": applied_migrations(copy)}


def _open_current_replica(datadir: DataDir, key: bytes) -> tuple[int, Connection]:
    for _ in range(_OPEN_ATTEMPTS):
        generation = datadir.current_generation()
        try:
            return generation, open_store(datadir.generation_path(generation), key)
        except StoreMissingError:
            continue  # two bootstraps in a row removed it after CURRENT was read
    raise BackupError(
        f"The replica in {datadir.path} kept changing generation; try again.",
        f"نسل پایگاه در {datadir.path} پیوسته عوض شد؛ دوباره تلاش کنید.",
    )


def _copy_stores(datadir: DataDir, key: bytes, staging: Path) -> dict[str, dict[str, Any]]:
    stores: dict[str, dict[str, Any]] = {}
    generation, source = _open_current_replica(datadir, key)
    try:
        facts = snapshot_store(source, staging / REPLICA_MEMBER, key, _replica_facts)
    finally:
        source.close()
    assert facts is not None
    stores["replica"] = {"file": REPLICA_MEMBER, "generation": generation, **facts}
    for name, file_name in (("audit", AUDIT_FILE), ("access", ACCESS_FILE)):
        path = datadir.path / file_name
        if not path.exists():
            continue
        source = open_store(path, key)
        try:
            facts = snapshot_store(source, staging / file_name, key, _schema)
        finally:
            source.close()
        assert facts is not None
        stores[name] = {"file": file_name, **facts}
    for entry in stores.values():
        entry["sha256"], entry["size"] = file_sha256(staging / entry["file"])
    return stores


def backup_file_name(now: datetime) -> str:
    return f"{BACKUP_PREFIX}{now.strftime('%Y%m%dT%H%M%S%fZ')}{BACKUP_SUFFIX}"


def _target(destination: Path, now: datetime, rotate: int | None) -> Path:
    if rotate is not None or destination.is_dir():
        if destination.exists() and not destination.is_dir():
            raise BackupError(
                f"--rotate keeps backups in a directory; {destination} is a file.",
                f"--rotate پشتیبان‌ها را در یک پوشه نگه می‌دارد؛ {destination} پوشه نیست.",
            )
        destination.mkdir(parents=True, exist_ok=True, mode=0o700)
        return destination / backup_file_name(now)
    return destination


def backups_in(directory: Path) -> list[Path]:
    """The backups this command wrote in ``directory``, oldest first (their names sort by time)."""
    return sorted(directory.glob(f"{BACKUP_PREFIX}*{BACKUP_SUFFIX}"))


def rotate_backups(directory: Path, keep: int) -> tuple[Path, ...]:
    """Remove all but the newest ``keep`` backups in ``directory``; return those removed."""
    old = backups_in(directory)[:-keep] if keep > 0 else []
    for path in old:
        path.unlink()
    return tuple(old)


def create_backup(datadir: DataDir, destination: Path, now: datetime, *, rotate: int | None = None) -> BackupResult:
    """Write a backup of the box in ``datadir`` to ``destination`` (a file, or a directory to name one in).

    Raises:
        BackupError: ``--rotate`` was given with a file, or the replica could not be pinned down.
        StoreMissingError, KeyFileError, WrongKeyError: the box has no replica or its key is unusable.
    """
    if rotate is not None and rotate < 1:
        raise BackupError("--rotate must keep at least one backup.", "--rotate باید دست‌کم یک پشتیبان نگه دارد.")
    key = datadir.read_key()
    target = _target(destination, now, rotate)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".sehat-backup-staging-"))
    try:
        stores = _copy_stores(datadir, key, staging)
        signed = {
            "format": BACKUP_FORMAT,
            "version": BACKUP_VERSION,
            "created_at": format_timestamp(now),
            "box": {
                "name": os.environ.get("SEHAT_BOX_NAME", "").strip() or socket.gethostname(),
                "host": socket.gethostname(),
                "datadir": str(datadir.path),
            },
            "key_check": backup_key_check(key),
            "stores": stores,
        }
        manifest = {"manifest": signed, "mac": manifest_mac(key, signed)}
        members = [Member(MANIFEST_NAME, json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))]
        members += [Member(entry["file"], staging / entry["file"]) for entry in stores.values()]
        write_atomic(target, stream_archive(members, int(now.timestamp())), mode=0o600)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
    removed = rotate_backups(target.parent, rotate) if rotate is not None else ()
    return BackupResult(target, signed, removed)
