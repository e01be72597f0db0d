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
    import_workers: int | None = None  # threads sealing an import (one scrypt per row); None: one per CPU
    import_batch_rows: int = 2_000  # rows per import transaction, and per batch handed to the sealing threads
    import_max_problems: int = 1_000  # row problems a refused import lists; the rest are only counted
    import_code_sample: int = 100_000  # supplied codes the randomness estimate sees (a uniform sample)
    snapshot_chunk_bytes: int = 64 << 20  # most bytes in one snapshot chunk (≈ 370,000 records)

    def __post_init__(self) -> None:
        if self.max_segment_changes < 1 or self.head_segment_window < 1:
            raise ValueError("segment sizes and windows must be positive")
        if self.snapshot_chunk_bytes < 1024 or self.snapshot_chunk_bytes > DEFAULT_LIMITS.max_object_bytes:
            raise ValueError("a snapshot chunk holds 1 KiB to the box's object limit")
        if self.import_workers is not None and self.import_workers < 1:
            raise ValueError("an import needs at least one sealing thread")
        if min(self.import_batch_rows, self.import_max_problems, self.import_code_sample) < 1:
            raise ValueError("import batch, problem list and code sample sizes must be positive")
        if not self.snapshot_fraction > 0:
            raise ValueError("snapshot_fraction must be positive")
        if self.republish_interval >= self.head_lifetime:
            raise ValueError("the head must be re-signed before it expires")
        if self.head_lifetime > DEFAULT_LIMITS.max_http_head_lifetime:
            raise ValueError(f"boxes refuse HTTP heads valid longer than {DEFAULT_LIMITS.max_http_head_lifetime}")
        if self.bundle_lifetime > DEFAULT_LIMITS.max_bundle_head_lifetime:
            raise ValueError(f"boxes refuse bundle heads valid longer than {DEFAULT_LIMITS.max_bundle_head_lifetime}")
