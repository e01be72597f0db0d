"""Files made to hurt a scanner: each with the named error and HTTP status the box must answer."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable

from PIL import Image

from appliance.scanning import (
    DamagedFileError,
    DamagedPdfError,
    EmptyUploadError,
    EncryptedPdfError,
    ImageTooLargeError,
    NoQrFoundError,
    PdfTooComplexError,
    ScanError,
    UnsupportedFormatError,
    UnusablePdfPageError,
    UploadTooLargeError,
)
from registry.qr import render_qr_png

CODE = "12345678901234567890"


def qr_png() -> bytes:
    return render_qr_png(CODE)


def qr_jpeg() -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(qr_png())).convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header claims ``width`` × ``height`` 1-bit pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey, deflate, no interlace
    rows = zlib.compress(b"\x00" * (1 + (width + 7) // 8) * 4)  # the first four rows, all black
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def make_pdf(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF of the given numbered objects (1 is the catalog), with a correct cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, xref))
    return out.getvalue()


def stream(content: bytes, dictionary: bytes = b"") -> bytes:
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (dictionary, len(content), content)


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
ONE_KID = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"


def pdf_page(media_box: bytes) -> bytes:
    return make_pdf([CATALOG, ONE_KID, b"<< /Type /Page /Parent 2 0 R /MediaBox %s >>" % media_box])


def pdf_of_many_pages(count: int) -> bytes:
    kids = b" ".join(b"%d 0 R" % (3 + index) for index in range(count))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
    return make_pdf([CATALOG, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count), *[page] * count])


def pdf_of_deep_page_tree(depth: int) -> bytes:
    """Pages inside pages, ``depth`` levels down to the one page (readers that recurse overflow)."""
    levels = [b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (3 + level) for level in range(depth)]
    return make_pdf([CATALOG, *levels, b"<< /Type /Page /MediaBox [0 0 595 842] >>"])


def pdf_xobject_bomb(depth: int) -> bytes:
    """A form that draws the next form twice, ``depth`` levels down: 2^depth drawings in 6 KB."""
    resources = b"/Resources << /XObject << /X 5 0 R >> >>"
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R %s >>" % resources
    forms = []
    for level in range(depth):
        form = b"/Type /XObject /Subtype /Form /BBox [0 0 595 842]"
        if level < depth - 1:
            resources = b" /Resources << /XObject << /X %d 0 R >> >>" % (6 + level)
            forms.append(stream(b"q /X Do Q q 1 0 0 1 1 1 cm /X Do Q", form + resources))
        else:
            forms.append(stream(b"0 0 10 10 re f", form))
    return make_pdf([CATALOG, ONE_KID, page, stream(b"/X Do"), *forms])


def pdf_with_password() -> bytes:
    """Standard security handler, RC4: the empty user password does not open it."""
    encrypt = b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -44 >>" % (b"ab" * 32, b"cd" * 32)
    file_id = b"<0123456789abcdef0123456789abcdef>"
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
    return make_pdf([CATALOG, ONE_KID, page, encrypt], b"/Encrypt 4 0 R /ID [%s %s]" % (file_id, file_id))


def random_bytes() -> bytes:
    return random.Random(7).randbytes(100_000)


# --- every hostile upload, its error and its status ----------------------------------------------

HOSTILE: dict[str, tuple[Callable[[], bytes], type[ScanError], int]] = {
    "zero_bytes": (lambda: b"", EmptyUploadError, 422),
    "over_the_byte_limit": (lambda: b"\x89PNG\r\n\x1a\n" + bytes(50 << 20), UploadTooLargeError, 413),
    "text_named_like_an_image": (lambda: b"diploma.jpg: this is not a photo\n" * 50, UnsupportedFormatError, 422),
    "random_bytes": (random_bytes, UnsupportedFormatError, 422),
    "png_signature_then_junk": (lambda: b"\x89PNG\r\n\x1a\n" + random_bytes(), DamagedFileError, 422),
    "truncated_png": (lambda: qr_png()[: len(qr_png()) // 2], DamagedFileError, 422),
    "truncated_jpeg": (lambda: qr_jpeg()[: len(qr_jpeg()) * 3 // 4], DamagedFileError, 422),
    "png_claiming_30000_by_30000": (lambda: png_claiming(30_000, 30_000), ImageTooLargeError, 422),
    # Above our limit, below Pillow's own: only our check stands in the way.
    "png_claiming_9000_by_9000": (lambda: png_claiming(9_000, 9_000), ImageTooLargeError, 422),
    # Between Pillow's limit and twice it, where Pillow only warns.
    "png_claiming_10000_by_10000": (lambda: png_claiming(10_000, 10_000), ImageTooLargeError, 422),
    "pdf_header_then_junk": (lambda: b"%PDF-1.7\n" + random_bytes(), DamagedPdfError, 422),
    "pdf_without_pages": (lambda: make_pdf([CATALOG, b"<< /Type /Pages /Kids [] /Count 0 >>"]), DamagedPdfError, 422),
    "pdf_with_a_password": (pdf_with_password, EncryptedPdfError, 422),
    "pdf_page_a_point_wide": (lambda: pdf_page(b"[0 0 1 14400]"), UnusablePdfPageError, 422),
    "pdf_page_tree_100000_deep": (lambda: pdf_of_deep_page_tree(100_000), DamagedPdfError, 422),
    "pdf_xobject_bomb": (lambda: pdf_xobject_bomb(30), PdfTooComplexError, 422),
    "pdf_with_a_huge_blank_page": (lambda: pdf_page(b"[0 0 14400 14400]"), NoQrFoundError, 422),
    "pdf_with_20000_blank_pages": (lambda: pdf_of_many_pages(20_000), NoQrFoundError, 422),
}
