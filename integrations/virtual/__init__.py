"""Virtual devices that speak the real miIO protocol on 127.0.0.1 (tests and the demo home)."""

from .device import VirtualMiioDevice, VirtualRequest
from .home import VirtualHome

__all__ = ["VirtualHome", "VirtualMiioDevice", "VirtualRequest"]
