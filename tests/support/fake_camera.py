"""Videos for Chromium's fake camera: a picture (a diploma's QR, say) as a short YUV4MPEG2 file.

Chromium started with ``--use-fake-device-for-media-stream --use-file-for-fake-video-capture=FILE.y4m``
offers that file, looped, as its only camera. Y4M is the simplest format it reads: a text header,
then per frame ``FRAME\\n`` and the raw Y, U and V planes of 4:2:0 video (``C420``: U and V at half
the width and height).
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from registry.qr import render_qr_png

FRAME_SIZE = (640, 480)  # VGA, the size of Chromium's own fake camera
FRAMES = 5  # Chromium loops the file; a few frames are enough for a still picture
FRAME_RATE = 30


def _studio_range(plane: Image.Image, *, chroma: bool) -> bytes:
    """Full-range 0–255 (Pillow's YCbCr, as in JPEG) to the BT.601 video range Y4M players assume."""
    if chroma:
        return plane.point(lambda value: round(128 + (value - 128) * 224 / 255)).tobytes()
    return plane.point(lambda value: round(16 + value * 219 / 255)).tobytes()


def y4m_from_image(
    image: Image.Image, *, size: tuple[int, int] = FRAME_SIZE, frames: int = FRAMES, fps: int = FRAME_RATE
) -> bytes:
    """A Y4M video of ``frames`` identical frames: ``image`` centred on a white ``size`` frame.

    Args:
        image: any Pillow image no larger than ``size``.
        size: frame width and height in pixels; both even, as 4:2:0 needs.
        frames: how many frames the file holds.
        fps: the frame rate written in the header.

    Returns:
        The bytes of the ``.y4m`` file.

    Raises:
        ValueError: the image does not fit, or the frame size is odd.
    """
    width, height = size
    if width % 2 or height % 2:
        raise ValueError("4:2:0 video needs an even frame width and height")
    if image.width > width or image.height > height:
        raise ValueError(f"a {image.width}×{image.height} image does not fit a {width}×{height} frame")
    canvas = Image.new("RGB", size, "white")
    canvas.paste(image.convert("RGB"), ((width - image.width) // 2, (height - image.height) // 2))
    luma, blue, red = canvas.convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = (
        _studio_range(luma, chroma=False)
        + _studio_range(blue.resize(half, Image.Resampling.BOX), chroma=True)
        + _studio_range(red.resize(half, Image.Resampling.BOX), chroma=True)
    )
    header = f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420\n".encode("ascii")
    return header + b"".join(b"FRAME\n" + planes for _ in range(frames))


def write_y4m(
    image: Image.Image, path: Path, *, size: tuple[int, int] = FRAME_SIZE, frames: int = FRAMES, fps: int = FRAME_RATE
) -> Path:
    """Write ``y4m_from_image(image, ...)`` to ``path``; returns the path."""
    path.write_bytes(y4m_from_image(image, size=size, frames=frames, fps=fps))
    return path


def qr_video(text: str, path: Path) -> Path:
    """A fake-camera video of a diploma QR carrying ``text``, as the registry renders it."""
    return write_y4m(Image.open(io.BytesIO(render_qr_png(text))), path)
