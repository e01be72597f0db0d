"""The bounds a scan works within: every number an uploaded file could otherwise push without limit.

An upload is untrusted: a few kilobytes can claim a 30,000 × 30,000 image or a PDF page
the size of a football field, and a noise image keeps a decoder busy for as long as it is
allowed to try. These are the bounds; the box's settings (``appliance.config``) set them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.config import ApplianceConfig

__all__ = ["ScanLimits"]


@dataclass(frozen=True)
class ScanLimits:
    """Limits for one scan; the defaults are those of ``ApplianceConfig`` (a test keeps them equal)."""

    max_bytes: int = 20 << 20  # one uploaded photo or PDF; bytes (larger: 413)
    max_pixels: int = 50_000_000  # one decoded image or rendered page; pixels
    max_pages: int = 4  # PDF pages rendered and searched, from the first
    pdf_dpi: int = 200  # PDF rendering resolution, lowered for pages too big for max_pixels
    time_budget: float = 2.0  # decoding gives up after this long, from the first byte; seconds

    def __post_init__(self) -> None:
        for field in fields(self):
            if getattr(self, field.name) <= 0:
                raise ValueError(f"{field.name} must be positive")

    @classmethod
    def from_config(cls, config: ApplianceConfig) -> ScanLimits:
        """The limits the box's settings ask for (``scan_*`` in ``ApplianceConfig``)."""
        return cls(
            max_bytes=config.scan_max_bytes,
            max_pixels=config.scan_max_pixels,
            max_pages=config.scan_max_pages,
            pdf_dpi=config.scan_pdf_dpi,
            time_budget=config.scan_time_budget,
        )
