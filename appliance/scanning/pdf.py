"""PDF → page images, rendered by pdfium in a child process that the deadline can stop.

Why a process and not a call: pdfium parses a page's content in one call that cannot be
interrupted, and a PDF of a few kilobytes can make that call run for minutes (a form
XObject that draws the next one twice, thirty levels deep, is 2³⁰ drawings) or crash.
pdfium is also not safe to call from two threads at once, and the box serves requests
from several. So each PDF goes to a fresh ``python -m appliance.scanning.pdf_worker``
(about 0.1 s to start), which sends back each page as soon as it is drawn and is killed
at the deadline; a crash takes only the child with it. (A forked child would start
faster, but forking a multi-threaded web server is unsafe, and multiprocessing's
forkserver re-imports the server's main script in every child.)
"""

from __future__ import annotations

import logging
import math
import struct
import subprocess
import sys
import time

from PIL import Image

from appliance.scanning.errors import (
    DamagedPdfError,
    EncryptedPdfError,
    PdfTooComplexError,
    ScanError,
    UnusablePdfPageError,
)
from appliance.scanning.limits import ScanLimits

__all__ = ["render_pdf"]

_WORKER = "appliance.scanning.pdf_worker"
_REASONS: dict[bytes, type[ScanError]] = {
    b"damaged": DamagedPdfError,
    b"encrypted": EncryptedPdfError,
    b"unusable_page": UnusablePdfPageError,
}
_FRAME_HEAD = struct.Struct(">cI")
_PAGE_HEAD = struct.Struct(">III")
_STDERR_TAIL = 2000  # characters of the worker's error output kept in the log

logger = logging.getLogger(__name__)


def render_pdf(data: bytes, limits: ScanLimits, deadline: float) -> list[Image.Image]:
    """The first ``limits.max_pages`` pages of a PDF as grey images.

    Args:
        data: the PDF file.
        limits: ``max_pages``, ``max_pixels`` and ``pdf_dpi`` apply.
        deadline: a ``time.monotonic()`` instant; pages not rendered by then are dropped.

    Returns:
        The pages rendered in time, at least one.

    Raises:
        EncryptedPdfError, DamagedPdfError, UnusablePdfPageError: as their names say.
        PdfTooComplexError: not even the first page was rendered before the deadline.
    """
    own_limit = math.ceil(limits.time_budget) + 2  # seconds the child allows itself, should we die first
    command = [sys.executable, "-m", _WORKER, str(limits.max_pages), str(limits.max_pixels), str(limits.pdf_dpi)]
    child = subprocess.Popen(
        [*command, str(own_limit)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        output, errors = child.communicate(data, timeout=max(deadline - time.monotonic(), 0.001))
        finished = True
    except subprocess.TimeoutExpired:
        child.kill()
        output, errors = child.communicate()  # what it wrote before it was killed
        finished = False
    finally:
        if child.poll() is None:  # only if communicate itself failed
            child.kill()
            child.wait()
    pages, problem, done = _parse(output)
    if pages:
        return pages  # pages a later one was too slow for are still worth searching
    if problem is not None:
        raise _REASONS.get(problem, DamagedPdfError)()
    if not finished:
        raise PdfTooComplexError()
    if not done:  # pdfium crashed on this file, or the worker cannot start: the operator must see which
        detail = errors.decode("utf-8", errors="replace").strip()[-_STDERR_TAIL:]
        logger.warning("the PDF renderer ended with status %s and no answer: %s", child.returncode, detail)
    raise DamagedPdfError()  # a PDF without pages, or one that crashed the renderer


def _parse(output: bytes) -> tuple[list[Image.Image], bytes | None, bool]:
    """The child's frames: the pages, the first reason it gave for a refusal, whether it finished."""
    pages: list[Image.Image] = []
    problem: bytes | None = None
    offset = 0
    while offset + _FRAME_HEAD.size <= len(output):
        kind, length = _FRAME_HEAD.unpack_from(output, offset)
        payload = output[offset + _FRAME_HEAD.size : offset + _FRAME_HEAD.size + length]
        if len(payload) < length:
            break  # cut short by the kill
        offset += _FRAME_HEAD.size + length
        if kind == b"P":
            width, height, stride = _PAGE_HEAD.unpack_from(payload)
            pixels = payload[_PAGE_HEAD.size :]
            pages.append(Image.frombuffer("L", (width, height), pixels, "raw", "L", stride, 1))
        elif kind in (b"B", b"E"):
            problem = problem or payload
        elif kind == b"D":
            return pages, problem, True
    return pages, problem, False
