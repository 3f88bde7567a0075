"""Zigbee2MQTT *exposes* -> trait bindings, and values both ways (``integrations.base`` units).

An expose is either specific (``light``, ``switch``, ``cover``, ``lock``, ``climate``, ``fan``,
with ``features``) or generic (``binary``, ``numeric``, ``enum``, ...). Each generic one names
its JSON ``property`` (``state_l1`` on endpoint ``l1``) and its ``access`` bits: 1 published
in the state message, 2 settable through ``/set``, 4 readable through ``/get``.

- Kind: the first of light, switch, cover, lock, climate, fan the device exposes; else a binary
  sensor (occupancy, contact, water leak, ...); else a sensor.
- Several endpoints (a two-gang switch): the first expose without an endpoint drives the
  entity, else the first one; the other endpoints are not modelled.
- light: ``state`` ON/OFF -> on_off, ``brightness`` 0..value_max (254) -> percent,
  ``color_temp`` mireds -> kelvin (range from value_min/value_max), ``color_hs`` /
  ``color_xy`` -> rgb (set as ``{"color": {"r","g","b"}}``, Zigbee2MQTT converts).
- cover: ``state`` OPEN/CLOSE/STOP <-> the cover trait; ``position`` 0-100 (100 open).
- lock: ``state`` LOCK/UNLOCK -> locked. climate: ``occupied_heating_setpoint`` (or
  ``current_heating_setpoint``, ``occupied_cooling_setpoint``) -> target_temperature,
  ``local_temperature`` -> current_temperature, ``system_mode`` -> hvac_mode (``fan_only`` is
  "fan"). fan: ``fan_state`` -> on_off, ``fan_mode`` -> mode, and fan_speed over its
  low/medium/high levels.
- ``active`` is true when a binary sensor detects something, or is *open*: Zigbee2MQTT's
  ``contact`` is true when closed, and its expose says so (value_on false), which is followed.
- temperature, humidity, pm25 and battery are read on any device; another numeric
  measurement becomes ``value`` (with its unit) only on a device with nothing else but battery.
  A device with nothing but a battery (a remote) is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from integrations.base import DeviceKind, Trait, Unsupported

from .colour import hs_to_rgb, is_rgb, xy_to_rgb
from .entity import PayloadError, kelvin_to_mired, mired_to_kelvin, number, scale

__all__ = ["READ", "WRITE", "Binding", "device_bindings", "read_value", "write_value"]

READ, WRITE = 1, 2
"""``access`` bits: published in the state message; settable through ``/set``."""

_SPEEDS = ("low", "medium", "high")
_COVER_STATES = {"OPEN": "open", "CLOSE": "closed", "CLOSED": "closed", "STOP": "stopped"}
_COVER_COMMANDS = {"open": "OPEN", "close": "CLOSE", "stop": "STOP"}
_HVAC_ALIASES = {"fan_only": "fan"}
_SENSORS = {
    "temperature": (Trait.CURRENT_TEMPERATURE, "float"),
    "humidity": (Trait.HUMIDITY, "float"),
    "pm25": (Trait.PM25, "float"),
    "battery": (Trait.BATTERY, "int"),
}
_BINARY_SENSORS = {
    "occupancy": "motion",
    "presence": "presence",
    "contact": "door",
    "water_leak": "moisture",
    "smoke": "smoke",
    "gas": "gas",
    "carbon_monoxide": "carbon_monoxide",
    "vibration": "vibration",
}
_NOT_VALUES = frozenset({"linkquality"})


@dataclass(frozen=True, slots=True)
class Binding:
    """One trait on one JSON property of a device's state and ``/set`` messages."""

    trait: Trait
    prop: str
    how: str
    """Conversion: binary, percent, mired, float, int (battery: percent), value, enum, hvac,
    speed, cover, color."""
    access: int
    on: Any = True
    off: Any = False
    low: float | None = None
    """value_min, device units."""
    high: float | None = None
    """value_max, device units (brightness: 254)."""
    step: float | None = None
    values: tuple[str, ...] = ()
    unit: str | None = None


class _Rule(NamedTuple):
    names: tuple[str, ...]
    trait: Trait
    how: str
    on: Any = "ON"
    off: Any = "OFF"
    high: float | None = None


