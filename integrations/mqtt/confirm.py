"""Waiting for a device to report the state a command asked for."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.messages import DeviceCommand
    from integrations.base import DeviceSpec

__all__ = ["Waiter", "Waiters", "confirms"]

_COVER_STATES = {"open": {"open", "opening"}, "close": {"closed", "closing"}}
_TOLERANCE = {"brightness": 2, "position": 3, "target_temperature": 0.5, "fan_speed": 34}
"""How far a reported value may be from the commanded one (rounding on the device side:
brightness 0-254, a fan with three speeds, half-degree thermostats)."""


def confirms(trait: str, wanted: Any, reported: Any) -> bool:
    """Whether ``reported`` (a state value) shows that the command ``trait=wanted`` took."""
    if trait == "cover":
        return wanted == "stop" or reported in _COVER_STATES.get(wanted, {wanted})
    if trait == "vacuum":
        return True  # any status report after a start/dock command
    if trait == "color_temp" and _is_number(wanted) and _is_number(reported):
        return abs(reported - wanted) <= 0.03 * wanted
    if trait == "rgb" and isinstance(reported, Sequence) and isinstance(wanted, Sequence):
        return len(reported) == len(wanted) and all(
            abs(a - b) <= 48 for a, b in zip(reported, wanted, strict=True)
        )
    if trait in _TOLERANCE and _is_number(wanted) and _is_number(reported):
        return abs(reported - wanted) <= _TOLERANCE[trait]
    if isinstance(wanted, str) and isinstance(reported, str):
        return wanted.casefold() == reported.casefold()
    return bool(wanted == reported)


def _within(trait: str, value: Any, spec: DeviceSpec | None) -> Any:
    """The value the device will really take: drivers clamp to the device's range."""
    if spec is None or not _is_number(value):
        return value
    low, high = {
        "color_temp": (spec.min_color_temp, spec.max_color_temp),
        "target_temperature": (spec.min_temperature, spec.max_temperature),
    }.get(trait, (None, None))
    if low is not None:
        value = max(low, value)
    if high is not None:
        value = min(high, value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Waiter:
    """One command waiting for its confirmation."""

    def __init__(
        self, device_id: str, commands: Sequence[DeviceCommand], spec: DeviceSpec | None = None
    ) -> None:
        self.device_id = device_id
        self._wanted = {c.trait: _within(c.trait, c.value, spec) for c in commands}
        self._seen: set[str] = set()
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def reported(self, values: Mapping[str, Any]) -> None:
        for trait, wanted in self._wanted.items():
            if trait in values and confirms(trait, wanted, values[trait]):
                self._seen.add(trait)
        if len(self._seen) == len(self._wanted) and not self._done.done():
            self._done.set_result(None)

    async def wait(self, timeout: float) -> bool:
        """True when the device confirmed every command within ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._done)
        return self._done.done()


class Waiters:
    """Every waiter of every device; fed by the driver with each state report."""

    def __init__(self) -> None:
        self._by_device: dict[str, list[Waiter]] = {}

    def expect(
        self, device_id: str, commands: Sequence[DeviceCommand], spec: DeviceSpec | None = None
    ) -> Waiter:
        waiter = Waiter(device_id, commands, spec)
        self._by_device.setdefault(device_id, []).append(waiter)
        return waiter

    def reported(self, device_id: str, values: Mapping[str, Any]) -> None:
        for waiter in self._by_device.get(device_id, ()):
            waiter.reported(values)

    def discard(self, waiter: Waiter) -> None:
        waiters = self._by_device.get(waiter.device_id, [])
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters:
            self._by_device.pop(waiter.device_id, None)
