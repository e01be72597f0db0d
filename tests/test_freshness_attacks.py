"""No stolen signing key, copied bundle, slow mirror or absurd number can freeze or brick a box.

Each test replays one attack on a box that trusts two issuers, msrt (attacked) and azad
(not), and checks that the attack is refused or recovered from with the replica whole and
the other issuer current. docs/protocol.md's threat table names these tests.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.datadir import DataDir
from appliance.replica import Replica
from registry.publisher import Publisher
from registry.registry import Registry
from sehat.cli import cli
from sync_agent.agent import SyncAgent, SyncOutcome
from sync_agent.config import SyncConfig
from sync_agent.transport import Fetcher, HttpFetcher
from tests.conftest import TEST_SYNC_CONFIG, make_box, root_key_of
from tests.support.simulator import FeedSimulator
from verifier.bundle import read_bundle_head
from verifier.freshness import BUNDLE_CHANNEL

DAY = timedelta(days=1)


@pytest.fixture
def other(make_registry: Callable[..., Registry], tmp_path: Path) -> Iterator[FeedSimulator]:
    feed = FeedSimulator(make_registry("azad"), tmp_path / "feed-azad")
    yield feed
    feed.close()


@pytest.fixture
def two(simulator: FeedSimulator, other: FeedSimulator, tmp_path: Path) -> DataDir:
    """A box synced with both issuers' genuine feeds."""
    simulator.add_records(10)
    other.add_records(6)
    simulator.publish()
    other.publish()
    datadir = make_box(tmp_path / "two", simulator, other)
    outcomes = _sync(datadir, simulator)
    assert [outcome.outcome for outcome in outcomes] == ["updated", "updated"]
    return datadir


def _agent(datadir: DataDir, simulator: FeedSimulator, config: SyncConfig = TEST_SYNC_CONFIG) -> SyncAgent:
    return SyncAgent(datadir, config, lambda: simulator.now)


def _sync(datadir: DataDir, simulator: FeedSimulator) -> list[SyncOutcome]:
    return _agent(datadir, simulator).sync_once()


def _by_issuer(outcomes: list[SyncOutcome]) -> dict[str, SyncOutcome]:
    return {outcome.issuer: outcome for outcome in outcomes}


def _replica_matches(datadir: DataDir, feed: FeedSimulator) -> bool:
    with Replica.open(datadir) as replica:
        state = replica.issuer_state(feed.issuer)
        digest, _ = replica.compute_digest(feed.issuer)
    return (state.seq, digest) == feed.digest()


def _fresh(datadir: DataDir, issuer: str, now: datetime) -> bool:
    with Replica.open(datadir) as replica:
        return not replica.issuer_state(issuer).is_stale(now)


def _both_move_on(simulator: FeedSimulator, other: FeedSimulator, hours: int = 1) -> None:
    """Time passes for everybody; azad goes on publishing as usual."""
    simulator.advance(timedelta(hours=hours))
    other.now = simulator.now
    other.add_records(2)
    other.publish()


def test_two_step_far_future_heads_from_a_stolen_key_cannot_drag_the_floor_a_decade(
    simulator: FeedSimulator, other: FeedSimulator, two: DataDir
) -> None:
    simulator.put_head(simulator.forge_head(issued_at=simulator.now + timedelta(hours=23)))
    assert _by_issuer(_sync(two, simulator))["msrt"].ok, "23 hours ahead is within the skew allowed"
    simulator.put_head(simulator.forge_head(issued_at=simulator.now + timedelta(days=3650)))
    _both_move_on(simulator, other)
    outcomes = _by_issuer(_sync(two, simulator))
    assert outcomes["msrt"].outcome == "refused"
    assert "ahead of this box's clock" in (outcomes["msrt"].error or "")
    with Replica.open(two) as replica:
        assert replica.clock_floor("msrt") == simulator.now - timedelta(hours=1) + timedelta(hours=23)
    assert outcomes["azad"].outcome == "updated"
    assert _replica_matches(two, simulator) and _replica_matches(two, other)


