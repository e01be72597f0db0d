"""Every limit and timing of the sync agent, in one place (seconds and bytes unless named)."""

from __future__ import annotations

from dataclasses import dataclass, field

from verifier.limits import DEFAULT_LIMITS, FeedLimits


@dataclass(frozen=True)
class SyncConfig:
    interval_minutes: float = 15.0  # between scheduled syncs of a healthy issuer
    connect_timeout: float = 10.0  # seconds to establish a connection
    read_timeout: float = 30.0  # seconds a read may wait for the next byte
    min_rate: int = 1024  # bytes/s a download must average once the grace period is over
    rate_grace: float = 30.0  # seconds before the minimum rate is enforced
    head_time_budget: float = 120.0  # seconds one head request may take in all, retries included
    object_time_base: float = 60.0  # seconds an object may take beyond its size at the minimum rate
    http_retries: int = 3  # retries per request on connection errors and 5xx answers
    retry_backoff: float = 0.5  # seconds; urllib3 doubles it for each retry
    retry_jitter: float = 0.5  # seconds of random jitter added to each retry's wait
    failure_backoff_minutes: float = 1.0  # first wait after a failed scheduled sync
    failure_backoff_max_minutes: float = 60.0  # the wait doubles per failure up to this
    chunk_size: int = 64 << 10  # bytes read at a time
    download_max_age_days: float = 7.0  # unfinished downloads older than this are removed
    user_agent: str = "sehat-sync/1"
    limits: FeedLimits = field(default_factory=lambda: DEFAULT_LIMITS)

    def __post_init__(self) -> None:
        positive = (
            "interval_minutes",
            "connect_timeout",
            "read_timeout",
            "rate_grace",
            "chunk_size",
            "head_time_budget",
            "object_time_base",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.min_rate < 0 or self.http_retries < 0:
            raise ValueError("min_rate and http_retries cannot be negative")
        if self.failure_backoff_max_minutes < self.failure_backoff_minutes:
            raise ValueError("failure_backoff_max_minutes must not be below failure_backoff_minutes")

    def object_time_budget(self, size: int) -> float:
        """Seconds a download of ``size`` bytes may take in all: the base, plus the size at the minimum rate."""
        return self.object_time_base + (size / self.min_rate if self.min_rate else float("inf"))
