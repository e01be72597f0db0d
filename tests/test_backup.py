"""Backups of a serving box restore to the same verdicts, and a wrong, altered or newer backup is refused."""

from __future__ import annotations

import json
import tarfile
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from flask import Flask

from appliance.access import ACCESS_FILE, AccessStore
from appliance.audit import AUDIT_FILE, AuditLog, admin_entry
from appliance.backup import BackupResult, backups_in, create_backup
from appliance.datadir import DataDir
from appliance.replica import Replica
from appliance.restore import (
    BackupKeyMismatchError,
    BackupSchemaError,
    BackupTamperedError,
    TargetNotEmptyError,
    restore_backup,
)
from sehat.cli import cli
from storage.database import open_store
from storage.errors import WrongKeyError
from storage.keyfile import create_key_file
from sync_agent.agent import SyncAgent
from tests.conftest import DemoCodes
from tests.support.servers import serving
from tests.support.simulator import FeedSimulator
from tests.test_sync_crash import expected_digest

CLIENTS = 8


@pytest.fixture
def full_box(box: DataDir, synced: DemoCodes, simulator: FeedSimulator) -> DataDir:
    """The synced box with an operator, an API key, and an audit log pruned behind a signed checkpoint."""
    with AccessStore.open(box) as access:
        access.add_user("admin", "correct horse battery", simulator.now)
        access.add_key("hr-system", simulator.now)
    with AuditLog.open(box, create=True) as log:
        old = simulator.now - timedelta(days=400)
        log.append([admin_entry(old + timedelta(minutes=i), "local", "operator:admin", "login") for i in range(5)])
        log.append([admin_entry(simulator.now, "local", "operator:admin", "key_create", "k1")])
        assert log.prune(simulator.now - timedelta(days=365)) == 5
    return box


def backup_of(box: DataDir, tmp_path: Path, simulator: FeedSimulator) -> BackupResult:
    return create_backup(box, tmp_path / "backup.tar", simulator.now)


def _statuses(base_url: str, codes: list[str]) -> dict[str, str]:
    with requests.Session() as session:
        return {
            code: session.post(f"{base_url}/api/v1/verify", json={"code": code}, timeout=30).json()["status"]
            for code in codes
        }


def test_a_backup_taken_while_serving_and_syncing_restores_the_same_verdicts(
    make_app: Callable[..., Flask],
    full_box: DataDir,
    synced: DemoCodes,
    simulator: FeedSimulator,
    agent: SyncAgent,
    tmp_path: Path,
) -> None:
    sample = [synced.valid, synced.revoked, synced.superseded, *simulator.codes()[:12], "1" * 20]
    app = make_app(anonymous_rate_limit="1000000 per minute")
    for _ in range(4):  # four segments: the sync applies them in four transactions
        simulator.add_records(400)
        simulator.publish()
    failures: list[str] = []
    stop = threading.Event()
    with serving(app) as base_url:

        def client() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    for code in sample:
                        response = session.post(f"{base_url}/api/v1/verify", json={"code": code}, timeout=30)
                        if response.status_code != 200:
                            failures.append(f"{response.status_code} {response.text[:200]}")

        clients = [threading.Thread(target=client) for _ in range(CLIENTS)]
        syncing = threading.Thread(target=agent.sync_once)
        for thread in [*clients, syncing]:
            thread.start()
        taken: list[BackupResult] = []
        try:
            while syncing.is_alive() or not taken:  # backups while the sync downloads and applies
                taken.append(create_backup(full_box, tmp_path / "backups", simulator.now, rotate=3))
        finally:
            syncing.join()
            stop.set()
            for thread in clients:
                thread.join()
        expected = _statuses(base_url, sample)
    assert not failures
    for backup in taken:  # each a whole seq of the issuer, as the registry had it
        (entry,) = backup.manifest["stores"]["replica"]["issuers"]
        assert entry["digest"] == expected_digest(simulator.registry, entry["seq"])
    result = taken[-1]
    assert result.path.stat().st_mode & 0o777 == 0o600

    restored = DataDir(tmp_path / "restored")
    restore_backup(result.path, restored, simulator.now, backup_key=full_box.read_key())
    with serving(make_app(datadir=restored.path)) as restored_url:
        assert _statuses(restored_url, sample) == expected
    with Replica.open(restored) as replica:
        for entry in result.manifest["stores"]["replica"]["issuers"]:
            assert replica.compute_digest(entry["issuer"]) == (entry["digest"], entry["records"])
            assert replica.issuer_state(entry["issuer"]).seq == entry["seq"]
    with AuditLog.open(restored) as log:
        assert log.verify().ok


def test_a_restored_box_keeps_its_operators_keys_and_audit_log(
    full_box: DataDir, simulator: FeedSimulator, tmp_path: Path
) -> None:
    result = backup_of(full_box, tmp_path, simulator)
    restored = DataDir(tmp_path / "restored")
    restore_backup(result.path, restored, simulator.now, backup_key=full_box.read_key())
    with AccessStore.open(restored) as access:
        assert [user.name for user in access.users()] == ["admin"]
        assert [api_key.name for api_key in access.keys()]  # noqa: SIM118 - a method, not a dict == ["hr-system"]
    with AuditLog.open(full_box) as original, AuditLog.open(restored) as log:
        assert log.verify().ok
        assert log.head() == original.head()
    assert result.manifest["stores"]["audit"]["schema"] and result.manifest["stores"]["access"]["schema"]