def test_an_eternal_head_is_refused(simulator: FeedSimulator, other: FeedSimulator, two: DataDir) -> None:
    simulator.put_head(simulator.forge_head(lifetime=datetime(9999, 12, 31, tzinfo=UTC) - simulator.now))
    outcomes = _by_issuer(_sync(two, simulator))
    assert outcomes["msrt"].outcome == "refused" and "outside the years" in (outcomes["msrt"].error or "")
    simulator.put_head(simulator.forge_head(lifetime=timedelta(days=30)))
    outcomes = _by_issuer(_sync(two, simulator))
    assert outcomes["msrt"].outcome == "refused"
    assert "longer than" in (outcomes["msrt"].error or "")
    simulator.advance(timedelta(hours=49))  # the genuine head the box holds has run out since
    other.now = simulator.now
    other.publish()
    assert not _fresh(two, "msrt", simulator.now), "no head outlived its cap"
    assert _by_issuer(_sync(two, simulator))["azad"].ok
    assert _fresh(two, "azad", simulator.now)
    assert _replica_matches(two, other)


def test_a_bundle_head_served_over_http_is_refused(
    simulator: FeedSimulator, other: FeedSimulator, two: DataDir, tmp_path: Path
) -> None:
    simulator.add_records(3)
    bundle = tmp_path / "courier.sehat"
    Publisher(simulator.registry).write_bundle(bundle, simulator.now + timedelta(minutes=1))
    with open(bundle, "rb") as stream:
        simulator.put_head(read_bundle_head(stream, TEST_SYNC_CONFIG.limits))  # a mirror holding a copy
    _both_move_on(simulator, other)
    outcomes = _by_issuer(_sync(two, simulator))
    assert outcomes["msrt"].outcome == "refused"
    assert "made for a USB bundle" in (outcomes["msrt"].error or "")
    assert outcomes["azad"].outcome == "updated"
    # The same head, imported from the stick it was made for, applies.
    assert _agent(two, simulator).import_bundle(bundle).outcome == "updated"
    assert _replica_matches(two, simulator)


def test_one_issuers_floor_never_moves_anothers(simulator: FeedSimulator, other: FeedSimulator, two: DataDir) -> None:
    start = simulator.now
    for step in range(1, 4):  # a thief ratchets msrt's floor 23 hours at a time: 69 hours ahead
        simulator.put_head(simulator.forge_head(issued_at=start + step * timedelta(hours=23)))
        assert _by_issuer(_sync(two, simulator))["msrt"].ok
    with Replica.open(two) as replica:
        assert replica.clock_floor("msrt") == start + timedelta(hours=69)
        assert replica.clock_floor("azad") == start
    # Past azad's 48-hour expiry by msrt's floor, but azad's heads are judged by azad's floor alone.
    _both_move_on(simulator, other, hours=2)
    outcomes = _by_issuer(_sync(two, simulator))
    assert outcomes["azad"].outcome == "updated"
    assert _fresh(two, "azad", simulator.now)
    assert _replica_matches(two, other)


def _drag_msrt_ahead(simulator: FeedSimulator, datadir: DataDir) -> None:
    """A thief with msrt's signing key moves msrt's floor and rollback state 23 hours ahead."""
    simulator.put_head(simulator.forge_head(issued_at=simulator.now + timedelta(hours=23)))
    assert _by_issuer(_sync(datadir, simulator))["msrt"].ok
    simulator.advance(timedelta(hours=1))
    simulator.add_records(2)
    simulator.publish()  # the issuer's genuine head, issued before the thief's: refused as a replay
    outcome = _by_issuer(_sync(datadir, simulator))["msrt"]
    assert outcome.outcome == "refused" and "issued before" in (outcome.error or "")


def test_a_key_rotation_recovers_every_box_by_itself_over_http(
    simulator: FeedSimulator, other: FeedSimulator, two: DataDir
) -> None:
    _drag_msrt_ahead(simulator, two)
    stolen = {"signing_key": simulator.registry.signing_key(), "key_certificate": simulator.registry.key_certificate()}
    simulator.registry.rotate_signing_key(simulator.now, root_key_of(simulator.registry))
    simulator.advance(timedelta(minutes=5))
    simulator.publish()
    outcomes = _by_issuer(_sync(two, simulator))
    assert outcomes["msrt"].outcome == "updated"
    with Replica.open(two) as replica:
        assert replica.clock_floor("msrt") == simulator.now, "the retired key's floor no longer binds"
    assert _fresh(two, "msrt", simulator.now)
    assert _replica_matches(two, simulator) and _replica_matches(two, other)
    # … and the stolen key is retired: whatever it signs is refused from now on.
    simulator.put_head(simulator.forge_head(issued_at=simulator.now + timedelta(hours=20), **stolen))
    outcome = _by_issuer(_sync(two, simulator))["msrt"]
    assert outcome.outcome == "refused" and "retired" in (outcome.error or "")


