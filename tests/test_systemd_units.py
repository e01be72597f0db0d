"""The shipped units as systemd itself reads them, and the daemons speaking its notify protocol.

``systemd-analyze verify`` checks every unit and timer as systemd would load it. It also
insists that ExecStart's program exists, and /opt/sehat is not installed on a test machine:
so each unit file, unmodified, is verified inside a small root (``--root=``) holding systemd's
own units (copied from this machine), the unit files, and an executable stand-in at
/opt/sehat/.venv/bin/sehat. ``systemd-analyze security --offline=yes`` rates each service's
exposure as shipped. systemd-analyze missing is a failure, not a skip: the box runs on systemd.

The daemons are run as systemd runs them, with ``$NOTIFY_SOCKET`` naming a datagram socket the
test binds and ``$WATCHDOG_USEC`` asking for a one-second watchdog.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from appliance.datadir import DataDir
from appliance.serving import answers_health
from sync_agent.agent import SyncAgent
from tests.conftest import DemoCodes
from tests.support.servers import free_port

SYSTEMD = Path(__file__).resolve().parent.parent / "systemd"
UNITS = sorted([*SYSTEMD.glob("*.service"), *SYSTEMD.glob("*.timer")])
SERVICES = [unit for unit in UNITS if unit.suffix == ".service"]
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 is locked down, 10 is a service with no hardening
SYSTEM_UNITS = Path("/usr/lib/systemd/system")


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is not installed (Debian: the systemd package)")
    return found


@pytest.fixture(scope="module")
def unit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root for ``verify --root=``: systemd's units, ours unmodified, and a stand-in ExecStart."""
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(SYSTEM_UNITS, root / SYSTEM_UNITS.relative_to("/"), symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(unit, units / unit.name)
    program = root / "opt/sehat/.venv/bin/sehat"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)
    return root


@pytest.mark.parametrize("unit", UNITS, ids=lambda path: path.name)
def test_systemd_accepts_each_unit_without_a_warning(unit: Path, unit_root: Path) -> None:
    command = [_systemd_analyze(), "verify", "--man=no", "--generators=no", f"--root={unit_root}"]
    result = subprocess.run(
        [*command, str(unit_root / "etc/systemd/system" / unit.name)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


@pytest.mark.parametrize("unit", SERVICES, ids=lambda path: path.name)
def test_each_service_is_exposed_at_most_2_0(unit: Path) -> None:
    result = subprocess.run(
        [_systemd_analyze(), "security", "--offline=yes", str(unit)], capture_output=True, text=True, timeout=60
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert found is not None, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE


# --- the notify protocol, as systemd sees it -------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """A datagram socket standing where systemd's is."""
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(tmp_path / "notify"))
    receiver.settimeout(20)
    yield receiver
    receiver.close()


@contextmanager
def run_as_systemd_would(command: list[str], notify_socket: socket.socket) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` with a notify socket and a one-second watchdog; stopped with SIGTERM after."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("WATCHDOG_", "NOTIFY_"))}
    environment |= {"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "1000000"}
    # No configuration file, even on a machine that has /etc/sehat/sehat.toml: a missing one is none.
    environment["SEHAT_CONFIG"] = str(Path(notify_socket.getsockname()).with_name("absent.toml"))
    with subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)


def _serve(box: DataDir, port: int) -> list[str]:
    return [sys.executable, "-m", "sehat", "appliance", "serve", str(box.path), "--port", str(port)]


def test_the_web_app_says_ready_then_pings_the_watchdog(
    box: DataDir, synced: DemoCodes, notify_socket: socket.socket
) -> None:
    port = free_port()
    with run_as_systemd_would(_serve(box, port), notify_socket):
        ready = notify_socket.recv(256)
        pings = [notify_socket.recv(256) for _ in range(2)]
    assert ready == f"READY=1\nSTATUS=Serving at http://127.0.0.1:{port}/".encode()
    assert pings == [b"WATCHDOG=1", b"WATCHDOG=1"]


def test_the_web_app_says_stopping_on_sigterm(box: DataDir, synced: DemoCodes, notify_socket: socket.socket) -> None:
    with run_as_systemd_would(_serve(box, free_port()), notify_socket) as process:
        assert notify_socket.recv(256).startswith(b"READY=1")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    messages = []
    notify_socket.settimeout(0.5)
    while True:
        try:
            messages.append(notify_socket.recv(256))
        except TimeoutError:
            break
    assert messages[-1] == b"STOPPING=1"


def test_the_sync_agent_says_ready_then_pings_the_watchdog(
    box: DataDir, synced: DemoCodes, notify_socket: socket.socket
) -> None:
    command = [sys.executable, "-m", "sehat", "sync", "run", str(box.path), "--interval", "60"]
    with run_as_systemd_would(command, notify_socket):
        ready = notify_socket.recv(256)
        pings = [notify_socket.recv(256) for _ in range(2)]
    assert ready == b"READY=1\nSTATUS=Following msrt"
    assert pings == [b"WATCHDOG=1", b"WATCHDOG=1"]


# --- the watchdog's probes -------------------------------------------------------------------------


def test_the_web_app_probe_passes_on_a_box_that_answers(live_box: str) -> None:
    host, port = live_box.removeprefix("http://").split(":")
    assert answers_health((host, int(port)), timeout=5)


def test_the_web_app_probe_fails_where_nothing_answers() -> None:
    assert not answers_health(("127.0.0.1", free_port()), timeout=5)


def test_the_sync_probe_fails_once_an_issuer_loop_has_ended(agent: SyncAgent, synced: DemoCodes) -> None:
    stop = threading.Event()
    started = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,), kwargs={"on_started": lambda _: started.set()})
    runner.start()
    assert started.wait(10)
    alive = agent.following()
    stop.set()
    runner.join(timeout=30)
    assert alive and not agent.following()
