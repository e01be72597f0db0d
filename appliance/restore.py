"""Restoring a box from a backup: every check before anything in the data directory changes.

In order: the archive's shape; the manifest's key check (a backup made under another key
is refused, unless that key is given, and then the stores are re-keyed to the box's key);
the manifest's HMAC (any changed byte); its schema versions (a migration this program
does not know means a newer Sehat made it); every store file's SHA-256 as it is unpacked
into a staging directory beside DATADIR. Then each store is opened (migrations run), the
replica's per-issuer digests are recomputed and compared with the manifest, and the audit
chain is walked. Only then is the staging directory moved into place — renamed whole into
a new DATADIR, or its files moved into an empty one with ``CURRENT`` last — and a DATADIR
that held a box is, with ``--force``, first renamed aside, never deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance import access, audit, replica
from appliance.access import ACCESS_FILE, AccessStore
from appliance.audit import AUDIT_FILE, AuditCheck, AuditLog
from appliance.backup import (
    BACKUP_FORMAT,
    BACKUP_VERSION,
    REPLICA_MEMBER,
    STORE_NAMES,
    backup_key_check,
    manifest_mac,
)
from appliance.datadir import CURRENT_FILE, DOWNLOADS_DIR, KEY_FILE, DataDir
from appliance.rekey import rekey_one
from appliance.replica import Replica
from storage.backup_archive import ArchiveReader
from storage.database import Connection, Migration, migrate, open_store
from storage.durable import fsync_directory
from storage.errors import WrongKeyError
from storage.keyfile import read_key_file
from storage.snapshot import fsync_file
from verifier.errors import OperatorError

KNOWN_MIGRATIONS: dict[str, tuple[Migration, ...]] = {
    "replica": replica.MIGRATIONS,
    "audit": audit.MIGRATIONS,
    "access": access.MIGRATIONS,
}
RESTORED_FILES = {"replica": "replica-000001.db", "audit": AUDIT_FILE, "access": ACCESS_FILE}
_BOX_FILES = (CURRENT_FILE, AUDIT_FILE, ACCESS_FILE)


class RestoreError(OperatorError):
    code = "restore_failed"


class BackupKeyMismatchError(RestoreError):
    code = "backup_other_key"


class BackupTamperedError(RestoreError):
    code = "backup_tampered"


class BackupSchemaError(RestoreError):
    code = "backup_newer_schema"


class TargetNotEmptyError(RestoreError):
    code = "restore_target_in_use"


def _tampered(archive: Path, why: str, why_fa: str) -> BackupTamperedError:
    return BackupTamperedError(
        f"{archive} is damaged or was altered ({why}); nothing was restored.",
        f"{archive} آسیب دیده یا دستکاری شده است ({why_fa})؛ چیزی بازگردانده نشد.",
    )


@dataclass(frozen=True)
class RestoreResult:
    datadir: Path
    manifest: dict[str, Any]
    rekeyed: bool
    moved_aside: Path | None
    issuers: tuple[tuple[str, int, str], ...]  # issuer, seq, digest — as checked against the manifest
    audit: AuditCheck | None


def holds_box(path: Path) -> bool:
    """Whether ``path`` holds a box's data: a replica, an audit log or an access store."""
    return any((path / name).exists() for name in _BOX_FILES) or any(path.glob("replica-*.db"))


def _manifest(archive: Path, raw: bytes) -> tuple[dict[str, Any], str]:
    try:
        document = json.loads(raw.decode("utf-8"))
        signed, mac = document["manifest"], document["mac"]
        if not isinstance(signed, dict) or not isinstance(mac, str):
            raise TypeError("manifest")
    except (ValueError, KeyError, TypeError) as error:
        raise _tampered(archive, "its manifest is not readable", "فهرست آن خوانا نیست") from error
    if signed.get("format") != BACKUP_FORMAT:
        raise _tampered(archive, "not a Sehat backup manifest", "فهرست پشتیبان Sehat نیست")
    if not isinstance(signed.get("version"), int) or signed["version"] > BACKUP_VERSION:
        raise BackupSchemaError(
            f"{archive} was made by a newer Sehat (backup format {signed.get('version')}); upgrade this box first.",
            f"{archive} را نسخهٔ تازه‌تری از Sehat ساخته است؛ نخست این دستگاه را به‌روز کنید.",
        )
    return signed, mac