def test_a_key_rotation_recovers_a_box_fed_by_usb(
    simulator: FeedSimulator, other: FeedSimulator, two: DataDir, tmp_path: Path
) -> None:
    _drag_msrt_ahead(simulator, two)
    simulator.registry.rotate_signing_key(simulator.now, root_key_of(simulator.registry))
    bundle = tmp_path / "after-rotation.sehat"
    Publisher(simulator.registry).write_bundle(bundle, simulator.now + timedelta(minutes=5))
    simulator.advance(timedelta(minutes=10))
    outcome = _agent(two, simulator).import_bundle(bundle)
    assert (outcome.source, outcome.outcome) == ("bundle", "updated")
    assert _fresh(two, "msrt", simulator.now)
    assert _replica_matches(two, simulator)


def test_reset_floor_lets_an_operator_recover_by_hand_and_is_recorded(
    simulator: FeedSimulator, other: FeedSimulator, two: DataDir
) -> None:
    _drag_msrt_ahead(simulator, two)
    result = CliRunner().invoke(cli, ["sync", "reset-floor", str(two.path), "--issuer", "msrt"])
    assert result.exit_code == 0, result.output
    assert "reset by the operator" in result.output
    outcomes = _by_issuer(_sync(two, simulator))
    assert outcomes["msrt"].outcome == "updated"
    assert _fresh(two, "msrt", simulator.now)
    assert _replica_matches(two, simulator) and _replica_matches(two, other)
    with Replica.open(two) as replica:
        history = replica.history(issuer="msrt")
    assert [record.outcome for record in history[:2]] == ["updated", "floor_reset"]
    assert history[1].source == "operator"


def test_reset_floor_never_revives_a_retired_key(simulator: FeedSimulator, other: FeedSimulator, two: DataDir) -> None:
    stolen = {"signing_key": simulator.registry.signing_key(), "key_certificate": simulator.registry.key_certificate()}
    simulator.registry.rotate_signing_key(simulator.now, root_key_of(simulator.registry))
    simulator.advance(timedelta(minutes=5))
    simulator.publish()
    assert _by_issuer(_sync(two, simulator))["msrt"].ok
    assert CliRunner().invoke(cli, ["sync", "reset-floor", str(two.path), "--issuer", "msrt"]).exit_code == 0
    simulator.put_head(simulator.forge_head(**stolen))
    outcome = _by_issuer(_sync(two, simulator))["msrt"]
    assert outcome.outcome == "refused" and "retired" in (outcome.error or "")
    assert _replica_matches(two, simulator)


def test_reset_floor_of_an_issuer_the_box_does_not_trust_is_one_clear_line(two: DataDir) -> None:
    result = CliRunner().invoke(cli, ["sync", "reset-floor", str(two.path), "--issuer", "nobody"])
    assert result.exit_code == 1
    assert "not trusted" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "overrides",
    [{"seq": 2**63}, {"seq": 2**64 + 5}, {"records": 10**30}],
    ids=["seq-2^63", "seq-2^64", "records-10^30"],
)
def test_a_huge_number_in_a_signed_head_is_refused_not_a_crash(
    simulator: FeedSimulator, other: FeedSimulator, two: DataDir, overrides: dict[str, object]
) -> None:
    simulator.put_head(simulator.forge_head(**overrides))
    _both_move_on(simulator, other)
    outcomes = _by_issuer(_sync(two, simulator))
    assert outcomes["msrt"].outcome == "refused"
    assert "beyond any sane count" in (outcomes["msrt"].error or "")
    assert outcomes["azad"].outcome == "updated"
    assert _replica_matches(two, other)


