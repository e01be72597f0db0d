"""Real HTTP servers on 127.0.0.1 for tests: waitress in a thread, on a free port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from waitress.server import create_server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_until_closed(server: Any) -> None:
    """waitress's loop ends with EBADF when its socket is closed under it: that is the stop."""
    with suppress(OSError):
        server.run()


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1 for the duration of the block; yields its base URL."""
    settings = app.config["SEHAT"].waitress_settings() if hasattr(app, "config") and "SEHAT" in app.config else {}
    settings["threads"] = 4
    server: Any = create_server(app, host="127.0.0.1", port=0, **settings)
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
