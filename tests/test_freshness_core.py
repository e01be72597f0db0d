"""The pure core's time rules, on raw bytes: clock floor, judging time, skew, lifetime caps, channels."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from registry.publisher import Publisher
from registry.registry import Registry
from tests.conftest import NOW
from verifier.canonical import canonical_json
from verifier.errors import (
    FutureHeadError,
    MalformedObjectError,
    OverlongHeadError,
    ReplayedHeadError,
    WrongChannelError,
)
from verifier.freshness import check_lifetime, floor_for, is_stale, judging_time
from verifier.head import AcceptedHead, verify_head
from verifier.limits import DEFAULT_LIMITS, FeedLimits
from verifier.signing import sign_envelope

HOUR = timedelta(hours=1)


@pytest.fixture
def registry(make_registry: Callable[..., Registry]) -> Registry:
    return make_registry(records=3)


def _head(
    registry: Registry, issued_at: datetime = NOW, lifetime: timedelta = 48 * HOUR, channel: str = "http"
) -> bytes:
    head_bytes, _ = Publisher(registry).signed_head(issued_at, lifetime, channel)
    return head_bytes


def _resigned(registry: Registry, head: bytes, change: Callable[[dict[str, object]], None]) -> bytes:
    signed = json.loads(head)["signed"]
    change(signed)
    return canonical_json(sign_envelope(signed, registry.signing_key()))


def test_the_judging_time_is_the_later_of_clock_and_floor() -> None:
    assert judging_time(NOW, None) == NOW
    assert judging_time(NOW, NOW + HOUR) == NOW + HOUR
    assert judging_time(NOW + HOUR, NOW) == NOW + HOUR
    assert is_stale(NOW + HOUR, NOW, NOW + HOUR), "a clock set back does not revive a head"
    assert not is_stale(NOW + HOUR, NOW, None)
    assert is_stale(None, NOW, None)


def test_a_retired_keys_floor_does_not_bind_a_newer_keys_heads() -> None:
    assert floor_for(NOW, 1, 1) == NOW
    assert floor_for(NOW, 1, 2) is None


def test_the_skew_check_is_never_skipped_even_with_the_clock_behind_the_floor(registry: Registry) -> None:
    accepted = AcceptedHead(seq=3, chain="0" * 64, issued_at=NOW + 23 * HOUR, key_version=1)
    head = _head(registry, issued_at=NOW + 23 * HOUR + 25 * HOUR)
    with pytest.raises(FutureHeadError):
        verify_head(head, registry.trust_anchor(), NOW - 1000 * HOUR, accepted)


def test_a_head_issued_before_the_floor_of_its_key_is_a_replay(registry: Registry) -> None:
    head = _head(registry)
    anchor = registry.trust_anchor()
    chain = json.loads(head)["signed"]["chain"]
    verify_head(head, anchor, NOW + HOUR, AcceptedHead(seq=3, chain=chain, issued_at=NOW, key_version=1))
    with pytest.raises(ReplayedHeadError):
        verify_head(head, anchor, NOW + HOUR, AcceptedHead(seq=3, chain=chain, issued_at=NOW + HOUR, key_version=1))


@pytest.mark.parametrize(
    ("made_for", "arrived_by", "lifetime", "error"),
    [
        ("http", "http", 7 * 24 * HOUR + timedelta(seconds=1), OverlongHeadError),
        ("bundle", "bundle", 40 * 24 * HOUR + timedelta(seconds=1), OverlongHeadError),
        ("bundle", "http", 35 * 24 * HOUR, WrongChannelError),
        (None, "http", 35 * 24 * HOUR, OverlongHeadError),  # a format-1 bundle head served over HTTP
    ],
)
def test_lifetime_caps_and_channels(
    made_for: str | None, arrived_by: str, lifetime: timedelta, error: type[Exception]
) -> None:
    with pytest.raises(error):
        check_lifetime(NOW, NOW + lifetime, made_for, arrived_by)


@pytest.mark.parametrize(
    ("made_for", "arrived_by", "lifetime"),
    [("http", "http", 7 * 24 * HOUR), ("bundle", "bundle", 40 * 24 * HOUR), ("http", "bundle", 48 * HOUR)],
)
def test_heads_within_their_caps_pass(made_for: str, arrived_by: str, lifetime: timedelta) -> None:
    check_lifetime(NOW, NOW + lifetime, made_for, arrived_by)


def test_the_limits_keep_the_http_cap_below_the_bundle_cap() -> None:
    with pytest.raises(ValueError, match="longer than a bundle head"):
        FeedLimits(max_http_head_lifetime=50 * 24 * HOUR)
    with pytest.raises(ValueError, match="must be positive"):
        FeedLimits(max_clock_skew=timedelta(0))
    assert DEFAULT_LIMITS.max_head_lifetime("bundle") == 40 * 24 * HOUR


def test_a_head_of_protocol_1_is_refused(registry: Registry) -> None:
    def protocol_1(signed: dict[str, object]) -> None:
        del signed["catalogue"]
        signed["format"] = 2

    with pytest.raises(MalformedObjectError, match="known format"):
        verify_head(_resigned(registry, _head(registry), protocol_1), registry.trust_anchor(), NOW, channel="http")


@pytest.mark.parametrize(
    "change",
    [
        lambda signed: signed.update(channel="carrier-pigeon"),
        lambda signed: signed.pop("channel"),
        lambda signed: signed.update(format=4),
        lambda signed: signed.update(issued_at="1999-12-31T23:59:59Z"),
        lambda signed: signed.update(expires="9999-12-31T23:59:59Z"),
        lambda signed: signed.update(seq=2**63),
    ],
    ids=["unknown-channel", "without-channel", "unknown-format", "before-2000", "in-9999", "seq-2^63"],
)
def test_malformed_heads_are_refused(registry: Registry, change: Callable[[dict[str, object]], None]) -> None:
    with pytest.raises(MalformedObjectError):
        verify_head(_resigned(registry, _head(registry), change), registry.trust_anchor(), NOW)
