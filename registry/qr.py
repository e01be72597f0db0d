"""Diploma QR images: the code, or a verification link carrying it, as a PNG."""

from __future__ import annotations

import io

import qrcode
import qrcode.constants

# Medium error correction survives the creases and stamps of a printed diploma
# while keeping the symbol small enough for a phone camera at arm's length.
_ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
_BOX_SIZE = 10  # pixels per module: about 2.5 cm wide at 300 dpi for a 20-digit payload
_BORDER = 4  # modules of quiet zone, as the QR standard requires


def qr_payload(code: str, url_template: str | None = None) -> str:
    """The text a QR carries: the bare code, or ``url_template`` with ``{code}`` filled in."""
    if url_template is None:
        return code
    if "{code}" not in url_template:
        raise ValueError("the URL template must contain {code}")
    return url_template.replace("{code}", code)


def render_qr_png(text: str) -> bytes:
    """Render ``text`` as a QR code PNG."""
    symbol = qrcode.QRCode(error_correction=_ERROR_CORRECTION, box_size=_BOX_SIZE, border=_BORDER)
    symbol.add_data(text)
    symbol.make(fit=True)
    image = symbol.make_image(fill_color="black", back_color="white")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
