"""The registry: areas, floors, devices, aliases, traits and state; the one truth.

Handlers read it, drivers push state into it (it is their ``StateSink``).
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from integrations.base import DeviceKind, DeviceSpec, DeviceState, Trait

__all__ = ["Area", "Device", "Registry", "slugify", "normalize_name", "HA_DOMAINS"]

_LOGGER = logging.getLogger(__name__)

HA_DOMAINS: Mapping[DeviceKind, str] = {
    DeviceKind.LIGHT: "light",
    DeviceKind.SWITCH: "switch",
    DeviceKind.FAN: "fan",
    DeviceKind.PURIFIER: "fan",
    DeviceKind.COVER: "cover",
    DeviceKind.CLIMATE: "climate",
    DeviceKind.VACUUM: "vacuum",
    DeviceKind.SENSOR: "sensor",
    DeviceKind.BINARY_SENSOR: "binary_sensor",
    DeviceKind.LOCK: "lock",
    DeviceKind.CAMERA: "camera",
    DeviceKind.MEDIA_PLAYER: "media_player",
}
"""Our device kinds as Home Assistant domains (a purifier is a fan to HA)."""


def slugify(text: str) -> str:
    """``"Living room"`` -> ``"living_room"``; letters of any script are kept (``"客厅"``)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[^\w]+", "_", folded).strip("_") or "unnamed"


def normalize_name(text: str) -> str:
    """Case- and space-insensitive key for matching spoken names."""
    return " ".join(text.casefold().split())


@dataclass(frozen=True, slots=True)
class Area:
    """A room, as Home Assistant users know it."""

    id: str
    name: str
    floor: str | None = None
    """The floor's name."""
    aliases: tuple[str, ...] = ()

    @property
    def floor_id(self) -> str | None:
        return slugify(self.floor) if self.floor else None


@dataclass(frozen=True, slots=True)
class Device:
    """One device people can talk about."""

    id: str
    """Stable id: ``miio:<did>``, ``virtual:<name>``, ..."""
    name: str
    spec: DeviceSpec
    driver: str
    """Key of the driver that carries out its commands."""
    area_id: str | None = None
    aliases: tuple[str, ...] = ()
    exposed: bool = True
    """Whether the LLM may see and act on it."""
    sensitive: bool = False
    """Whether actions need a confirmation."""

    @property
    def kind(self) -> DeviceKind:
        return self.spec.kind

    @property
    def traits(self) -> frozenset[Trait]:
        return self.spec.traits

    @property
    def domain(self) -> str:
        return HA_DOMAINS[self.spec.kind]

    def spoken_names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


StateListener = Callable[[Device, DeviceState], None]


@dataclass
class Registry:
    """All areas and devices, and each device's latest state."""

    _areas: dict[str, Area] = field(default_factory=dict)
    _devices: dict[str, Device] = field(default_factory=dict)
    _states: dict[str, DeviceState] = field(default_factory=dict)
    _listeners: list[StateListener] = field(default_factory=list)
    version: int = 0
    """Bumped whenever areas or devices change (not on state updates)."""
    _floor_aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _short: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    _short_version: int = -1

    # --- building -------------------------------------------------------------
    def add_area(self, area: Area) -> None:
        self._areas[area.id] = area
        self.version += 1

    def add_device(self, device: Device) -> None:
        if device.area_id is not None and device.area_id not in self._areas:
            raise ValueError(f"device {device.name!r}: unknown area id {device.area_id!r}")
        self._devices[device.id] = device
        self._states.setdefault(device.id, DeviceState())
        self.version += 1

    def remove_device(self, device_id: str) -> None:
        """Forget a device (an MQTT device removed from discovery); unknown ids are ignored."""
        if self._devices.pop(device_id, None) is not None:
            self._states.pop(device_id, None)
            self.version += 1

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    # --- reading --------------------------------------------------------------
    def areas(self) -> list[Area]:
        return list(self._areas.values())

    def devices(self) -> list[Device]:
        return list(self._devices.values())

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._devices

    def device(self, device_id: str) -> Device:
        return self._devices[device_id]

    def area(self, area_id: str) -> Area:
        return self._areas[area_id]

    def floors(self) -> dict[str, str]:
        """Floor id -> floor name, for every floor some area is on."""
        return {a.floor_id: a.floor for a in self._areas.values() if a.floor and a.floor_id}

    def add_floor_aliases(self, name: str, aliases: Iterable[str]) -> None:
        """Other names of the floor ``name`` ("upstairs" for "First floor")."""
        self._floor_aliases[slugify(name)] = tuple(aliases)
        self.version += 1

    def floor_names(self) -> dict[str, tuple[str, ...]]:
        """Floor id -> its name and aliases, for every floor some area is on."""
        return {
            fid: (name, *self._floor_aliases.get(fid, ())) for fid, name in self.floors().items()
        }

    def state(self, device_id: str) -> DeviceState:
        return self._states[device_id]

    def find_by_name(self, key: str) -> list[Device]:
        """Devices whose name or an alias normalizes to ``key``; if none, those it is a
        short name of ("ceiling light" for "Kitchen ceiling light", see ``short_names``)."""
        key = normalize_name(key)
        named = [
            d
            for d in self._devices.values()
            if any(normalize_name(n) == key for n in d.spoken_names())
        ]
        if named:
            return named
        short = self.short_names()
        return [d for d in self._devices.values() if key in short.get(d.id, ())]

    def short_names(self) -> Mapping[str, tuple[str, ...]]:
        """Device id -> the short names people may call it by (normalized)."""
        if self._short_version != self.version:
            from assistant.act.short_names import short_names  # it reads Device

            taken = [n for d in self._devices.values() for n in d.spoken_names()]
            areas: dict[str, list[str]] = {}
            for area in self._areas.values():
                names = [normalize_name(n) for n in (area.name, *area.aliases)]
                areas[area.id] = names
                taken += names
            taken += [n for names in self.floor_names().values() for n in names]
            self._short = short_names(
                self._devices.values(), areas, {normalize_name(n) for n in taken}
            )
            self._short_version = self.version
        return self._short

    def find_area(self, name: str) -> Area | None:
        key = normalize_name(name)
        for area in self._areas.values():
            if key in {normalize_name(n) for n in (area.name, *area.aliases)} or key == area.id:
                return area
        return None

    def in_areas(self, area_ids: Iterable[str]) -> list[Device]:
        wanted = set(area_ids)
        return [d for d in self._devices.values() if d.area_id in wanted]

    def areas_on_floor(self, floor_id: str) -> list[Area]:
        return [a for a in self._areas.values() if a.floor_id == floor_id]

    # --- StateSink ------------------------------------------------------------
    def update_state(
        self, device_id: str, values: Mapping[str, Any], *, available: bool = True
    ) -> None:
        if device_id not in self._devices:
            _LOGGER.debug("state for unknown device %s ignored", device_id)
            return
        new = self._states[device_id].merged(values, available)
        self._states[device_id] = new
        self._notify(device_id, new)

    def set_available(self, device_id: str, available: bool) -> None:
        if device_id not in self._devices:
            return
        old = self._states[device_id]
        new = DeviceState(old.values, available, time.time())
        self._states[device_id] = new
        if old.available != available:
            _LOGGER.info(
                "%s is %s",
                self._devices[device_id].name,
                "available" if available else "unavailable",
            )
        self._notify(device_id, new)

    def _notify(self, device_id: str, state: DeviceState) -> None:
        device = self._devices[device_id]
        for listener in self._listeners:
            try:
                listener(device, state)
            except Exception:  # a listener must never break state tracking
                _LOGGER.exception("state listener failed for %s", device.name)
