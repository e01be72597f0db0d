"""Rotating the box key: every store re-keyed, so that a crash at any instant loses nothing.

The procedure, under the sync lock and only while no other process has a store open:

1. The new key is written to its own file (``DATADIR/replica.key.new``, or the operator's
   ``--new-key-file``), mode 0600, fsynced.
2. A journal (``DATADIR/rekey.journal``, written atomically) records the check values of
   the old and the new key and where the new key is. From here on ``DataDir.read_key``
   refuses to hand out a key, so nothing opens a store until the rotation is finished.
3. Each store is re-keyed by ``storage.rekey.rekey_store``: a re-keyed copy renamed over
   it, so the file is at every instant the whole old-key store or the whole new-key
   store. The audit log's checkpoints are signed with a key derived from the box key, so
   they are re-signed inside the copy, after their old signatures are checked.
4. The key file is replaced atomically by the new key (unless the key is a systemd
   credential, which this command cannot write: the operator is told what to update).
5. The journal is removed, then the new-key file.

A crash before 2 changed no store; after it, running ``sehat appliance rekey`` again
finds the journal and finishes the same rotation — each store is opened with whichever
of the two keys opens it — so the command is the recovery.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.access import ACCESS_FILE
from appliance.audit import AUDIT_FILE, CHECKPOINT_TYPE, checkpoint_signing_key
from appliance.datadir import CREDENTIAL_NAME, REKEY_JOURNAL, DataDir
from storage.database import Connection, transaction
from storage.durable import fsync_directory, write_atomic
from storage.errors import KeyFileError
from storage.keyfile import create_key_file, read_key_file
from storage.rekey import rekey_store
from storage.snapshot import key_check, store_in_use
from verifier.canonical import canonical_json, format_timestamp, parse_json_object
from verifier.errors import FeedError, OperatorError
from verifier.signing import public_key_bytes, sign_envelope, split_envelope, verify_envelope

NEW_KEY_FILE = "replica.key.new"
JOURNAL_VERSION = 1
KEY_CHECK_LABEL = b"sehat/rekey-key-check/v1"


class RekeyError(OperatorError):
    code = "rekey_failed"


class BoxInUseError(RekeyError):
    code = "box_in_use"

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path} is open in another process: stop the box's services first "
            "(systemctl stop sehat-appliance sehat-sync sehat-backup.timer), then retry.",
            f"{path} در فرایند دیگری باز است: نخست سرویس‌های دستگاه را متوقف کنید "
            "(systemctl stop sehat-appliance sehat-sync sehat-backup.timer) و دوباره تلاش کنید.",
        )


@dataclass(frozen=True)
class RekeyResult:
    rekeyed: tuple[str, ...]  # stores re-keyed by this run (the others already were)
    key_file: Path | None  # the key file now holding the new key; None when the key is a credential
    new_key_file: Path  # where the new key is
    resumed: bool  # this run finished a rotation a crash interrupted


def resign_checkpoints(connection: Connection, old_key: bytes, new_key: bytes) -> int:
    """Re-sign the audit log's checkpoints with the new box key's checkpoint key; return how many.

    Each is checked under the old key first: a checkpoint that does not verify is evidence of
    tampering and is never laundered by a fresh signature.
    """
    old_public = public_key_bytes(checkpoint_signing_key(old_key))
    new_signing = checkpoint_signing_key(new_key)
    rows = connection.execute("SELECT id, envelope FROM checkpoints ORDER BY id").fetchall()
    with transaction(connection):
        for checkpoint_id, envelope in rows:
            try:
                signed, signatures = split_envelope(
                    parse_json_object(envelope.encode("utf-8"), "checkpoint"), "checkpoint"
                )
                verify_envelope(signed, signatures, old_public, "audit checkpoint")
            except FeedError as error:
                raise RekeyError(
                    f"Audit checkpoint {checkpoint_id} does not verify under the current key; run "
                    "`sehat appliance audit verify` — the log is not re-signed.",
                    f"نقطهٔ بازرسی {checkpoint_id} دفتر ممیزی با کلید کنونی تأیید نمی‌شود؛ دفتر دوباره امضا نمی‌شود.",
                ) from error
            if signed.get("type") != CHECKPOINT_TYPE:
                raise RekeyError(f"Audit checkpoint {checkpoint_id} is not a checkpoint.", "نقطهٔ بازرسی نامعتبر است.")
            resigned = canonical_json(sign_envelope(signed, new_signing)).decode("ascii")
            connection.execute("UPDATE checkpoints SET envelope = ? WHERE id = ?", (resigned, checkpoint_id))
    return len(rows)


def rekey_store_files(datadir: DataDir) -> dict[str, Path]:
    """The stores a rotation re-keys: the current replica generation, the audit log, the access store."""
    stores = {"replica": datadir.generation_path(datadir.current_generation())}
    for name, file_name in (("audit", AUDIT_FILE), ("access", ACCESS_FILE)):
        if (datadir.path / file_name).exists():
            stores[name] = datadir.path / file_name
    return stores


def rekey_one(path: Path, name: str, old_key: bytes | None, new_key: bytes) -> bool:
    """Re-key one of the box's stores (the audit log's checkpoints re-signed in the copy)."""

    def adjust(connection: Connection) -> None:
        if name == "audit" and old_key is not None:
            resign_checkpoints(connection, old_key, new_key)

    return rekey_store(path, old_key, new_key, adjust)


def _is_credential(path: Path) -> bool:
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    return bool(credentials) and path == Path(credentials or "") / CREDENTIAL_NAME


def _check(key: bytes) -> str:
    return key_check(key, KEY_CHECK_LABEL)


def _read_journal(path: Path) -> dict[str, Any]:
    try:
        journal = parse_json_object(path.read_bytes(), "rekey journal")
        if journal.get("version") != JOURNAL_VERSION:
            raise ValueError("unknown version")
        for field in ("old_check", "new_check", "new_key_file"):
            if not isinstance(journal.get(field), str):
                raise ValueError(field)
    except (FeedError, ValueError, OSError) as error:
        raise RekeyError(
            f"The key rotation journal {path} is damaged; the stores are each under the old or the new key.",
            f"دفترچهٔ چرخش کلید {path} آسیب دیده است.",
        ) from error
    return journal


def _new_key(datadir: DataDir, new_key_file: Path | None, credential: bool) -> tuple[bytes, Path]:
    if new_key_file is not None:
        return (read_key_file(new_key_file) if new_key_file.exists() else create_key_file(new_key_file)), new_key_file
    if credential:
        raise RekeyError(
            "The key is a systemd credential, which this command cannot replace: give --new-key-file "
            "(e.g. /etc/sehat/replica.key.new) to hold the new key.",
            "کلید یک credential سیستم‌دی است که این فرمان نمی‌تواند جایگزینش کند: با --new-key-file "
            "جای کلید تازه را بدهید.",
        )
    path = datadir.path / NEW_KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by a run that crashed before its journal: no store uses it
    return create_key_file(path), path


def rekey_box(datadir: DataDir, now: datetime, new_key_file: Path | None = None) -> RekeyResult:
    """Put every store of the box under a new key, or finish a rotation a crash interrupted.

    Raises:
        SyncBusyError: a sync is running.
        BoxInUseError: the web app or another process has a store open.
        RekeyError: the journal or the key files do not match each other.
        KeyFileError, WrongKeyError: a key is unusable, or neither key opens a store.
    """
    journal_path = datadir.path / REKEY_JOURNAL
    with datadir.sync_lock():
        stores = rekey_store_files(datadir)
        for path in stores.values():
            if store_in_use(path):
                raise BoxInUseError(path)
        key_path = datadir.resolve_key_file()
        credential = _is_credential(key_path)
        current = read_key_file(key_path)
        resumed = journal_path.exists()
        if resumed:
            journal = _read_journal(journal_path)
            new_path = Path(journal["new_key_file"])
            if new_key_file is not None and new_key_file.resolve() != new_path.resolve():
                raise RekeyError(
                    f"An interrupted rotation to the key in {new_path} must be finished first: "
                    "run the command again without --new-key-file.",
                    f"چرخش نیمه‌کارهٔ کلید به {new_path} باید نخست تمام شود: فرمان را بدون --new-key-file اجرا کنید.",
                )
            new_key = read_key_file(new_path)
            if _check(new_key) != journal["new_check"]:
                raise RekeyError(
                    f"{new_path} no longer holds the key the interrupted rotation started; put it back.",
                    f"{new_path} دیگر کلیدی را که چرخش نیمه‌کاره با آن آغاز شد ندارد.",
                )
            if _check(current) == journal["old_check"]:
                old_key: bytes | None = current
            elif _check(current) == journal["new_check"]:
                old_key = None  # the key file was already switched: every store is under the new key
            else:
                raise KeyFileError(
                    f"{key_path} holds neither the old nor the new key of the interrupted rotation.",
                    f"{key_path} نه کلید پیشین چرخش نیمه‌کاره را دارد و نه کلید تازه را.",
                )
        else:
            new_key, new_path = _new_key(datadir, new_key_file, credential)
            if new_key == current:
                raise RekeyError(
                    "The new key is the key in use; give another.", "کلید تازه همان کلید کنونی است؛ کلید دیگری بدهید."
                )
            old_key = current
            journal = {
                "version": JOURNAL_VERSION,
                "started_at": format_timestamp(now),
                "old_check": _check(current),
                "new_check": _check(new_key),
                "new_key_file": str(new_path.absolute()),
            }
            write_atomic(journal_path, json.dumps(journal, indent=2).encode("ascii"), mode=0o600)
        # Older generations are kept only for readers still switching over; none runs now,
        # and a file left under the old key would outlive the rotation.
        current_generation = datadir.current_generation()
        for generation in datadir.generations_on_disk():
            if generation != current_generation:
                datadir.remove_generation(generation)
        rekeyed = tuple(name for name, path in stores.items() if rekey_one(path, name, old_key, new_key))
        if not credential:
            write_atomic(key_path, (new_key.hex() + "\n").encode("ascii"), mode=0o600)
        journal_path.unlink()
        fsync_directory(datadir.path)
        if new_path == datadir.path / NEW_KEY_FILE:
            new_path.unlink()
            new_path = key_path
        return RekeyResult(rekeyed, None if credential else key_path, new_path, resumed)
