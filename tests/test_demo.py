"""``sehat demo`` starts, serves a verifiable feed, and stops cleanly on a signal."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

from tests.support.servers import free_port
from verifier.head import verify_head
from verifier.signing import TrustAnchor


def _wait_for_line(process: subprocess.Popen[str], pattern: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"demo did not print {pattern!r}; got: {''.join(lines)}")


def test_demo_serves_a_signed_feed_and_stops_on_sigterm() -> None:
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-m", "sehat", "demo", "--feed-port", str(port), "--kdf-cost", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        _check_running_demo(process, port)


def _check_running_demo(process: subprocess.Popen[str], port: int) -> None:
    try:
        lines = _wait_for_line(process, r"Press Ctrl\+C", timeout=120)
        output = "".join(lines)
        trust_file = Path(re.search(r"Trust anchor:\s+(\S+)", output).group(1))  # type: ignore[union-attr]
        codes = dict(re.findall(r"^\s+(valid|revoked|superseded)\s+(\d{20})$", output, re.MULTILINE))
        assert set(codes) == {"valid", "revoked", "superseded"}

        head = requests.get(f"http://127.0.0.1:{port}/head.json", timeout=10).content
        verified = verify_head(head, TrustAnchor.from_bytes(trust_file.read_bytes()), datetime.now(UTC))
        assert verified.records == 200
        assert verified.seq == 202

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert not trust_file.exists(), "the temporary demo folder is removed on exit"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
