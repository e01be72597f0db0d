"""The sync agent brings a box's replica to exactly the registry's state, and says how fresh it is."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from appliance.datadir import DataDir
from appliance.replica import Replica
from registry.publisher import Publisher
from sync_agent.agent import SyncAgent
from tests.conftest import TEST_SYNC_CONFIG, make_box
from tests.support.simulator import FeedSimulator


def replica_digest(box: DataDir, issuer: str = "msrt") -> tuple[int, str]:
    with Replica.open(box) as replica:
        digest, _ = replica.compute_digest(issuer)
        return replica.issuer_state(issuer).seq, digest


def test_a_new_box_reaches_the_registrys_state(simulator: FeedSimulator, box: DataDir, agent: SyncAgent) -> None:
    simulator.add_records(60)
    simulator.publish()
    (outcome,) = agent.sync_once()
    assert (outcome.outcome, outcome.seq_before, outcome.seq_after) == ("updated", 0, 60)
    assert replica_digest(box) == simulator.digest()


def test_deltas_with_revocations_and_supersessions_keep_the_digests_equal(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    simulator.add_records(40)
    simulator.publish()
    agent.sync_once()
    for step in range(3):
        simulator.advance(timedelta(minutes=10))
        simulator.revoke(3)
        simulator.add_superseded_pairs(2)
        simulator.publish()
        (outcome,) = agent.sync_once()
        assert outcome.outcome == "updated", step
        assert replica_digest(box) == simulator.digest()


def test_a_quiet_feed_is_current_and_uses_a_conditional_request(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    simulator.add_records(5)
    simulator.publish()
    agent.sync_once()
    (outcome,) = agent.sync_once()
    assert outcome.outcome == "current"
    head_requests = [headers for path, headers in simulator.faults.requests if path == "head.json"]
    assert "If-None-Match" in head_requests[-1]


def test_a_re_signed_head_extends_freshness_without_downloading_data(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    simulator.add_records(5)
    simulator.publish()
    agent.sync_once()
    simulator.advance(timedelta(hours=40))
    simulator.publish()
    (outcome,) = agent.sync_once()
    with Replica.open(box) as replica:
        state = replica.issuer_state("msrt")
    assert outcome.outcome == "current"
    assert state.expires == simulator.now + timedelta(hours=48)
    assert not state.is_stale(simulator.now + timedelta(hours=20))


def test_a_frozen_feed_leaves_the_replica_serving_but_stale(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    simulator.add_records(5)
    simulator.publish()
    agent.sync_once()
    simulator.advance(timedelta(hours=49))
    (outcome,) = agent.sync_once()
    with Replica.open(box) as replica:
        state = replica.issuer_state("msrt")
        assert replica.lookup("msrt", b"\0" * 16) is None
    assert outcome.outcome == "stale"
    assert "expired" in (outcome.error or "")
    assert state.seq == 5
    assert state.is_stale(simulator.now)


def test_a_clock_set_back_cannot_make_expired_data_fresh(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    simulator.add_records(5)
    simulator.advance(timedelta(days=10))
    simulator.publish()
    agent.sync_once()
    simulator.advance(timedelta(days=3))
    simulator.publish()  # newer head, raises the floor
    agent.sync_once()
    frozen_head = simulator.head_bytes()
    back_in_time = SyncAgent(box, TEST_SYNC_CONFIG, clock=lambda: simulator.now - timedelta(days=30))
    simulator.put_head(frozen_head)
    simulator.advance(timedelta(days=3))
    (outcome,) = back_in_time.sync_once()
    assert outcome.outcome == "current"
    with Replica.open(box) as replica:
        assert replica.clock_floor() == simulator.now - timedelta(days=3)


def test_a_box_far_behind_bootstraps_from_a_snapshot_into_a_new_generation(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    simulator.add_records(30)
    simulator.publish()
    agent.sync_once()
    assert box.current_generation() in (1, 2)
    before = box.current_generation()
    for code in simulator.codes():  # many changes to the same rows: the new snapshot is smaller than the deltas
        for name in ("نام نخست", "نام دوم", "نام سوم", "نام چهارم"):
            simulator.registry.correct(code, {"full_name": name}, simulator.now)
    simulator.publish()
    simulator.faults.requests.clear()
    agent.sync_once()
    fetched = [path for path, _ in simulator.faults.requests]
    assert any(path.startswith("snapshots/") for path in fetched)
    assert box.current_generation() == before + 1
    assert replica_digest(box) == simulator.digest()


def test_old_generations_are_removed_after_a_switch(simulator: FeedSimulator, box: DataDir, agent: SyncAgent) -> None:
    for batch in (10, 30, 90, 270):
        simulator.add_records(batch)
        simulator.publish()
        agent.sync_once()
    assert len(box.generations_on_disk()) <= 2


def test_one_failing_issuer_never_blocks_the_others(
    simulator: FeedSimulator, make_registry: object, tmp_path: Path
) -> None:
    other = FeedSimulator(make_registry("azad"), tmp_path / "feed-azad")  # type: ignore[operator]
    try:
        simulator.add_records(5)
        other.add_records(7)
        simulator.publish()
        other.publish()
        datadir = make_box(tmp_path / "two", simulator, other)
        simulator.faults.status["head.json"] = [500] * 10
        outcomes = {o.issuer: o for o in SyncAgent(datadir, TEST_SYNC_CONFIG, lambda: simulator.now).sync_once()}
        assert outcomes["msrt"].outcome == "failed"
        assert outcomes["azad"].outcome == "updated"
        assert replica_digest(datadir, "azad") == other.digest()
    finally:
        other.close()


def test_a_bundle_applies_through_the_same_path(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent, tmp_path: Path
) -> None:
    simulator.add_records(20)
    bundle = tmp_path / "usb.sehat"
    Publisher(simulator.registry).write_bundle(bundle, simulator.now)
    outcome = agent.import_bundle(bundle)
    assert (outcome.source, outcome.outcome) == ("bundle", "updated")
    assert replica_digest(box) == simulator.digest()


def test_a_delta_bundle_for_another_seq_is_refused_with_the_reason(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent, tmp_path: Path
) -> None:
    simulator.add_records(20)
    simulator.publish()
    simulator.add_records(3)
    simulator.publish()
    bundle = tmp_path / "delta.sehat"
    Publisher(simulator.registry).write_bundle(bundle, simulator.now, since_seq=20)
    outcome = agent.import_bundle(bundle)
    assert outcome.outcome == "refused"
    assert "continues from seq 0" in (outcome.error or "")


def test_the_scheduled_agent_syncs_then_stops_on_request(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    simulator.add_records(5)
    simulator.publish()
    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,))
    runner.start()
    try:
        for _ in range(100):
            if replica_digest(box)[0] == 5:
                break
            stop.wait(0.1)
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive()
    assert replica_digest(box) == simulator.digest()


@pytest.mark.parametrize("failures", [1, 2, 3, 8, 20])
def test_the_back_off_after_failures_grows_with_jitter_up_to_the_cap(box: DataDir, failures: int) -> None:
    agent = SyncAgent(box, TEST_SYNC_CONFIG)
    delays = {agent.next_delay(failures) for _ in range(30)}
    cap = TEST_SYNC_CONFIG.failure_backoff_max_minutes * 60
    expected = min(cap, TEST_SYNC_CONFIG.failure_backoff_minutes * 60 * 2 ** (failures - 1))
    assert all(expected / 2 - 1 <= delay <= expected for delay in delays)
    assert len(delays) > 1, "jittered"


def test_a_healthy_issuer_waits_the_interval(box: DataDir) -> None:
    assert SyncAgent(box, TEST_SYNC_CONFIG).next_delay(0) == TEST_SYNC_CONFIG.interval_minutes * 60


def test_the_history_records_every_attempt(simulator: FeedSimulator, box: DataDir, agent: SyncAgent) -> None:
    simulator.add_records(5)
    simulator.publish()
    agent.sync_once()
    agent.sync_once()
    with Replica.open(box) as replica:
        history = replica.history()
    assert [record.outcome for record in history] == ["current", "updated"]
    assert history[1].seq_after == 5
    assert history[1].bytes > 0
