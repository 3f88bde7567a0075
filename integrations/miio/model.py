"""The parts of a MIoT spec: services, properties, actions, and the writes built from them.

A MIoT property is addressed by ``(siid, piid)`` and an action by ``(siid, aiid)``; both numbers
differ per model, so code finds them by the name in their type URN
(``urn:miot-spec-v2:property:fan-level:...`` -> ``fan-level``), never by number.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "INT_FORMATS",
    "CallAction",
    "MiotAction",
    "MiotProperty",
    "MiotService",
    "Operation",
    "SetProperty",
    "urn_parts",
]

INT_FORMATS = frozenset({"uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"})
"""MIoT formats whose values are JSON integers."""

_STEP_TOLERANCE = 1e-6


def urn_parts(urn: str) -> tuple[str, str, str]:
    """``(namespace, kind, name)`` of a MIoT type URN; ValueError when it is not one.

    ``urn:miot-spec-v2:property:on:00000006:philips-bulb:1`` -> ``("miot-spec-v2", "property",
    "on")``.
    """
    parts = urn.split(":")
    if len(parts) < 4 or parts[0] != "urn" or not all(parts[1:4]):
        raise ValueError(f"not a MIoT type URN: {urn!r}")
    return parts[1], parts[2], parts[3]


@dataclass(frozen=True, slots=True)
class MiotProperty:
    """One property of one service, with the constraints a device enforces."""

    siid: int
    piid: int
    name: str
    """The URN name, e.g. ``on``, ``fan-level``, ``pm2.5-density``."""
    service: str
    """The URN name of the service it belongs to, e.g. ``light``."""
    format: str
    """``bool``, ``uint8`` ... ``int64``, ``float`` or ``string``."""
    access: frozenset[str] = frozenset()
    """Subset of ``read``, ``write``, ``notify``."""
    unit: str | None = None
    """As the spec writes it: ``percentage``, ``kelvin``, ``celsius``, ``rgb``, ..."""
    value_range: tuple[float, float, float] | None = None
    """``(min, max, step)`` in device units."""
    value_list: tuple[tuple[Any, str], ...] = ()
    """``(value, description)`` pairs; when present, the only values allowed."""
    urn: str = ""

    @property
    def key(self) -> tuple[int, int]:
        """``(siid, piid)``."""
        return self.siid, self.piid

    @property
    def readable(self) -> bool:
        return "read" in self.access

    @property
    def writable(self) -> bool:
        return "write" in self.access

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this property, or None when it is."""
        if not self._format_ok(value):
            return f"{value!r} is not a {self.format}"
        if self.value_list:
            if not any(value == allowed for allowed, _ in self.value_list):
                return f"{value!r} is not in the value list"
        elif self.value_range is not None and not isinstance(value, (bool, str)):
            low, high, step = self.value_range
            if not low <= value <= high:
                return f"{value!r} is outside {low}..{high}"
            if step and not _on_step(value - low, step):
                return f"{value!r} is not a multiple of step {step} from {low}"
        return None

    def _format_ok(self, value: Any) -> bool:
        if self.format == "bool":
            return isinstance(value, bool)
        if self.format in INT_FORMATS:
            return isinstance(value, int) and not isinstance(value, bool)
        if self.format == "float":
            return (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
            )
        if self.format == "string":
            return isinstance(value, str)
        return value is None or isinstance(value, (bool, int, float, str))

    def clamp(self, number: float) -> int | float:
        """``number`` brought into the value range and onto its step, typed for the format."""
        if self.value_range is not None:
            low, high, step = self.value_range
            number = min(max(number, low), high)
            if step:
                number = low + round((number - low) / step) * step
                if number > high + _STEP_TOLERANCE:
                    number -= step
        if self.format in INT_FORMATS:
            return round(number)
        return round(float(number), 6)


def _on_step(offset: float, step: float) -> bool:
    ratio = offset / step
    return abs(ratio - round(ratio)) < _STEP_TOLERANCE


@dataclass(frozen=True, slots=True)
class MiotAction:
    """One action of one service."""

    siid: int
    aiid: int
    name: str
    """The URN name, e.g. ``start-sweep``."""
    service: str
    ins: tuple[int, ...] = ()
    """piids of the input arguments, in order."""
    outs: tuple[int, ...] = ()
    urn: str = ""

    @property
    def key(self) -> tuple[int, int]:
        """``(siid, aiid)``."""
        return self.siid, self.aiid


@dataclass(frozen=True, slots=True)
class MiotService:
    """One service: a group of properties and actions under one siid."""

    iid: int
    name: str
    """The URN name, e.g. ``light``, ``environment``."""
    namespace: str
    """``miot-spec-v2`` for standard services, ``<vendor>-spec`` for vendor ones."""
    properties: tuple[MiotProperty, ...] = ()
    actions: tuple[MiotAction, ...] = ()
    urn: str = ""

    @property
    def standard(self) -> bool:
        """Whether the service is defined by miot-spec-v2 rather than a vendor."""
        return self.namespace == "miot-spec-v2"

    def property(self, name: str) -> MiotProperty | None:
        """The first property with URN name ``name``."""
        return next((p for p in self.properties if p.name == name), None)

    def action(self, name: str) -> MiotAction | None:
        """The first action with URN name ``name``."""
        return next((a for a in self.actions if a.name == name), None)

    def __iter__(self) -> Iterator[MiotProperty]:
        return iter(self.properties)


@dataclass(frozen=True, slots=True)
class SetProperty:
    """Write ``value`` (device units, already validated) to one property."""

    prop: MiotProperty
    value: Any


@dataclass(frozen=True, slots=True)
class CallAction:
    """Call one action with ``params`` (device units, in the order of ``action.ins``)."""

    action: MiotAction
    params: tuple[Any, ...] = ()


Operation = SetProperty | CallAction
"""One thing to send to a device for one trait command."""
