"""A box follows a registry of 100,000 records through deltas; its status digest equals the registry's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.datadir import DataDir
from sehat.cli import cli
from tests.conftest import make_box
from tests.support.simulator import FeedSimulator


def status_digest(datadir: DataDir) -> tuple[int, str, int]:
    result = CliRunner().invoke(cli, ["status", str(datadir.path), "--json"])
    assert result.exit_code == 0, result.output
    (issuer,) = json.loads(result.stdout)["issuers"]
    return issuer["seq"], issuer["digest"], issuer["records"]


def registry_digest(simulator: FeedSimulator) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["registry", "digest", str(simulator.registry.directory), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    return body["seq"], body["digest"]


def sync(datadir: DataDir) -> None:
    result = CliRunner().invoke(cli, ["sync", "once", str(datadir.path)])
    assert result.exit_code == 0, result.output
    assert "updated" in result.output


@pytest.mark.slow
def test_a_hundred_thousand_records_then_deltas_keep_status_equal_to_the_registry(
    simulator: FeedSimulator, tmp_path: Path
) -> None:
    simulator.now = datetime.now(UTC)
    simulator.add_records(100_000)
    simulator.publish()
    datadir = make_box(tmp_path / "box", simulator)

    sync(datadir)
    seq, digest, records = status_digest(datadir)
    assert (seq, digest) == registry_digest(simulator)
    assert records == 100_000

    for _ in range(2):
        simulator.advance(timedelta(seconds=1))
        simulator.revoke(500)
        simulator.add_superseded_pairs(100)
        simulator.publish()
        sync(datadir)
        assert status_digest(datadir)[:2] == registry_digest(simulator)
