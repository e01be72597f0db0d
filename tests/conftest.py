"""Fixtures and factories shared by the whole suite."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from data.generator import generate_graduates, write_csv
from registry.publisher import Publisher
from registry.registry import Registry
from verifier.sealing import KdfParams

# A fixed "now" keeps heads, expiries and issue dates reproducible.
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# The cheapest sealing cost: tests exercise the derivation, not its price.
FAST_KDF = KdfParams(log2_n=1)


def graduates_csv(count: int, seed: int = 7) -> bytes:
    """A synthetic import file of ``count`` graduates."""
    buffer = io.StringIO()
    write_csv(generate_graduates(count, seed), buffer)
    return buffer.getvalue().encode("utf-8")


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
        registry = Registry.init(tmp_path / f"registry-{issuer}-{len(opened)}", issuer, NOW, **options)  # type: ignore[arg-type]
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