_ON_OFF = _Rule(("state",), Trait.ON_OFF, "binary")
_SETPOINTS = ("occupied_heating_setpoint", "current_heating_setpoint", "occupied_cooling_setpoint")
_LIGHT = (
    _ON_OFF,
    _Rule(("brightness",), Trait.BRIGHTNESS, "percent", high=254),
    _Rule(("color_temp",), Trait.COLOR_TEMP, "mired"),
    _Rule(("color_hs", "color_xy"), Trait.RGB, "color"),
)
_COVER = (
    _Rule(("state",), Trait.COVER, "cover"),
    _Rule(("position",), Trait.POSITION, "percent", high=100),
)
_CLIMATE = (
    _Rule(_SETPOINTS, Trait.TARGET_TEMPERATURE, "float"),
    _Rule(("local_temperature",), Trait.CURRENT_TEMPERATURE, "float"),
    _Rule(("system_mode",), Trait.HVAC_MODE, "hvac"),
)
_FAN = (_ON_OFF, _Rule(("mode",), Trait.MODE, "enum"), _Rule(("mode",), Trait.FAN_SPEED, "speed"))
_SPECIFIC: tuple[tuple[str, DeviceKind, tuple[_Rule, ...]], ...] = (
    ("light", DeviceKind.LIGHT, _LIGHT),
    ("switch", DeviceKind.SWITCH, (_ON_OFF,)),
    ("cover", DeviceKind.COVER, _COVER),
    ("lock", DeviceKind.LOCK, (_Rule(("state",), Trait.LOCKED, "binary", "LOCK", "UNLOCK"),)),
    ("climate", DeviceKind.CLIMATE, _CLIMATE),
    ("fan", DeviceKind.FAN, _FAN),
)
"""Specific expose types in kind priority order, with the features each trait comes from."""


# -- exposes -> bindings ---------------------------------------------------------------------


def device_bindings(
    exposes: Any,
) -> tuple[DeviceKind, tuple[Binding, ...], dict[str, Any]] | None:
    """A definition's exposes -> (kind, bindings, extra DeviceSpec fields); None when the
    device has nothing we model. Raises PayloadError for a malformed expose we would use."""
    if not isinstance(exposes, list) or not all(isinstance(item, dict) for item in exposes):
        raise PayloadError("exposes is not a list of objects")
    kind, bindings = _specific(exposes)
    sensors, device_class, value = _generic(exposes)
    have = {binding.trait for binding in bindings}
    bindings += [binding for binding in sensors if binding.trait not in have]
    if kind is None:
        if value is None and all(binding.trait is Trait.BATTERY for binding in bindings):
            return None  # a remote: only its battery
        active = any(binding.trait is Trait.ACTIVE for binding in bindings)
        kind = DeviceKind.BINARY_SENSOR if active else DeviceKind.SENSOR
    if value is not None and all(binding.trait is Trait.BATTERY for binding in bindings):
        bindings.append(value)
        device_class = device_class or value.prop
    return kind, tuple(bindings), _spec_fields(bindings, device_class)


def _specific(exposes: list[dict[str, Any]]) -> tuple[DeviceKind | None, list[Binding]]:
    for expose_type, kind, rules in _SPECIFIC:
        candidates = [item for item in exposes if item.get("type") == expose_type]
        if not candidates:
            continue
        chosen = next((item for item in candidates if "endpoint" not in item), candidates[0])
        features = chosen.get("features", [])
        if not isinstance(features, list):
            raise PayloadError(f"{expose_type} features is not a list")
        named: dict[str, Any] = {}
        for feature in features:
            if isinstance(feature, dict) and isinstance(feature.get("name"), str):
                named.setdefault(feature["name"], feature)
        bindings: list[Binding] = []
        for rule in rules:
            name = next((name for name in rule.names if name in named), None)
            if name is not None:
                binding = _bind(named[name], rule)
                if binding.how != "speed" or _levels(binding):
                    bindings.append(binding)
        if bindings:
            return kind, bindings
    return None, []


