"""A key rotation killed at any instant leaves every store whole under the old key or the new one.

The normal run kills 25 times; set SEHAT_REKEY_KILLS=200 for a longer run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.access import ACCESS_FILE, AccessStore
from appliance.audit import AUDIT_FILE, AuditLog, admin_entry
from appliance.datadir import REKEY_JOURNAL, DataDir, RekeyPendingError
from appliance.rekey import NEW_KEY_FILE, BoxInUseError, RekeyError, rekey_box
from appliance.replica import Replica
from sehat.cli import cli
from storage.database import Connection, open_store
from storage.errors import WrongKeyError
from storage.keyfile import read_key_file
from sync_agent.agent import SyncAgent
from tests.conftest import NOW, DemoCodes
from tests.support.simulator import FeedSimulator

KILLS = int(os.environ.get("SEHAT_REKEY_KILLS", "25"))
ROOT = Path(__file__).parent.parent


@dataclass(frozen=True)
class BoxContents:
    """What must survive a rotation: the replica's digests, the audit chain's head, the access store's rows."""

    digests: dict[str, tuple[str, int]]
    audit: tuple[int, tuple[int, str]]
    users: list[str]
    keys: list[str]


@pytest.fixture
def full_box(box: DataDir, synced: DemoCodes, simulator: FeedSimulator, agent: SyncAgent) -> DataDir:
    """A box with a few hundred records, an audit log behind a signed checkpoint, an operator and an API key."""
    simulator.add_records(300)
    simulator.publish()
    assert all(outcome.ok for outcome in agent.sync_once())
    with AccessStore.open(box) as access:
        access.add_user("admin", "correct horse battery", simulator.now)
        access.add_key("hr-system", simulator.now)
    with AuditLog.open(box, create=True) as log:
        old = simulator.now - timedelta(days=400)
        log.append([admin_entry(old + timedelta(minutes=i), "local", "operator:admin", "login") for i in range(50)])
        log.append([admin_entry(simulator.now, "local", "operator:admin", "user_add", f"u{i}") for i in range(200)])
        assert log.prune(simulator.now - timedelta(days=365)) == 50
    return box


def store_paths(datadir: DataDir) -> list[Path]:
    replica = datadir.generation_path(datadir.current_generation())
    return [replica, datadir.path / AUDIT_FILE, datadir.path / ACCESS_FILE]


def opening_keys(path: Path, keys: list[bytes]) -> list[bytes]:
    opened = []
    for key in keys:
        try:
            open_store(path, key).close()
        except WrongKeyError:
            continue
        opened.append(key)
    return opened


def contents(datadir: DataDir, key_of: dict[Path, bytes]) -> BoxContents:
    """Read everything through each store's own key (a rotation may be half done)."""
    replica_path, audit_path, access_path = store_paths(datadir)
    with Replica(datadir, key_of[replica_path]) as replica:
        digests = {state.issuer: replica.compute_digest(state.issuer) for state in replica.issuer_states()}
    connection: Connection = open_store(audit_path, key_of[audit_path])
    with AuditLog(connection, key_of[audit_path]) as log:
        check = log.verify()
        assert check.ok, check
        audit = (log.count(), log.head())
    with AccessStore(open_store(access_path, key_of[access_path])) as access:
        users = [user.name for user in access.users()]
        keys = [api_key.name for api_key in access.keys()]  # noqa: SIM118 - a method, not a dict
    return BoxContents(digests, audit, users, keys)


def start_rekey(datadir: DataDir) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sehat", "appliance", "rekey", str(datadir.path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def timed_rekey(datadir: DataDir) -> tuple[float, float]:
    """Run a whole rotation; return when its journal appeared and when it ended (seconds from start)."""
    started = time.monotonic()
    process = start_rekey(datadir)
    journal_at = None
    while process.poll() is None:
        if journal_at is None and (datadir.path / REKEY_JOURNAL).exists():
            journal_at = time.monotonic() - started
        time.sleep(0.001)
    assert process.returncode == 0
    ended = time.monotonic() - started
    return (journal_at if journal_at is not None else ended * 0.8), ended


