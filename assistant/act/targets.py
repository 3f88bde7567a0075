"""Turn an intent's slots (name, area, floor, domain, device class) into devices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant.act.registry import Device, Registry
from integrations.base import DeviceKind

__all__ = ["Targets", "resolve_targets"]

# Home Assistant cover device classes our covers answer to (curtains are all we drive).
_COVER_CLASSES = {"curtain", "blind", "shade", "shutter", "awning"}


@dataclass(frozen=True, slots=True)
class Targets:
    """The devices an intent is about, or why there are none."""

    devices: tuple[Device, ...] = ()
    problem: str | None = None
    """Why nothing can be done: ``no_device``, ``no_area``, ``ambiguous``, ``none_in_area``."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Words for the reply: ``name``, ``area``, ``floor``, ``candidates``."""
    area_name: str | None = None
    """The area the command was scoped to, if any."""


def _domains(slots: Mapping[str, Any]) -> set[str] | None:
    value = slots.get("domain")
    if value is None:
        return None
    return {value} if isinstance(value, str) else set(value)


def _matches_kind(device: Device, domains: set[str] | None, device_class: str | None) -> bool:
    if domains is not None and device.domain not in domains:
        return False
    if device_class is not None:
        if device.kind is not DeviceKind.COVER or device_class not in _COVER_CLASSES:
            return False
    return True


def resolve_targets(
    registry: Registry,
    slots: Mapping[str, Any],
    slot_texts: Mapping[str, str],
    *,
    speaker_area: str | None = None,
) -> Targets:
    """Find the devices meant by ``slots``; ``speaker_area`` breaks ties between names."""
    domains = _domains(slots)
    device_class = slots.get("device_class")
    area_id = slots.get("area")
    floor_id = slots.get("floor")
    area_ids: set[str] | None = None
    if floor_id is not None:
        area_ids = {a.id for a in registry.areas_on_floor(floor_id)}
    if area_id is not None:
        area_ids = {area_id}
    area_name = registry.area(area_id).name if area_id else None

    if "name" in slots:
        return _by_name(registry, slots["name"], slot_texts, area_ids, speaker_area, area_name)

    found = [
        d
        for d in registry.devices()
        if (area_ids is None or d.area_id in area_ids) and _matches_kind(d, domains, device_class)
    ]
    if not found:
        where = area_name or (registry.floors().get(floor_id) if floor_id else None)
        return Targets(
            problem="none_in_area" if where else "none_of_kind",
            details={"area": where, "domain": device_class or next(iter(domains or {"device"}))},
            area_name=area_name,
        )
    return Targets(tuple(found), area_name=area_name)


def _by_name(
    registry: Registry,
    key: str,
    slot_texts: Mapping[str, str],
    area_ids: set[str] | None,
    speaker_area: str | None,
    area_name: str | None,
) -> Targets:
    spoken = slot_texts.get("name", key)
    candidates = registry.find_by_name(key)
    if area_ids is not None:
        candidates = [d for d in candidates if d.area_id in area_ids]
    if not candidates:
        return Targets(problem="no_device", details={"name": spoken, "area": area_name})
    if len(candidates) > 1 and speaker_area is not None:
        here = [d for d in candidates if d.area_id == speaker_area]
        if len(here) == 1:
            candidates = here
    if len(candidates) > 1:
        return Targets(
            problem="ambiguous",
            details={"name": spoken, "candidates": [d.name for d in candidates]},
        )
    return Targets((candidates[0],), area_name=area_name)
