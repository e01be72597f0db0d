"""Uploaded bytes → the images to search for QR codes: one for a photo, one per page for a PDF.

The bytes are untrusted, so the format is sniffed from their first bytes (never from a
file name or a declared content type), Pillow is told to use only the matching decoder,
and an image's size is checked against ``max_pixels`` after ``Image.open`` has read the
header and before any pixel is decoded. PDFs go to ``appliance.scanning.pdf``.
"""

from __future__ import annotations

import functools
import io
import warnings
from typing import cast

from PIL import Image, ImageOps, features

from appliance.scanning.errors import (
    DamagedFileError,
    EmptyUploadError,
    ImageTooLargeError,
    UnsupportedFormatError,
    UploadTooLargeError,
)
from appliance.scanning.limits import ScanLimits
from appliance.scanning.pdf import render_pdf

__all__ = ["PDF", "load_pages", "sniff_format"]

PDF = "PDF"

# A PDF's header may follow up to 1 KiB of junk (Acrobat and pdfium accept that).
_PDF_HEADER_WINDOW = 1024


def sniff_format(data: bytes) -> str | None:
    """The format the bytes announce — a Pillow format name or ``PDF`` — or None for anything else."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "AVIF"
    if b"%PDF-" in data[:_PDF_HEADER_WINDOW]:
        return PDF
    return None


def load_pages(data: bytes, limits: ScanLimits, deadline: float) -> list[Image.Image]:
    """The images in an upload, each in mode ``L`` or ``RGB``.

    Args:
        data: the uploaded file.
        limits: the byte, pixel and page bounds.
        deadline: a ``time.monotonic()`` instant by which PDF rendering must be done.

    Returns:
        One image for a photo (the first frame of an animation), or the first
        ``limits.max_pages`` pages of a PDF rendered at ``limits.pdf_dpi``.

    Raises:
        ScanError: a subclass naming what is wrong with the upload.
    """
    if not data:
        raise EmptyUploadError()
    if len(data) > limits.max_bytes:
        raise UploadTooLargeError(limits.max_bytes)
    kind = sniff_format(data)
    if kind is None or not _decodable(kind):
        raise UnsupportedFormatError()
    if kind == PDF:
        return render_pdf(data, limits, deadline)
    return [_load_image(data, kind, limits.max_pixels)]


@functools.cache
def _decodable(kind: str) -> bool:
    """Whether this Pillow can decode ``kind``: WebP and AVIF need codecs a build may lack."""
    codec = {"WEBP": "webp", "AVIF": "avif"}.get(kind)
    return codec is None or bool(features.check(codec))


def _load_image(data: bytes, kind: str, max_pixels: int) -> Image.Image:
    # Pillow warns (DecompressionBombWarning) between its own limit and twice it, and
    # raises beyond; as an error the warning is caught below like any other refusal.
    # catch_warnings is process-wide, but the only filter it adds turns that one warning
    # into an error that every caller here catches, so a race between threads is harmless.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[kind])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageTooLargeError(max_pixels) from error
        except Exception as error:  # any failure to parse untrusted bytes is a damaged file
            raise DamagedFileError() from error
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLargeError(max_pixels)
        if width < 1 or height < 1:
            raise DamagedFileError()
        try:
            image.load()
            return _normalise(ImageOps.exif_transpose(image))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageTooLargeError(max_pixels) from error
        except Exception as error:  # truncated data, bad EXIF, codec errors: all damage
            raise DamagedFileError() from error


def _normalise(image: Image.Image) -> Image.Image:
    """Mode ``L`` or ``RGB``, transparency flattened onto white as a printed page would show it.

    A QR exported with a transparent background has black (0, 0, 0, 0) pixels around
    it: dropping the alpha channel would turn the quiet zone black.
    """
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if image.mode in ("L", "RGB"):
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        low, high = cast(tuple[float, float], image.getextrema())  # one band: (min, max)
        span = (high - low) or 1
        return image.convert("F").point(lambda value: (value - low) * 255 / span).convert("L")
    if image.mode == "1":
        return image.convert("L")
    return image.convert("RGB")