def test_an_unexpected_exception_in_one_issuers_sync_is_recorded_and_the_others_go_on(
    simulator: FeedSimulator, other: FeedSimulator, two: DataDir
) -> None:
    class Broken(HttpFetcher):
        def fetch_head(self, etag: str | None) -> object:  # type: ignore[override]
            raise OverflowError("Python int too large to convert to SQLite INTEGER")

    def factory(url: str, config: SyncConfig) -> Fetcher:
        return Broken(url, config) if url == simulator.url else HttpFetcher(url, config)

    _both_move_on(simulator, other)
    agent = SyncAgent(two, TEST_SYNC_CONFIG, lambda: simulator.now, fetcher_factory=factory)
    outcomes = _by_issuer(agent.sync_once())
    assert outcomes["msrt"].outcome == "failed"
    assert "OverflowError" in (outcomes["msrt"].error or "")
    assert outcomes["azad"].outcome == "updated"
    with Replica.open(two) as replica:
        assert replica.history(issuer="msrt")[0].outcome == "failed"

    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,))
    runner.start()
    try:
        for _ in range(50):
            with Replica.open(two) as replica:
                if len(replica.history(issuer="msrt")) >= 3:
                    break
            stop.wait(0.1)
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive(), "the daemon stopped on request, not on the exception"


def test_a_trickling_mirror_delays_only_its_own_issuer(
    simulator: FeedSimulator, other: FeedSimulator, tmp_path: Path
) -> None:
    other.add_records(12)
    simulator.add_records(6)
    other.publish()
    simulator.publish()
    datadir = make_box(tmp_path / "trickle", simulator, other)
    # azad (synced first in issuer order) trickles 64 bytes every 40 ms: just above a 1 KiB/s minimum.
    other.faults.drip["(segments|snapshots)/"] = 0.04
    config = SyncConfig(**{**vars(TEST_SYNC_CONFIG), "min_rate": 1024, "rate_grace": 1.0})
    agent = SyncAgent(datadir, config, lambda: simulator.now)
    outcomes: list[SyncOutcome] = []
    syncing = threading.Thread(target=lambda: outcomes.extend(agent.sync_once()))
    started = time.monotonic()
    syncing.start()
    try:
        while not _replica_matches(datadir, simulator):
            assert time.monotonic() - started < 5, "the fast issuer waited for the slow one"
            time.sleep(0.05)
        assert syncing.is_alive(), "the slow issuer is still trickling"
        assert _fresh(datadir, "msrt", simulator.now)
    finally:
        syncing.join(timeout=120)
    assert not syncing.is_alive()
    assert _by_issuer(outcomes)["msrt"].outcome == "updated"
    assert _by_issuer(outcomes)["azad"].outcome == "updated", "a slow but live mirror still gets there"
    assert _replica_matches(datadir, other)


def test_a_download_is_cut_off_at_its_time_budget(
    simulator: FeedSimulator, other: FeedSimulator, tmp_path: Path
) -> None:
    simulator.add_records(60)
    other.add_records(6)
    simulator.publish()
    other.publish()
    datadir = make_box(tmp_path / "budget", simulator, other)
    simulator.faults.drip["(segments|snapshots)/"] = 0.05
    config = SyncConfig(**{**vars(TEST_SYNC_CONFIG), "object_time_base": 0.5, "min_rate": 100_000})
    outcomes = _by_issuer(SyncAgent(datadir, config, lambda: simulator.now).sync_once())
    assert outcomes["msrt"].outcome == "failed"
    assert "time budget" in (outcomes["msrt"].error or "")
    assert outcomes["azad"].outcome == "updated"
    assert _replica_matches(datadir, other)


def test_the_bundle_channel_is_signed_into_the_bundles_head(simulator: FeedSimulator, tmp_path: Path) -> None:
    bundle = tmp_path / "b.sehat"
    head = Publisher(simulator.registry).write_bundle(bundle, simulator.now)
    assert head.channel == BUNDLE_CHANNEL
    assert head.expires - head.issued_at == timedelta(days=35)


def test_the_threat_table_names_tests_that_exist() -> None:
    protocol = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")
    table = protocol.split("### 8.3", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "`tests/" in line]
    assert len(rows) >= 9
    for row in rows:
        current = ""
        for reference in re.findall(r"`((?:tests/[\w/]+\.py)?(?:::\w+)?)`", row):
            path, _, name = reference.partition("::")
            current = path or current
            source = (Path(__file__).parent.parent / current).read_text(encoding="utf-8")
            assert not name or f"def {name}(" in source, reference