def _generic(exposes: list[dict[str, Any]]) -> tuple[list[Binding], str | None, Binding | None]:
    """Sensor bindings, the binary sensor's device class, and a fallback ``value`` binding."""
    found: list[Binding] = []
    device_class: str | None = None
    value: Binding | None = None
    for item in exposes:
        name, kind = item.get("name"), item.get("type")
        if not isinstance(name, str):
            continue
        if kind == "numeric" and name in _SENSORS:
            binding = _bind(item, _Rule((name,), *_SENSORS[name]))
        elif kind == "binary" and name in _BINARY_SENSORS:
            on, off = (False, True) if name == "contact" else (True, False)
            binding = _bind(item, _Rule((name,), Trait.ACTIVE, "binary", on, off))
            device_class = device_class or _BINARY_SENSORS[name]
        else:
            if kind == "numeric" and value is None and name not in _NOT_VALUES:
                if item.get("category") is None:
                    candidate = _bind(item, _Rule((name,), Trait.VALUE, "value"))
                    value = candidate if candidate.access & READ else None
            continue
        if all(binding.trait is not other.trait for other in found):
            found.append(binding)
    return found, device_class, value


def _bind(feature: dict[str, Any], rule: _Rule) -> Binding:
    """One feature -> a Binding; PayloadError names the feature when a field is malformed."""
    prop = feature.get("property", feature.get("name"))
    if not isinstance(prop, str) or not prop:
        raise PayloadError(f"a {rule.trait.value} feature has no property")
    default_access = READ | WRITE if rule.how == "color" else READ
    access = feature.get("access", default_access)
    values = feature.get("values", [])
    unit = feature.get("unit")
    if not isinstance(access, int) or isinstance(access, bool):
        raise PayloadError(f"{prop}: access is not an integer")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise PayloadError(f"{prop}: values is not a list of strings")
    if unit is not None and not isinstance(unit, str):
        raise PayloadError(f"{prop}: unit is not a string")
    on, off = feature.get("value_on", rule.on), feature.get("value_off", rule.off)
    if not all(isinstance(v, str | bool | int | float) for v in (on, off)):
        raise PayloadError(f"{prop}: value_on/value_off are not plain values")
    high = _limit(feature, "value_max", prop)
    return Binding(
        rule.trait,
        prop,
        rule.how,
        access,
        on=on,
        off=off,
        low=_limit(feature, "value_min", prop),
        high=rule.high if high is None else high,
        step=_limit(feature, "value_step", prop),
        values=tuple(values),
        unit=unit,
    )


def _limit(feature: dict[str, Any], key: str, prop: str) -> float | None:
    value = feature.get(key)
    return None if value is None else number(value, f"{prop} {key}")


def _spec_fields(bindings: list[Binding], device_class: str | None) -> dict[str, Any]:
    """DeviceSpec fields beyond kind and traits: ranges, modes, device class, unit."""
    fields: dict[str, Any] = {"device_class": device_class}
    for binding in bindings:
        if binding.trait is Trait.COLOR_TEMP:
            if binding.high:
                fields["min_color_temp"] = _kelvin(binding.high, f"{binding.prop} value_max")
            if binding.low:
                fields["max_color_temp"] = _kelvin(binding.low, f"{binding.prop} value_min")
        elif binding.trait is Trait.TARGET_TEMPERATURE:
            fields["min_temperature"], fields["max_temperature"] = binding.low, binding.high
        elif binding.trait is Trait.MODE:
            fields["modes"] = binding.values
        elif binding.trait is Trait.VALUE:
            fields["unit"] = binding.unit
    return fields


def _kelvin(mired: float, what: str) -> int:
    """Mireds from a device -> kelvin; PayloadError outside 1..1,000,000 mireds."""
    if not 1 <= mired <= 1_000_000:
        raise PayloadError(f"{what} {mired:g} mired is not a colour temperature")
    return mired_to_kelvin(mired)


def _levels(binding: Binding) -> list[str]:
    return [level for level in _SPEEDS if level in binding.values]


# -- values ----------------------------------------------------------------------------------


