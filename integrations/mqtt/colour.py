"""Colour helpers the MQTT sources share: device colour spaces -> the ``rgb`` trait.

The ``rgb`` trait is a full-brightness sRGB colour, ``(red, green, blue)`` each 0-255;
brightness is its own trait, so colours read from a device are scaled up to full brightness.
"""

from __future__ import annotations

import colorsys
from typing import Any

from .entity import PayloadError

__all__ = ["hs_to_rgb", "is_rgb", "xy_to_rgb"]

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
    """CIE 1931 x, y -> sRGB (D65); PayloadError (naming ``what``) outside the diagram."""
    if not (0 <= x <= 1 and _MIN_Y <= y <= 1):
        raise PayloadError(f"{what} x/y ({x:g}, {y:g}) is outside the CIE diagram")
    big_x, big_z = x / y, (1 - x - y) / y
    linear = [
        max(0.0, 3.2406 * big_x - 1.5372 - 0.4986 * big_z),
        max(0.0, -0.9689 * big_x + 1.8758 + 0.0415 * big_z),
        max(0.0, 0.0557 * big_x - 0.2040 + 1.0570 * big_z),
    ]
    top = max(linear) or 1.0
    return _bytes([_gamma(channel / top) for channel in linear])


def _gamma(linear: float) -> float:
    return 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055


def _bytes(channels: Any) -> tuple[int, int, int]:
    red, green, blue = (max(0, min(255, round(255 * channel))) for channel in channels)
    return red, green, blue
