"""PDF → page images, rendered by pdfium in a child process that the deadline can stop.

Why a process and not a call: pdfium parses a page's content in one call that cannot be
interrupted, and a PDF of a few kilobytes can make that call run for minutes (a form
XObject that draws the next one twice, thirty levels deep, is 2³⁰ drawings) or crash.
pdfium is also not safe to call from two threads at once, and the box serves requests
from several. A child forked from a forkserver that already has pdfium loaded costs about
5 ms; it renders the pages, sends each back as grey pixels, and is killed at the deadline.

A page too big to render at ``pdf_dpi`` within ``max_pixels`` is rendered at the
resolution that fits instead: a QR printed on it is large in proportion.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from PIL import Image

from appliance.scanning.errors import (
    DamagedPdfError,
    EncryptedPdfError,
    PdfTooComplexError,
    ScanError,
    UnusablePdfPageError,
)
from appliance.scanning.limits import ScanLimits

if TYPE_CHECKING:
    import pypdfium2 as pdfium

__all__ = ["render_pdf", "render_scale"]

_POINTS_PER_INCH = 72
_MIN_SIDE_PIXELS = 21  # the smallest QR symbol has 21 modules a side
_ERRORS: dict[str, type[ScanError]] = {
    "damaged": DamagedPdfError,
    "encrypted": EncryptedPdfError,
    "unusable_page": UnusablePdfPageError,
}

# Children fork from a server process that has imported this module (and so pdfium) once;
# a fork from the multi-threaded web server itself would not be safe.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__])


def render_scale(width: float, height: float, dpi: int, max_pixels: int) -> float | None:
    """Pixels per PDF point for a page of ``width`` × ``height`` points, or None if it is absurd.

    ``dpi`` unless the page would then exceed ``max_pixels``; None when the page has no
    area, or is so thin that fitting it within ``max_pixels`` leaves no room for a QR.
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


def render_pdf(data: bytes, limits: ScanLimits, deadline: float) -> list[Image.Image]:
    """The first ``limits.max_pages`` pages of a PDF as grey images.

    Args:
        data: the PDF file.
        limits: ``max_pages``, ``max_pixels`` and ``pdf_dpi`` apply.
        deadline: a ``time.monotonic()`` instant; pages not rendered by then are dropped.

    Returns:
        The pages rendered in time (at least one).

    Raises:
        EncryptedPdfError, DamagedPdfError, UnusablePdfPageError: as their names say.
        PdfTooComplexError: not even the first page rendered before the deadline.
    """
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(
        target=_render_in_child,
        args=(data, limits.max_pages, limits.max_pixels, limits.pdf_dpi, sender),
        name="sehat-pdf-render",
        daemon=True,
    )
    pages: list[Image.Image] = []
    page_problem = "damaged"
    try:
        child.start()
        sender.close()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not receiver.poll(remaining):
                if pages:
                    return pages  # later pages were too slow: search the ones we have
                raise PdfTooComplexError()
            try:
                kind, payload = receiver.recv()
            except EOFError as error:  # the child died: pdfium crashed on this file
                raise DamagedPdfError() from error
            if kind == "page":
                width, height, pixels = payload
                pages.append(Image.frombytes("L", (width, height), pixels))
            elif kind == "bad_page":
                page_problem = payload
            elif kind == "error":
                raise _ERRORS[payload]()
            elif pages:
                return pages
            else:
                raise _ERRORS[page_problem]()
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
        child.close()


def _render_in_child(data: bytes, max_pages: int, max_pixels: int, dpi: int, out: Connection) -> None:
    """Runs in the child: ``("page", (w, h, pixels))`` per page, then ``("done", None)``.

    A page that cannot be rendered is reported as ``("bad_page", reason)`` and skipped (the
    QR may be on the next one); a document that cannot be opened as one ``("error", reason)``.
    Everything that goes wrong here is a property of the file, so every exception becomes a
    reason, never a traceback in the parent.
    """
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    with contextlib.suppress(OSError), out:  # OSError: the parent stopped listening
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as error:
            locked = error.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY)
            out.send(("error", "encrypted" if locked else "damaged"))
            return
        except Exception:  # anything else pypdfium2 raises on these bytes
            out.send(("error", "damaged"))
            return
        try:
            count = len(document)
        except Exception:
            count = 0
        for index in range(min(count, max_pages)):
            out.send(_render_page(document, index, max_pixels, dpi))
        out.send(("done", None))


def _render_page(document: pdfium.PdfDocument, index: int, max_pixels: int, dpi: int) -> tuple[str, object]:
    try:
        page = document[index]
        width, height = page.get_size()
        scale = render_scale(width, height, dpi, max_pixels)
        if scale is None:
            return ("bad_page", "unusable_page")
        image = page.render(scale=scale, grayscale=True, may_draw_forms=False).to_pil().convert("L")
        page.close()
    except Exception:  # pdfium could not load or draw this page
        return ("bad_page", "damaged")
    return ("page", (image.width, image.height, image.tobytes()))
