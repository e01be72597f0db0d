"""Fixtures and factories shared by the whole suite."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from appliance import create_app
from appliance.access import AccessStore
from appliance.datadir import DataDir
from appliance.replica import Replica
from appliance.store import close_stores
from data.generator import generate_graduates, write_csv
from registry.publisher import Publisher
from registry.registry import Registry
from sync_agent.agent import SyncAgent
from sync_agent.config import SyncConfig
from verifier.sealing import KdfParams

# A fixed "now" keeps heads, expiries and issue dates reproducible.
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# The cheapest sealing cost: tests exercise the derivation, not its price.
FAST_KDF = KdfParams(log2_n=1)


@pytest.fixture(autouse=True)
def no_machine_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep this machine's /etc/sehat/sehat.toml, if any, out of every test (and its subprocesses)."""
    monkeypatch.setenv("SEHAT_CONFIG", str(tmp_path_factory.getbasetemp() / "no-such-sehat.toml"))


def graduates_csv(count: int, seed: int = 7) -> bytes:
    """A synthetic import file of ``count`` graduates."""
    buffer = io.StringIO()
    write_csv(generate_graduates(count, seed), buffer)
    return buffer.getvalue().encode("utf-8")


def root_key_of(registry: Registry | Path) -> Path:
    """Where test registries keep their root key: beside the registry directory, as if on a stick."""
    directory = registry.directory if isinstance(registry, Registry) else registry
    return directory.parent / f"{directory.name}.root.pem"


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def make_registry(tmp_path: Path) -> Iterator[Callable[..., Registry]]:
    """Factory: ``make_registry(issuer="uni", records=0, **init_overrides)`` → an open registry."""
    opened: list[Registry] = []

    def factory(issuer: str = "testuni", records: int = 0, **overrides: object) -> Registry:
        options: dict[str, object] = {"name_fa": "دانشگاه آزمایشی", "name_en": "Test University", "kdf": FAST_KDF}
        options.update(overrides)
        directory = tmp_path / f"registry-{issuer}-{len(opened)}"
        options.setdefault("root_key_path", root_key_of(directory))
        registry = Registry.init(directory, issuer, NOW, **options)  # type: ignore[arg-type]
        opened.append(registry)
        if records:
            registry.import_csv(graduates_csv(records), NOW)
        return registry

    yield factory
    for registry in opened:
        registry.close()


@pytest.fixture
def publish(tmp_path: Path) -> Callable[..., Path]:
    """``publish(registry, now=NOW)`` → the feed directory it was published to."""

    def publish_feed(registry: Registry, when: datetime = NOW) -> Path:
        feed_dir = tmp_path / f"feed-{registry.issuer}"
        Publisher(registry).publish(feed_dir, when)
        return feed_dir

    return publish_feed


from tests.support.browser import chromium, playwright_driver  # noqa: E402,F401 - browser fixtures
from tests.support.servers import serving  # noqa: E402
from tests.support.simulator import FeedSimulator  # noqa: E402 - it imports NOW from here
from tests.support.web import PASSWORD  # noqa: E402

# --- the box side: a feed simulator, a box that trusts it, and an agent to sync it ---------------

# Short timeouts and no waiting between retries: outages are simulated, not waited out.
TEST_SYNC_CONFIG = SyncConfig(
    connect_timeout=2.0,
    read_timeout=1.5,
    http_retries=1,
    retry_backoff=0.01,
    retry_jitter=0.01,
    rate_grace=5.0,
    min_rate=1,
)


@pytest.fixture
def simulator(make_registry: Callable[..., Registry], tmp_path: Path) -> Iterator[FeedSimulator]:
    feed = FeedSimulator(make_registry("msrt"), tmp_path / "feed")
    yield feed
    feed.close()


def make_box(directory: Path, *feeds: FeedSimulator) -> DataDir:
    """A box in ``directory`` that trusts each simulator's issuer and pulls from its server."""
    datadir = DataDir(directory)
    anchors = [feed.registry.trust_anchor() for feed in feeds]
    Replica.create(datadir, anchors, {feed.issuer: feed.url for feed in feeds}).close()
    return datadir


@pytest.fixture
def box(tmp_path: Path, simulator: FeedSimulator) -> DataDir:
    return make_box(tmp_path / "box", simulator)


@pytest.fixture
def agent(box: DataDir, simulator: FeedSimulator) -> SyncAgent:
    return SyncAgent(box, TEST_SYNC_CONFIG, clock=lambda: simulator.now)


# --- the box's web app -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCodes:
    """Codes of each kind in a synced box, with the holder's national ID where it matters."""

    valid: str
    valid_national_id: str
    revoked: str
    superseded: str


@pytest.fixture
def synced(simulator: FeedSimulator, box: DataDir, agent: SyncAgent) -> DemoCodes:
    """A box synced with 30 records, one revoked and one provisional certificate superseded."""
    codes = simulator.add_records(30)
    revoked = simulator.revoke(1)[0]
    ((superseded, _),) = simulator.add_superseded_pairs(1)
    simulator.publish()
    (outcome,) = agent.sync_once()
    assert outcome.ok
    valid = next(code for code in codes if code != revoked)
    return DemoCodes(valid, simulator.registry.lookup(valid).national_id, revoked, superseded)


def app_settings(box: DataDir, simulator: FeedSimulator, **overrides: object) -> dict[str, object]:
    settings: dict[str, object] = {
        "datadir": box.path,
        "clock": lambda: simulator.now,
        "anonymous_rate_limit": "1000 per minute",
        "keyed_rate_limit": "5000 per minute",
        # Most tests send files anonymously to check other things; tests/test_file_budget.py
        # checks the box's own defaults for files.
        "anonymous_bulk_max_rows": 200_000,
        "anonymous_file_rate_limit": "1000000 per hour",
        "bulk_rate_limit": "1000000 per hour",
    }
    settings.update(overrides)
    return settings


@pytest.fixture
def make_app(box: DataDir, simulator: FeedSimulator) -> Iterator[Callable[..., Flask]]:
    """Factory: ``make_app(**settings)`` → the box's app on the synced replica; closed afterwards."""
    apps: list[Flask] = []

    def factory(**overrides: object) -> Flask:
        app = create_app(app_settings(box, simulator, **overrides))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        close_stores(app)


@pytest.fixture
def app(make_app: Callable[..., Flask], synced: DemoCodes) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def live_box(app: Flask) -> Iterator[str]:
    """The box's app served by a real waitress server on 127.0.0.1; yields its base URL."""
    with serving(app) as base_url:
        yield base_url


@pytest.fixture
def operator(box: DataDir, simulator: FeedSimulator) -> str:
    """An operator account on the box; its password is ``tests.support.web.PASSWORD``."""
    with AccessStore.open(box) as access:
        access.add_user("admin", PASSWORD, simulator.now)
    return "admin"
