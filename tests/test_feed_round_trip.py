"""A reader that trusts only the pinned root reconstructs exactly the registry's records."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from registry.publisher import Publisher
from registry.registry import Registry
from tests.conftest import NOW, graduates_csv
from tests.support.feed_reader import FeedReader
from verifier.sealing import derive_record_keys


def _pairs(data: bytes, codes: list[str]) -> list[tuple[str, str]]:
    """(provisional, diploma) code pairs of the same holder, as the generator emits them."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    return [
        (codes[index], codes[index + 1])
        for index in range(len(rows) - 1)
        if rows[index]["document_type"] == "provisional"
        and rows[index + 1]["document_type"] == "diploma"
        and rows[index]["national_id"] == rows[index + 1]["national_id"]
    ]


@pytest.mark.slow
def test_ten_thousand_records_with_revocations_and_supersessions_round_trip(
    make_registry: Callable[..., Registry], publish: Callable[..., Path]
) -> None:
    registry = make_registry()
    data = graduates_csv(10_000)
    codes = [code for _, code in registry.import_csv(data, NOW)]
    feed_dir = publish(registry)
    reader = FeedReader(registry.trust_anchor())
    reader.follow_directory(feed_dir, NOW)
    assert (reader.seq, reader.digest()) == registry.digest()[:2]
    assert len(reader.rows) == 10_000

    later = NOW + timedelta(hours=1)
    pairs = _pairs(data, codes)[:50]
    assert len(pairs) == 50
    superseded = {old for old, _ in pairs}
    revoked = [code for code in codes if code not in superseded and all(code != new for _, new in pairs)][:100]
    for code in revoked:
        registry.revoke(code, "صدور اشتباه", later)
    for old, new in pairs:
        registry.supersede(old, new, later)
    publish(registry, later)
    reader.follow_directory(feed_dir, later)

    seq, digest, records = registry.digest()
    assert (reader.seq, reader.digest(), len(reader.rows)) == (seq, digest, records)
    assert reader.applied_objects[-1].startswith("segment"), "the second sync is a delta, not a snapshot"

    def status_of(code: str) -> str:
        keys = derive_record_keys(code, registry.issuer, registry.profile.kdf)
        return reader.payload(keys.lookup_id, keys).status

    assert {status_of(code) for code in revoked} == {"revoked"}
    assert {status_of(old) for old, _ in pairs} == {"superseded"}
    assert status_of(codes[-1]) in {"valid", "revoked", "superseded"}


def test_a_new_reader_bootstraps_from_the_snapshot_and_follows_deltas(
    make_registry: Callable[..., Registry], publish: Callable[..., Path]
) -> None:
    registry = make_registry(records=40)
    feed_dir = publish(registry)
    registry.import_csv(graduates_csv(5, seed=99), NOW)
    publish(registry)

    newcomer = FeedReader(registry.trust_anchor())
    newcomer.follow_directory(feed_dir, NOW)

    assert newcomer.applied_objects[0].startswith("snapshot")
    assert (newcomer.seq, newcomer.digest()) == registry.digest()[:2]


def test_a_head_is_re_signed_when_nothing_changed(
    make_registry: Callable[..., Registry], publish: Callable[..., Path]
) -> None:
    registry = make_registry(records=3)
    feed_dir = publish(registry)
    reader = FeedReader(registry.trust_anchor())
    first = reader.follow_directory(feed_dir, NOW)

    publish(registry, NOW + timedelta(hours=1))
    second = reader.follow_directory(feed_dir, NOW + timedelta(hours=1))

    assert second.seq == first.seq
    assert second.expires > first.expires


def test_an_empty_registry_publishes_a_verifiable_empty_feed(
    make_registry: Callable[..., Registry], publish: Callable[..., Path]
) -> None:
    registry = make_registry()
    reader = FeedReader(registry.trust_anchor())
    head = reader.follow_directory(publish(registry), NOW)
    assert (head.seq, head.records, reader.rows) == (0, 0, {})


def test_a_bundle_since_a_seq_carries_only_the_deltas(
    make_registry: Callable[..., Registry], publish: Callable[..., Path], tmp_path: Path
) -> None:
    registry = make_registry(records=30)
    reader = FeedReader(registry.trust_anchor())
    reader.follow_directory(publish(registry), NOW)
    registry.revoke(registry.store.connection.execute("SELECT code FROM records LIMIT 1").fetchone()[0], "x", NOW)

    bundle = tmp_path / "delta.sehat"
    Publisher(registry).write_bundle(bundle, NOW, since_seq=reader.seq)
    reader.follow_bundle(bundle, NOW)

    assert reader.applied_objects[-1] == f"segment {reader.seq}–{reader.seq}"
    assert (reader.seq, reader.digest()) == registry.digest()[:2]


def test_a_full_bundle_bootstraps_a_new_reader(make_registry: Callable[..., Registry], tmp_path: Path) -> None:
    registry = make_registry(records=25)
    bundle = tmp_path / "full.sehat"
    Publisher(registry).write_bundle(bundle, NOW)

    reader = FeedReader(registry.trust_anchor())
    head = reader.follow_bundle(bundle, NOW + timedelta(days=30))

    assert head.expires - head.issued_at == timedelta(days=35)
    assert (reader.seq, reader.digest()) == registry.digest()[:2]
