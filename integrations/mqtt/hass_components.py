"""Home Assistant MQTT switches, fans, covers, locks, sensors and binary sensors as traits
(lights: ``hass_light``; climate: ``hass_climate``), and what their builders share.

Each ``build_<component>(conf)`` reads a config (full keys; see ``hass_config``) and returns
a ``Built``: the DeviceSpec, one state parser per state topic, and the command encoder.
Values follow ``integrations.base``; how each component's states map is in its docstring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations.base import DeviceKind, DeviceSpec, Trait, Unsupported

from .entity import Encoder, PayloadError, Publish, StateParser, number
from .hass_config import Conf, PartParser, Sender, StateParsers, is_none, to_celsius
from .templates import Payload

if TYPE_CHECKING:
    from assistant.messages import DeviceCommand

__all__ = [
    "Built",
    "Handler",
    "build_binary_sensor",
    "build_cover",
    "build_fan",
    "build_lock",
    "build_sensor",
    "build_switch",
    "encoder",
    "as_bool",
    "as_percent",
    "as_number",
    "number_part",
    "on_off_part",
    "unsupported",
    "words_part",
]


@dataclass(frozen=True, slots=True)
class Built:
    """What a component builder makes of a config."""

    spec: DeviceSpec
    state: Mapping[str, StateParser]
    encode: Encoder


# -- commands ---------------------------------------------------------------------------------

_ACTIONS = {
    "on_off": "turn on or off",
    "brightness": "change brightness",
    "color_temp": "change colour temperature",
    "rgb": "change colour",
    "position": "move to a position",
    "cover": "open or close",
    "target_temperature": "set a temperature",
    "hvac_mode": "change mode",
    "fan_speed": "change speed",
    "mode": "change preset",
    "locked": "lock or unlock",
}

Handler = Callable[[Any], list[Publish]]


def unsupported(trait: str) -> Unsupported:
    return Unsupported(f"it cannot {_ACTIONS.get(trait, 'set ' + trait.replace('_', ' '))}")


def encoder(handlers: Mapping[str, Handler]) -> Encoder:
    """Commands -> publishes, one handler per trait, in the order given; Unsupported for a
    trait without a handler."""

    def encode(commands: Sequence[DeviceCommand]) -> list[Publish]:
        publishes: list[Publish] = []
        for command in commands:
            handler = handlers.get(command.trait)
            if handler is None:
                raise unsupported(command.trait)
            publishes.extend(handler(command.value))
        return publishes

    return encode


def as_bool(value: Any, trait: str) -> bool:
    if not isinstance(value, bool):
        raise Unsupported(f"{str(value)[:40]!r} is not a valid {trait.replace('_', ' ')}")
    return value


def as_number(value: Any, trait: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unsupported(f"{str(value)[:40]!r} is not a valid {trait.replace('_', ' ')}")
    return float(value)


def as_percent(value: Any, trait: str) -> int:
    """0-100, rounded and clamped."""
    return max(0, min(100, round(as_number(value, trait))))


def _choice(value: Any, choices: Sequence[str], what: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise Unsupported(f"it has no {str(value)[:40]} {what}")
    return value


# -- state --------------------------------------------------------------------------------


def on_off_part(read: Callable[[Payload], str], yes: str, no: str, trait: str) -> PartParser:
    """``yes`` -> True, ``no`` -> False, "None"/empty -> nothing; anything else PayloadError."""

    def parse(payload: Payload) -> Mapping[str, Any]:
        text = read(payload)
        if text == yes:
            return {trait: True}
        if text == no:
            return {trait: False}
        if is_none(text):
            return {}
        raise PayloadError(f"{text[:40]!r} is neither {yes[:20]!r} nor {no[:20]!r}")

    return parse


def number_part(read: Callable[[Payload], str], trait: str, unit: str = "C") -> PartParser:
    def parse(payload: Payload) -> Mapping[str, Any]:
        text = read(payload)
        if is_none(text):
            return {}
        value = number(text, trait.replace("_", " "))
        return {trait: to_celsius(value, unit) if "temperature" in trait else value}

    return parse


def words_part(read: Callable[[Payload], str], words: Mapping[str, Any], trait: str) -> PartParser:
    """A payload word -> a value (None: a known word that says nothing we track)."""

    def parse(payload: Payload) -> Mapping[str, Any]:
        text = read(payload)
        if text in words:
            value = words[text]
            return {} if value is None else {trait: value}
        if is_none(text):
            return {}
        raise PayloadError(f"{text[:40]!r} is not a known {trait.replace('_', ' ')} state")

    return parse


def _spec(kind: DeviceKind, traits: set[Trait], conf: Conf, **more: Any) -> DeviceSpec:
    return DeviceSpec(kind, frozenset(traits), device_class=conf.text("device_class"), **more)


# -- switch -------------------------------------------------------------------------------


def build_switch(conf: Conf) -> Built:
    """``on_off`` from ``state_on``/``state_off`` (default ``payload_on``/``payload_off``);
    commands ``payload_on``/``payload_off`` on ``command_topic`` (required)."""
    command = conf.required_sender("command_topic", "command_template")
    on, off = conf.payload("payload_on", "ON"), conf.payload("payload_off", "OFF")
    parsers = StateParsers()
    read = conf.reader("value_template")
    state_on, state_off = conf.payload("state_on", on), conf.payload("state_off", off)
    parsers.add(conf.topic("state_topic"), on_off_part(read, state_on, state_off, "on_off"))
    handlers = {"on_off": lambda value: [command(on if as_bool(value, "on_off") else off)]}
    spec = _spec(DeviceKind.SWITCH, {Trait.ON_OFF}, conf)
    return Built(spec, parsers.build(), encoder(handlers))


# -- fan ----------------------------------------------------------------------------------


def build_fan(conf: Conf) -> Built:
    """``on_off`` (``payload_on``/``payload_off``), ``fan_speed`` (percent, mapped onto
    ``speed_range_min``..``speed_range_max`` as Home Assistant does; 0 turns the fan off) and
    ``mode`` (one of ``preset_modes``)."""
    command = conf.required_sender("command_topic", "command_template")
    on, off = conf.payload("payload_on", "ON"), conf.payload("payload_off", "OFF")
    parsers = StateParsers()
    read = conf.reader("state_value_template")
    parsers.add(conf.topic("state_topic"), on_off_part(read, on, off, "on_off"))
    traits = {Trait.ON_OFF}
    handlers: dict[str, Handler] = {
        "on_off": lambda value: [command(on if as_bool(value, "on_off") else off)]
    }
    if _fan_speed(conf, parsers, handlers, command(off)):
        traits.add(Trait.FAN_SPEED)
    presets = conf.words("preset_modes")
    preset = conf.sender("preset_mode_command_topic", "preset_mode_command_template")
    if preset is not None and presets:
        traits.add(Trait.MODE)
        handlers["mode"] = lambda value: [preset(_choice(value, presets, "preset"))]
    words: dict[str, Any] = {mode: mode for mode in presets}
    words[conf.payload("payload_reset_preset_mode", "None")] = None
    read_preset = conf.reader("preset_mode_value_template")
    parsers.add(conf.topic("preset_mode_state_topic"), words_part(read_preset, words, "mode"))
    spec = _spec(DeviceKind.FAN, traits, conf, modes=presets)
    return Built(spec, parsers.build(), encoder(handlers))


def _fan_speed(
    conf: Conf, parsers: StateParsers, handlers: dict[str, Handler], turn_off: Publish
) -> bool:
    low = conf.real("speed_range_min", 1)
    high = conf.real("speed_range_max", 100)
    if low < 1 or high <= low:
        raise PayloadError("speed_range_max must be above speed_range_min, which must be >= 1")
    states = high - low + 1
    reset = conf.payload("payload_reset_percentage", "None")
    read = conf.reader("percentage_value_template")

    def parse(payload: Payload) -> Mapping[str, Any]:
        text = read(payload)
        if text == reset or is_none(text):
            return {}
        value = number(text, "percentage")
        percent = 0 if value < low else (value - low + 1) * 100 // states
        return {"fan_speed": int(max(0, min(100, percent)))}

    parsers.add(conf.topic("percentage_state_topic"), parse)
    sender = conf.sender("percentage_command_topic", "percentage_command_template")
    if sender is None:
        return False

    def speed(value: Any) -> list[Publish]:
        percent = as_percent(value, "fan_speed")
        if percent == 0:
            return [turn_off]
        return [sender(math.ceil(percent * states / 100 + low - 1))]

    handlers["fan_speed"] = speed
    return True


# -- cover --------------------------------------------------------------------------------


def build_cover(conf: Conf) -> Built:
    """``cover``: commands open/close/stop -> ``payload_open``/``payload_close``/``payload_stop``
    on ``command_topic`` (none: read-only, Unsupported); state words ``state_open``... ->
    "open"/"opening"/"closed"/"closing"/"stopped". ``position``: ``position_topic`` and
    ``set_position_topic`` scaled from ``position_closed``..``position_open`` to 0-100. With no
    ``state_topic``, a position also says "open" (above 0) or "closed"."""
    command = conf.sender("command_topic")
    payloads = {
        "open": conf.optional_payload("payload_open", "OPEN"),
        "close": conf.optional_payload("payload_close", "CLOSE"),
        "stop": conf.optional_payload("payload_stop", "STOP"),
    }
    state_topic = conf.topic("state_topic")
    words: dict[str, Any] = {}
    for state in ("open", "opening", "closed", "closing", "stopped"):
        words[conf.payload(f"state_{state}", state)] = state
    parsers = StateParsers()
    parsers.add(state_topic, words_part(conf.reader("value_template"), words, "cover"))
    handlers: dict[str, Handler] = {}
    if command is not None:
        handlers["cover"] = lambda value: [_cover_publish(command, payloads, value)]
    traits = {Trait.COVER}
    if _position(conf, parsers, handlers, derive_state=state_topic is None):
        traits.add(Trait.POSITION)
    return Built(_spec(DeviceKind.COVER, traits, conf), parsers.build(), encoder(handlers))


def _cover_publish(command: Sender, payloads: Mapping[str, str | None], value: Any) -> Publish:
    action = _choice(value, ("open", "close", "stop"), "cover action")
    payload = payloads[action]
    if payload is None:
        raise Unsupported(f"it cannot {action}")
    return command(payload)


def _position(
    conf: Conf, parsers: StateParsers, handlers: dict[str, Handler], *, derive_state: bool
) -> bool:
    opened = conf.real("position_open", 100)
    closed = conf.real("position_closed", 0)
    if opened == closed:
        raise PayloadError("position_open and position_closed must differ")
    read = conf.reader("position_template")
    state_topic = conf.topic("position_topic")
    sender = conf.sender("set_position_topic", "set_position_template")
    if state_topic is None and sender is None:
        return False

    def parse(payload: Payload) -> Mapping[str, Any]:
        text = read(payload)
        if is_none(text):
            return {}
        raw = number(text, "position")
        percent = max(0, min(100, round((raw - closed) * 100 / (opened - closed))))
        if derive_state:
            return {"position": percent, "cover": "open" if percent > 0 else "closed"}
        return {"position": percent}

    parsers.add(state_topic, parse)
    previous = handlers.get("cover")

    def move(value: Any) -> list[Publish]:
        percent = as_percent(value, "position")
        if sender is not None:
            raw = round(closed + percent * (opened - closed) / 100)
            return [sender(raw, position=raw)]
        if previous is not None and percent in (0, 100):
            return previous("open" if percent == 100 else "close")
        raise unsupported("position")

    handlers["position"] = move
    return True


# -- lock ---------------------------------------------------------------------------------


def build_lock(conf: Conf) -> Built:
    """``locked``: True on ``state_locked`` ("LOCKED"), False on ``state_unlocked``
    ("UNLOCKED"); the in-between and fault states (``state_locking``, ``state_unlocking``,
    ``state_jammed`` = "MOTOR_JAMMED" or "JAMMED", ``state_open``, ``state_opening``) say
    nothing (the last value stays). Commands ``payload_lock``/``payload_unlock``."""
    command = conf.required_sender("command_topic", "command_template")
    lock, unlock = conf.payload("payload_lock", "LOCK"), conf.payload("payload_unlock", "UNLOCK")
    words: dict[str, Any] = {"JAMMED": None}
    for key, default in (
        ("state_locking", "LOCKING"),
        ("state_unlocking", "UNLOCKING"),
        ("state_jammed", "MOTOR_JAMMED"),
        ("state_open", "OPEN"),
        ("state_opening", "OPENING"),
    ):
        words[conf.payload(key, default)] = None
    words[conf.payload("state_locked", "LOCKED")] = True
    words[conf.payload("state_unlocked", "UNLOCKED")] = False
    parsers = StateParsers()
    read = conf.reader("value_template")
    parsers.add(conf.topic("state_topic"), words_part(read, words, "locked"))
    handlers = {"locked": lambda value: [command(lock if as_bool(value, "locked") else unlock)]}
    spec = _spec(DeviceKind.LOCK, {Trait.LOCKED}, conf)
    return Built(spec, parsers.build(), encoder(handlers))


# -- sensors --------------------------------------------------------------------------------

_SENSOR_TRAITS = {
    "temperature": Trait.CURRENT_TEMPERATURE,
    "humidity": Trait.HUMIDITY,
    "pm25": Trait.PM25,
    "battery": Trait.BATTERY,
}
_TEMPERATURE_UNITS = {"°C": "C", "C": "C", "°F": "F", "F": "F", "K": "K"}
MAX_TEXT_STATE = 255
"""Characters a text sensor state may have (Home Assistant's state length)."""


def build_sensor(conf: Conf) -> Built:
    """``device_class`` temperature -> ``current_temperature`` (°F and K converted),
    humidity -> ``humidity``, pm25 -> ``pm25``, battery -> ``battery`` (int); any other ->
    ``value``: a number, or text when the sensor has no ``unit_of_measurement``."""
    topic = conf.topic("state_topic", required=True)
    device_class = conf.text("device_class")
    unit = conf.text("unit_of_measurement")
    trait = _SENSOR_TRAITS.get(device_class or "", Trait.VALUE)
    read = conf.reader("value_template")
    if trait is Trait.CURRENT_TEMPERATURE:
        part = number_part(read, trait, _TEMPERATURE_UNITS.get(unit or "°C", "C"))
    elif trait is Trait.VALUE:
        part = _value_part(read, numeric=unit is not None)
    else:
        part = number_part(read, trait)
    if trait is Trait.BATTERY:
        part = _rounded(part)
    parsers = StateParsers()
    parsers.add(topic, part)
    spec = _spec(DeviceKind.SENSOR, {trait}, conf, unit=unit if trait is Trait.VALUE else None)
    return Built(spec, parsers.build(), encoder({}))


def _rounded(part: PartParser) -> PartParser:
    def parse(payload: Payload) -> Mapping[str, Any]:
        return {key: round(value) for key, value in part(payload).items()}

    return parse


def _value_part(read: Callable[[Payload], str], *, numeric: bool) -> PartParser:
    def parse(payload: Payload) -> Mapping[str, Any]:
        text = read(payload)
        if is_none(text):
            return {}
        try:
            return {"value": number(text, "value")}
        except PayloadError:
            if numeric:
                raise
        if len(text) > MAX_TEXT_STATE:
            raise PayloadError(f"a state of {len(text)} characters (at most {MAX_TEXT_STATE})")
        return {"value": text}

    return parse


def build_binary_sensor(conf: Conf) -> Built:
    """``active``: True on ``payload_on`` ("ON"), False on ``payload_off`` ("OFF").
    (``off_delay`` is not applied: a parser has no clock.)"""
    topic = conf.topic("state_topic", required=True)
    on, off = conf.payload("payload_on", "ON"), conf.payload("payload_off", "OFF")
    parsers = StateParsers()
    parsers.add(topic, on_off_part(conf.reader("value_template"), on, off, "active"))
    spec = _spec(DeviceKind.BINARY_SENSOR, {Trait.ACTIVE}, conf)
    return Built(spec, parsers.build(), encoder({}))
