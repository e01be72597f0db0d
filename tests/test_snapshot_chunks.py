"""Snapshots in chunks: however large an issuer, no object nears a box's limits, and a cut bootstrap resumes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.datadir import DataDir
from appliance.replica import Replica
from registry.config import RegistryConfig
from registry.publisher import Publisher
from sync_agent.agent import SyncAgent
from tests.conftest import make_box
from tests.support.feed_reader import FeedReader
from tests.support.simulator import FeedSimulator
from verifier.head import Head, verify_head

CHUNK_BYTES = 2048  # about ten records a chunk


@pytest.fixture
def chunked(simulator: FeedSimulator) -> FeedSimulator:
    simulator.publisher = Publisher(simulator.registry, RegistryConfig(snapshot_chunk_bytes=CHUNK_BYTES))
    simulator.now = datetime.now(UTC)  # a killed sync runs in its own process, on the real clock
    simulator.add_records(240)
    simulator.publish()
    return simulator


def head_of(simulator: FeedSimulator) -> Head:
    return verify_head(simulator.head_bytes(), simulator.registry.trust_anchor(), simulator.now)


def chunk_paths(simulator: FeedSimulator) -> list[str]:
    snapshot = head_of(simulator).snapshot
    assert snapshot is not None
    return [chunk.path for chunk in snapshot.chunks]


def requested(simulator: FeedSimulator) -> list[str]:
    return [path for path, _ in simulator.faults.requests]


def test_a_tiny_chunk_limit_cuts_the_snapshot_into_many_chunks_within_it(chunked: FeedSimulator) -> None:
    snapshot = head_of(chunked).snapshot
    assert snapshot is not None
    assert len(snapshot.chunks) >= 15
    assert all(chunk.size <= CHUNK_BYTES for chunk in snapshot.chunks)
    assert sum(chunk.records for chunk in snapshot.chunks) == snapshot.records == 240


def test_a_box_bootstraps_from_many_chunks_to_the_registrys_digest(
    chunked: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    (outcome,) = agent.sync_once()
    assert outcome.outcome == "updated", outcome.error
    with Replica.open(box) as replica:
        state = replica.issuer_state(chunked.issuer)
        assert (state.seq, state.digest) == chunked.digest()
        assert replica.compute_digest(chunked.issuer) == (state.digest, 240)


def test_a_reference_reader_follows_the_chunked_snapshot(chunked: FeedSimulator) -> None:
    reader = FeedReader(chunked.registry.trust_anchor())
    reader.follow_directory(chunked.feed_dir, chunked.now)
    assert reader.applied_objects[0].startswith("snapshot")
    assert (reader.seq, reader.digest()) == chunked.digest()


def test_a_sync_cut_off_mid_snapshot_resumes_with_the_chunks_it_has(
    chunked: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    paths = chunk_paths(chunked)
    chunked.faults.status[paths[6]] = [503] * 50
    (failed,) = agent.sync_once()
    assert failed.outcome != "updated"
    with Replica.open(box) as replica:
        assert replica.issuer_state(chunked.issuer).seq == 0, "nothing is applied before every chunk is here"
    assert {path.name for path in box.downloads.iterdir()} >= {Path(path).stem for path in paths[:6]}

    chunked.faults.status.clear()
    chunked.faults.requests.clear()
    (resumed,) = agent.sync_once()
    assert resumed.outcome == "updated", resumed.error
    assert not set(paths[:6]) & set(requested(chunked)), "chunks already fetched are not fetched again"
    assert set(paths[6:]) <= set(requested(chunked))
    assert list(box.downloads.iterdir()) == [], "the chunks are removed once the bootstrap is done"


def start_sync(datadir: DataDir) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sehat", "sync", "once", str(datadir.path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_a_sync_killed_mid_snapshot_resumes_where_it_stopped(chunked: FeedSimulator, tmp_path: Path) -> None:
    paths = chunk_paths(chunked)
    datadir = make_box(tmp_path / "killed", chunked)
    chunked.faults.drip[paths[8]] = 0.05  # the ninth chunk trickles in: the kill lands inside it
    process = start_sync(datadir)
    deadline = time.monotonic() + 60
    while not (datadir.downloads / (Path(paths[8]).stem + ".part")).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with Replica.open(datadir) as replica:
        assert replica.issuer_state(chunked.issuer).seq == 0

    chunked.faults.drip.clear()
    chunked.faults.requests.clear()
    assert start_sync(datadir).wait(timeout=120) == 0
    assert not set(paths[:8]) & set(requested(chunked)), "chunks already fetched are not fetched again"
    assert set(paths[8:]) <= set(requested(chunked))
    with Replica.open(datadir) as replica:
        state = replica.issuer_state(chunked.issuer)
        assert (state.seq, state.digest) == chunked.digest()
