"""The feed server behaves like the static servers and CDNs boxes rely on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from registry.feed_server import create_feed_app
from registry.registry import Registry
from tests.support.servers import serving


@pytest.fixture
def feed(make_registry: Callable[..., Registry], publish: Callable[..., Path]) -> Iterator[tuple[str, Path]]:
    feed_dir = publish(make_registry(records=5))
    with serving(create_feed_app(feed_dir)) as base_url:
        yield base_url, feed_dir


def _object(feed_dir: Path) -> Path:
    return next((feed_dir / "snapshots").iterdir())


def test_the_head_has_a_short_cache_lifetime(feed: tuple[str, Path]) -> None:
    base_url, feed_dir = feed
    response = requests.get(f"{base_url}/head.json", timeout=10)
    assert response.status_code == 200
    assert response.content == (feed_dir / "head.json").read_bytes()
    assert "max-age=60" in response.headers["Cache-Control"]


def test_objects_are_immutable_with_their_hash_as_etag(feed: tuple[str, Path]) -> None:
    base_url, feed_dir = feed
    path = _object(feed_dir)
    response = requests.get(f"{base_url}/snapshots/{path.name}", timeout=10)
    assert response.content == path.read_bytes()
    assert "immutable" in response.headers["Cache-Control"]
    assert response.headers["ETag"] == f'"{path.stem}"'


def test_a_conditional_request_for_an_unchanged_object_gets_304(feed: tuple[str, Path]) -> None:
    base_url, feed_dir = feed
    path = _object(feed_dir)
    response = requests.get(
        f"{base_url}/snapshots/{path.name}", headers={"If-None-Match": f'"{path.stem}"'}, timeout=10
    )
    assert response.status_code == 304
    assert response.content == b""


def test_a_range_request_resumes_a_download(feed: tuple[str, Path]) -> None:
    base_url, feed_dir = feed
    path = _object(feed_dir)
    response = requests.get(f"{base_url}/snapshots/{path.name}", headers={"Range": "bytes=100-"}, timeout=10)
    assert response.status_code == 206
    assert response.content == path.read_bytes()[100:]


@pytest.mark.parametrize("path", ["../registry.db", "segments/x.seg", "etc/passwd", "snapshots/"])
def test_nothing_but_the_head_and_content_addresses_is_served(feed: tuple[str, Path], path: str) -> None:
    base_url, _ = feed
    assert requests.get(f"{base_url}/{path}", timeout=10).status_code == 404
