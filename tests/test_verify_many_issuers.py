"""A box trusting several issuers pays the memory-hard derivation once per code, not once per issuer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import appliance.verification
from appliance.datadir import DataDir
from appliance.replica import Replica
from appliance.verification import Verifier
from registry.registry import Registry
from sync_agent.agent import SyncAgent
from tests.conftest import NOW, TEST_SYNC_CONFIG, graduates_csv, make_box
from tests.support.simulator import FeedSimulator
from verifier.sealing import KdfParams

FIVE = ("msrt", "behdasht", "azad", "hawzeh", "jz")


@pytest.fixture
def make_feeds(make_registry: Callable[..., Registry], tmp_path: Path) -> Iterator[Callable[..., list[FeedSimulator]]]:
    started: list[FeedSimulator] = []

    def factory(costs: dict[str, int]) -> list[FeedSimulator]:
        for index, (issuer, cost) in enumerate(costs.items()):
            registry = make_registry(issuer, kdf=KdfParams(log2_n=cost))
            registry.import_csv(graduates_csv(6, seed=index + 1), NOW)
            simulator = FeedSimulator(registry, tmp_path / f"feed-{issuer}")
            simulator.publish()
            started.append(simulator)
        return started

    yield factory
    for simulator in started:
        simulator.close()


def synced_box(directory: Path, feeds: list[FeedSimulator]) -> DataDir:
    datadir = make_box(directory, *feeds)
    outcomes = SyncAgent(datadir, TEST_SYNC_CONFIG, clock=lambda: NOW).sync_once()
    assert {outcome.outcome for outcome in outcomes} == {"updated"}
    return datadir


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[KdfParams]:
    """Every memory-hard derivation the verifier makes, by the cost it was made at."""
    made: list[KdfParams] = []
    real = appliance.verification.derive_master

    def counted(code: str, params: KdfParams) -> bytes:
        made.append(params)
        return real(code, params)

    monkeypatch.setattr(appliance.verification, "derive_master", counted)
    return made


def test_five_issuers_at_one_cost_cost_one_derivation_per_code(
    make_feeds: Callable[..., list[FeedSimulator]], tmp_path: Path, derivations: list[KdfParams]
) -> None:
    feeds = make_feeds(dict.fromkeys(FIVE, 1))
    datadir = synced_box(tmp_path / "box", feeds)
    with Replica.open(datadir) as replica:
        verifier = Verifier(replica, lambda: NOW)
        for feed in feeds:
            code = feed.codes()[0]
            outcome = verifier.verify(code)
            assert (outcome.verdict.status, outcome.issuer) == ("valid", feed.issuer)
        assert len(derivations) == len(feeds)
        derivations.clear()
        assert verifier.verify("1" * 20).verdict.status == "not_found"
        assert len(derivations) == 1


def test_issuers_at_two_costs_cost_one_derivation_per_cost(
    make_feeds: Callable[..., list[FeedSimulator]], tmp_path: Path, derivations: list[KdfParams]
) -> None:
    feeds = make_feeds({"msrt": 1, "azad": 1, "jz": 2})
    datadir = synced_box(tmp_path / "box", feeds)
    with Replica.open(datadir) as replica:
        outcome = Verifier(replica, lambda: NOW).verify(feeds[2].codes()[0])
    assert outcome.verdict.status == "valid" and outcome.issuer == "jz"
    assert sorted(params.log2_n for params in derivations) == [1, 2]


def test_each_issuers_record_opens_only_under_its_own_issuer(
    make_feeds: Callable[..., list[FeedSimulator]], tmp_path: Path
) -> None:
    feeds = make_feeds(dict.fromkeys(("msrt", "azad"), 1))
    datadir = synced_box(tmp_path / "box", feeds)
    with Replica.open(datadir) as replica:
        verifier = Verifier(replica, lambda: NOW)
        answers = {verifier.verify(code).issuer for feed in feeds for code in feed.codes()}
    assert answers == {"msrt", "azad"}
