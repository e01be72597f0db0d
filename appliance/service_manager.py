"""Telling systemd how the box is: ready, still healthy (the watchdog), stopping.

systemd's notify protocol is one datagram to the socket named in ``$NOTIFY_SOCKET``;
with ``Type=notify`` a unit counts as started only once the service says ``READY=1``,
and with ``WatchdogSec=`` systemd restarts it when ``WATCHDOG=1`` stops arriving. The
box pings only after a real health probe passes (the web app answers its own
``/healthz``; the sync agent's issuer loops are alive and its replica opens), so a
wedged process is restarted, not kept alive by a timer. Outside systemd every call
is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send ``message`` (e.g. ``READY=1``) to systemd; False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.connect(address)
            sender.sendall(message.encode("utf-8"))
    except OSError as error:
        logger.warning("could not notify systemd: %s", error)
        return False
    return True


def watchdog_seconds() -> float | None:
    """The watchdog interval systemd set for this process (``WatchdogSec=``), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000


class Watchdog:
    """Pings systemd's watchdog at half its interval, each time only if ``probe`` says all is well."""

    def __init__(self, probe: Callable[[], bool], interval: float) -> None:
        self._probe = probe
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="systemd-watchdog", daemon=True)

    @classmethod
    def start_if_asked(cls, probe: Callable[[], bool]) -> Watchdog | None:
        """Start pinging when systemd asked for a watchdog; otherwise do nothing."""
        interval = watchdog_seconds()
        if interval is None:
            return None
        watchdog = cls(probe, interval)
        watchdog._thread.start()
        return watchdog

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval)

    def _run(self) -> None:
        while not self._stop.wait(self._interval / 2):
            try:
                healthy = self._probe()
            except Exception:  # a probe that raises is a failed probe: no ping, systemd decides
                logger.exception("the watchdog's health probe failed")
                healthy = False
            if healthy:
                notify("WATCHDOG=1")
            else:
                logger.warning("health probe failed; not pinging systemd's watchdog")
