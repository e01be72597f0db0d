"""A 100,000-row bulk file verifies end to end through the real server, in bounded memory."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
import requests

from appliance.audit import AuditLog
from appliance.datadir import DataDir
from sync_agent.agent import SyncAgent
from tests.conftest import TEST_SYNC_CONFIG
from tests.support.servers import free_port
from tests.support.simulator import FeedSimulator

ROWS = 100_000
# A server that held the file or its answers in memory would grow by far more than this:
# 100,000 verdict rows are ~25 MB of CSV and several times that as Python objects.
MAX_GROWTH_BYTES = 40 << 20


@pytest.fixture
def served_box(simulator: FeedSimulator, box: DataDir) -> Iterator[tuple[str, psutil.Process]]:
    simulator.now = datetime.now(UTC)  # the server runs on the real clock
    simulator.add_records(500)
    simulator.publish()
    SyncAgent(box, TEST_SYNC_CONFIG, clock=lambda: simulator.now).sync_once()
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-m", "sehat", "appliance", "serve", str(box.path), "--port", str(port), "--threads", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Memory is the point here, not the file quotas (tests/test_file_budget.py checks those).
        env={
            **os.environ,
            "SEHAT_ANONYMOUS_BULK_MAX_ROWS": "200000",
            "SEHAT_ANONYMOUS_FILE_RATE_LIMIT": "1000000 per hour",
        },
    ) as server:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        try:
            yield base, psutil.Process(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _peak_rss(process: psutil.Process) -> int:
    """The process's high-water mark of resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


@pytest.mark.slow
def test_a_hundred_thousand_rows_verify_in_bounded_memory(
    served_box: tuple[str, psutil.Process], simulator: FeedSimulator, box: DataDir
) -> None:
    base, process = served_box
    codes = simulator.codes()[:400]
    lines = ["code,national_id,note"]
    for row in range(ROWS):
        code = codes[row % len(codes)] if row % 10 else f"{row:020d}"
        lines.append(f"{code},,row {row}")
    body = ("\n".join(lines) + "\n").encode("utf-8")
    warm = requests.post(f"{base}/api/v1/verify/bulk", data=b"code\n" + codes[0].encode() + b"\n", timeout=30)
    assert warm.status_code == 200
    before = _peak_rss(process)

    answered = 0
    statuses: dict[str, int] = {}
    with requests.post(
        f"{base}/api/v1/verify/bulk",
        data=io.BytesIO(body),
        headers={"Content-Type": "text/csv"},
        stream=True,
        timeout=600,
    ) as response:
        assert response.status_code == 200
        for index, line in enumerate(response.iter_lines(decode_unicode=True)):
            if index == 0:
                assert line.startswith("line,code,status")
                continue
            if not line:  # iter_lines yields an empty piece when a chunk ends between \r and \n
                continue
            status = line.split(",")[2]
            statuses[status] = statuses.get(status, 0) + 1
            answered += 1

    growth = _peak_rss(process) - before
    assert answered == ROWS
    assert statuses["not_found"] == ROWS // 10
    assert growth < MAX_GROWTH_BYTES, f"the server grew by {growth >> 20} MiB"
    with AuditLog.open(box) as audit:
        assert audit.count() == ROWS + 1
