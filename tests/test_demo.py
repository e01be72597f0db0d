"""``sehat demo`` runs the whole box: its printed codes verify as printed, and it stops cleanly."""

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

from tests.support.servers import free_port
from verifier.head import verify_head
from verifier.signing import TrustAnchor


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
def test_the_demo_verifies_its_three_codes_and_stops_cleanly(stop_with: signal.Signals) -> None:
    port, feed_port = free_port(), free_port()
    command = [sys.executable, "-m", "sehat", "demo", "--port", str(port), "--feed-port", str(feed_port)]
    with subprocess.Popen(
        [*command, "--kdf-cost", "4"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            output = _wait_for_line(process, r"Press Ctrl\+C", timeout=120)
            codes = dict(re.findall(r"^\s+(valid|revoked|superseded)\s+(\d{20})$", output, re.MULTILINE))
            assert set(codes) == {"valid", "revoked", "superseded"}
            assert output.count("curl -s -X POST") == 3
            base = f"http://127.0.0.1:{port}"
            for expected, code in codes.items():
                verdict = requests.post(f"{base}/api/v1/verify", json={"code": code}, timeout=30).json()
                assert verdict["status"] == expected
            assert "استعلام" in requests.get(f"{base}/", timeout=30).text

            trust_file = Path(re.search(r"Trust anchor:\s+(\S+)", output).group(1))  # type: ignore[union-attr]
            head = requests.get(f"http://127.0.0.1:{feed_port}/head.json", timeout=10).content
            verified = verify_head(head, TrustAnchor.from_bytes(trust_file.read_bytes()), datetime.now(UTC))
            assert verified.records == 200

            process.send_signal(stop_with)
            assert process.wait(timeout=30) == 0
            assert not trust_file.exists(), "the temporary demo folder is removed on exit"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
