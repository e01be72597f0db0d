"""``sehat demo`` runs the whole box: five issuers' registries and feeds, one box that trusts them
all, printed codes from several issuers that verify as printed, and a clean stop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from appliance.clock import utc_now
from appliance.replica import Replica
from appliance.verification import Verifier
from registry.config import RegistryConfig
from sehat.demo import (
    DEMO_BODIES,
    DemoIssuer,
    build_demo_registries,
    codes_to_try,
    create_demo_box,
    demo_feed_app,
    demo_trust_anchors,
    publish_demo_feeds,
)
from sync_agent.agent import SyncAgent
from tests.conftest import TEST_SYNC_CONFIG
from tests.support.servers import free_port, serving
from verifier.head import verify_head
from verifier.signing import TrustAnchor

FIVE = {"msrt", "behdasht", "azad", "hawzeh", "jz"}


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="module")
def issuers(demo_root: Path) -> list[DemoIssuer]:
    return build_demo_registries(demo_root, kdf_cost=1)


def test_the_demo_builds_five_registries_with_their_own_keys(issuers: list[DemoIssuer]) -> None:
    assert [demo.issuer for demo in issuers] == [body.issuer for body in DEMO_BODIES]
    assert {demo.issuer for demo in issuers} == FIVE
    anchors = demo_trust_anchors(issuers)
    assert [anchor.issuer for anchor in anchors] == [demo.issuer for demo in issuers]
    assert len({anchor.root_public_key for anchor in anchors}) == 5
    assert len({demo.root_key.read_bytes() for demo in issuers}) == 5
    for demo in issuers:
        assert not demo.root_key.resolve().is_relative_to(demo.directory.resolve())
        assert len({demo.codes.valid, demo.codes.revoked, demo.codes.superseded}) == 3
    assert {anchor.name_fa for anchor in anchors} >= {"جامعةالزهرا", "حوزه‌های علمیه"}


def test_one_box_trusts_all_five_and_one_sync_brings_every_issuers_records(
    demo_root: Path, issuers: list[DemoIssuer]
) -> None:
    feeds = demo_root / "feeds"
    publish_demo_feeds(issuers, feeds, RegistryConfig(), datetime.now(UTC))
    anchors = {anchor.issuer: anchor for anchor in demo_trust_anchors(issuers)}
    with serving(demo_feed_app(issuers, feeds)) as feed_base:
        heads = {
            demo.issuer: verify_head(
                requests.get(f"{feed_base}/{demo.issuer}/head.json", timeout=10).content,
                anchors[demo.issuer],
                datetime.now(UTC),
            )
            for demo in issuers
        }
        assert requests.get(f"{feed_base}/head.json", timeout=10).status_code == 404
        datadir = create_demo_box(demo_root / "box", issuers, feed_base)
        outcomes = SyncAgent(datadir, TEST_SYNC_CONFIG).sync_once()
    assert {outcome.issuer for outcome in outcomes} == FIVE
    assert all(outcome.ok for outcome in outcomes), [outcome.describe() for outcome in outcomes]

    with Replica.open(datadir) as replica:
        states = {state.issuer: state for state in replica.issuer_states()}
        assert set(states) == FIVE
        for demo in issuers:
            state, head = states[demo.issuer], heads[demo.issuer]
            assert state.anchor.root_public_key == anchors[demo.issuer].root_public_key
            assert state.seq == head.seq > 0, demo.issuer
            assert state.records == head.records == demo.records, demo.issuer

        tries = codes_to_try(issuers)
        assert len({attempt.issuer.issuer for attempt in tries}) >= 3
        assert {attempt.status for attempt in tries} == {"valid", "revoked", "superseded"}
        verifier = Verifier(replica, utc_now)
        for attempt in tries:
            verdict = verifier.verify(attempt.code).verdict
            assert verdict.status == attempt.status, attempt
            assert verdict.issuer is not None and verdict.issuer.issuer == attempt.issuer.issuer
            assert verdict.issuer.name_en == attempt.issuer.name_en


def _wait_for_line(process: subprocess.Popen[str], pattern: str, timeout: float) -> str:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return "".join(lines)
    raise AssertionError(f"demo did not print {pattern!r}; got: {''.join(lines)}")


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_demo_verifies_its_printed_codes_from_several_issuers_and_stops_cleanly(
    stop_with: signal.Signals,
) -> None:
    port, feed_port = free_port(), free_port()
    command = [sys.executable, "-m", "sehat", "demo", "--port", str(port), "--feed-port", str(feed_port)]
    with subprocess.Popen(
        [*command, "--kdf-cost", "4"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            output = _wait_for_line(process, r"Press Ctrl\+C", timeout=180)
            printed = re.findall(r"^\s+(valid|revoked|superseded)\s+(\d{20})\s+(\w+)\s+(.+)$", output, re.MULTILINE)
            assert {status for status, *_ in printed} == {"valid", "revoked", "superseded"}
            assert len({issuer for _, _, issuer, _ in printed}) >= 3
            assert output.count("curl -s -X POST") == len(printed)
            base = f"http://127.0.0.1:{port}"
            for status, code, issuer, name_en in printed:
                verdict = requests.post(f"{base}/api/v1/verify", json={"code": code}, timeout=30).json()
                assert verdict["status"] == status
                assert verdict["issuer"]["id"] == issuer
                assert verdict["issuer"]["name_en"] == name_en
            assert "استعلام" in requests.get(f"{base}/", timeout=30).text

            feeds = re.findall(r"^\s+(http://\S+/(\w+)/head\.json)\s+(\S+\.trust\.json)$", output, re.MULTILINE)
            assert {issuer for _, issuer, _ in feeds} == FIVE
            for url, issuer, trust_file in feeds:
                assert url.startswith(f"http://127.0.0.1:{feed_port}/")
                anchor = TrustAnchor.from_bytes(Path(trust_file).read_bytes())
                assert anchor.issuer == issuer
                head = verify_head(requests.get(url, timeout=10).content, anchor, datetime.now(UTC))
                assert head.issuer == issuer and head.records > 0
            status = requests.get(f"{base}/api/v1/status", timeout=30).json()
            assert {entry["issuer"] for entry in status["issuers"]} == FIVE

            process.send_signal(stop_with)
            assert process.wait(timeout=30) == 0
            assert not Path(feeds[0][2]).exists(), "the temporary demo folder is removed on exit"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
