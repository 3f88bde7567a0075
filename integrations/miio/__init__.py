"""Xiaomi miIO / MIoT devices on the LAN: spec files -> traits, and the python-miio driver.

python-miio stays inside this package: ``transport`` is the only module that imports it,
and it is imported only when the driver is first used (the CLI's ``check-config`` and a
``say`` sent to a running daemon never pay for it).
"""

from __future__ import annotations

from typing import Any

from .spec import MiotSpec, SpecError, SpecNotFound, bundled_models, load_spec

__all__ = [
    "MAX_BATCH",
    "MiioDriver",
    "MiotSpec",
    "SpecError",
    "SpecNotFound",
    "bundled_models",
    "load_spec",
]


def __getattr__(name: str) -> Any:
    if name in ("MAX_BATCH", "MiioDriver"):
        from . import driver

        return getattr(driver, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
