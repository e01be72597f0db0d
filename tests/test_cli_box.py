"""``sehat appliance init``, ``sehat sync …`` and ``sehat status`` as a box operator uses them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from registry.publisher import Publisher
from sehat.cli import cli
from storage.keyfile import create_key_file
from tests.support.simulator import FeedSimulator


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def live(simulator: FeedSimulator) -> FeedSimulator:
    """A simulator on the real clock, since the CLI judges freshness by it."""
    simulator.now = datetime.now(UTC)
    simulator.add_records(12)
    simulator.publish()
    return simulator


@pytest.fixture
def datadir(live: FeedSimulator, tmp_path: Path) -> Path:
    directory = tmp_path / "box"
    trust = live.trust_file(tmp_path)
    result = run("appliance", "init", str(directory), "--trust", str(trust), "--feed", f"msrt={live.url}")
    assert result.exit_code == 0, result.output
    return directory


def test_init_then_sync_once_brings_the_box_up_to_date(datadir: Path, live: FeedSimulator) -> None:
    result = run("sync", "once", str(datadir))
    assert result.exit_code == 0
    assert "msrt: updated seq 0 → 12" in result.output


def test_status_json_is_the_contract_shape(datadir: Path, live: FeedSimulator) -> None:
    run("sync", "once", str(datadir))
    body = json.loads(run("status", str(datadir), "--json").stdout)
    (issuer,) = body["issuers"]
    contract = {"issuer", "seq", "digest", "records", "as_of", "expires", "stale", "last_attempt", "last_error"}
    assert contract <= set(issuer)
    assert (issuer["issuer"], issuer["seq"], issuer["records"], issuer["stale"]) == ("msrt", 12, 12, False)
    assert issuer["last_error"] is None
    assert body["clock"]["behind"] is False


def test_a_never_synced_box_is_stale(datadir: Path) -> None:
    (issuer,) = json.loads(run("status", str(datadir), "--json").stdout)["issuers"]
    assert (issuer["seq"], issuer["stale"], issuer["as_of"]) == (0, True, None)


def test_status_text_lists_freshness_and_history(datadir: Path, live: FeedSimulator) -> None:
    run("sync", "once", str(datadir))
    output = run("status", str(datadir)).output
    assert "msrt: seq 12, 12 records, fresh" in output
    assert "Recent syncs:" in output and "updated" in output


def test_a_failed_sync_exits_non_zero_with_its_reason(datadir: Path, live: FeedSimulator) -> None:
    live.faults.status["head.json"] = [503] * 10
    result = run("sync", "once", str(datadir))
    assert result.exit_code == 1
    assert "msrt: failed — " in result.output and "503" in result.output
    (issuer,) = json.loads(run("status", str(datadir), "--json").stdout)["issuers"]
    assert "503" in issuer["last_error"]


def test_sync_once_can_set_the_feed_url(datadir: Path, live: FeedSimulator, tmp_path: Path) -> None:
    trust = live.trust_file(tmp_path)
    bare = tmp_path / "bare"
    assert run("appliance", "init", str(bare), "--trust", str(trust)).exit_code == 0
    assert "no feed URL" in run("sync", "once", str(bare)).output
    assert run("sync", "once", str(bare), "--feed", live.url).exit_code == 0
    assert run("sync", "once", str(bare)).exit_code == 0, "the URL was remembered"


def test_sync_import_applies_a_usb_bundle(datadir: Path, live: FeedSimulator, tmp_path: Path) -> None:
    bundle = tmp_path / "usb.sehat"
    Publisher(live.registry).write_bundle(bundle, live.now)
    result = run("sync", "import", str(datadir), str(bundle))
    assert result.exit_code == 0, result.output
    assert "updated" in result.output


def test_a_bundle_of_an_untrusted_issuer_is_refused(datadir: Path, make_registry: object, tmp_path: Path) -> None:
    other = make_registry("azad", records=3)  # type: ignore[operator]
    bundle = tmp_path / "azad.sehat"
    Publisher(other).write_bundle(bundle, datetime.now(UTC))
    result = run("sync", "import", str(datadir), str(bundle))
    assert result.exit_code == 1
    assert "does not trust" in result.output


def test_a_wrong_key_is_one_clear_line(datadir: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.key"
    create_key_file(wrong)
    result = run("status", str(datadir), "--key-file", str(wrong))
    assert result.exit_code == 1
    assert result.output.startswith("Error: The key does not open")
    assert result.output.count("\n") == 1


def test_init_twice_is_refused(datadir: Path, live: FeedSimulator, tmp_path: Path) -> None:
    result = run("appliance", "init", str(datadir), "--trust", str(live.trust_file(tmp_path)))
    assert result.exit_code == 1
    assert "already holds a replica" in result.output


def test_init_refuses_a_file_that_is_not_a_trust_anchor(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text("{}")
    result = run("appliance", "init", str(tmp_path / "x"), "--trust", str(bogus))
    assert result.exit_code == 1
    assert "type is not sehat/trust-anchor" in result.output


def test_a_bare_feed_url_needs_a_single_issuer(tmp_path: Path, live: FeedSimulator, make_registry: object) -> None:
    other = make_registry("azad")  # type: ignore[operator]
    other_trust = tmp_path / "azad.json"
    other_trust.write_text(json.dumps(other.trust_anchor().to_dict()))
    result = run(
        "appliance", "init", str(tmp_path / "two"), "--trust", str(live.trust_file(tmp_path)),
        "--trust", str(other_trust), "--feed", live.url,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "ISSUER=URL" in result.output


def test_status_reports_a_clock_behind_the_newest_verified_head(datadir: Path, live: FeedSimulator) -> None:
    from datetime import timedelta

    live.advance(timedelta(hours=12))  # the registry's clock is ahead of this machine's (within the skew allowed)
    live.publish()
    run("sync", "once", str(datadir))
    body = json.loads(run("status", str(datadir), "--json").stdout)
    assert body["clock"]["behind"] is True
    assert "WARNING: the system clock" in run("status", str(datadir)).output
