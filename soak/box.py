"""The real components a check runs against: a registry and its feed over HTTP, a box and its server.

The box is served the way it is in production, by ``sehat appliance serve`` in its own
process (so the soak's own clients do not share its interpreter), and synced by
``sehat sync once`` processes. Both run on the real clock, so the feed is published at
the real time too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from appliance.access import AccessStore
from appliance.datadir import DataDir
from registry.config import RegistryConfig
from registry.registry import Registry
from soak.client import HttpClient
from tests.conftest import make_box, root_key_of
from tests.support.servers import free_port
from tests.support.simulator import FeedSimulator
from verifier.sealing import KdfParams

# The cheapest sealing cost, so the web path (not scrypt) is what the load exercises.
CHEAP_KDF = KdfParams(log2_n=1)
OPERATOR = "admin"
OPERATOR_PASSWORD = "correct horse battery"  # a throwaway box's operator


def feed(directory: Path, issuer: str = "msrt", config: RegistryConfig | None = None) -> FeedSimulator:
    """A fresh registry in ``directory`` publishing, on the real clock, to a feed served over HTTP."""
    registry_dir = directory / f"registry-{issuer}"
    registry = Registry.init(
        registry_dir,
        issuer,
        datetime.now(UTC),
        name_fa="دانشگاه آزمایشی",
        name_en="Soak University",
        kdf=CHEAP_KDF,
        root_key_path=root_key_of(registry_dir),
    )
    simulator = FeedSimulator(registry, directory / f"feed-{issuer}", config)
    simulator.now = datetime.now(UTC)
    return simulator


def publish(simulator: FeedSimulator) -> None:
    """Publish at the real time (the box's sync and freshness checks run on the real clock)."""
    simulator.now = datetime.now(UTC)
    simulator.publish()


def new_box(directory: Path, simulator: FeedSimulator) -> DataDir:
    """A box trusting ``simulator``'s issuer, with an operator account."""
    datadir = make_box(directory, simulator)
    with AccessStore.open(datadir) as access:
        access.add_user(OPERATOR, OPERATOR_PASSWORD, datetime.now(UTC))
    return datadir


def add_key(datadir: DataDir, name: str, *, national_id_checks: bool = False) -> dict[str, str]:
    """A new API key's Authorization header."""
    with AccessStore.open(datadir) as access:
        _, token = access.add_key(name, datetime.now(UTC), national_id_checks=national_id_checks)
    return {"Authorization": f"Bearer {token}"}


def sehat_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "sehat", *arguments]


def sync(datadir: DataDir, timeout: float = 300.0) -> tuple[int, float, str]:
    """Run ``sehat sync once``: its exit code, how long it took, and what it printed."""
    started = time.monotonic()
    done = subprocess.run(
        sehat_command("sync", "once", str(datadir.path)), capture_output=True, text=True, timeout=timeout, check=False
    )
    return done.returncode, time.monotonic() - started, (done.stdout + done.stderr).strip()


@contextmanager
def serving(datadir: DataDir, log: Path, settings: dict[str, str] | None = None) -> Iterator[str]:
    """``sehat appliance serve`` on a free port of 127.0.0.1; yields its base URL once /healthz answers.

    ``settings`` are ``SEHAT_*`` variables without the prefix (``{"anonymous_rate_limit": "…"}``).
    """
    port = free_port()
    environment = dict(os.environ)
    environment.update({f"SEHAT_{name.upper()}": value for name, value in (settings or {}).items()})
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            sehat_command("appliance", "serve", str(datadir.path), "--port", str(port)),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=environment,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, process, log)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    client = HttpClient(base_url, timeout=5, keep_alive=False)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the box's server exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            if client.request("GET", "/healthz").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the box's server did not answer /healthz within 60 s: {log.read_text()[-2000:]}")
