"""Xiaomi miIO / MIoT devices on the LAN: spec files -> traits, and the python-miio driver.

python-miio stays inside this package: ``transport`` is the only module that imports it.
"""

from .driver import MAX_BATCH, MiioDriver
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
