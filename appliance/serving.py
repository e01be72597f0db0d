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

import socket
from typing import Any

from waitress.server import create_server

from appliance.config import ApplianceConfig


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
