"""The two QR decoders, behind one shape: an image in, the symbols found and where they are out.

zxing-cpp reads more photos and reads them faster; zbar (through pyzbar) finds some that
zxing-cpp misses — and misses some that it finds — so the pipeline asks both. zxing-cpp
also decodes text the way the symbol declares it (ECI, Shift-JIS), where zbar guesses, so
when both read the same symbol the pipeline keeps zxing-cpp's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import zxingcpp
from PIL import Image
from pyzbar import pyzbar

__all__ = ["Symbol", "read_zbar", "read_zxing"]

# Model 2 is every QR printed today; model 1 is its predecessor. Micro QR and rMQR are
# left out: no diploma carries them, and their weaker error correction invites misreads.
_QR_FORMATS = zxingcpp.BarcodeFormats([zxingcpp.BarcodeFormat.QRCodeModel1, zxingcpp.BarcodeFormat.QRCodeModel2])


class Binarizer(Enum):
    """How zxing-cpp turns grey into black and white (its ``Binarizer``, named for our passes)."""

    LOCAL = "local"  # local averages: uneven light, the default
    GLOBAL = "global"  # one histogram threshold: textured or noisy modules


_BINARIZERS = {
    Binarizer.LOCAL: zxingcpp.Binarizer.LocalAverage,
    Binarizer.GLOBAL: zxingcpp.Binarizer.GlobalHistogram,
}


@dataclass(frozen=True)
class Symbol:
    """One decoded QR: its text and its corners, in the pixels of the image that was searched."""

    text: str
    corners: tuple[tuple[float, float], ...]

    @property
    def box(self) -> tuple[float, float, float, float]:
        """``(left, top, right, bottom)`` around the corners."""
        xs = [x for x, _ in self.corners]
        ys = [y for _, y in self.corners]
        return min(xs), min(ys), max(xs), max(ys)


def read_zxing(image: Image.Image, binarizer: Binarizer = Binarizer.LOCAL) -> list[Symbol]:
    """Every QR zxing-cpp finds in ``image`` (mode ``L`` or ``RGB``), in any orientation or polarity."""
    found = zxingcpp.read_barcodes(
        image,
        formats=_QR_FORMATS,
        text_mode=zxingcpp.TextMode.Plain,  # the text itself: no "<GS>"-style escapes
        binarizer=_BINARIZERS[binarizer],
    )
    symbols = []
    for barcode in found:
        where = barcode.position
        corners = (where.top_left, where.top_right, where.bottom_right, where.bottom_left)
        symbols.append(Symbol(barcode.text, tuple((float(p.x), float(p.y)) for p in corners)))
    return symbols


def read_zbar(image: Image.Image) -> list[Symbol]:
    """Every QR zbar finds in ``image`` (converted to grey if it is not)."""
    grey = image if image.mode == "L" else image.convert("L")
    symbols = []
    for decoded in pyzbar.decode(grey, symbols=[pyzbar.ZBarSymbol.QRCODE]):
        corners = tuple((float(p.x), float(p.y)) for p in decoded.polygon)
        if not corners:
            left, top, width, height = decoded.rect
            corners = ((left, top), (left + width, top), (left + width, top + height), (left, top + height))
        symbols.append(Symbol(decoded.data.decode("utf-8", errors="replace"), corners))
    return symbols
