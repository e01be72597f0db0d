"""The box's clock: the one place its shells read the time (the core is given ``now``, never reads it).

The web app, the box's commands and the sync agent above it all take a ``Clock``, so tests
can hand them a simulator's time instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