def _source_key(archive: Path, signed: dict[str, Any], target_key: bytes, backup_key: bytes | None) -> bytes:
    check = signed.get("key_check")
    if check == backup_key_check(target_key):
        return target_key
    if backup_key is not None and check == backup_key_check(backup_key):
        return backup_key
    if backup_key is not None:
        raise BackupKeyMismatchError(
            f"{archive} was made under another key than the one given with --backup-key-file.",
            f"{archive} با کلیدی جز کلیدِ --backup-key-file ساخته شده است.",
        )
    raise BackupKeyMismatchError(
        f"{archive} was made under another key than this box's; give that key with --backup-key-file "
        "to restore it under this box's key.",
        f"{archive} با کلیدی جز کلید این دستگاه ساخته شده است؛ آن کلید را با --backup-key-file بدهید "
        "تا زیر کلید این دستگاه بازگردانده شود.",
    )


def _check_manifest(archive: Path, signed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    try:
        stores = signed["stores"]
        if set(stores) - set(STORE_NAMES) or "replica" not in stores:
            raise ValueError("stores")
        for name, entry in stores.items():
            if not all(isinstance(item, str) for item in entry["schema"]):
                raise TypeError("schema")
            if entry["file"] != (REPLICA_MEMBER if name == "replica" else RESTORED_FILES[name]):
                raise ValueError("file")
            str(entry["sha256"]), int(entry["size"])
        for issuer in stores["replica"]["issuers"]:
            str(issuer["issuer"]), int(issuer["seq"]), int(issuer["records"]), str(issuer["digest"])
    except (KeyError, TypeError, ValueError) as error:
        raise _tampered(archive, "its manifest is incomplete", "فهرست آن ناقص است") from error
    for name, entry in stores.items():
        known = {migration.name for migration in KNOWN_MIGRATIONS[name]}
        newer = [migration for migration in entry["schema"] if migration not in known]
        if newer:
            raise BackupSchemaError(
                f"{archive} holds a {name} store of a newer schema than this Sehat knows "
                f"({', '.join(newer)}); restore it with the version that made it, or upgrade this box.",
                f"پایگاه {name} در {archive} طرحی تازه‌تر از این نسخهٔ Sehat دارد ({', '.join(newer)})؛ "
                "نخست این دستگاه را به‌روز کنید.",
            )
    return dict(stores)


def _unpack(reader: ArchiveReader, archive: Path, stores: dict[str, dict[str, Any]], staging: Path) -> None:
    by_file = {entry["file"]: name for name, entry in stores.items()}
    seen = set()
    for file_name, path, sha256, size in reader.files(set(by_file), staging):
        entry = stores[by_file[file_name]]
        if sha256 != entry["sha256"] or size != entry["size"]:
            raise _tampered(archive, f"{file_name} does not match its SHA-256", f"{file_name} با چکیده‌اش نمی‌خواند")
        path.rename(staging / RESTORED_FILES[by_file[file_name]])
        seen.add(file_name)
    if seen != set(by_file):
        raise _tampered(archive, "a store is missing", "پایگاهی در آن نیست")


@dataclass(frozen=True)
class RestoreResultParts:
    issuers: tuple[tuple[str, int, str], ...]
    audit: AuditCheck | None


def _open_checked(archive: Path, staging: Path, key: bytes, stores: dict[str, dict[str, Any]]) -> RestoreResultParts:
    """Open every restored store (migrations run) and check the replica against the manifest."""
    (staging / CURRENT_FILE).write_text("1\n", encoding="ascii")
    try:
        with Replica(DataDir(staging), key) as restored:
            found = {state.issuer: state for state in restored.issuer_states()}
            expected = {entry["issuer"]: entry for entry in stores["replica"]["issuers"]}
            if set(found) != set(expected):
                raise _tampered(archive, "the replica's issuers differ", "صادرکنندگان پایگاه با فهرست نمی‌خواند")
            issuers = []
            for issuer, entry in sorted(expected.items()):
                digest, records = restored.compute_digest(issuer)
                if (digest, records, found[issuer].seq) != (entry["digest"], entry["records"], entry["seq"]):
                    raise _tampered(archive, f"issuer {issuer}'s digest differs", f"چکیدهٔ صادرکنندهٔ {issuer} نمی‌خواند")
                issuers.append((issuer, found[issuer].seq, digest))
        check = None
        if "audit" in stores:
            with AuditLog(_migrated(staging / AUDIT_FILE, key, audit.MIGRATIONS), key) as log:
                check = log.verify()
        if "access" in stores:
            AccessStore(open_store(staging / ACCESS_FILE, key)).close()
    except WrongKeyError as error:
        raise _tampered(archive, "a store does not open under its key", "پایگاهی با کلیدش باز نمی‌شود") from error
    return RestoreResultParts(tuple(issuers), check)


def _migrated(path: Path, key: bytes, migrations: tuple[Migration, ...]) -> Connection:
    connection = open_store(path, key)
    migrate(connection, migrations)
    return connection


@contextlib.contextmanager
def _staging(parent: Path, name: str) -> Iterator[Path]:
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}.restore-"))
    try:
        yield staging
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        if path.is_file():
            fsync_file(path)
    fsync_directory(directory)