def read_value(binding: Binding, raw: Any) -> Any:
    """A state message's value -> the trait's value; None when it says nothing we track."""
    prop = binding.prop
    match binding.how:
        case "binary":
            if _same(raw, binding.on):
                return True
            if _same(raw, binding.off):
                return False
            raise PayloadError(f"{prop} is {_show(raw)}, not {binding.on!r} or {binding.off!r}")
        case "percent":
            high = binding.high or 100.0
            return scale(max(0.0, min(high, number(raw, prop))), high)
        case "mired":
            return _kelvin(number(raw, prop), prop)
        case "float" | "value":
            return number(raw, prop)
        case "int":
            return round(max(0.0, min(100.0, number(raw, prop))))
        case "enum":
            return _text(raw, prop)
        case "hvac":
            text = _text(raw, prop).lower()
            return _HVAC_ALIASES.get(text, text)
        case "speed":
            text, levels = _text(raw, prop).lower(), _levels(binding)
            if text in levels:
                return round((levels.index(text) + 1) * 100 / len(levels))
            return 0 if text == "off" else None
        case "cover":
            state = _COVER_STATES.get(_text(raw, prop).upper())
            if state is None:
                raise PayloadError(f"{prop} {_show(raw)} is not a cover state")
            return state
        case "color":
            return _rgb(raw, prop)
    return None


def write_value(binding: Binding, value: Any) -> Any:
    """A command's value -> what ``/set`` takes; Unsupported for a value it cannot take."""
    what = binding.trait.value
    match binding.how:
        case "binary":
            if not isinstance(value, bool):
                raise Unsupported(f"{what} needs true or false")
            return binding.on if value else binding.off
        case "percent":
            percent = max(0.0, min(100.0, _command_number(value, what)))
            return round(_clamp(percent * (binding.high or 100.0) / 100, binding))
        case "mired":
            kelvin = _command_number(value, what)
            if kelvin < 1:
                raise Unsupported(f"{what} must be positive kelvin")
            return round(_clamp(kelvin_to_mired(kelvin), binding))
        case "float":
            target = _clamp(_command_number(value, what), binding)
            if binding.step and binding.step >= 0.001:
                target = round(target / binding.step) * binding.step
            return round(target, 2)
        case "enum" | "hvac":
            choices = {_HVAC_ALIASES.get(v, v): v for v in binding.values}
            if isinstance(value, str) and value.lower() in choices:
                return choices[value.lower()]
            raise Unsupported(f"{what} {str(value)[:30]!r} is not one of {sorted(choices)}")
        case "speed":
            return _speed(binding, _command_number(value, what))
        case "cover":
            if isinstance(value, str) and value in _COVER_COMMANDS:
                return _COVER_COMMANDS[value]
            raise Unsupported(f"cover command {str(value)[:30]!r} is not open, close or stop")
        case "color":
            if not is_rgb(value):
                raise Unsupported("rgb needs three integers 0-255")
            return {"r": value[0], "g": value[1], "b": value[2]}
    raise Unsupported(f"{what} is read only")


def _speed(binding: Binding, percent: float) -> str:
    levels = _levels(binding)
    if percent <= 0:
        if "off" in binding.values:
            return "off"
        raise Unsupported("this fan cannot be set to speed 0")
    index = min(len(levels), max(1, math.ceil(min(percent, 100) * len(levels) / 100))) - 1
    return levels[index]


def _clamp(value: float, binding: Binding) -> float:
    if binding.low is not None:
        value = max(binding.low, value)
    if binding.high is not None:
        value = min(binding.high, value)
    return value


def _command_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not abs(value) < 1e9:
        raise Unsupported(f"{what} needs a number")
    return float(value)


def _same(raw: Any, expected: Any) -> bool:
    if isinstance(raw, str) and isinstance(expected, str):
        return raw.casefold() == expected.casefold()
    return type(raw) is type(expected) and raw == expected


def _text(raw: Any, prop: str) -> str:
    if not isinstance(raw, str):
        raise PayloadError(f"{prop} is {type(raw).__name__}, not a string")
    return raw


def _show(raw: Any) -> str:
    return repr(raw)[:40]


# -- colour ----------------------------------------------------------------------------------


def _rgb(raw: Any, prop: str) -> tuple[int, int, int] | None:
    """``{"hue", "saturation"}`` or ``{"x", "y"}`` -> the rgb trait; None without either."""
    if not isinstance(raw, dict):
        raise PayloadError(f"{prop} is {type(raw).__name__}, not an object")
    if raw.get("hue") is not None and raw.get("saturation") is not None:
        return hs_to_rgb(number(raw["hue"], f"{prop}.hue"), number(raw["saturation"], prop))
    if raw.get("x") is not None and raw.get("y") is not None:
        return xy_to_rgb(number(raw["x"], f"{prop}.x"), number(raw["y"], f"{prop}.y"), prop)
    return None
