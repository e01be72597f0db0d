"""The box under load and attack: idle, silent and non-reading clients cannot stall waitress.

Each test serves the box with its production socket and waitress settings
(``appliance.serving``) on 127.0.0.1 and attacks it with raw TCP sockets.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask

from appliance.datadir import DataDir
from tests.conftest import DemoCodes
from tests.support.servers import free_port, serving

CHANNEL_TIMEOUT = 2  # seconds; the box's default is 30


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


@contextmanager
def _open_sockets(base_url: str, count: int, receive_buffer: int | None = None) -> Iterator[list[socket.socket]]:
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            client = stack.enter_context(socket.socket())
            if receive_buffer is not None:  # before connecting, so the window it advertises stays small
                client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            client.connect(_address(base_url))
            sockets.append(client)
        yield sockets


def _seconds_until_closed(client: socket.socket, limit: float) -> float:
    """How long until the server ends this connection (EOF or reset), reading whatever it sent first."""
    started = time.monotonic()
    client.settimeout(limit)
    try:
        while client.recv(1 << 16):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_150_idle_connections_do_not_stop_a_verification(live_box: str, synced: DemoCodes) -> None:
    with _open_sockets(live_box, 150):
        time.sleep(0.5)  # let the server accept them all
        started = time.monotonic()
        response = requests.post(f"{live_box}/api/v1/verify", json={"code": synced.valid}, timeout=1)
        elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.json()["status"] == "valid"
    assert elapsed < 1


@pytest.mark.parametrize("sent", [b"", b"POST /api/v1/verify HTTP/1.1\r\nHost: box\r\nContent-Length: 40\r\n"])
def test_a_silent_client_loses_its_connection_after_the_channel_timeout(
    make_app: Callable[..., Flask], synced: DemoCodes, sent: bytes
) -> None:
    with serving(make_app(channel_timeout=CHANNEL_TIMEOUT)) as base, _open_sockets(base, 1) as (client,):
        client.sendall(sent)
        waited = _seconds_until_closed(client, limit=15)
    # Closed by the server's timeout (checked every second), not by the test's limit.
    assert CHANNEL_TIMEOUT - 0.5 < waited < CHANNEL_TIMEOUT + 4


def test_clients_that_never_read_a_large_answer_lose_it_and_free_the_box(
    make_app: Callable[..., Flask], synced: DemoCodes
) -> None:
    threads = 4
    # A small answer buffer, so that a modest bulk answer already makes its worker wait for the
    # client, as a 100,000-row answer does with the box's 16 MiB.
    app = make_app(channel_timeout=CHANNEL_TIMEOUT, answer_buffer_bytes=64 << 10, bulk_workers=threads)
    rows = ("code\n" + f"{synced.valid}\n" * 6000).encode()
    request = (
        b"POST /api/v1/verify/bulk HTTP/1.1\r\nHost: box\r\nContent-Type: text/csv\r\n"
        + f"Content-Length: {len(rows)}\r\n\r\n".encode()
        + rows
    )
    with serving(app, threads=threads) as base, _open_sockets(base, threads, receive_buffer=4096) as stalled:
        for client in stalled:  # every worker thread takes one and blocks writing its answer
            client.sendall(request)
        time.sleep(1)
        started = time.monotonic()
        health = requests.get(f"{base}/healthz", timeout=CHANNEL_TIMEOUT + 6)
        freed_after = time.monotonic() - started
        closed_after = [_seconds_until_closed(client, limit=15) for client in stalled]
    assert health.status_code == 200
    assert freed_after < CHANNEL_TIMEOUT + 4, "the stalled answers gave their threads back"
    assert max(closed_after) < CHANNEL_TIMEOUT + 4, "each stalled client lost its connection"


def test_sehat_appliance_serve_stops_on_sigterm_with_connections_open(box: DataDir, synced: DemoCodes) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "sehat", "appliance", "serve", str(box.path), "--port", str(port)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
        try:
            for _ in range(100):
                try:
                    requests.get(f"{base}/healthz", timeout=2)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            with _open_sockets(base, 3) as idle:
                idle[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")  # then kept alive
                idle[1].sendall(b"GET /healthz HTTP/1.1\r\n")  # half a request
                time.sleep(0.3)
                server.send_signal(signal.SIGTERM)
                # An open connection must not keep the server running until it times out.
                assert server.wait(timeout=10) == 0
        finally:
            server.kill()
