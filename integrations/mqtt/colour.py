"""Colour helpers the MQTT sources share: device colour spaces -> the ``rgb`` trait.

The ``rgb`` trait is a full-brightness sRGB colour, ``(red, green, blue)`` each 0-255;
brightness is its own trait, so colours read from a device are scaled up to full brightness.
"""

from __future__ import annotations

import colorsys
from typing import Any

from .entity import PayloadError

__all__ = ["hs_to_rgb", "is_rgb", "rgb_to_xy", "xy_to_rgb"]

_MIN_Y = 0.001
"""A smaller CIE y is no real colour (and overflows the conversion)."""


def is_rgb(value: Any) -> bool:
    """Whether ``value`` is a valid ``rgb`` trait value: three integers 0-255."""
    return (
        isinstance(value, tuple | list)
        and len(value) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    )


def hs_to_rgb(hue: float, saturation: float) -> tuple[int, int, int]:
    """Hue in degrees (any, taken modulo 360) and saturation in percent (clamped to 0-100)."""
    saturation = max(0.0, min(100.0, saturation))
    return _bytes(colorsys.hsv_to_rgb((hue % 360) / 360, saturation / 100, 1.0))


def xy_to_rgb(x: float, y: float, what: str = "colour") -> tuple[int, int, int]:
    """CIE 1931 x, y -> full-brightness sRGB; PayloadError (naming ``what``) outside the
    diagram. Philips Hue's wide-gamut D65 matrices, as Home Assistant converts."""
    if not (0 <= x <= 1 and _MIN_Y <= y <= 1):
        raise PayloadError(f"{what} x/y ({x:g}, {y:g}) is outside the CIE diagram")
    big_x, big_z = x / y, (1 - x - y) / y
    linear = [
        max(0.0, big_x * 1.656492 - 0.354851 - big_z * 0.255038),
        max(0.0, -big_x * 0.707196 + 1.655397 + big_z * 0.036152),
        max(0.0, big_x * 0.051713 - 0.121364 + big_z * 1.011530),
    ]
    encoded = [_gamma(channel) for channel in linear]
    top = max(encoded) or 1.0
    return _bytes([channel / top for channel in encoded])


def rgb_to_xy(rgb: tuple[int, int, int]) -> tuple[float, float]:
    """sRGB 0-255 -> CIE 1931 x, y to four places (black -> 0, 0); the inverse of
    :func:`xy_to_rgb` up to brightness."""
    red, green, blue = (_linear(part / 255) for part in rgb)
    x = red * 0.664511 + green * 0.154324 + blue * 0.162028
    y = red * 0.283881 + green * 0.668433 + blue * 0.047685
    z = red * 0.000088 + green * 0.072310 + blue * 0.986039
    total = x + y + z
    if total == 0:
        return 0.0, 0.0
    return round(x / total, 4), round(y / total, 4)


def _linear(value: float) -> float:
    return ((value + 0.055) / 1.055) ** 2.4 if value > 0.04045 else value / 12.92


def _gamma(linear: float) -> float:
    return 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055


def _bytes(channels: Any) -> tuple[int, int, int]:
    red, green, blue = (max(0, min(255, round(255 * channel))) for channel in channels)
    return red, green, blue
