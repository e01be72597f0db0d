"""The encrypted replica: keyed right or refused clearly, migrated by name, and opaque on disk."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from appliance.datadir import DataDir
from appliance.replica import MIGRATIONS, Replica
from storage.database import Migration, migrate, open_store
from storage.errors import KeyFileError, StoreMissingError, WrongKeyError
from storage.keyfile import create_key_file
from sync_agent.agent import SyncAgent
from tests.support.simulator import FeedSimulator
from verifier.errors import OperatorError


def test_init_creates_a_private_key_and_directory(box: DataDir) -> None:
    key_file = box.path / "replica.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(box.path.stat().st_mode) == 0o700
    assert len(bytes.fromhex(key_file.read_text().strip())) == 32


def test_a_wrong_key_is_refused_with_a_clear_message(box: DataDir, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    create_key_file(other)
    with pytest.raises(WrongKeyError, match="does not open"):
        Replica.open(DataDir(box.path, key_file=other))


def test_a_missing_key_is_refused(box: DataDir) -> None:
    (box.path / "replica.key").unlink()
    with pytest.raises(KeyFileError, match="does not exist"):
        Replica.open(box)


def test_a_key_readable_by_others_is_refused(box: DataDir) -> None:
    os.chmod(box.path / "replica.key", 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        Replica.open(box)


def test_the_key_can_come_from_a_systemd_credential(
    box: DataDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (box.path / "replica.key").rename(credentials / "sehat-replica-key")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    with Replica.open(box) as replica:
        assert [state.issuer for state in replica.issuer_states()] == ["msrt"]


def test_a_missing_replica_is_never_replaced_by_an_empty_one(box: DataDir) -> None:
    box.current_file.unlink()
    with pytest.raises(StoreMissingError, match="No replica"):
        Replica.open(box)
    assert box.generations_on_disk() == [1]


def test_init_refuses_to_create_a_replica_over_an_existing_one(box: DataDir, simulator: FeedSimulator) -> None:
    with pytest.raises(OperatorError, match="already holds a replica"):
        Replica.create(box, [simulator.registry.trust_anchor()], {})


def test_init_refuses_a_feed_for_an_untrusted_issuer(tmp_path: Path, simulator: FeedSimulator) -> None:
    with pytest.raises(OperatorError, match="not trusted"):
        Replica.create(DataDir(tmp_path / "x"), [simulator.registry.trust_anchor()], {"azad": "http://x"})


def test_migrations_apply_once_each_in_order(tmp_path: Path) -> None:
    key = create_key_file(tmp_path / "k")
    connection = open_store(tmp_path / "db", key, create=True)
    assert migrate(connection, MIGRATIONS[:1]) == ["0001_initial"]
    assert migrate(connection, MIGRATIONS[:1]) == []
    assert migrate(connection, MIGRATIONS) == [migration.name for migration in MIGRATIONS[1:]]
    later = (*MIGRATIONS, Migration("9999_example", "CREATE TABLE example (x INTEGER)"))
    assert migrate(connection, later) == ["9999_example"]
    names = [row[0] for row in connection.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == [*(migration.name for migration in MIGRATIONS), "9999_example"]
    connection.close()


def test_a_failing_migration_leaves_nothing_half_applied(tmp_path: Path) -> None:
    key = create_key_file(tmp_path / "k")
    connection = open_store(tmp_path / "db", key, create=True)
    broken = (Migration("0001_broken", "CREATE TABLE a (x INTEGER); CREATE TABLE a (y INTEGER)"),)
    with pytest.raises(Exception, match="already exists"):
        migrate(connection, broken)
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "a" not in tables
    connection.close()


def test_the_database_and_its_wal_hold_no_name_or_code_in_plain_bytes(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    simulator.add_records(50)
    simulator.publish()
    reader = Replica.open(box)  # an open reader keeps the WAL from being checkpointed away
    agent.sync_once()
    simulator.revoke(5)
    simulator.publish()
    agent.sync_once()
    files = [path for path in box.path.iterdir() if path.name.startswith("replica-")]
    assert any(path.name.endswith("-wal") for path in files)
    contents = b"".join(path.read_bytes() for path in files)
    names = [row[0] for row in simulator.registry.connection.execute("SELECT full_name FROM records")]
    ids = [row[0] for row in simulator.registry.connection.execute("SELECT national_id FROM records")]
    for secret in [*names, *ids, *simulator.codes()]:
        assert secret.encode("utf-8") not in contents
        assert secret.encode("utf-16-le") not in contents
    assert b"msrt" not in contents, "even the issuer ids are encrypted at rest"
    reader.close()


def test_a_segment_that_does_not_continue_the_cursor_is_refused(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    from verifier.errors import ChainGapError
    from verifier.head import verify_head
    from verifier.objects import SegmentRef

    simulator.add_records(5)
    simulator.publish()
    agent.sync_once()
    head = verify_head(simulator.head_bytes(), simulator.registry.trust_anchor(), simulator.now)
    (segment,) = head.segments
    with Replica.open(box) as replica, pytest.raises(ChainGapError, match="does not continue"):
        replica.apply_segment("msrt", SegmentRef(**{**segment.__dict__, "first_seq": 6, "last_seq": 6}), [], head)


def test_a_reader_never_removes_a_generation_the_sync_agent_may_be_building(
    box: DataDir, agent: SyncAgent, simulator: FeedSimulator
) -> None:
    building = box.generation_path(box.current_generation() + 1)
    building.write_bytes(b"half written")
    Replica.open(box).close()
    assert building.exists(), "opening to read leaves it alone"
    simulator.publish()
    agent.sync_once()
    assert not building.exists(), "the sync agent, holding the lock, clears what a crash left"


def test_the_cli_reports_a_busy_port_in_one_line(box: DataDir) -> None:
    import socket

    from click.testing import CliRunner

    from sehat.cli import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["appliance", "serve", str(box.path), "--port", str(port)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: Cannot listen on 127.0.0.1:")
