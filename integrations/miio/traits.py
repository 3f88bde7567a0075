"""Which MIoT properties and actions carry which trait, and how values convert both ways.

Everything is found by URN name in a chosen service (the device's main service, ``environment``,
``battery``, ...), so the same code serves every model. Trait units are those of
``integrations.base``; device units are whatever the spec says, and writes are clamped to the
spec's range and step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from integrations.base import Trait, Unsupported

from .model import CallAction, MiotAction, MiotProperty, MiotService, Operation, SetProperty

__all__ = ["Binding", "choice_name", "main_service", "resolve_bindings"]

# Device type URN name -> URN name of its main service, where it differs.
_MAIN_SERVICE = {"outlet": "switch"}
# Fewer positions than this in a value-range are treated as discrete levels.
_MAX_LEVELS = 10
_AUTO = "auto"
_COVER_WORDS = {"open": "open", "close": "close", "pause": "stop", "stop": "stop"}
_VACUUM_STATES = {
    "sweeping": "cleaning",
    "cleaning": "cleaning",
    "sweeping and mopping": "cleaning",
    "mopping": "cleaning",
    "idle": "idle",
    "sleep": "idle",
    "paused": "paused",
    "error": "error",
    "go charging": "returning",
    "charging": "docked",
    "charging completed": "docked",
    "full": "docked",
}
_VACUUM_ACTIONS = {
    "start": ("start-sweep", "start-clean"),
    "stop": ("stop-sweeping", "stop-sweep", "stop-clean"),
    "dock": ("start-charge", "return-to-base"),
}


@dataclass(frozen=True, slots=True)
class Binding:
    """Where one trait lives on a device."""

    trait: Trait
    read: MiotProperty | None = None
    """The property the trait's state is read from."""
    write: MiotProperty | None = None
    """The property a new value is written to."""
    choices: tuple[tuple[Any, str], ...] = ()
    """Device value <-> our lower-case name (mode, hvac_mode, cover, vacuum status)."""
    levels: tuple[Any, ...] = ()
    """Discrete device levels, lowest first (fan_speed)."""
    actions: tuple[tuple[str, MiotAction], ...] = ()
    """Command -> action (vacuum)."""


def choice_name(description: str, value: Any) -> str:
    """Our name for a value-list entry: its description, lower-case, single-spaced."""
    name = " ".join(description.split()).lower()
    return name or str(value)


def _norm(text: str) -> str:
    return " ".join(text.replace("_", " ").replace("-", " ").split()).lower()


def main_service(device_type: str, services: Sequence[MiotService]) -> MiotService | None:
    """The service that carries a device type's main function (``light`` for a light)."""
    wanted = _MAIN_SERVICE.get(device_type, device_type)
    found = _service(services, wanted)
    if found is not None:
        return found
    return next((s for s in services if s.standard and s.name != "device-information"), None)


def _service(services: Sequence[MiotService], name: str) -> MiotService | None:
    named = [s for s in services if s.name == name]
    return next((s for s in named if s.standard), named[0] if named else None)


def _rw(trait: Trait, prop: MiotProperty | None, **extra: Any) -> Binding | None:
    if prop is None or not (prop.readable or prop.writable):
        return None
    read = prop if prop.readable else None
    write = prop if prop.writable else None
    return Binding(trait, read=read, write=write, **extra)


def _ranged(prop: MiotProperty | None) -> MiotProperty | None:
    return prop if prop is not None and prop.value_range is not None else None


def _listed(prop: MiotProperty | None) -> MiotProperty | None:
    return prop if prop is not None and prop.value_list else None


def _choices(prop: MiotProperty) -> tuple[tuple[Any, str], ...]:
    return tuple((value, choice_name(desc, value)) for value, desc in prop.value_list)


def _fan_speed(main: MiotService, services: Sequence[MiotService]) -> Binding | None:
    candidates = [main.property("fan-level")]
    control = _service(services, "fan-control")
    if control is not None:
        candidates.append(control.property("fan-level"))
    candidates += [s.property("speed-level") for s in services]
    prop = next((p for p in candidates if p is not None and (p.value_list or p.value_range)), None)
    if prop is None:
        return None
    if prop.value_list:
        levels = tuple(v for v, d in prop.value_list if _norm(d) != _AUTO)
        return _rw(Trait.FAN_SPEED, prop, levels=levels)
    low, high, step = prop.value_range  # type: ignore[misc]
    step = step or 1
    if (high - low) / step + 1 <= _MAX_LEVELS:
        count = round((high - low) / step) + 1
        return _rw(
            Trait.FAN_SPEED, prop, levels=tuple(prop.clamp(low + i * step) for i in range(count))
        )
    return _rw(Trait.FAN_SPEED, prop)


