"""The box speaks systemd's notify protocol: ready when it is, pinging the watchdog only while healthy."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.service_manager import Watchdog, notify, watchdog_seconds


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing where systemd's is, named in $NOTIFY_SOCKET."""
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(tmp_path / "notify"))
    receiver.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    yield receiver
    receiver.close()


def test_ready_reaches_systemds_socket(notify_socket: socket.socket) -> None:
    assert notify("READY=1\nSTATUS=Serving")
    assert notify_socket.recv(256) == b"READY=1\nSTATUS=Serving"


def test_outside_systemd_notify_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


def test_the_watchdog_interval_is_this_process_s_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_seconds() == 30
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert watchdog_seconds() is None


def test_a_healthy_box_pings_the_watchdog(notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    watchdog = Watchdog.start_if_asked(lambda: True)
    assert watchdog is not None
    try:
        assert notify_socket.recv(64) == b"WATCHDOG=1"
    finally:
        watchdog.stop()


def test_a_failing_probe_stops_the_pings(notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)

    def broken() -> bool:
        raise OSError("the replica cannot be read")

    watchdog = Watchdog.start_if_asked(broken)
    assert watchdog is not None
    notify_socket.settimeout(0.6)
    try:
        with pytest.raises(TimeoutError):
            notify_socket.recv(64)
    finally:
        watchdog.stop()


def test_without_a_watchdog_nothing_is_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert Watchdog.start_if_asked(lambda: True) is None
