"""The box's QR scanning: uploaded photos and PDFs in, the text of every QR code in them out.

Pure in the sense of ``verifier/``: it reads only the bytes it is given, writes nothing,
and bounds everything an untrusted file could make it do (``ScanLimits``). The web layer
calls ``scan_document`` and maps a ``ScanError`` to its ``http_status``.

The errors and limits import cheaply; the imaging stack (Pillow, zxing-cpp, zbar) loads on
first use of ``scan_document``, so processes that never scan never load it, and pdfium only
ever runs in a child process (``pdf.py`` says why).

Modules: ``loading`` (bytes → images), ``pdf`` and ``pdf_worker`` (PDF pages, in a child),
``engines`` (the two decoders), ``preparation`` (image remedies), ``decoding`` (the pipeline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appliance.scanning.errors import (
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
from appliance.scanning.limits import ScanLimits

if TYPE_CHECKING:
    from appliance.scanning.decoding import scan_document
    from appliance.scanning.loading import sniff_format

__all__ = [
    "DamagedFileError",
    "DamagedPdfError",
    "EmptyUploadError",
    "EncryptedPdfError",
    "ImageTooLargeError",
    "NoQrFoundError",
    "PdfTooComplexError",
    "ScanError",
    "ScanLimits",
    "UnsupportedFormatError",
    "UnusablePdfPageError",
    "UploadTooLargeError",
    "scan_document",
    "sniff_format",
]


def __getattr__(name: str) -> Any:
    if name == "scan_document":
        from appliance.scanning.decoding import scan_document

        return scan_document
    if name == "sniff_format":
        from appliance.scanning.loading import sniff_format

        return sniff_format
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