def check_after_kill(datadir: DataDir, before: BoxContents) -> None:
    """Each store opens under exactly one of the rotation's two keys, and holds all it held."""
    key_file = read_key_file(datadir.path / "replica.key")
    pending = (datadir.path / REKEY_JOURNAL).exists()
    candidates = [key_file]
    if pending:
        with pytest.raises(RekeyPendingError):
            datadir.read_key()
        new_key = read_key_file(datadir.path / NEW_KEY_FILE)
        if new_key != key_file:
            candidates.append(new_key)
    key_of = {}
    for path in store_paths(datadir):
        opened = opening_keys(path, candidates)
        assert len(opened) == 1, f"{path.name} opens under {len(opened)} of the rotation's keys"
        key_of[path] = opened[0]
    assert contents(datadir, key_of) == before
    if not pending:
        assert set(key_of.values()) == {key_file}


def test_a_rekey_killed_at_random_instants_never_loses_a_store(full_box: DataDir) -> None:
    key = full_box.read_key()
    before = contents(full_box, dict.fromkeys(store_paths(full_box), key))
    journal_at, whole = timed_rekey(full_box)  # a first, whole rotation: how long each phase takes
    seen_keys = [key, full_box.read_key()]
    rng = random.Random(int(os.environ.get("SEHAT_REKEY_SEED", "20261123")))
    pending_after_kill = 0
    for kill in range(KILLS):
        process = start_rekey(full_box)
        started = time.monotonic()
        if kill % 2:  # anywhere in the run, start-up included
            time.sleep(rng.uniform(0, whole * 1.1))
        else:  # within the work itself: after the journal appears
            while not (full_box.path / REKEY_JOURNAL).exists() and process.poll() is None:
                if time.monotonic() - started > whole * 3:
                    break
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, max(whole - journal_at, 0.01)))
        process.send_signal(signal.SIGKILL)
        process.wait()
        pending_after_kill += (full_box.path / REKEY_JOURNAL).exists()
        check_after_kill(full_box, before)
        seen_keys.append(read_key_file(full_box.path / "replica.key"))
    assert pending_after_kill, "no kill landed inside a rotation; the instants chosen are too early or late"

    result = rekey_box(full_box, NOW)  # finishes the interrupted rotation, or makes one more
    assert not (full_box.path / REKEY_JOURNAL).exists() and not (full_box.path / NEW_KEY_FILE).exists()
    final = full_box.read_key()
    assert result.key_file == full_box.path / "replica.key"
    for path in store_paths(full_box):
        assert opening_keys(path, [*seen_keys, final]) == [final]
    assert contents(full_box, dict.fromkeys(store_paths(full_box), final)) == before


def test_an_uninterrupted_rekey_leaves_the_old_key_opening_nothing(full_box: DataDir) -> None:
    old = full_box.read_key()
    before = contents(full_box, dict.fromkeys(store_paths(full_box), old))
    outcome = CliRunner().invoke(cli, ["appliance", "rekey", str(full_box.path)])
    assert outcome.exit_code == 0, outcome.output
    new = full_box.read_key()
    assert new != old
    for path in store_paths(full_box):
        assert opening_keys(path, [old, new]) == [new]
    assert contents(full_box, dict.fromkeys(store_paths(full_box), new)) == before
    with AuditLog.open(full_box) as log:  # checkpoints re-signed under the new key's checkpoint key
        assert log.verify().ok


def test_a_rekey_refuses_while_the_box_has_a_store_open(full_box: DataDir) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(full_box.path / AUDIT_FILE), full_box.read_key().hex()],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"open\n"
        old = full_box.read_key()
        with pytest.raises(BoxInUseError, match="stop the box's services"):
            rekey_box(full_box, NOW)
        assert full_box.read_key() == old and not (full_box.path / REKEY_JOURNAL).exists()
    finally:
        holder.kill()
        holder.communicate()


HOLD_OPEN = """
import sys, time
from pathlib import Path
from storage.database import open_store
connection = open_store(Path(sys.argv[1]), bytes.fromhex(sys.argv[2]))
connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
print("open", flush=True)
time.sleep(60)
"""


def test_a_rekey_of_a_credential_key_writes_the_new_key_where_told(
    full_box: DataDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (full_box.path / "replica.key").rename(credentials / "sehat-replica-key")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    old = full_box.read_key()
    with pytest.raises(RekeyError, match="--new-key-file"):
        rekey_box(full_box, NOW)
    outcome = CliRunner().invoke(
        cli, ["appliance", "rekey", str(full_box.path), "--new-key-file", str(tmp_path / "replica.key.new")]
    )
    assert outcome.exit_code == 0, outcome.output
    assert "LoadCredential=sehat-replica-key" in outcome.output
    assert read_key_file(credentials / "sehat-replica-key") == old
    new = read_key_file(tmp_path / "replica.key.new")
    for path in store_paths(full_box):
        assert opening_keys(path, [old, new]) == [new]
