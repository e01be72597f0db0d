"""The box's audit log: a hash chain that names where it was edited, and survives pruning."""

from __future__ import annotations

import csv
import hashlib
import io
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.audit import (
    AUDIT_FILE,
    CSV_COLUMNS,
    AuditCheck,
    AuditEntry,
    AuditLog,
    AuditTamperedError,
    entry_hash,
)
from appliance.audit_cli import audit_group
from appliance.datadir import DataDir
from sehat.cli import SehatGroup
from storage.database import open_store
from storage.errors import StoreMissingError
from storage.keyfile import create_key_file
from verifier.canonical import canonical_json
from verifier.signing import sign_envelope

NOW = datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
LOOKUP_ID = "ab" * 16


def make_entry(**overrides: Any) -> AuditEntry:
    """An audit entry with plausible defaults; keyword arguments replace any field."""
    fields: dict[str, Any] = {
        "at": NOW,
        "channel": "kiosk",
        "client": "127.0.0.1",
        "actor": None,
        "issuer": "msrt",
        "lookup_id": LOOKUP_ID,
        "status": "valid",
    }
    fields.update(overrides)
    return AuditEntry(**fields)


def entries(count: int, start: datetime = NOW, step: timedelta = timedelta(seconds=1)) -> list[AuditEntry]:
    return [make_entry(at=start + i * step) for i in range(count)]


@pytest.fixture
def datadir(tmp_path: Path) -> DataDir:
    create_key_file(tmp_path / "replica.key")
    return DataDir(tmp_path)


@pytest.fixture
def log(datadir: DataDir) -> Iterator[AuditLog]:
    with AuditLog.open(datadir, create=True) as audit:
        yield audit


@pytest.fixture
def filled(log: AuditLog) -> AuditLog:
    """A log of ten entries, a second apart."""
    log.append(entries(10))
    return log


@pytest.fixture
def tamper(datadir: DataDir) -> Callable[..., None]:
    """``tamper(sql, params)``: what someone with the key and a SQLCipher shell could do."""

    def run(sql: str, params: tuple[Any, ...] = ()) -> None:
        connection = open_store(datadir.path / AUDIT_FILE, datadir.read_key())
        try:
            connection.execute(sql, params)
        finally:
            connection.close()

    return run


def stored_hash(datadir: DataDir, entry_id: int) -> str:
    connection = open_store(datadir.path / AUDIT_FILE, datadir.read_key())
    try:
        return str(connection.execute("SELECT hash FROM entries WHERE id = ?", (entry_id,)).fetchone()[0])
    finally:
        connection.close()


def forged_fields(entry_id: int) -> dict[str, Any]:
    """The fields of entry ``entry_id`` of the ``filled`` log, its status turned to ``revoked``."""
    return make_entry(at=NOW + timedelta(seconds=entry_id - 1), status="revoked").fields(entry_id)


def insert_row(tamper: Callable[..., None], fields: dict[str, Any], prev: str, digest: str) -> None:
    tamper(
        "INSERT INTO entries (id, at, channel, client, actor, issuer, lookup_id, status, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*fields.values(), prev, digest),
    )


def run_cli(*args: str) -> Result:
    """Run through a root group like ``sehat``'s, which turns our errors into one line and exit 1."""

    @click.group(cls=SehatGroup)
    def root() -> None:
        pass

    root.add_command(audit_group)
    return CliRunner().invoke(root, ["audit", *args])


# --- the chain -------------------------------------------------------------------------------------


def test_appended_entries_form_an_intact_chain(filled: AuditLog) -> None:
    assert filled.count() == 10
    assert filled.verify() == AuditCheck(ok=True, checked=10, problem=None, entry_id=None)


def test_the_first_entry_chains_to_the_genesis_value(filled: AuditLog, datadir: DataDir) -> None:
    genesis = hashlib.sha256(b"sehat/audit/v1\x00").digest()
    fields = {
        "id": 1,
        "at": "2026-11-23T09:00:00.123456Z",
        "channel": "kiosk",
        "client": "127.0.0.1",
        "actor": None,
        "issuer": "msrt",
        "lookup_id": LOOKUP_ID,
        "status": "valid",
    }
    assert stored_hash(datadir, 1) == hashlib.sha256(genesis + canonical_json(fields)).hexdigest()


def test_ids_run_on_across_appends(filled: AuditLog) -> None:
    filled.append(entries(3))
    assert filled.head()[0] == 13
    assert filled.verify().checked == 13


def test_an_edited_row_is_named(filled: AuditLog, tamper: Callable[..., None]) -> None:
    tamper("UPDATE entries SET status = 'revoked' WHERE id = 4")
    check = filled.verify()
    assert (check.ok, check.entry_id, check.problem) == (False, 4, "entry 4 was changed (its hash does not match)")


def test_a_row_rewritten_with_a_fresh_hash_breaks_the_next_link(
    filled: AuditLog, tamper: Callable[..., None], datadir: DataDir
) -> None:
    tamper(
        "UPDATE entries SET status = 'revoked', hash = ? WHERE id = 4",
        (entry_hash(stored_hash(datadir, 3), forged_fields(4)),),
    )
    check = filled.verify()
    assert check.entry_id == 5
    assert check.problem is not None and "entry 5 does not chain to entry 4" in check.problem


