"""Every limit the core enforces on untrusted feed data, in one place.

A box must never be made to read, hold or compute without bound because a feed
said so; these are the bounds. Callers may tighten them (tests do) but the
defaults are what a deployed box uses. The time limits are what a stolen signing
key cannot get around: a head may claim to be issued at most ``max_clock_skew``
ahead of the box's time, and may live at most the cap of the channel it was made
for, so no head can read fresh for long or drag the box's clock floor far ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Hard ceilings on what a feed can say, beyond which a number or a date is malformed, not big.
MAX_INTEGER = (1 << 53) - 1  # seq, sizes and counts: exact in every JSON reader, far below SQLite's 2^63
EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)  # no head, certificate or record is older
LATEST_TIMESTAMP = datetime(2200, 1, 1, tzinfo=UTC)  # leaves room for any arithmetic on it


@dataclass(frozen=True)
class FeedLimits:
    max_head_bytes: int = 1 << 20  # bytes; a head lists at most a few hundred objects
    max_line_bytes: int = 16 << 10  # bytes; the JSON header line of a segment or snapshot chunk
    max_box_bytes: int = 8 << 10  # bytes; one sealed payload
    max_object_bytes: int = 4 << 30  # bytes; one segment, snapshot chunk or catalogue
    max_catalogue_bytes: int = 16 << 20  # bytes; an issuer's catalogue of public names
    max_segments_listed: int = 4096  # entries in a head's segment list
    max_snapshot_chunks: int = 4096  # chunks of one snapshot
    max_bundle_objects: int = 8192  # objects in one offline bundle
    max_clock_skew: timedelta = timedelta(hours=24)  # how far past the box's time a head may be issued
    max_http_head_lifetime: timedelta = timedelta(days=7)  # expires − issued_at of a head made for HTTP
    max_bundle_head_lifetime: timedelta = timedelta(days=40)  # … of a head made for a USB bundle

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if (value <= timedelta(0)) if isinstance(value, timedelta) else value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_http_head_lifetime > self.max_bundle_head_lifetime:
            raise ValueError("an HTTP head cannot be allowed to live longer than a bundle head")

    def max_head_lifetime(self, channel: str) -> timedelta:
        """The longest a head made for ``channel`` (``"http"`` or ``"bundle"``) may be valid."""
        return self.max_bundle_head_lifetime if channel == "bundle" else self.max_http_head_lifetime


DEFAULT_LIMITS = FeedLimits()