def test_a_backup_made_under_another_key_is_refused(
    full_box: DataDir, simulator: FeedSimulator, tmp_path: Path
) -> None:
    result = backup_of(full_box, tmp_path, simulator)
    other_key = tmp_path / "other.key"
    create_key_file(other_key)
    with pytest.raises(BackupKeyMismatchError, match="another key"):
        restore_backup(result.path, DataDir(tmp_path / "restored", other_key), simulator.now)
    assert not (tmp_path / "restored").exists()


def test_a_backup_made_under_another_key_is_rekeyed_when_that_key_is_given(
    full_box: DataDir, simulator: FeedSimulator, tmp_path: Path
) -> None:
    result = backup_of(full_box, tmp_path, simulator)
    other_key_file = tmp_path / "other.key"
    other_key = create_key_file(other_key_file)
    restored = DataDir(tmp_path / "restored", other_key_file)
    outcome = restore_backup(result.path, restored, simulator.now, backup_key=full_box.read_key())
    assert outcome.rekeyed
    for name in ("replica-000001.db", AUDIT_FILE, ACCESS_FILE):
        open_store(restored.path / name, other_key).close()
        with pytest.raises(WrongKeyError):
            open_store(restored.path / name, full_box.read_key())
    with AuditLog.open(restored) as log:  # its checkpoint re-signed with the new key's checkpoint key
        assert log.verify().ok


def _flip(archive: Path, member_name: str, at: int) -> None:
    with tarfile.open(archive) as tar:
        offset = tar.getmember(member_name).offset_data
    with open(archive, "r+b") as handle:
        handle.seek(offset + at)
        byte = handle.read(1)
        handle.seek(offset + at)
        handle.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize("member", ["replica.db", AUDIT_FILE, ACCESS_FILE])
def test_a_byte_flipped_in_a_store_is_refused(
    full_box: DataDir, simulator: FeedSimulator, tmp_path: Path, member: str
) -> None:
    result = backup_of(full_box, tmp_path, simulator)
    _flip(result.path, member, 5000)
    with pytest.raises(BackupTamperedError, match="does not match its SHA-256"):
        restore_backup(result.path, DataDir(tmp_path / "restored"), simulator.now, backup_key=full_box.read_key())
    assert not (tmp_path / "restored").exists()


@pytest.mark.parametrize("field", ['"created_at": "', '"seq": ', '"sha256": "'])
def test_a_byte_flipped_in_the_manifest_is_refused(
    full_box: DataDir, simulator: FeedSimulator, tmp_path: Path, field: str
) -> None:
    result = backup_of(full_box, tmp_path, simulator)
    with tarfile.open(result.path) as tar:
        manifest = tar.extractfile("manifest.json").read()  # type: ignore[union-attr]
    _flip(result.path, "manifest.json", manifest.index(field.encode()) + len(field) + 2)
    runner = CliRunner()
    outcome = runner.invoke(cli, ["appliance", "restore", str(result.path), str(tmp_path / "restored"),
                                  "--backup-key-file", str(full_box.path / "replica.key")])  # fmt: skip
    assert outcome.exit_code == 1
    assert "was altered" in outcome.output and "Traceback" not in outcome.output


def test_a_backup_from_a_newer_schema_is_refused(full_box: DataDir, simulator: FeedSimulator, tmp_path: Path) -> None:
    connection = open_store(full_box.path / ACCESS_FILE, full_box.read_key())
    connection.execute("INSERT INTO schema_migrations VALUES ('0099_from_a_later_version', datetime('now'))")
    connection.close()
    result = backup_of(full_box, tmp_path, simulator)
    with pytest.raises(BackupSchemaError, match="0099_from_a_later_version"):
        restore_backup(result.path, DataDir(tmp_path / "restored"), simulator.now, backup_key=full_box.read_key())


def test_a_box_is_restored_over_only_with_force_and_then_kept_aside(
    full_box: DataDir, simulator: FeedSimulator, tmp_path: Path
) -> None:
    result = backup_of(full_box, tmp_path, simulator)
    with pytest.raises(TargetNotEmptyError):
        restore_backup(result.path, full_box, simulator.now)
    outcome = restore_backup(result.path, full_box, simulator.now, force=True)
    assert outcome.moved_aside is not None and (outcome.moved_aside / "CURRENT").exists()
    with Replica.open(full_box) as replica:
        assert [state.issuer for state in replica.issuer_states()] == [simulator.issuer]


def test_rotation_keeps_the_newest_n(full_box: DataDir, simulator: FeedSimulator, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    made = [create_backup(full_box, directory, simulator.now + timedelta(days=day), rotate=3).path for day in range(5)]
    assert backups_in(directory) == made[-3:]


def test_the_backup_command_writes_a_manifest_naming_each_store(
    full_box: DataDir, simulator: FeedSimulator, tmp_path: Path
) -> None:
    outcome = CliRunner().invoke(cli, ["appliance", "backup", str(full_box.path), str(tmp_path / "b.tar")])
    assert outcome.exit_code == 0, outcome.output
    with tarfile.open(tmp_path / "b.tar") as tar:
        assert tar.getnames() == ["manifest.json", "replica.db", AUDIT_FILE, ACCESS_FILE]
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert set(manifest["manifest"]["stores"]) == {"replica", "audit", "access"}
    assert full_box.read_key().hex() not in json.dumps(manifest)
