"""A sync killed with SIGKILL at any instant leaves the replica at a whole seq, and the next run finishes.

The normal run kills 25 times; set SEHAT_CRASH_KILLS=500 for the long run.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.datadir import DataDir
from appliance.replica import Replica
from registry.config import RegistryConfig
from registry.publisher import Publisher
from registry.registry import Registry
from tests.conftest import make_box
from tests.support.simulator import FeedSimulator
from verifier.digest import StateDigest

KILLS = int(os.environ.get("SEHAT_CRASH_KILLS", "25"))
BATCH = 6000  # records added per round: about 40 segment transactions to interrupt


@functools.cache
def _expected_digest(registry: Registry, seq: int) -> str:
    rows: dict[bytes, bytes] = {}
    for change_seq, lookup_id, box in registry.store.iter_changes(0):
        if change_seq > seq:
            break
        rows[bytes(lookup_id)] = bytes(box)
    digest = StateDigest(registry.issuer)
    digest.add_many(rows.items())
    return digest.hexdigest()


def expected_digest(registry: Registry, seq: int) -> str:
    """The state digest the registry had at ``seq``, replayed from its change log."""
    return _expected_digest(registry, seq)


def boundaries(registry: Registry) -> set[int]:
    segments = {row[0] for row in registry.connection.execute("SELECT last_seq FROM segments")}
    snapshots = {row[0] for row in registry.connection.execute("SELECT seq FROM snapshots")}
    return {0} | segments | snapshots


def start_sync(datadir: DataDir) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sehat", "sync", "once", str(datadir.path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def check_whole(datadir: DataDir, registry: Registry) -> int:
    """Open the replica as a restarted box would; it must be at a whole seq with exactly that state."""
    with Replica.open(datadir) as replica:
        assert replica.connection.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        state = replica.issuer_state(registry.issuer)
        digest, rows = replica.compute_digest(registry.issuer)
    assert state.seq in boundaries(registry)
    assert digest == expected_digest(registry, state.seq)
    assert rows == state.records
    current = datadir.current_generation()
    # An unfinished newer generation may remain after a kill; the next sync removes it.
    assert set(datadir.generations_on_disk()) <= {current - 1, current, current + 1}
    return state.seq


@pytest.fixture
def big_feed(make_registry: Callable[..., Registry], tmp_path: Path) -> FeedSimulator:
    """Small segments and no new snapshots: a long run of separate transactions to interrupt."""
    config = RegistryConfig(max_segment_changes=150, snapshot_fraction=1e9)
    simulator = FeedSimulator(make_registry("msrt"), tmp_path / "feed", config)
    simulator.now = datetime.now(UTC)  # the killed syncs run on the real clock
    return simulator


def timed_sync(datadir: DataDir) -> float:
    """Run one whole sync and return how long it took, to aim the kills inside one."""
    started = time.monotonic()
    assert start_sync(datadir).wait(timeout=300) == 0
    return time.monotonic() - started


@pytest.mark.slow
def test_sigkill_at_random_instants_leaves_a_whole_seq_and_the_sync_finishes(
    big_feed: FeedSimulator, tmp_path: Path
) -> None:
    rng = random.Random(20261123)
    simulator = big_feed
    datadir = make_box(tmp_path / "box", simulator)
    simulator.add_records(BATCH)
    simulator.publish()
    duration = timed_sync(datadir)
    seen: set[int] = set()
    kills = 0
    try:
        while kills < KILLS:
            if check_whole(datadir, simulator.registry) == simulator.digest()[0]:
                simulator.add_records(BATCH)
                simulator.revoke(20)
                simulator.publish()
            process = start_sync(datadir)
            time.sleep(rng.uniform(0.1, 1.0) * duration)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait()
            seen.add(check_whole(datadir, simulator.registry))
        assert start_sync(datadir).wait(timeout=300) == 0
        assert check_whole(datadir, simulator.registry) == simulator.digest()[0]
    finally:
        simulator.close()
    assert len(seen) > 3, "kills landed at several different points of the apply"


@pytest.mark.slow
def test_sigkill_during_a_snapshot_bootstrap_keeps_the_old_generation(big_feed: FeedSimulator, tmp_path: Path) -> None:
    rng = random.Random(7)
    simulator = big_feed
    simulator.publisher = Publisher(simulator.registry, RegistryConfig())
    simulator.add_records(BATCH)
    simulator.publish()
    duration = timed_sync(make_box(tmp_path / "measure", simulator))
    try:
        for attempt in range(5):
            datadir = make_box(tmp_path / f"fresh-{attempt}", simulator)
            process = start_sync(datadir)
            time.sleep(rng.uniform(0.2, 1.0) * duration)
            process.send_signal(signal.SIGKILL)
            process.wait()
            assert check_whole(datadir, simulator.registry) in (0, simulator.digest()[0])
            assert start_sync(datadir).wait(timeout=300) == 0
            assert check_whole(datadir, simulator.registry) == simulator.digest()[0]
            assert max(datadir.generations_on_disk()) == datadir.current_generation(), "leftovers removed"
    finally:
        simulator.close()
