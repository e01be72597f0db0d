"""Image preparation for photos the decoders cannot read as they are: each step a remedy for one flaw.

Every step takes and returns a ``View``: an image plus the map from its pixels back to the
page's, so that a QR found in a padded, scaled or thresholded copy is still placed where
it is on the page (reading order depends on it). Pillow only; no step allocates more than
a few copies of the working image.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageChops, ImageFilter, ImageOps

__all__ = [
    "View",
    "adaptive_threshold",
    "equalized",
    "grey_view",
    "median",
    "otsu_threshold",
    "padded",
    "scaled",
    "scaled_to",
    "sharpened",
    "smoothed",
]


@dataclass(frozen=True)
class View:
    """An image derived from a page: page pixel ``(x, y)`` is view pixel ``(x·scale + dx, y·scale + dy)``."""

    image: Image.Image
    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def to_page(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.dx) / self.scale, (y - self.dy) / self.scale

    def derived(self, image: Image.Image) -> View:
        """The same geometry, other pixels (for filters that keep the size)."""
        return View(image, self.scale, self.dx, self.dy)


def grey_view(page: Image.Image, max_pixels: int) -> View:
    """The page in grey, shrunk by a whole factor until it has at most ``max_pixels``.

    Preparation steps cost time in proportion to pixels; a QR that needs them on a 40 MP
    photo is large enough to survive the shrinking (``reduce`` averages whole blocks, so
    it also smooths sensor noise and JPEG blocks).
    """
    grey = page if page.mode == "L" else page.convert("L")
    factor = 1
    while grey.width * grey.height > max_pixels * factor * factor:
        factor += 1
    if factor == 1:
        return View(grey)
    return View(grey.reduce(factor), 1 / factor)


def scaled(view: View, factor: float) -> View:
    """Shrink with block averaging (noise, texture, halftone) or grow smoothly (tiny crops)."""
    image = view.image
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    resample = Image.Resampling.BOX if factor < 1 else Image.Resampling.BICUBIC
    return View(image.resize(size, resample), view.scale * factor, view.dx * factor, view.dy * factor)


def scaled_to(view: View, pixels: int) -> View:
    """Scaled to about ``pixels`` pixels: a QR a few modules wide in a whole-page photo needs room."""
    return scaled(view, (pixels / (view.image.width * view.image.height)) ** 0.5)


def padded(view: View, fraction: float = 0.1) -> View:
    """A white margin: a QR cropped to its edge has lost the quiet zone detectors look for."""
    margin = max(8, round(min(view.image.size) * fraction))
    fill = 255 if view.image.mode == "L" else (255, 255, 255)
    return View(ImageOps.expand(view.image, margin, fill=fill), view.scale, view.dx + margin, view.dy + margin)


def smoothed(view: View, radius: float) -> View:
    """Gaussian blur: averages away sensor noise, JPEG blocks and print halftone before binarising."""
    return view.derived(view.image.filter(ImageFilter.GaussianBlur(radius)))


def median(view: View, size: int = 3) -> View:
    """Median filter: removes speckle and fine texture inside modules, keeps module edges."""
    return view.derived(view.image.filter(ImageFilter.MedianFilter(size)))


def sharpened(view: View) -> View:
    """Unsharp mask: restores the module edges a slightly out-of-focus photo has softened."""
    return view.derived(view.image.filter(ImageFilter.UnsharpMask(radius=2, percent=200, threshold=2)))


def equalized(view: View) -> View:
    """Histogram equalisation: stretches a washed-out or underexposed photo's few grey levels."""
    return view.derived(ImageOps.equalize(view.image))


def otsu_threshold(view: View) -> View:
    """Black and white at the threshold that best separates the histogram's two classes (Otsu)."""
    cut = _otsu_level(view.image.histogram())
    return view.derived(view.image.point(lambda value: 255 if value > cut else 0))


def adaptive_threshold(view: View, offset: int = 8) -> View:
    """Black where a pixel is darker than its neighbourhood: survives shadows and glare gradients.

    The neighbourhood is a box about a twentieth of the image across — a few QR modules for
    a QR that fills a fair part of the frame.
    """
    image = view.image
    radius = max(3, min(image.size) // 40)
    local_mean = image.filter(ImageFilter.BoxBlur(radius))
    darker = ImageChops.subtract(local_mean, image)  # how much darker than around it, clipped at 0
    return view.derived(darker.point(lambda value: 0 if value > offset else 255))


def _otsu_level(histogram: list[int]) -> int:
    total = sum(histogram)
    weighted_total = sum(level * count for level, count in enumerate(histogram))
    below = weighted_below = 0
    best_level, best_spread = 127, -1.0
    for level, count in enumerate(histogram):
        below += count
        if below == 0:
            continue
        above = total - below
        if above == 0:
            break
        weighted_below += level * count
        mean_below = weighted_below / below
        mean_above = (weighted_total - weighted_below) / above
        spread = below * above * (mean_below - mean_above) ** 2
        if spread > best_spread:
            best_level, best_spread = level, spread
    return best_level
