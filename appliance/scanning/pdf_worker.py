"""The child process that renders a PDF: ``python -m appliance.scanning.pdf_worker PAGES PIXELS DPI SECONDS``.

It reads the PDF on stdin and writes one frame per page to stdout, as soon as the page
is rendered, so that a parent that kills it at the deadline keeps the pages already done.
A frame is a kind byte, a 4-byte big-endian length and the payload:

- ``P``: a page — width, height and stride (3 × 4 bytes), then grey pixels, one byte each;
- ``B``: a page skipped — the reason (``unusable_page`` or ``damaged``), the next may do;
- ``E``: the document refused — ``encrypted`` or ``damaged``; nothing follows;
- ``D``: done.

It imports nothing of the box but pdfium, and ends itself after SECONDS in case the parent
dies before it can kill it.
"""

from __future__ import annotations

import math
import signal
import struct
import sys
from typing import BinaryIO

__all__ = ["render_scale"]

_POINTS_PER_INCH = 72
_MIN_SIDE_PIXELS = 21  # the smallest QR symbol has 21 modules a side


def render_scale(width: float, height: float, dpi: int, max_pixels: int) -> float | None:
    """Pixels per PDF point for a page of ``width`` × ``height`` points, or None if it is absurd.

    ``dpi`` unless the page would then exceed ``max_pixels``: a page too big for that is
    rendered at the resolution that fits instead (a QR printed on it is large in proportion).
    None when the page has no area, or is so thin that fitting it within ``max_pixels``
    leaves no room for a QR.
    """
    if not (math.isfinite(width) and math.isfinite(height)) or width <= 0 or height <= 0:
        return None
    scale = dpi / _POINTS_PER_INCH
    if math.ceil(width * scale) * math.ceil(height * scale) > max_pixels:
        scale = math.sqrt(max_pixels / (width * height)) * 0.999
        while math.ceil(width * scale) * math.ceil(height * scale) > max_pixels:
            scale *= 0.99
    if min(width, height) * scale < _MIN_SIDE_PIXELS:
        return None
    return scale


def _frame(out: BinaryIO, kind: bytes, payload: bytes = b"") -> None:
    out.write(kind + struct.pack(">I", len(payload)) + payload)
    out.flush()


def render(data: bytes, max_pages: int, max_pixels: int, dpi: int, out: BinaryIO) -> None:
    """Write the frames for the PDF ``data`` to ``out``; every failure is a property of the file."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        document = pdfium.PdfDocument(data)
        count = len(document)
    except pdfium.PdfiumError as error:
        locked = error.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY)
        _frame(out, b"E", b"encrypted" if locked else b"damaged")
        return
    except Exception:  # anything else pypdfium2 raises on these bytes
        _frame(out, b"E", b"damaged")
        return
    for index in range(min(count, max_pages)):
        try:
            page = document[index]
            width, height = page.get_size()
            scale = render_scale(width, height, dpi, max_pixels)
            if scale is None:
                _frame(out, b"B", b"unusable_page")
                continue
            bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=False)
            header = struct.pack(">III", bitmap.width, bitmap.height, bitmap.stride)
            pixels = bytes(bitmap.buffer)
        except Exception:  # pdfium could not load or draw this page
            _frame(out, b"B", b"damaged")
            continue
        _frame(out, b"P", header + pixels)
    _frame(out, b"D")


def main(argv: list[str]) -> int:
    max_pages, max_pixels, dpi, seconds = (int(value) for value in argv)
    # SIGALRM's default action ends the process even inside pdfium. (Not setrlimit: the
    # box's systemd unit filters out @resources system calls, and seccomp would kill us.)
    signal.alarm(seconds)
    render(sys.stdin.buffer.read(), max_pages, max_pixels, dpi, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
