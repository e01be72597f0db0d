"""The one way the box's web app is put on the network: its listening socket and its waitress server.

``sehat appliance serve``, the demo and the tests' live servers all come through here, so
each runs with the settings of ``ApplianceConfig.waitress_settings``.

One stall waitress cannot end by itself: a client that asks for a large answer and never
reads it. The worker thread writing that answer waits for the client once
``answer_buffer_bytes`` are pending, and waitress's ``channel_timeout`` skips any
connection whose request is still running — so eight such clients held all eight workers
for as long as they liked. An answer that did fit in the buffer is no better: waitress
marks the idle connection for closing but only closes it once the socket is writable,
which a client that does not read never makes it. The kernel ends both: with
``TCP_USER_TIMEOUT``, a connection whose sent data stays unacknowledged, or whose
receive window stays shut, for ``channel_timeout`` seconds is reset; waitress sees the
error, closes the connection, and the waiting worker is released.
"""

from __future__ import annotations

import http.client
import logging
import socket
from typing import Any

from waitress.server import create_server

from appliance.config import ApplianceConfig

logger = logging.getLogger(__name__)
HEALTH_PROBE_TIMEOUT = 10.0  # seconds; systemd's watchdog (WatchdogSec=60) is pinged every 30


def listening_socket(config: ApplianceConfig, port: int | None = None) -> socket.socket:
    """A TCP socket listening on the box's address; every connection accepted from it inherits the timeout.

    Args:
        port: instead of ``config.port`` (0: any free port, for tests).

    Raises:
        OSError: the address is busy or not this machine's.
    """
    listener = socket.create_server((config.host, config.port if port is None else port), backlog=1024)
    if hasattr(socket, "TCP_USER_TIMEOUT"):  # Linux; the box runs on Debian
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, config.channel_timeout * 1000)
    return listener


def box_server(app: Any, config: ApplianceConfig, listener: socket.socket, **overrides: Any) -> Any:
    """A waitress server for ``app`` on ``listener`` with the box's settings (``overrides`` win: tests)."""
    settings = {**config.waitress_settings(), **overrides}
    return create_server(app, sockets=[listener], **settings)


def stop_serving(server: Any) -> None:
    """Make ``server.run()`` return: stop accepting and end every open connection.

    Call it from the thread that runs the server (a signal handler does). With poll() a
    closed socket is no error, as it was for select(), so closing the listener alone would
    leave ``run()`` serving an open keep-alive connection for ever (and with the listener
    gone, nothing would time it out); its loop ends once no connection is left.
    """
    server.close()
    for channel in list(server._map.values()):  # waitress's socket map: the connections still open
        channel.close()


def probe_address(listener: socket.socket) -> tuple[str, int]:
    """Where this machine reaches the box's own listening socket: loopback when it listens on every address."""
    host, port = listener.getsockname()[:2]
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
    return wildcard.get(host, host), port


def answers_health(address: tuple[str, int], timeout: float = HEALTH_PROBE_TIMEOUT) -> bool:
    """Whether the box at ``address`` answers ``GET /healthz`` with 200: systemd's watchdog probe.

    A real request through the listening socket, a worker thread and the replica, so a
    box whose workers are all stuck or whose replica cannot be read stops pinging and is
    restarted; a probe of the process alone would keep a wedged box alive.
    """
    connection = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        connection.request("GET", "/healthz", headers={"User-Agent": "sehat-watchdog"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        logger.warning("health probe of %s:%d failed: %s", *address, error)
        return False
    finally:
        connection.close()
    if status != 200:
        logger.warning("health probe of %s:%d answered %d", *address, status)
    return status == 200
