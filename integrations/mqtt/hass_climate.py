"""Home Assistant MQTT climate (thermostats, air conditioners) as traits.

- ``hvac_mode``: ``mode_state_topic``/``mode_command_topic``, one of ``modes`` (default
  auto/off/cool/heat/dry/fan_only). Home Assistant's ``fan_only`` is this project's ``fan``;
  every other mode keeps its name (``heat_cool`` included). ``DeviceSpec.modes`` lists them.
- ``on_off``, derived: a mode state says off ("off") or on (any other mode). Turning off
  publishes ``payload_off`` on ``power_command_topic`` when there is one, else mode "off";
  turning on publishes ``payload_on`` there, else the first of "auto", "heat_cool" or the first
  mode that is not "off".
- ``target_temperature`` (``temperature_state_topic``/``temperature_command_topic``),
  ``current_temperature`` (``current_temperature_topic``) and ``humidity``
  (``current_humidity_topic``): degrees Celsius here, converted from and to
  ``temperature_unit`` (C or F). Targets are clamped to ``min_temp``..``max_temp`` (default
  7-35 °C) and rounded to ``precision`` (0.1 in C, 1 in F) before they are sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from integrations.base import DeviceKind, DeviceSpec, Trait, Unsupported

from .entity import PayloadError, Publish
from .hass_components import Built, Handler, as_bool, as_number, encoder, number_part
from .hass_config import Conf, Sender, StateParsers, from_celsius, is_none, to_celsius
from .templates import Payload

__all__ = ["build_climate", "DEFAULT_MODES"]

DEFAULT_MODES = ("auto", "off", "cool", "heat", "dry", "fan_only")
"""Home Assistant's default ``modes``."""
_TO_OURS = {"fan_only": "fan"}
_TO_HA = {ours: theirs for theirs, ours in _TO_OURS.items()}


def build_climate(conf: Conf) -> Built:
    """A climate config -> hvac_mode, on_off, target/current temperature, humidity."""
    modes = conf.words("modes", DEFAULT_MODES)
    unit = conf.unit("temperature_unit", "C")
    parsers = StateParsers()
    handlers: dict[str, Handler] = {}
    traits: set[Trait] = set()
    _modes(conf, modes, parsers, handlers, traits)
    low, high = _temperatures(conf, unit, parsers, handlers, traits)
    spec = DeviceSpec(
        DeviceKind.CLIMATE,
        frozenset(traits),
        modes=tuple(_TO_OURS.get(mode, mode) for mode in modes),
        min_temperature=low,
        max_temperature=high,
    )
    return Built(spec, parsers.build(), encoder(handlers))


def _modes(
    conf: Conf,
    modes: Sequence[str],
    parsers: StateParsers,
    handlers: dict[str, Handler],
    traits: set[Trait],
) -> None:
    mode = conf.sender("mode_command_topic", "mode_command_template")
    power = conf.sender("power_command_topic", "power_command_template")
    on, off = conf.payload("payload_on", "ON"), conf.payload("payload_off", "OFF")
    state_topic = conf.topic("mode_state_topic")
    has_power = power is not None or (mode is not None and "off" in modes)
    read = conf.reader("mode_state_template")

    def parse(payload: Payload) -> Mapping[str, Any]:
        text = read(payload)
        if is_none(text):
            return {}
        if text not in modes:
            raise PayloadError(f"{text[:40]!r} is not one of its modes")
        values: dict[str, Any] = {"hvac_mode": _TO_OURS.get(text, text)}
        if has_power:
            values["on_off"] = text != "off"
        return values

    parsers.add(state_topic, parse)
    if mode is not None or state_topic is not None:
        traits.add(Trait.HVAC_MODE)
    if mode is not None:
        handlers["hvac_mode"] = lambda value: [mode(_ha_mode(value, modes))]
    if power is not None:
        handlers["on_off"] = lambda value: [power(on if as_bool(value, "on_off") else off)]
    elif mode is not None and "off" in modes:
        via_mode = mode
        handlers["on_off"] = lambda value: [_switch_mode(as_bool(value, "on_off"), via_mode, modes)]
    if has_power:
        traits.add(Trait.ON_OFF)


def _ha_mode(value: Any, modes: Sequence[str]) -> str:
    if isinstance(value, str):
        for name in (_TO_HA.get(value, value), value):
            if name in modes:
                return name
    raise Unsupported(f"it has no {str(value)[:40]} mode")


def _switch_mode(turn_on: bool, mode: Sender, modes: Sequence[str]) -> Publish:
    """Turning on or off without a power topic: mode "off", or a mode that is on."""
    if not turn_on:
        return mode("off")
    for name in ("auto", "heat_cool", *modes):
        if name in modes and name != "off":
            return mode(name)
    raise Unsupported("it has no mode to turn on in")


def _temperatures(
    conf: Conf,
    unit: str,
    parsers: StateParsers,
    handlers: dict[str, Handler],
    traits: set[Trait],
) -> tuple[float, float]:
    """Adds the temperature and humidity features; returns min and max target, °C."""
    low = to_celsius(conf.real("min_temp", from_celsius(7, unit)), unit)
    high = to_celsius(conf.real("max_temp", from_celsius(35, unit)), unit)
    if low > high:
        raise PayloadError("min_temp must not be above max_temp")
    precision = conf.positive("precision", 0.1 if unit == "C" else 1.0)
    features = (
        ("temperature_state_topic", "temperature_state_template", Trait.TARGET_TEMPERATURE),
        ("current_temperature_topic", "current_temperature_template", Trait.CURRENT_TEMPERATURE),
        ("current_humidity_topic", "current_humidity_template", Trait.HUMIDITY),
    )
    for topic_key, template_key, trait in features:
        topic = conf.topic(topic_key)
        if topic is not None:
            traits.add(trait)
            parsers.add(topic, number_part(conf.reader(template_key), trait, unit))
    sender = conf.sender("temperature_command_topic", "temperature_command_template")
    if sender is not None:
        traits.add(Trait.TARGET_TEMPERATURE)

        def target(value: Any) -> list[Publish]:
            celsius = max(low, min(high, as_number(value, "target_temperature")))
            degrees = round(round(from_celsius(celsius, unit) / precision) * precision, 3)
            return [sender(degrees)]

        handlers["target_temperature"] = target
    return low, high
