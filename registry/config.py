"""Every tunable of the reference registry, in one documented place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from verifier.limits import DEFAULT_LIMITS


@dataclass(frozen=True)
class RegistryConfig:
    max_segment_changes: int = 10_000  # changes per segment file; bounds one download
    head_lifetime: timedelta = timedelta(hours=48)  # a published head's validity; re-sign well before
    bundle_lifetime: timedelta = timedelta(days=35)  # a USB bundle's head validity: a monthly courier
    republish_interval: timedelta = timedelta(hours=1)  # how often `publish --every` re-signs
    snapshot_fraction: float = 0.5  # new snapshot once changes since the last exceed this share of it
    head_segment_window: int = 256  # segments a head lists; boxes further behind take the snapshot
    snapshot_chunk_bytes: int = 64 << 20  # most bytes in one snapshot chunk (≈ 370,000 records)

    def __post_init__(self) -> None:
        if self.max_segment_changes < 1 or self.head_segment_window < 1:
            raise ValueError("segment sizes and windows must be positive")
        if self.snapshot_chunk_bytes < 1024 or self.snapshot_chunk_bytes > DEFAULT_LIMITS.max_object_bytes:
            raise ValueError("a snapshot chunk holds 1 KiB to the box's object limit")
        if not self.snapshot_fraction > 0:
            raise ValueError("snapshot_fraction must be positive")
        if self.republish_interval >= self.head_lifetime:
            raise ValueError("the head must be re-signed before it expires")
        if self.head_lifetime > DEFAULT_LIMITS.max_http_head_lifetime:
            raise ValueError(f"boxes refuse HTTP heads valid longer than {DEFAULT_LIMITS.max_http_head_lifetime}")
        if self.bundle_lifetime > DEFAULT_LIMITS.max_bundle_head_lifetime:
            raise ValueError(f"boxes refuse bundle heads valid longer than {DEFAULT_LIMITS.max_bundle_head_lifetime}")
