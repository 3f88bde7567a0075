"""What every driver shares: traits, device state, the Driver protocol and its errors.

Units are fixed here once so that handlers and drivers agree:

========================  ===============================================
trait                     value
========================  ===============================================
``on_off``                bool
``brightness``            int, percent 0-100
``color_temp``            int, kelvin
``rgb``                   tuple[int, int, int], each 0-255
``position``              int, percent 0-100 (0 closed, 100 open)
``cover``                 command: "open" | "close" | "stop";
                          state: "open" | "closed" | "opening" | "closing" | "stopped"
``target_temperature``    float, degrees Celsius
``current_temperature``   float, degrees Celsius (read only)
``humidity``              float, percent (read only)
``pm25``                  float, micrograms per cubic metre (read only)
``hvac_mode``             str, e.g. "cool", "heat", "auto", "dry", "fan"
``fan_speed``             int, percent 0-100 (drivers map to device levels)
``mode``                  str, device preset such as "auto", "sleep"
``vacuum``                command: "start" | "stop" | "dock"; state: a status str
``battery``               int, percent (read only)
``locked``                bool (a lock: True when locked)
``active``                bool, read only (a binary sensor: motion, door open, ...)
``value``                 float | str, read only (any other sensor, in its own unit)
========================  ===============================================
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from assistant.errors import AssistantError

if TYPE_CHECKING:
    from assistant.messages import DeviceCommand

__all__ = [
    "Trait",
    "DeviceKind",
    "DeviceState",
    "DeviceSpec",
    "StateSink",
    "Driver",
    "DriverError",
    "Unreachable",
    "Refused",
    "Unsupported",
]


class Trait(enum.StrEnum):
    """What a device can do or report; the value units are in the module docstring."""

    ON_OFF = "on_off"
    BRIGHTNESS = "brightness"
    COLOR_TEMP = "color_temp"
    RGB = "rgb"
    POSITION = "position"
    COVER = "cover"
    TARGET_TEMPERATURE = "target_temperature"
    CURRENT_TEMPERATURE = "current_temperature"
    HUMIDITY = "humidity"
    PM25 = "pm25"
    HVAC_MODE = "hvac_mode"
    FAN_SPEED = "fan_speed"
    MODE = "mode"
    VACUUM = "vacuum"
    BATTERY = "battery"
    LOCKED = "locked"
    ACTIVE = "active"
    VALUE = "value"


class DeviceKind(enum.StrEnum):
    """The kind of a device, as people name it; maps onto Home Assistant domains."""

    LIGHT = "light"
    SWITCH = "switch"
    FAN = "fan"
    COVER = "cover"
    CLIMATE = "climate"
    VACUUM = "vacuum"
    PURIFIER = "purifier"
    SENSOR = "sensor"
    BINARY_SENSOR = "binary_sensor"
    LOCK = "lock"
    CAMERA = "camera"
    MEDIA_PLAYER = "media_player"


@dataclass(frozen=True, slots=True)
class DeviceState:
    """A snapshot of one device."""

    values: Mapping[str, Any] = field(default_factory=dict)
    """Trait name -> value, in the units of the module docstring."""
    available: bool = False
    """Whether the device answered the last time it was asked."""
    updated_at: float = 0.0
    """When this snapshot was taken, ``time.time()`` seconds."""

    def merged(self, values: Mapping[str, Any], available: bool = True) -> DeviceState:
        """A new snapshot with ``values`` laid over this one."""
        return DeviceState({**self.values, **values}, available, time.time())


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """What a driver learned about a device: its kind and traits."""

    kind: DeviceKind
    traits: frozenset[Trait]
    model: str | None = None
    modes: tuple[str, ...] = ()
    """Named presets the ``mode`` trait accepts."""
    min_color_temp: int | None = None
    """Kelvin."""
    max_color_temp: int | None = None
    """Kelvin."""
    min_temperature: float | None = None
    """Degrees Celsius."""
    max_temperature: float | None = None
    """Degrees Celsius."""
    device_class: str | None = None
    """Finer kind where one matters: a cover's ``garage``/``door``/``gate``, a sensor's
    ``temperature``/``motion``/``door``, Home Assistant's device classes."""
    unit: str | None = None
    """Unit of the ``value`` trait (a sensor that is not temperature/humidity/...)."""


class StateSink(Protocol):
    """Where drivers push state: the registry implements this."""

    def update_state(
        self, device_id: str, values: Mapping[str, Any], *, available: bool = True
    ) -> None: ...

    def set_available(self, device_id: str, available: bool) -> None: ...


@runtime_checkable
class Driver(Protocol):
    """A device protocol. All methods run on the event loop and never block it."""

    async def start(self) -> None:
        """Connect, learn each device's spec, push a first state."""

    async def stop(self) -> None:
        """Release sockets and threads."""

    async def execute(self, device_id: str, commands: Sequence[DeviceCommand]) -> None:
        """Carry out ``commands`` on one device; push the new state; raise a DriverError."""

    async def refresh(self, device_id: str) -> None:
        """Read the device's state and push it; raise a DriverError."""


class DriverError(AssistantError):
    """A device could not do what was asked. ``str()`` is short and safe to speak."""

    code = "driver-error"


class Unreachable(DriverError):
    """No answer within the deadline (offline, wrong address, or wrong token)."""

    code = "unreachable"


class Refused(DriverError):
    """The device answered with an error code."""

    code = "refused"

    def __init__(self, message: str, device_code: int | None = None) -> None:
        super().__init__(message)
        self.device_code = device_code


class Unsupported(DriverError):
    """The device has no way to do this."""

    code = "unsupported"
