"""Every way a feed can be wrong is refused, with an error that names the object at fault."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.publisher import Publisher
from registry.registry import Registry
from tests.conftest import NOW, graduates_csv, root_key_of
from tests.support.feed_reader import FeedReader
from verifier.canonical import canonical_json
from verifier.errors import (
    ChainGapError,
    ExpiredHeadError,
    FeedError,
    HashMismatchError,
    LengthMismatchError,
    MalformedObjectError,
    ReplayedHeadError,
    UnknownKeyError,
    WrongIssuerError,
)
from verifier.head import verify_head
from verifier.objects import HEAD_PATH
from verifier.signing import TrustAnchor, make_key_certificate, public_key_bytes, sign_envelope


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


@pytest.fixture
def small_feed(make_registry: Callable[..., Registry], publish: Callable[..., Path]) -> tuple[Registry, Path]:
    registry = make_registry(records=4)
    return registry, publish(registry)


def test_flipping_any_byte_of_a_head_is_refused(small_feed: tuple[Registry, Path]) -> None:
    registry, feed_dir = small_feed
    head = (feed_dir / HEAD_PATH).read_bytes()
    anchor = registry.trust_anchor()
    for position in range(len(head)):
        with pytest.raises(FeedError) as caught:
            verify_head(_flip(head, position), anchor, NOW)
        assert caught.value.object_name in ("head", "signing key certificate"), position


@pytest.mark.parametrize("kind", ["segments", "snapshots"])
def test_flipping_any_byte_of_an_object_is_refused_naming_it(small_feed: tuple[Registry, Path], kind: str) -> None:
    registry, feed_dir = small_feed
    (path,) = (feed_dir / kind).iterdir()
    original = path.read_bytes()
    for position in range(0, len(original), max(1, len(original) // 300)):
        path.write_bytes(_flip(original, position))
        reader = FeedReader(registry.trust_anchor())
        if kind == "segments":
            # A new reader would take the snapshot; make it take the segment.
            (feed_dir / "snapshots").rename(feed_dir / "hidden")
        with pytest.raises(FeedError) as caught:
            _follow_via(reader, feed_dir, kind)
        if kind == "segments":
            (feed_dir / "hidden").rename(feed_dir / "snapshots")
        assert isinstance(caught.value, HashMismatchError)
        assert caught.value.object_name.startswith(kind[:-1]), caught.value.object_name
        assert reader.rows == {}
    path.write_bytes(original)


def _follow_via(reader: FeedReader, feed_dir: Path, kind: str) -> None:
    """Follow the feed, forcing the route through segments when asked."""
    if kind == "segments":
        head = verify_head((feed_dir / HEAD_PATH).read_bytes(), reader.anchor, NOW)
        only_segments = dataclasses.replace(head, snapshot=None)
        reader._apply(only_segments, lambda ref: (feed_dir / ref.path).read_bytes())
    else:
        reader.follow_directory(feed_dir, NOW)


def test_a_truncated_object_is_refused_as_a_length_mismatch(small_feed: tuple[Registry, Path]) -> None:
    registry, feed_dir = small_feed
    (path,) = (feed_dir / "snapshots").iterdir()
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(LengthMismatchError, match="snapshot"):
        FeedReader(registry.trust_anchor()).follow_directory(feed_dir, NOW)


def test_an_oversized_object_is_refused_as_a_length_mismatch(small_feed: tuple[Registry, Path]) -> None:
    registry, feed_dir = small_feed
    (path,) = (feed_dir / "snapshots").iterdir()
    path.write_bytes(path.read_bytes() + b"x" * 1000)
    with pytest.raises(LengthMismatchError, match="snapshot"):
        FeedReader(registry.trust_anchor()).follow_directory(feed_dir, NOW)


def test_a_head_signed_by_an_unknown_key_is_refused(small_feed: tuple[Registry, Path]) -> None:
    registry, feed_dir = small_feed
    envelope = json.loads((feed_dir / HEAD_PATH).read_bytes())
    forged = canonical_json(sign_envelope(envelope["signed"], Ed25519PrivateKey.generate()))
    with pytest.raises(UnknownKeyError) as caught:
        verify_head(forged, registry.trust_anchor(), NOW)
    assert caught.value.object_name == "head"


def test_a_signing_key_not_certified_by_the_pinned_root_is_refused(small_feed: tuple[Registry, Path]) -> None:
    registry, feed_dir = small_feed
    envelope = json.loads((feed_dir / HEAD_PATH).read_bytes())
    rogue_root, rogue_signer = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signed = dict(envelope["signed"])
    signed["signing_key"] = make_key_certificate(registry.issuer, public_key_bytes(rogue_signer), 9, NOW, rogue_root)
    forged = canonical_json(sign_envelope(signed, rogue_signer))
    with pytest.raises(UnknownKeyError) as caught:
        verify_head(forged, registry.trust_anchor(), NOW)
    assert caught.value.object_name == "signing key certificate"


def test_a_head_of_another_issuer_is_refused(
    make_registry: Callable[..., Registry], publish: Callable[..., Path]
) -> None:
    ours, theirs = make_registry("ours"), make_registry("theirs")
    head = (publish(theirs) / HEAD_PATH).read_bytes()
    with pytest.raises(WrongIssuerError):
        verify_head(head, ours.trust_anchor(), NOW)


def test_an_expired_head_is_refused(small_feed: tuple[Registry, Path]) -> None:
    registry, feed_dir = small_feed
    head = (feed_dir / HEAD_PATH).read_bytes()
    with pytest.raises(ExpiredHeadError, match="expired"):
        verify_head(head, registry.trust_anchor(), NOW + timedelta(hours=48))


def test_an_older_head_is_refused_after_a_newer_one(
    make_registry: Callable[..., Registry], publish: Callable[..., Path]
) -> None:
    registry = make_registry(records=3)
    feed_dir = publish(registry)
    old_head = (feed_dir / HEAD_PATH).read_bytes()
    registry.import_csv(graduates_csv(1, seed=4242), NOW)
    publish(registry, NOW + timedelta(minutes=5))
    reader = FeedReader(registry.trust_anchor())
    reader.follow_directory(feed_dir, NOW + timedelta(minutes=5))

    with pytest.raises(ReplayedHeadError):
        verify_head(old_head, reader.anchor, NOW + timedelta(minutes=6), reader.accepted)


def test_a_re_signed_head_from_before_the_accepted_one_is_refused(
    make_registry: Callable[..., Registry], publish: Callable[..., Path]
) -> None:
    registry = make_registry(records=3)
    feed_dir = publish(registry)
    early = (feed_dir / HEAD_PATH).read_bytes()
    publish(registry, NOW + timedelta(hours=1))
    reader = FeedReader(registry.trust_anchor())
    reader.follow_directory(feed_dir, NOW + timedelta(hours=1))

    with pytest.raises(ReplayedHeadError, match="issued before"):
        verify_head(early, reader.anchor, NOW + timedelta(hours=1), reader.accepted)


def test_a_retired_signing_key_is_refused_after_rotation(
    make_registry: Callable[..., Registry], publish: Callable[..., Path]
) -> None:
    registry = make_registry(records=3)
    feed_dir = publish(registry)
    before_rotation = (feed_dir / HEAD_PATH).read_bytes()
    registry.rotate_signing_key(NOW, root_key_of(registry))
    reader = FeedReader(registry.trust_anchor())
    head = reader.follow_directory(publish(registry, NOW + timedelta(minutes=1)), NOW + timedelta(minutes=1))
    assert head.key_version == 2

    with pytest.raises(UnknownKeyError, match="retired"):
        verify_head(before_rotation, reader.anchor, NOW + timedelta(minutes=2), reader.accepted)


def test_a_forked_history_at_the_same_seq_is_refused(
    make_registry: Callable[..., Registry], publish: Callable[..., Path], tmp_path: Path
) -> None:
    registry = make_registry(records=3)
    reader = FeedReader(registry.trust_anchor())
    reader.follow_directory(publish(registry), NOW)
    envelope = json.loads((tmp_path / f"feed-{registry.issuer}" / HEAD_PATH).read_bytes())
    signed = dict(envelope["signed"], chain="0" * 64, segments=[], issued_at="2026-11-23T09:30:00Z")
    signed["snapshot"] = dict(signed["snapshot"], chain="0" * 64)
    forged = canonical_json(sign_envelope(signed, registry.signing_key()))
    with pytest.raises(ChainGapError, match="different history"):
        verify_head(forged, reader.anchor, NOW, reader.accepted)


def test_a_head_listing_a_path_outside_its_content_address_is_refused(small_feed: tuple[Registry, Path]) -> None:
    registry, feed_dir = small_feed
    envelope = json.loads((feed_dir / HEAD_PATH).read_bytes())
    signed = dict(envelope["signed"])
    chunk = dict(signed["snapshot"]["chunks"][0], path="../../etc/passwd")
    signed["snapshot"] = dict(signed["snapshot"], chunks=[chunk])
    forged = canonical_json(sign_envelope(signed, registry.signing_key()))
    with pytest.raises(MalformedObjectError, match="content address"):
        verify_head(forged, registry.trust_anchor(), NOW)


def test_a_head_larger_than_the_limit_is_refused_before_parsing(small_feed: tuple[Registry, Path]) -> None:
    registry, _ = small_feed
    with pytest.raises(MalformedObjectError, match="larger than"):
        verify_head(b" " * (2 << 20), registry.trust_anchor(), NOW)


def test_a_trust_anchor_round_trips_through_its_json(small_feed: tuple[Registry, Path]) -> None:
    registry, _ = small_feed
    anchor = registry.trust_anchor()
    assert TrustAnchor.from_bytes(json.dumps(anchor.to_dict()).encode()) == anchor


def test_a_random_sample_of_bundle_bytes_flipped_is_always_refused(
    small_feed: tuple[Registry, Path], tmp_path: Path
) -> None:
    registry, _ = small_feed
    bundle = tmp_path / "b.sehat"
    Publisher(registry).write_bundle(bundle, NOW)
    original = bundle.read_bytes()
    positions = sorted(random.Random(5).sample(range(len(original)), min(400, len(original))))
    for position in [*range(120), *positions, *range(len(original) - 40, len(original))]:
        bundle.write_bytes(_flip(original, position))
        with pytest.raises(FeedError):
            FeedReader(registry.trust_anchor()).follow_bundle(bundle, NOW)


def test_a_truncated_bundle_is_refused(small_feed: tuple[Registry, Path], tmp_path: Path) -> None:
    registry, _ = small_feed
    bundle = tmp_path / "b.sehat"
    Publisher(registry).write_bundle(bundle, NOW)
    bundle.write_bytes(bundle.read_bytes()[:-30])
    with pytest.raises(MalformedObjectError) as caught:
        FeedReader(registry.trust_anchor()).follow_bundle(bundle, NOW)
    assert caught.value.object_name == "bundle"


def test_flipping_every_byte_of_a_small_bundle_is_refused(
    make_registry: Callable[..., Registry], tmp_path: Path
) -> None:
    registry = make_registry(records=1)
    bundle = tmp_path / "one.sehat"
    Publisher(registry).write_bundle(bundle, NOW)
    original = bundle.read_bytes()
    for position in range(len(original)):
        bundle.write_bytes(_flip(original, position))
        with pytest.raises(FeedError):
            FeedReader(registry.trust_anchor()).follow_bundle(bundle, NOW)