def _position(main: MiotService) -> Binding | None:
    current = _ranged(main.property("current-position"))
    target = _ranged(main.property("target-position"))
    read = next((p for p in (current, target) if p is not None and p.readable), None)
    write = target if target is not None and target.writable else None
    if read is None and write is None:
        return None
    return Binding(Trait.POSITION, read=read, write=write)


def _cover(main: MiotService) -> Binding | None:
    prop = _listed(main.property("motor-control"))
    if prop is None or not prop.writable:
        return None
    choices = tuple(
        (value, _COVER_WORDS[_norm(desc)])
        for value, desc in prop.value_list
        if _norm(desc) in _COVER_WORDS
    )
    return Binding(Trait.COVER, write=prop, choices=choices) if choices else None


def _vacuum(main: MiotService, services: Sequence[MiotService]) -> Binding | None:
    battery = _service(services, "battery")
    ordered = [main, *([battery] if battery else []), *services]
    actions = []
    for command, names in _VACUUM_ACTIONS.items():
        found = [s.action(n) for n in names for s in ordered]
        action = next((a for a in found if a is not None and not a.ins), None)
        if action is not None:
            actions.append((command, action))
    status = _listed(main.property("status"))
    choices = ()
    if status is not None:
        choices = tuple(
            (v, _VACUUM_STATES.get(_norm(d), choice_name(d, v))) for v, d in status.value_list
        )
    if not actions and status is None:
        return None
    return Binding(Trait.VACUUM, read=status, choices=choices, actions=tuple(actions))


def _read_only(trait: Trait, service: MiotService | None, name: str) -> Binding | None:
    prop = service.property(name) if service is not None else None
    if prop is None or not prop.readable:
        return None
    return Binding(trait, read=prop)


def resolve_bindings(device_type: str, services: Sequence[MiotService]) -> dict[Trait, Binding]:
    """Every trait the services support, for a device of type ``device_type`` (URN name)."""
    main = main_service(device_type, services)
    if main is None:
        return {}
    env = _service(services, "environment")
    battery = _service(services, "battery")
    mode = _listed(main.property("mode"))
    is_climate = device_type == "air-conditioner"
    found = [
        _rw(Trait.ON_OFF, main.property("on")),
        _rw(Trait.BRIGHTNESS, _ranged(main.property("brightness"))),
        _rw(Trait.COLOR_TEMP, _ranged(main.property("color-temperature"))),
        _rw(Trait.RGB, _ranged(main.property("color"))),
        _fan_speed(main, services),
        _rw(Trait.HVAC_MODE if is_climate else Trait.MODE, mode, choices=_choices(mode))
        if mode is not None
        else None,
        _position(main),
        _cover(main),
        _rw(Trait.TARGET_TEMPERATURE, _ranged(main.property("target-temperature"))),
        _read_only(Trait.CURRENT_TEMPERATURE, env, "temperature"),
        _read_only(Trait.HUMIDITY, env, "relative-humidity"),
        _read_only(Trait.PM25, env, "pm2.5-density"),
        _vacuum(main, services) if device_type == "vacuum" else None,
        _read_only(Trait.BATTERY, battery, "battery-level"),
    ]
    return {b.trait: b for b in found if b is not None}


# ----------------------------------------------------------------------------- conversions


def _percent_to_device(prop: MiotProperty, percent: float) -> int | float:
    low, high, _ = prop.value_range  # type: ignore[misc]
    percent = min(max(percent, 0.0), 100.0)
    value = percent * high / 100 if low >= 0 else low + (high - low) * percent / 100
    return prop.clamp(value)


def _device_to_percent(prop: MiotProperty, raw: float) -> int:
    low, high, _ = prop.value_range  # type: ignore[misc]
    if low >= 0:
        percent = raw * 100 / high if high else 0
    else:
        percent = (raw - low) * 100 / (high - low)
    return int(min(max(math.floor(percent + 0.5), 0), 100))


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, not {value!r}")
    return float(value)


def _encode_percent(b: Binding, value: Any) -> Any:
    assert b.write is not None
    return _percent_to_device(b.write, _number(value, b.trait.value))


def _decode_percent(b: Binding, raw: Any) -> Any:
    assert b.read is not None
    return _device_to_percent(b.read, _number(raw, b.trait.value))


