"""The scan pipeline: an uploaded photo or PDF in, the text of every QR code in it out.

Most photos need nothing: zxing-cpp reads them as they are in a millisecond or two, and
zbar reads some of the few it misses (both engines always look, so that every QR on a page
holding several is found). Only when that fast path finds nothing on any page does the
pipeline prepare the image — each preparation a remedy for one flaw of real photos (sensor
noise and JPEG blocks, blur, a QR only a few pixels per module, glare and shadow, texture
inside the modules) — and try again, in the order measured to read the most per
millisecond. All of it runs against one deadline: a hopeless image gives up within
``ScanLimits.time_budget`` and is answered "no QR found".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

from PIL import Image

from appliance.scanning.engines import Binarizer, Symbol, read_zbar, read_zxing
from appliance.scanning.errors import NoQrFoundError
from appliance.scanning.limits import ScanLimits
from appliance.scanning.loading import load_pages
from appliance.scanning.preparation import (
    View,
    adaptive_threshold,
    equalized,
    grey_view,
    median,
    otsu_threshold,
    padded,
    scaled,
    scaled_to,
    sharpened,
    smoothed,
)

__all__ = ["scan_document", "scan_pages"]

# zbar costs about 40 ms a megapixel on a busy image; beyond this it reads a shrunk copy.
_FAST_ZBAR_PIXELS = 8_000_000
# Preparation works on at most this many pixels (a QR that needs it is not tiny on a big photo).
_WORK_PIXELS = 4_000_000
# PDF rendering may use this share of the time budget; the rest is kept for decoding.
_RENDER_SHARE = 0.75
# Grey levels between a page's darkest and lightest pixel below which it is blank.
_MIN_CONTRAST = 24
# Two reads whose boxes overlap this much (intersection over union) are one symbol.
_SAME_SYMBOL = 0.5
# A pass starts only if the slowest rate seen so far says it ends this far before the deadline.
_SAFETY = 1.5

Engine = Callable[[Image.Image], list[Symbol]]


def _zxing_global(image: Image.Image) -> list[Symbol]:
    return read_zxing(image, Binarizer.GLOBAL)


Prepare = Callable[[View], View | None]


@dataclass(frozen=True)
class Pass:
    """One preparation and the engine that reads its result (``prepare`` may decline with None)."""

    name: str
    prepare: Prepare
    engine: Engine


def _pixels(view: View) -> int:
    return view.image.width * view.image.height


def _below(pixels: int, prepare: Callable[[View], View]) -> Prepare:
    """``prepare`` only for views smaller than ``pixels`` (enlarging a big photo costs much, finds little)."""
    return lambda view: prepare(view) if _pixels(view) < pixels else None


def _has_contrast(view: View) -> bool:
    """Whether a page could hold a QR at all: a blank page (a PDF's empty back) is not worth preparing."""
    darkest, lightest = cast(tuple[int, int], view.image.getextrema())
    return lightest - darkest >= _MIN_CONTRAST


# Measured on the 616 of 1,325 hard photos the fast path could not read (the real photos
# and zxing-cpp's sample photos blurred, shrunk, shadowed, JPEG-damaged and drowned in
# noise; whole diploma pages shot skewed as one-megapixel phone photos): each pass is the
# one that read the most of what the passes before it left, per millisecond.
PASSES: tuple[Pass, ...] = (
    Pass("smoothed", lambda view: smoothed(view, 1), read_zxing),
    Pass("enlarged 3×", _below(600_000, lambda view: scaled(view, 3)), read_zxing),
    Pass("sharpened", sharpened, read_zxing),
    Pass("smoothed", lambda view: smoothed(view, 1), read_zbar),
    Pass("equalized", equalized, read_zxing),
    Pass("smoothed more", lambda view: smoothed(view, 2), read_zxing),
    Pass("enlarged 2×, sharpened", _below(1_000_000, lambda view: sharpened(scaled(view, 2))), read_zxing),
    Pass("quarter size", lambda view: scaled(view, 1 / 4), read_zbar),
    Pass("enlarged 3×", _below(600_000, lambda view: scaled(view, 3)), read_zbar),
    Pass("adaptive threshold", lambda view: padded(adaptive_threshold(view)), _zxing_global),
    Pass("half size", lambda view: scaled(view, 1 / 2), _zxing_global),
    Pass("enlarged to 4 MP", _below(2_000_000, lambda view: scaled_to(view, 4_000_000)), read_zxing),
    Pass("smoothed, adaptive threshold", lambda view: padded(adaptive_threshold(smoothed(view, 2))), _zxing_global),
    Pass("half size", lambda view: scaled(view, 1 / 2), read_zbar),
    Pass("median", lambda view: padded(median(view)), _zxing_global),
    Pass("otsu threshold", lambda view: padded(otsu_threshold(view)), read_zxing),
)


def scan_document(data: bytes, limits: ScanLimits) -> list[str]:
    """The text of every distinct QR code in an uploaded photo or PDF, in reading order.

    Args:
        data: the uploaded file, untrusted (any bytes at all).
        limits: size, page and time bounds (``ScanLimits.from_config`` on the box).

    Returns:
        Each distinct text once, top to bottom then left to right, page after page.

    Raises:
        NoQrFoundError: the file was read, and no QR code was found in time.
        ScanError: another subclass when the file itself is refused (see ``errors``).
    """
    started = time.monotonic()
    pages = load_pages(data, limits, started + limits.time_budget * _RENDER_SHARE)
    return scan_pages(pages, started + limits.time_budget)


def scan_pages(pages: Sequence[Image.Image], deadline: float) -> list[str]:
    """``scan_document`` for images already loaded (mode ``L`` or ``RGB``), until ``deadline`` (monotonic)."""
    clock = _Clock(deadline)
    found = _Findings(len(pages))
    for index, page in enumerate(pages):
        with clock.timing(page.width * page.height):
            found.add(index, View(page), read_zxing)
            found.add(index, grey_view(page, _FAST_ZBAR_PIXELS), read_zbar)
    if not found.any():
        work = [(index, grey_view(page, _WORK_PIXELS)) for index, page in enumerate(pages)]
        work = [(index, view) for index, view in work if _has_contrast(view)]
        for step in PASSES:
            for index, view in work:
                if not clock.affords(_pixels(view)):
                    break
                with clock.timing(_pixels(view)):
                    found.add(index, step.prepare(view), step.engine)
            if found.any() or clock.expired():
                break
    texts = found.texts()
    if not texts:
        raise NoQrFoundError()
    return texts


class _Clock:
    """The deadline, and the slowest rate seen so far (seconds per pixel) to foresee whether a pass fits."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.rate = 0.0

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def affords(self, pixels: int) -> bool:
        return time.monotonic() + self.rate * pixels * _SAFETY < self.deadline

    @contextmanager
    def timing(self, pixels: int) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.rate = max(self.rate, (time.monotonic() - started) / max(pixels, 1))


@dataclass(frozen=True)
class _Found:
    text: str
    left: float
    top: float
    right: float
    bottom: float

    def overlap(self, other: _Found) -> float:
        """Intersection over union of the two boxes: near 1 for one symbol read twice."""
        width = min(self.right, other.right) - max(self.left, other.left)
        height = min(self.bottom, other.bottom) - max(self.top, other.top)
        if width <= 0 or height <= 0:
            return 0.0
        shared = width * height
        return shared / (self.area + other.area - shared)

    @property
    def area(self) -> float:
        return max((self.right - self.left) * (self.bottom - self.top), 1e-9)


class _Findings:
    """The symbols found so far, per page, each text once, in page coordinates."""

    def __init__(self, pages: int) -> None:
        self.pages: list[list[_Found]] = [[] for _ in range(pages)]
        self.seen: set[str] = set()

    def any(self) -> bool:
        return bool(self.seen)

    def add(self, page: int, view: View | None, engine: Engine) -> None:
        """Search ``view`` (None: a preparation that does not apply) and keep what is new."""
        if view is None:
            return
        on_page = self.pages[page]
        for symbol in engine(view.image):
            if symbol.text in self.seen:
                continue  # the same text again: another engine, or a second copy of the document
            left, top, right, bottom = symbol.box
            found = _Found(symbol.text, *view.to_page(left, top), *view.to_page(right, bottom))
            if any(item.overlap(found) > _SAME_SYMBOL for item in on_page):
                continue  # a symbol already read, decoded by the other engine with another charset guess
            self.seen.add(symbol.text)
            on_page.append(found)

    def texts(self) -> list[str]:
        return [item.text for on_page in self.pages for item in _reading_order(on_page)]


def _reading_order(found: list[_Found]) -> list[_Found]:
    """Top to bottom, then left to right: symbols whose middle is level with a row's first join it."""
    rows: list[list[_Found]] = []
    for item in sorted(found, key=lambda item: item.top):
        if rows and (item.top + item.bottom) / 2 <= rows[-1][0].bottom:
            rows[-1].append(item)
        else:
            rows.append([item])
    return [item for row in rows for item in sorted(row, key=lambda item: item.left)]
