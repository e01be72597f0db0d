"""Colour science for checking the verdict palette: WCAG contrast and colour-vision-deficiency simulation.

Contrast follows WCAG 2.1 (relative luminance of sRGB). Colour blindness is simulated
with the matrices of Machado, Oliveira & Fernandes (2009) at full severity, applied in
linear RGB; differences are CIE76 ΔE in CIELAB (D65).
"""

from __future__ import annotations

import re

RGB = tuple[float, float, float]

# Machado et al. 2009, severity 1.0.
SIMULATIONS: dict[str, tuple[RGB, RGB, RGB]] = {
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602), (0.004733, 0.691367, 0.303900)),
}


def parse_hex(value: str) -> RGB:
    match = re.fullmatch(r"#([0-9a-fA-F]{6})", value.strip())
    assert match, f"not a #rrggbb colour: {value!r}"
    digits = match.group(1)
    return tuple(int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def _linear(channel: float) -> float:
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def _gamma(channel: float) -> float:
    channel = min(1.0, max(0.0, channel))
    return channel * 12.92 if channel <= 0.0031308 else 1.055 * channel ** (1 / 2.4) - 0.055


def luminance(colour: RGB) -> float:
    r, g, b = (_linear(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: RGB, second: RGB) -> float:
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def simulate(colour: RGB, deficiency: str) -> RGB:
    linear = [_linear(c) for c in colour]
    matrix = SIMULATIONS[deficiency]
    return tuple(_gamma(sum(row[i] * linear[i] for i in range(3))) for row in matrix)  # type: ignore[return-value]


def _lab(colour: RGB) -> RGB:
    r, g, b = (_linear(c) for c in colour)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return (116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z)))


def delta_e(first: RGB, second: RGB) -> float:
    a, b = _lab(first), _lab(second)
    return float(sum((p - q) ** 2 for p, q in zip(a, b, strict=True)) ** 0.5)