def _install(staging: Path, target: Path, now: datetime, force: bool) -> Path | None:
    """Move the checked stores into ``target``; a box already there is renamed aside first (``force``)."""
    moved_aside = None
    if target.exists() and holds_box(target):
        if not force:
            raise TargetNotEmptyError(
                f"{target} already holds a box; restoring over it needs --force (it is then renamed aside).",
                f"در {target} از پیش داده‌های دستگاه هست؛ برای بازگردانی روی آن --force بدهید.",
            )
        moved_aside = target.with_name(f"{target.name}.before-restore-{now.strftime('%Y%m%dT%H%M%SZ')}")
        os.rename(target, moved_aside)
    if not target.exists():
        os.rename(staging, target)
    else:
        for path in sorted(staging.iterdir(), key=lambda item: item.name == CURRENT_FILE):
            os.replace(path, target / path.name)  # CURRENT last: until it is there, there is no replica
    os.chmod(target, 0o700)
    fsync_directory(target)
    fsync_directory(target.parent)
    return moved_aside


def _write_new_key(path: Path, key: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def restore_backup(
    archive: Path, datadir: DataDir, now: datetime, *, backup_key: bytes | None = None, force: bool = False
) -> RestoreResult:
    """Restore the backup ``archive`` into ``datadir``, under the box key ``datadir`` resolves to.

    A key file that does not exist yet (a new machine) is created from ``backup_key``.

    Raises:
        BackupKeyMismatchError: made under another key, and that key was not given.
        BackupTamperedError: not a whole backup, altered, or a store that does not open or match.
        BackupSchemaError: made by a newer Sehat.
        TargetNotEmptyError: ``datadir`` holds a box and ``force`` was not given.
    """
    target = datadir.path
    if target.exists() and holds_box(target) and not force:
        raise TargetNotEmptyError(
            f"{target} already holds a box; restoring over it needs --force (it is then renamed aside).",
            f"در {target} از پیش داده‌های دستگاه هست؛ برای بازگردانی روی آن --force بدهید.",
        )
    key_path = datadir.resolve_key_file()
    write_key = not key_path.exists()
    if write_key and backup_key is None:
        raise RestoreError(
            f"No key at {key_path}: give the key the backup was made under with --backup-key-file "
            "(or this box's key with --key-file).",
            f"کلیدی در {key_path} نیست: کلید پشتیبان را با --backup-key-file بدهید.",
        )
    target_key = backup_key if write_key and backup_key is not None else read_key_file(key_path)
    with ArchiveReader(archive) as reader, _staging(target.parent, target.name) as staging:
        signed, mac = _manifest(archive, reader.manifest())
        source_key = _source_key(archive, signed, target_key, backup_key)
        if manifest_mac(source_key, signed) != mac:
            raise _tampered(archive, "its manifest was changed", "فهرست آن تغییر کرده است")
        stores = _check_manifest(archive, signed)
        _unpack(reader, archive, stores, staging)
        rekeyed = source_key != target_key
        if rekeyed:
            for name in stores:
                try:
                    rekey_one(staging / RESTORED_FILES[name], name, source_key, target_key)
                except WrongKeyError as error:
                    raise _tampered(archive, f"the {name} store does not open", f"پایگاه {name} باز نمی‌شود") from error
        parts = _open_checked(archive, staging, target_key, stores)
        (staging / DOWNLOADS_DIR).mkdir(mode=0o700)
        if key_path == target / KEY_FILE:
            _write_new_key(staging / KEY_FILE, target_key)
        _fsync_tree(staging)
        with contextlib.ExitStack() as lock:
            if target.exists():
                lock.enter_context(DataDir(target).sync_lock())
            moved_aside = _install(staging, target, now, force)
    if write_key and key_path != target / KEY_FILE:
        _write_new_key(key_path, target_key)
    return RestoreResult(target, signed, rekeyed, moved_aside, parts.issuers, parts.audit)
