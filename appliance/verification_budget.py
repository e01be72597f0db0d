"""What a file of codes costs: every row is a verification, charged as one, and heavy jobs take turns.

A single check is one request and one verification, limited per client address or
API key by Flask-Limiter. A bulk file or a desk spreadsheet is one request but many
verifications, so it is charged by its rows, before any is checked: against the API
key's (or operator's) file quota, or, for an HR officer's browser at the desk, the
client address's own. Anonymous files through the API — scripts, not people — are
off by default. Files run on a small pool of slots of their own (``bulk_workers``),
fewer than the box's cores, so a file never takes the CPU the kiosk and single
checks need.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g
from limits import parse

from appliance.config import ApplianceConfig
from appliance.security import limiter, rate_key
from appliance.store import app_config
from appliance.web_errors import ApiError

EXTENSION = "sehat.bulk_slots"


def charge_rows(rows: int, channel: str) -> None:
    """Charge a file's rows to the asker, before any is verified.

    Args:
        channel: ``bulk`` (the API) or ``desk`` (the HR desk in a browser).

    Raises:
        ApiError: 403 for an anonymous API file when the box allows none (or more rows than
            it allows); 413 for a file larger than the whole quota; 429, with the seconds to
            wait, when the rows exceed what is left of it.
    """
    config = app_config()
    keyed = g.get("api_key") is not None or g.get("operator") is not None
    if channel == "bulk" and not keyed and rows > config.anonymous_bulk_max_rows:
        if config.anonymous_bulk_max_rows == 0:
            raise ApiError(
                403,
                "bulk_needs_key",
                "Files of codes are checked for API keys and operators only; check codes one at a time, "
                "or ask the box's operator for a key.",
                "بررسی فایل کدها فقط با کلید API یا برای متصدی ممکن است؛ کدها را یکی‌یکی بررسی کنید "
                "یا از متصدی دستگاه کلید بگیرید.",
            )
        raise ApiError(
            403,
            "bulk_too_large",
            f"Without an API key a file may hold at most {config.anonymous_bulk_max_rows} codes.",
            f"بدون کلید API هر فایل حداکثر {config.anonymous_bulk_max_rows} کد می‌تواند داشته باشد.",
        )
    quota = parse(config.bulk_rate_limit if keyed else config.anonymous_file_rate_limit)
    if rows > quota.amount:
        raise ApiError(
            413,
            "too_many_rows",
            f"This file holds {rows} codes; at most {quota.amount} can be checked per {quota.get_expiry()} seconds.",
            f"این فایل {rows} کد دارد؛ در هر {quota.get_expiry()} ثانیه حداکثر {quota.amount} کد بررسی می‌شود.",
        )
    strategy = limiter.limiter
    cost = max(rows, 1)
    # Tested first: a refused file must not use up what is left.
    if not (strategy.test(quota, "rows", rate_key(), cost=cost) and strategy.hit(quota, "rows", rate_key(), cost=cost)):
        reset_at, _ = strategy.get_window_stats(quota, "rows", rate_key())
        raise ApiError(
            429,
            "rate_limited",
            "Too many codes checked recently; try again later.",
            "در این مدت کدهای زیادی بررسی شده است؛ کمی بعد دوباره امتحان کنید.",
            retry_after=max(1, math.ceil(reset_at - time.time())),
        )


class BulkSlots:
    """The turns heavy jobs take: at most ``size`` files are checked at once."""

    def __init__(self, size: int) -> None:
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def taken_now(self) -> Iterator[None]:
        """A slot for a request that cannot wait (a bulk answer is streamed to a waiting client).

        Raises:
            ApiError: 503, with a short wait to retry after, when every slot is busy.
        """
        if not self._slots.acquire(blocking=False):
            raise ApiError(
                503,
                "busy",
                "The box is checking other files; send this one again in a moment.",
                "دستگاه در حال بررسی فایل‌های دیگر است؛ کمی بعد دوباره بفرستید.",
                retry_after=5,
            )
        try:
            yield
        finally:
            self._slots.release()

    @contextmanager
    def taken_in_turn(self) -> Iterator[None]:
        """A slot for a background job (the desk), which waits its turn."""
        with self._slots:
            yield


def init_bulk_slots(app: Flask) -> None:
    config: ApplianceConfig = app.config["SEHAT"]
    app.extensions[EXTENSION] = BulkSlots(config.bulk_workers)


def bulk_slots() -> BulkSlots:
    slots: BulkSlots = current_app.extensions[EXTENSION]
    return slots
