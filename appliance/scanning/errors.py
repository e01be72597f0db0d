"""Every way an uploaded photo or PDF can fail to yield a QR code, as named exceptions.

The tree (all under ``verifier.errors.InputError``: the person who uploaded the file
can act on each of them, so each carries an English and a Persian message)::

    InputError                      verifier.errors: input that cannot be used as given
    └── ScanError                   an upload to scan was refused            (422)
        ├── EmptyUploadError        zero bytes                               (422)
        ├── UploadTooLargeError     more bytes than the box accepts          (413)
        ├── UnsupportedFormatError  neither an image we read nor a PDF       (422)
        ├── DamagedFileError        a known format, but truncated or corrupt (422)
        │   └── DamagedPdfError     a PDF that does not open, or has no pages (422)
        ├── ImageTooLargeError      too many pixels: a decompression bomb    (422)
        ├── EncryptedPdfError       a PDF that needs a password              (422)
        ├── UnusablePdfPageError    no page of a size a document can have    (422)
        ├── PdfTooComplexError      no page rendered within the time budget  (422)
        └── NoQrFoundError          a readable file with no QR code in it    (422)

``code`` is the machine-readable name for the JSON API; ``http_status`` is what the
web layer answers with, so that the status lives next to the error and not in a view.
"""

from __future__ import annotations

from verifier.errors import InputError

__all__ = [
    "DamagedFileError",
    "DamagedPdfError",
    "EmptyUploadError",
    "EncryptedPdfError",
    "ImageTooLargeError",
    "NoQrFoundError",
    "PdfTooComplexError",
    "ScanError",
    "UnsupportedFormatError",
    "UnusablePdfPageError",
    "UploadTooLargeError",
]

_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def _size(count: int) -> tuple[str, str]:
    """A byte count as people say it, in English and in Persian: "20 MB", «۲۰ مگابایت»."""
    if count >= 1 << 20:
        number, unit, unit_fa = count / (1 << 20), "MB", "مگابایت"
    else:
        number, unit, unit_fa = count / (1 << 10), "KB", "کیلوبایت"
    text = f"{number:.0f}" if number >= 10 or number == int(number) else f"{number:.1f}"
    return f"{text} {unit}", f"{text.translate(_PERSIAN_DIGITS).replace('.', '٫')} {unit_fa}"


class ScanError(InputError):
    """An upload that cannot be scanned for QR codes; the message says what to do instead."""

    code = "scan_error"
    http_status = 422
    # (English, Persian): what the person is told, unless an instance brings its own
    messages: tuple[str, str] = (
        "The file could not be scanned.",
        "فایل قابل اسکن نیست.",
    )

    def __init__(self, message: str | None = None, message_fa: str | None = None) -> None:
        default, default_fa = self.messages
        super().__init__(message or default, message_fa or default_fa)


class EmptyUploadError(ScanError):
    code = "empty_upload"
    messages = (
        "The uploaded file is empty.",
        "فایل فرستاده‌شده خالی است.",
    )


class UploadTooLargeError(ScanError):
    """More bytes than ``ScanLimits.max_bytes``; ``limit_bytes`` says how many are allowed, when known."""

    code = "upload_too_large"
    http_status = 413
    messages = (
        "The file is too large to scan.",
        "حجم فایل برای اسکن بیش از حد مجاز است.",
    )

    def __init__(self, limit_bytes: int | None = None) -> None:
        if limit_bytes is None:
            super().__init__()
        else:
            size, size_fa = _size(limit_bytes)
            super().__init__(
                f"The file is too large to scan; files up to {size} are accepted.",
                f"حجم فایل بیش از حد مجاز است؛ فایل‌هایی تا {size_fa} پذیرفته می‌شوند.",
            )
        self.limit_bytes = limit_bytes


class UnsupportedFormatError(ScanError):
    code = "unsupported_format"
    messages = (
        "This file is not an image or a PDF that can be scanned; send a photo (JPEG, PNG, WebP) or a PDF.",
        "این فایل تصویر یا PDF قابل خواندن نیست؛ یک عکس (JPEG، PNG، WebP) یا فایل PDF بفرستید.",
    )


class DamagedFileError(ScanError):
    code = "damaged_file"
    messages = (
        "The file is damaged or incomplete and cannot be read.",
        "فایل آسیب دیده یا ناقص است و خوانده نمی‌شود.",
    )


class DamagedPdfError(DamagedFileError):
    code = "damaged_pdf"
    messages = (
        "The PDF file is damaged or has no pages, and cannot be read.",
        "فایل PDF آسیب دیده است یا صفحه‌ای ندارد و خوانده نمی‌شود.",
    )


class ImageTooLargeError(ScanError):
    """More pixels than ``ScanLimits.max_pixels``, refused before any pixel is decoded."""

    code = "image_too_large"
    messages = (
        "The image is too large to scan; send a smaller photo.",
        "ابعاد تصویر بیش از حد بزرگ است؛ عکس کوچک‌تری بفرستید.",
    )

    def __init__(self, max_pixels: int | None = None) -> None:
        if max_pixels is None:
            super().__init__()
        else:
            megapixels = f"{max_pixels / 1_000_000:g}"
            megapixels_fa = megapixels.translate(_PERSIAN_DIGITS).replace(".", "٫")
            super().__init__(
                f"The image is too large to scan (at most {megapixels} megapixels); send a smaller photo.",
                f"ابعاد تصویر بیش از حد بزرگ است (حداکثر {megapixels_fa} مگاپیکسل)؛ عکس کوچک‌تری بفرستید.",
            )
        self.max_pixels = max_pixels


class EncryptedPdfError(ScanError):
    code = "encrypted_pdf"
    messages = (
        "The PDF is protected with a password; send a copy without a password.",
        "فایل PDF رمز دارد؛ نسخه‌ای بدون رمز بفرستید.",
    )


class UnusablePdfPageError(ScanError):
    code = "unusable_pdf_page"
    messages = (
        "No page of the PDF has a size a document can have, so none can be read.",
        "هیچ‌یک از صفحه‌های PDF اندازهٔ معقولی ندارد و نمی‌توان آن را خواند.",
    )


class PdfTooComplexError(ScanError):
    """Rendering did not finish in time: a few kilobytes of PDF can ask for billions of drawings."""

    code = "pdf_too_complex"
    messages = (
        "The PDF is too complex to render in reasonable time; send a photo or a simpler PDF.",
        "فایل PDF بیش از حد پیچیده است و در زمان معقول نمایش داده نمی‌شود؛ یک عکس یا PDF ساده‌تر بفرستید.",
    )


class NoQrFoundError(ScanError):
    code = "no_qr_found"
    messages = (
        "No QR code was found in the image.",
        "هیچ کد QR در تصویر پیدا نشد.",
    )