def _encode_fan(b: Binding, value: Any) -> Any:
    percent = min(max(_number(value, "fan_speed"), 0.0), 100.0)
    if not b.levels:
        return _encode_percent(b, percent)
    index = min(max(math.floor(percent * len(b.levels) / 100 + 0.5) - 1, 0), len(b.levels) - 1)
    return b.levels[index]


def _decode_fan(b: Binding, raw: Any) -> Any:
    if not b.levels:
        return _decode_percent(b, raw)
    if raw not in b.levels:
        return None  # e.g. "Auto": not a speed
    return math.floor((b.levels.index(raw) + 1) * 100 / len(b.levels) + 0.5)


def _encode_choice(b: Binding, value: Any) -> Any:
    wanted = _norm(str(value))
    for device_value, name in b.choices:
        if _norm(name) == wanted:
            return device_value
    known = ", ".join(name for _, name in b.choices)
    raise Unsupported(f"no {b.trait.value} {value!r} (has: {known})")


def _decode_choice(b: Binding, raw: Any) -> Any:
    return next((name for device_value, name in b.choices if device_value == raw), None)


def _encode_rgb(b: Binding, value: Any) -> Any:
    assert b.write is not None
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise ValueError(f"rgb must be (r, g, b), not {value!r}")
    r, g, b_ = (int(min(max(_number(c, "rgb"), 0), 255)) for c in value)
    return b.write.clamp((r << 16) | (g << 8) | b_)


def _decode_rgb(b: Binding, raw: Any) -> Any:
    packed = int(_number(raw, "rgb"))
    return ((packed >> 16) & 0xFF, (packed >> 8) & 0xFF, packed & 0xFF)


def _encode_number(b: Binding, value: Any) -> Any:
    assert b.write is not None
    return b.write.clamp(_number(value, b.trait.value))


def _encode_bool(b: Binding, value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"on_off must be true or false, not {value!r}")
    return value


def _decode_bool(b: Binding, raw: Any) -> Any:
    return bool(raw) if isinstance(raw, (bool, int)) else None


def _decode_float(b: Binding, raw: Any) -> Any:
    return round(_number(raw, b.trait.value), 2)


def _decode_int(b: Binding, raw: Any) -> Any:
    return round(_number(raw, b.trait.value))


_Codec = tuple[Callable[[Binding, Any], Any] | None, Callable[[Binding, Any], Any] | None]
_CODECS: dict[Trait, _Codec] = {
    Trait.ON_OFF: (_encode_bool, _decode_bool),
    Trait.BRIGHTNESS: (_encode_percent, _decode_percent),
    Trait.POSITION: (_encode_percent, _decode_percent),
    Trait.COLOR_TEMP: (_encode_number, _decode_int),
    Trait.RGB: (_encode_rgb, _decode_rgb),
    Trait.FAN_SPEED: (_encode_fan, _decode_fan),
    Trait.MODE: (_encode_choice, _decode_choice),
    Trait.HVAC_MODE: (_encode_choice, _decode_choice),
    Trait.COVER: (_encode_choice, None),
    Trait.VACUUM: (None, _decode_choice),
    Trait.TARGET_TEMPERATURE: (_encode_number, _decode_float),
    Trait.CURRENT_TEMPERATURE: (None, _decode_float),
    Trait.HUMIDITY: (None, _decode_float),
    Trait.PM25: (None, _decode_float),
    Trait.BATTERY: (None, _decode_int),
}


def encode(binding: Binding, value: Any) -> Operation:
    """The operation that sets ``binding``'s trait to ``value`` (trait units).

    Raises Unsupported for read-only traits and unknown names, ValueError for a value of the
    wrong type.
    """
    if binding.trait is Trait.VACUUM:
        action = dict(binding.actions).get(_norm(str(value)))
        if action is None:
            known = ", ".join(c for c, _ in binding.actions)
            raise Unsupported(f"no vacuum command {value!r} (has: {known})")
        return CallAction(action)
    encoder = _CODECS[binding.trait][0]
    if encoder is None or binding.write is None:
        raise Unsupported(f"{binding.trait.value} is read-only")
    return SetProperty(binding.write, encoder(binding, value))


def decode(binding: Binding, raw: Any) -> Any:
    """The trait value for a raw device value; None when it has no trait meaning."""
    decoder = _CODECS[binding.trait][1]
    if decoder is None:
        return None
    return decoder(binding, raw)
