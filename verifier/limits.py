"""Every limit the core enforces on untrusted feed data, in one place.

A box must never be made to read, hold or compute without bound because a feed
said so; these are the bounds. Callers may tighten them (tests do) but the
defaults are what a deployed box uses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeedLimits:
    max_head_bytes: int = 1 << 20  # bytes; a head lists at most a few hundred objects
    max_line_bytes: int = 16 << 10  # bytes; one change or snapshot row, JSON-encoded
    max_box_bytes: int = 8 << 10  # bytes; one sealed payload
    max_object_bytes: int = 4 << 30  # bytes; one segment or snapshot file
    max_segments_listed: int = 4096  # entries in a head's segment list
    max_bundle_objects: int = 8192  # objects in one offline bundle

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"{name} must be positive")


DEFAULT_LIMITS = FeedLimits()