def test_a_deleted_middle_row_is_named(filled: AuditLog, tamper: Callable[..., None]) -> None:
    tamper("DELETE FROM entries WHERE id = 6")
    check = filled.verify()
    assert (check.ok, check.entry_id, check.problem) == (False, 6, "entry 6 is missing (deleted)")


def test_deleted_last_rows_are_detected(filled: AuditLog, tamper: Callable[..., None]) -> None:
    tamper("DELETE FROM entries WHERE id >= 9")
    check = filled.verify()
    assert (check.ok, check.entry_id) == (False, 9)
    assert check.problem is not None and check.problem.startswith("entries after 8 were deleted")


def test_a_replaced_last_row_is_detected(filled: AuditLog, tamper: Callable[..., None], datadir: DataDir) -> None:
    forged = entry_hash(stored_hash(datadir, 9), forged_fields(10))
    tamper("UPDATE entries SET status = 'revoked', hash = ? WHERE id = 10", (forged,))
    check = filled.verify()
    assert (check.ok, check.entry_id) == (False, 10)
    assert check.problem is not None and "was replaced" in check.problem


def test_a_correctly_chained_row_appended_behind_the_logs_back_is_detected(
    filled: AuditLog, tamper: Callable[..., None], datadir: DataDir
) -> None:
    prev = stored_hash(datadir, 10)
    insert_row(tamper, forged_fields(11), prev, entry_hash(prev, forged_fields(11)))
    check = filled.verify()
    assert (check.ok, check.entry_id) == (False, 11)
    assert check.problem is not None and "(inserted)" in check.problem


def test_a_row_forged_before_the_start_is_detected(filled: AuditLog, tamper: Callable[..., None]) -> None:
    insert_row(tamper, forged_fields(0), "00" * 32, "11" * 32)
    check = filled.verify()
    assert (check.ok, check.entry_id) == (False, 0)
    assert check.problem is not None and "before the start of the chain" in check.problem


def test_the_failure_has_a_persian_message(filled: AuditLog, tamper: Callable[..., None]) -> None:
    tamper("UPDATE entries SET client = '10.0.0.9' WHERE id = 7")
    error = AuditTamperedError(filled.verify())
    assert "۷" in error.message_fa and "entry 7" in error.message


# --- retention -------------------------------------------------------------------------------------


@pytest.fixture
def aged(log: AuditLog) -> AuditLog:
    """Ten entries a day apart, the first ten days before the second batch's first."""
    log.append(entries(10, start=NOW - timedelta(days=10), step=timedelta(days=1)))
    return log


def test_prune_keeps_the_rest_of_the_chain_checkable(aged: AuditLog) -> None:
    assert aged.prune(NOW - timedelta(days=5)) == 5
    assert aged.count() == 5
    assert aged.verify() == AuditCheck(ok=True, checked=5, problem=None, entry_id=None)


def test_ids_are_not_reused_after_pruning_everything(aged: AuditLog) -> None:
    assert aged.prune(NOW) == 10
    aged.append(entries(1))
    assert aged.head()[0] == 11
    assert aged.verify().ok


def test_pruning_nothing_writes_no_checkpoint(aged: AuditLog, tamper: Callable[..., None]) -> None:
    assert aged.prune(NOW - timedelta(days=30)) == 0
    tamper("DELETE FROM entries WHERE id = 1")
    assert aged.verify().problem == "entry 1 is missing (deleted)"


def test_a_tampered_checkpoint_is_detected(aged: AuditLog, tamper: Callable[..., None]) -> None:
    aged.prune(NOW - timedelta(days=5))
    tamper("UPDATE checkpoints SET envelope = replace(envelope, '\"pruned_count\":5', '\"pruned_count\":4')")
    check = aged.verify()
    assert (check.ok, check.problem) == (False, "the checkpoint's signature does not verify")


def test_a_checkpoint_signed_by_another_key_cannot_hide_deleted_entries(
    aged: AuditLog, tamper: Callable[..., None], datadir: DataDir
) -> None:
    signed = {"type": "sehat/audit-checkpoint", "up_to_id": 3, "last_hash": stored_hash(datadir, 3)}
    signed |= {"pruned_count": 3, "at": "2026-11-23T09:00:00Z"}
    envelope = canonical_json(sign_envelope(signed, Ed25519PrivateKey.generate())).decode("ascii")
    tamper("DELETE FROM entries WHERE id <= 3")
    tamper("INSERT INTO checkpoints (envelope) VALUES (?)", (envelope,))
    tamper("UPDATE audit_meta SET checkpoint_up_to = 3")
    assert aged.verify().problem == "the checkpoint's signature does not verify"


def test_a_deleted_checkpoint_is_detected(aged: AuditLog, tamper: Callable[..., None]) -> None:
    aged.prune(NOW - timedelta(days=5))
    tamper("DELETE FROM checkpoints")
    assert aged.verify().problem == "the checkpoint up to entry 5 is missing (deleted)"


