"""Every bad feed is refused with a one-line reason, the replica is untouched, and the next good feed applies."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.datadir import DataDir
from appliance.replica import Replica
from registry.publisher import Publisher
from sync_agent.agent import SyncAgent
from tests.conftest import TEST_SYNC_CONFIG, root_key_of
from tests.support.simulator import FeedSimulator
from verifier.canonical import canonical_json
from verifier.signing import sign_envelope

Scenario = Callable[[FeedSimulator, SyncAgent, Path], Callable[[], None]]


def _newest_segment(simulator: FeedSimulator) -> Path:
    return simulator.objects("segments")[-1]


def tampered_head(simulator: FeedSimulator, agent: SyncAgent, tmp: Path) -> Callable[[], None]:
    good = simulator.head_bytes()
    position = good.index(b'"seq":') + 6
    simulator.put_head(good[:position] + b"9" + good[position + 1 :])
    return lambda: simulator.put_head(good)


def tampered_segment(simulator: FeedSimulator, agent: SyncAgent, tmp: Path) -> Callable[[], None]:
    path = _newest_segment(simulator)
    good = path.read_bytes()
    path.write_bytes(good[:-20] + bytes([good[-20] ^ 1]) + good[-19:])
    return lambda: path.write_bytes(good)


def replayed_head(simulator: FeedSimulator, agent: SyncAgent, tmp: Path) -> Callable[[], None]:
    old = simulator.head_bytes()
    simulator.advance(timedelta(minutes=1))
    simulator.publish()
    agent.sync_once()
    good = simulator.head_bytes()
    simulator.put_head(old)
    return lambda: simulator.put_head(good)


def expired_head(simulator: FeedSimulator, agent: SyncAgent, tmp: Path) -> Callable[[], None]:
    simulator.advance(timedelta(hours=49))
    return lambda: None


def unknown_key_head(simulator: FeedSimulator, agent: SyncAgent, tmp: Path) -> Callable[[], None]:
    good = simulator.head_bytes()
    envelope = json.loads(good)
    simulator.put_head(canonical_json(sign_envelope(envelope["signed"], Ed25519PrivateKey.generate())))
    return lambda: simulator.put_head(good)


def oversized_segment(simulator: FeedSimulator, agent: SyncAgent, tmp: Path) -> Callable[[], None]:
    simulator.faults.extra_bytes["segments/"] = 5000
    return lambda: simulator.faults.extra_bytes.clear()


def stalled_server(simulator: FeedSimulator, agent: SyncAgent, tmp: Path) -> Callable[[], None]:
    simulator.faults.stall_after["segments/"] = 200
    return simulator.release_stalls


def server_errors(simulator: FeedSimulator, agent: SyncAgent, tmp: Path) -> Callable[[], None]:
    simulator.faults.status["head.json"] = [500] * 5
    return lambda: simulator.faults.status.clear()


SCENARIOS: dict[str, tuple[Scenario, str, str]] = {
    "tampered head": (tampered_head, "refused", "signature"),
    "tampered segment": (tampered_segment, "refused", "does not match the hash"),
    "replayed older head": (replayed_head, "refused", "issued before the head already accepted"),
    "expired head": (expired_head, "stale", "expired"),
    "head signed by an unknown key": (unknown_key_head, "refused", "not signed by a key this box trusts"),
    "segment larger than announced": (oversized_segment, "refused", "the head lists"),
    "server stalls mid-body": (stalled_server, "failed", "transfer cut"),
    "server returns 500s": (server_errors, "failed", "500"),
}


def _state(box: DataDir) -> tuple[int, str, int]:
    with Replica.open(box) as replica:
        digest, rows = replica.compute_digest("msrt")
        return replica.issuer_state("msrt").seq, digest, rows


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_bad_feed_is_refused_and_the_next_good_one_applies(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent, tmp_path: Path, name: str
) -> None:
    scenario, expected_outcome, reason = SCENARIOS[name]
    simulator.add_records(20)
    simulator.publish()
    agent.sync_once()
    simulator.advance(timedelta(minutes=5))
    simulator.add_records(10)
    simulator.publish()
    mend = scenario(simulator, agent, tmp_path)
    before = _state(box)

    (outcome,) = agent.sync_once()

    assert outcome.outcome == expected_outcome
    assert outcome.error is not None and reason in outcome.error
    assert "\n" not in outcome.error
    assert _state(box) == before, "the replica is unchanged"
    with Replica.open(box) as replica:
        (last,) = replica.history(1)
        assert (last.outcome, last.error) == (expected_outcome, outcome.error)
        assert replica.issuer_state("msrt").last_error == outcome.error

    mend()
    simulator.advance(timedelta(minutes=1))
    simulator.add_records(1)
    simulator.publish()
    (recovered,) = agent.sync_once()
    assert recovered.outcome == "updated"
    assert _state(box)[:2] == simulator.digest()


def test_a_cut_download_resumes_with_a_range_request(simulator: FeedSimulator, box: DataDir, agent: SyncAgent) -> None:
    simulator.add_records(200)
    simulator.publish()
    simulator.faults.stall_after["(segments|snapshots)/"] = 5000
    (first,) = agent.sync_once()
    simulator.release_stalls()
    (second,) = agent.sync_once()
    assert (first.outcome, second.outcome) == ("failed", "updated")
    resumed = [headers for path, headers in simulator.faults.requests if path.startswith(("segments/", "snapshots/"))]
    assert resumed[-1].get("Range") == "bytes=5000-"
    assert _state(box)[:2] == simulator.digest()


def test_a_truncated_bundle_is_refused_and_a_good_one_applies(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent, tmp_path: Path
) -> None:
    simulator.add_records(15)
    bundle = tmp_path / "usb.sehat"
    Publisher(simulator.registry).write_bundle(bundle, simulator.now)
    good = bundle.read_bytes()
    bundle.write_bytes(good[: len(good) // 2])
    outcome = agent.import_bundle(bundle)
    assert outcome.outcome == "refused"
    assert outcome.error is not None and outcome.error.startswith("bundle:")
    assert _state(box)[0] == 0
    with Replica.open(box) as replica:
        assert replica.history(1)[0].error == outcome.error
    bundle.write_bytes(good)
    assert agent.import_bundle(bundle).outcome == "updated"


def test_a_bundle_with_a_flipped_object_byte_is_refused_in_the_history(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent, tmp_path: Path
) -> None:
    simulator.add_records(15)
    bundle = tmp_path / "usb.sehat"
    Publisher(simulator.registry).write_bundle(bundle, simulator.now)
    data = bytearray(bundle.read_bytes())
    data[-200] ^= 1
    bundle.write_bytes(bytes(data))
    outcome = agent.import_bundle(bundle)
    assert outcome.outcome == "refused"
    assert _state(box)[0] == 0


def test_a_server_that_drips_slower_than_the_minimum_rate_is_given_up(simulator: FeedSimulator, box: DataDir) -> None:
    simulator.add_records(50)
    simulator.publish()
    simulator.faults.drip["(segments|snapshots)/"] = 0.05  # about 1.3 kB/s, each read well within the timeout
    impatient = SyncAgent(box, replace(TEST_SYNC_CONFIG, min_rate=8192, rate_grace=0.5), lambda: simulator.now)
    (outcome,) = impatient.sync_once()
    simulator.release_stalls()
    assert outcome.outcome == "failed"
    assert "below the minimum" in (outcome.error or "")
    assert _state(box)[0] == 0


def test_a_head_larger_than_the_limit_is_not_read_on(simulator: FeedSimulator, box: DataDir, agent: SyncAgent) -> None:
    simulator.add_records(5)
    simulator.publish()
    simulator.faults.replace["head.json"] = b" " * (TEST_SYNC_CONFIG.limits.max_head_bytes + 1)
    (outcome,) = agent.sync_once()
    assert outcome.outcome == "refused"
    assert "larger than" in (outcome.error or "")


def test_a_passing_server_error_is_retried_with_back_off(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    simulator.add_records(5)
    simulator.publish()
    simulator.faults.status["head.json"] = [503]
    (outcome,) = agent.sync_once()
    assert outcome.outcome == "updated"
    assert [path for path, _ in simulator.faults.requests].count("head.json") == 2


def test_a_segment_of_another_feed_served_under_a_listed_path_is_refused(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    simulator.add_records(20)
    simulator.publish()
    agent.sync_once()
    first = simulator.objects("segments")[-1]
    simulator.add_records(20)
    simulator.publish()
    newest = simulator.objects("segments")[-1]
    simulator.faults.replace[f"segments/{newest.name}"] = first.read_bytes()
    (outcome,) = agent.sync_once()
    assert outcome.outcome == "refused"
    assert "hash" in (outcome.error or "") or "the head lists" in (outcome.error or "")
    assert _state(box)[0] == 20


def test_a_long_retry_after_does_not_park_the_agent(simulator: FeedSimulator, box: DataDir, agent: SyncAgent) -> None:
    import time

    simulator.add_records(5)
    simulator.publish()
    simulator.faults.status["head.json"] = [503] * 5
    simulator.faults.retry_after = 86_400
    started = time.monotonic()
    (outcome,) = agent.sync_once()
    assert outcome.outcome == "failed"
    assert time.monotonic() - started < 10


def test_a_compressing_server_still_serves_a_readable_head(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    simulator.add_records(5)
    simulator.publish()
    simulator.faults.gzip = True
    (outcome,) = agent.sync_once()
    assert outcome.outcome == "updated"


def test_a_fast_start_does_not_buy_a_trickle(simulator: FeedSimulator, box: DataDir) -> None:
    simulator.add_records(50)
    simulator.publish()
    simulator.faults.drip_after["(segments|snapshots)/"] = (4000, 0.2)  # 4 kB at once, then 64 B per 0.2 s
    impatient = SyncAgent(box, replace(TEST_SYNC_CONFIG, min_rate=2048, rate_grace=1.0), lambda: simulator.now)
    (outcome,) = impatient.sync_once()
    simulator.release_stalls()
    assert outcome.outcome == "failed"
    assert "below the minimum" in (outcome.error or "")


def test_a_head_listing_an_object_over_the_limit_is_refused(simulator: FeedSimulator, box: DataDir) -> None:
    simulator.add_records(5)
    simulator.publish()
    small = replace(TEST_SYNC_CONFIG, limits=replace(TEST_SYNC_CONFIG.limits, max_object_bytes=100))
    (outcome,) = SyncAgent(box, small, lambda: simulator.now).sync_once()
    assert outcome.outcome == "refused"
    assert "larger than 100 bytes" in (outcome.error or "")


def test_old_unfinished_downloads_are_removed(simulator: FeedSimulator, box: DataDir, agent: SyncAgent) -> None:
    import os

    stale = box.downloads / ("0" * 64 + ".part")
    stale.write_bytes(b"x")
    os.utime(stale, (0, 0))
    simulator.add_records(5)
    simulator.publish()
    agent.sync_once()
    assert not stale.exists()


def test_a_head_issued_far_ahead_of_a_sane_clock_is_refused(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent
) -> None:
    simulator.add_records(5)
    simulator.publish()
    agent.sync_once()
    simulator.advance(timedelta(days=3))
    simulator.publish()
    behind = SyncAgent(box, TEST_SYNC_CONFIG, lambda: simulator.now - timedelta(days=3))
    (outcome,) = behind.sync_once()
    assert outcome.outcome == "refused"
    assert "ahead of this box's clock" in (outcome.error or "")
    with Replica.open(box) as replica:
        assert replica.clock_floor() == simulator.now - timedelta(days=3), "the floor did not move"


def test_after_a_key_rotation_the_box_rebases_onto_the_issuers_new_history(
    simulator: FeedSimulator, box: DataDir, agent: SyncAgent, tmp_path: Path
) -> None:
    simulator.add_records(40)
    simulator.publish()
    agent.sync_once()
    directory = simulator.registry.directory
    simulator.registry.close()
    shutil.copytree(directory, tmp_path / "backup")
    simulator.reopen_registry()
    simulator.add_records(10)  # history the box applies, later disowned by the issuer
    simulator.advance(timedelta(minutes=5))
    simulator.publish()
    agent.sync_once()

    simulator.registry.close()
    shutil.rmtree(directory)
    shutil.copytree(tmp_path / "backup", directory)  # the registry restored from its backup …
    simulator.reopen_registry()
    simulator.registry.rotate_signing_key(simulator.now, root_key_of(simulator.registry))  # … rotates its signing key …
    simulator.add_records(5)  # … and goes on from there
    simulator.advance(timedelta(minutes=5))
    simulator.publish()
    (outcome,) = agent.sync_once()

    assert outcome.outcome == "updated", outcome.error
    assert _state(box)[:2] == simulator.digest()
