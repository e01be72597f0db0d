"""Real HTTP servers on 127.0.0.1 for tests: waitress in a thread, on a free port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any

from waitress.server import create_server

from appliance.serving import box_server, listening_socket


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_until_closed(server: Any) -> None:
    """waitress's loop ends with EBADF when its socket is closed under it: that is the stop."""
    with suppress(OSError):
        server.run()


@contextmanager
def serving(app: Any, threads: int = 4) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1 for the duration of the block; yields its base URL.

    The box's app is served as ``sehat appliance serve`` serves it (its listening socket and
    waitress settings), on a free port; any other WSGI app with waitress's defaults.
    """
    server: Any
    if hasattr(app, "config") and "SEHAT" in app.config:
        config = replace(app.config["SEHAT"], host="127.0.0.1")
        server = box_server(app, config, listening_socket(config, port=0), threads=threads)
    else:
        server = create_server(app, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=_run_until_closed, args=(server,), name="test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        # Idle keep-alive channels would keep waitress's loop alive until they time out.
        for channel in list(server._map.values()):
            channel.close()
        server.task_dispatcher.shutdown()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the test server did not stop"