def test_a_tampered_log_is_not_pruned(aged: AuditLog, tamper: Callable[..., None]) -> None:
    tamper("UPDATE entries SET actor = 'operator:mallory' WHERE id = 2")
    with pytest.raises(AuditTamperedError, match="entry 2 was changed"):
        aged.prune(NOW)
    assert aged.count() == 10


def test_the_checkpoint_key_is_derived_from_the_box_key(log: AuditLog, datadir: DataDir) -> None:
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sehat/audit-checkpoint/v1").derive(
        datadir.read_key()
    )
    expected = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert log.checkpoint_public_key() == expected


# --- export ----------------------------------------------------------------------------------------


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_export_is_csv_with_the_documented_columns(filled: AuditLog) -> None:
    out = io.StringIO()
    assert filled.export_csv(out) == 10
    rows = read_csv(out.getvalue())
    assert len(rows) == 10
    assert tuple(rows[0]) == CSV_COLUMNS  # no code or national ID column: only the lookup id
    assert rows[0]["at"] == "2026-11-23T09:00:00.123456Z"
    assert (rows[0]["lookup_id"], rows[0]["actor"], rows[9]["id"]) == (LOOKUP_ID, "", "10")


def test_export_keeps_to_the_requested_period(filled: AuditLog) -> None:
    out = io.StringIO()
    written = filled.export_csv(out, since=NOW + timedelta(seconds=2), until=NOW + timedelta(seconds=5))
    assert written == 3
    assert [row["id"] for row in read_csv(out.getvalue())] == ["3", "4", "5"]


# --- opening, entries and concurrency --------------------------------------------------------------


def test_opening_a_missing_log_without_create_is_refused(datadir: DataDir) -> None:
    with pytest.raises(StoreMissingError, match="No audit log"):
        AuditLog.open(datadir)


def test_create_opens_an_existing_log_instead_of_replacing_it(filled: AuditLog, datadir: DataDir) -> None:
    with AuditLog.open(datadir, create=True) as again:
        assert again.count() == 10


@pytest.mark.parametrize(
    "overrides",
    [
        {"lookup_id": "12345678901234567890"},  # a raw code
        {"lookup_id": "AB" * 16},
        {"at": datetime(2026, 11, 23, 9, 0)},
        {"channel": "email"},
        {"status": "fake"},
    ],
)
def test_an_entry_refuses_what_the_log_must_not_hold(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make_entry(**overrides)


def test_concurrent_appenders_on_separate_connections_never_fork_the_chain(log: AuditLog, datadir: DataDir) -> None:
    def append_fifty(worker: int) -> None:
        with AuditLog.open(datadir) as own:
            for i in range(50):
                own.append([make_entry(client=f"10.0.0.{worker}", at=NOW + timedelta(milliseconds=i))])

    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(append_fifty, worker) for worker in range(4)]:
            future.result()
    assert log.count() == 200
    assert log.verify().checked == 200
    assert log.verify().ok


# --- the command line ------------------------------------------------------------------------------


def test_cli_verify_reports_an_intact_log(filled: AuditLog, datadir: DataDir) -> None:
    result = run_cli("verify", str(datadir.path))
    assert result.exit_code == 0, result.output
    assert "Audit log intact: 10 entries checked." in result.output


def test_cli_verify_names_the_tampered_entry_and_exits_1(
    filled: AuditLog, tamper: Callable[..., None], datadir: DataDir
) -> None:
    tamper("UPDATE entries SET status = 'not_found' WHERE id = 3")
    result = run_cli("verify", str(datadir.path))
    assert result.exit_code == 1
    assert "entry 3 was changed" in result.output


def test_cli_export_out_writes_a_private_file(filled: AuditLog, datadir: DataDir, tmp_path: Path) -> None:
    target = tmp_path / "audit.csv"
    result = run_cli("export", str(datadir.path), "--out", str(target), "--since", "2026-11-23")
    assert result.exit_code == 0, result.output
    assert "Exported 10 entries" in result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(read_csv(target.read_text(encoding="utf-8"))) == 10


def test_cli_export_streams_to_standard_output(filled: AuditLog, datadir: DataDir) -> None:
    result = run_cli("export", str(datadir.path), "--until", "2026-11-23")
    assert result.exit_code == 0, result.output
    assert read_csv(result.stdout) == []
    assert "Exported 0 entries." in result.stderr


def test_cli_prune_keeps_a_year_by_default(log: AuditLog, datadir: DataDir) -> None:
    year_ago = datetime.now(UTC) - timedelta(days=400)
    log.append(entries(4, start=year_ago) + entries(2, start=datetime.now(UTC) - timedelta(days=30)))
    result = run_cli("prune", str(datadir.path))
    assert result.exit_code == 0, result.output
    assert "Pruned 4 entries" in result.output
    assert (log.count(), log.verify().ok) == (2, True)


@pytest.mark.parametrize("command", sorted(audit_group.commands))
def test_every_audit_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(audit_group, [command, "--help"])
    assert "Example" in result.output and f"sehat appliance audit {command}" in result.output
