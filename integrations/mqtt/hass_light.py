"""Home Assistant MQTT lights as traits: the default schema and ``schema: json``.

Traits: ``on_off``; ``brightness`` (percent, from and to 0..``brightness_scale``, default 255;
a device brightness of 0 says nothing, as in Home Assistant); ``color_temp`` (kelvin; the
device speaks mireds unless ``color_temp_kelvin: true``; DeviceSpec's range comes from
``min_kelvin``/``max_kelvin`` or ``max_mireds``/``min_mireds``, default 2000-6535 K) and
``rgb``. Any command but "off" (or brightness 0) turns the light on, as Home Assistant's
``turn_on`` does; out-of-range values are clamped.

Default schema: one topic per feature. ``on_command_type`` "last" (default) sends the
features first and ``payload_on`` last, "first" sends ``payload_on`` first, "brightness" sends
no ``payload_on`` at all but the brightness (the last one the light reported, else 100 %).

JSON schema: the state is one object ``{"state": "ON", "brightness": 128, "color_temp": 300,
"color_mode": "xy", "color": {"x": 0.3, "y": 0.3}}``; a command is one such object.
``supported_color_modes`` (or the older ``brightness``/``color_temp``/``rgb`` flags) decide the
traits; a colour is sent in the first of the rgb, xy, hs, rgbw, rgbww forms the light takes.

The template schema is refused (PayloadError).
"""

from __future__ import annotations

import colorsys
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations.base import DeviceKind, DeviceSpec, Trait

from .colour import rgb_to_xy, xy_to_rgb
from .entity import PayloadError, Publish, kelvin_to_mired, mired_to_kelvin, number, scale
from .hass_components import (
    Built,
    as_bool,
    as_number,
    as_percent,
    on_off_part,
    unsupported,
)
from .hass_config import Conf, Sender, StateParsers, is_none
from .templates import Payload

if TYPE_CHECKING:
    from assistant.messages import DeviceCommand

__all__ = ["build_light"]

_COLOR_MODES = ("onoff", "brightness", "color_temp", "hs", "xy", "rgb", "rgbw", "rgbww", "white")
_COLOR_FORMS = ("rgb", "xy", "hs", "rgbw", "rgbww")


def build_light(conf: Conf) -> Built:
    schema = conf.choice("schema", "default", ("default", "basic", "json", "template"))
    if schema == "template":
        raise PayloadError("schema 'template' is not supported (use default or json)")
    return _json_light(conf) if schema == "json" else _default_light(conf)


@dataclass(slots=True)
class _Wanted:
    """What one batch of commands asks a light to do (device units where noted)."""

    on: bool = True
    brightness: int | None = None
    """Percent."""
    kelvin: int | None = None
    rgb: tuple[int, int, int] | None = None


def _wanted(commands: Sequence[DeviceCommand], spec: DeviceSpec) -> _Wanted:
    wanted = _Wanted()
    for command in commands:
        if command.trait not in spec.traits:
            raise unsupported(command.trait)
        if command.trait == "on_off":
            wanted.on = as_bool(command.value, "on_off")
        elif command.trait == "brightness":
            wanted.brightness = as_percent(command.value, "brightness")
        elif command.trait == "color_temp":
            kelvin = round(as_number(command.value, "color_temp"))
            low, high = spec.min_color_temp or 1000, spec.max_color_temp or 40000
            wanted.kelvin = max(low, min(high, kelvin))
        elif command.trait == "rgb":
            wanted.rgb = _rgb_value(command.value)
    if wanted.brightness == 0:
        wanted.on = False
    return wanted


def _rgb_value(value: Any) -> tuple[int, int, int]:
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 3
        and all(isinstance(part, int) and not isinstance(part, bool) for part in value)
    ):
        red, green, blue = (max(0, min(255, part)) for part in value)
        return red, green, blue
    raise unsupported("rgb")


def _light_spec(conf: Conf, traits: set[Trait]) -> DeviceSpec:
    """A light's spec; the colour temperature range (always checked) only when it has
    colour temperature."""
    low, high = _kelvin_range(conf)
    ct = Trait.COLOR_TEMP in traits
    return DeviceSpec(
        DeviceKind.LIGHT,
        frozenset(traits),
        min_color_temp=low if ct else None,
        max_color_temp=high if ct else None,
    )


def _kelvin_range(conf: Conf) -> tuple[int, int]:
    if conf.has("min_kelvin") or conf.has("max_kelvin"):
        low = round(conf.positive("min_kelvin", 2000))
        high = round(conf.positive("max_kelvin", 6535))
    else:
        low = mired_to_kelvin(conf.positive("max_mireds", 500))
        high = mired_to_kelvin(conf.positive("min_mireds", 153))
    if low > high:
        raise PayloadError("the colour temperature range is empty (min above max)")
    return low, high


def _device_brightness(percent: int, brightness_scale: float) -> int:
    return max(1, round(percent * brightness_scale / 100))


def _percent_of(value: float, brightness_scale: float) -> int | None:
    """Device brightness -> percent (at least 1 for any light); None for 0."""
    if value <= 0:
        return None
    return max(1, scale(value, brightness_scale))


def _kelvin_of(value: float, in_kelvin: bool) -> int:
    return round(value) if in_kelvin else mired_to_kelvin(value)


# -- default schema ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Memory:
    brightness: int | None = None
    """The last brightness the light reported, percent."""


def _default_light(conf: Conf) -> Built:
    command = conf.required_sender("command_topic")
    on, off = conf.payload("payload_on", "ON"), conf.payload("payload_off", "OFF")
    brightness_scale = conf.positive("brightness_scale", 255)
    in_kelvin = conf.flag("color_temp_kelvin", False)
    on_type = conf.choice("on_command_type", "last", ("last", "first", "brightness"))
    senders = {
        "brightness": conf.sender("brightness_command_topic", "brightness_command_template"),
        "color_temp": conf.sender("color_temp_command_topic", "color_temp_command_template"),
        "rgb": conf.sender("rgb_command_topic", "rgb_command_template"),
    }
    traits = {Trait.ON_OFF} | {Trait(name) for name, sender in senders.items() if sender}
    spec = _light_spec(conf, traits)
    memory = _Memory()
    parsers = _default_parsers(conf, on, off, brightness_scale, in_kelvin, memory)

    def encode(commands: Sequence[DeviceCommand]) -> list[Publish]:
        wanted = _wanted(commands, spec)
        if not wanted.on:
            return [command(off)]
        if on_type == "brightness" and wanted.brightness is None and senders["brightness"]:
            wanted.brightness = memory.brightness or 100
        features = _feature_publishes(wanted, senders, brightness_scale, in_kelvin)
        if on_type == "brightness" and features:
            return features
        return [command(on), *features] if on_type == "first" else [*features, command(on)]

    return Built(spec, parsers.build(), encode)


def _feature_publishes(
    wanted: _Wanted,
    senders: Mapping[str, Sender | None],
    brightness_scale: float,
    in_kelvin: bool,
) -> list[Publish]:
    publishes = []
    if wanted.rgb is not None and (rgb := senders["rgb"]):
        red, green, blue = wanted.rgb
        publishes.append(rgb(f"{red},{green},{blue}", red=red, green=green, blue=blue))
    if wanted.kelvin is not None and (color_temp := senders["color_temp"]):
        value = wanted.kelvin if in_kelvin else kelvin_to_mired(wanted.kelvin)
        publishes.append(color_temp(value))
    if wanted.brightness is not None and (brightness := senders["brightness"]):
        publishes.append(brightness(_device_brightness(wanted.brightness, brightness_scale)))
    return publishes


def _default_parsers(
    conf: Conf, on: str, off: str, brightness_scale: float, in_kelvin: bool, memory: _Memory
) -> StateParsers:
    parsers = StateParsers()
    state_template = "state_value_template"
    if not conf.has(state_template) and conf.has("value_template"):
        state_template = "value_template"  # older configs
    read_state = conf.reader(state_template)
    parsers.add(conf.topic("state_topic"), on_off_part(read_state, on, off, "on_off"))
    read_brightness = conf.reader("brightness_value_template")

    def brightness(payload: Payload) -> Mapping[str, Any]:
        text = read_brightness(payload)
        percent = (
            None if is_none(text) else _percent_of(number(text, "brightness"), brightness_scale)
        )
        if percent is None:
            return {}
        memory.brightness = percent
        return {"brightness": percent}

    parsers.add(conf.topic("brightness_state_topic"), brightness)
    read_color_temp = conf.reader("color_temp_value_template")

    def color_temp(payload: Payload) -> Mapping[str, Any]:
        text = read_color_temp(payload)
        if is_none(text):
            return {}
        return {"color_temp": _kelvin_of(number(text, "colour temperature"), in_kelvin)}

    parsers.add(conf.topic("color_temp_state_topic"), color_temp)
    read_rgb = conf.reader("rgb_value_template")
    parsers.add(conf.topic("rgb_state_topic"), lambda payload: _parse_rgb_text(read_rgb(payload)))
    return parsers


def _parse_rgb_text(text: str) -> Mapping[str, Any]:
    if is_none(text):
        return {}
    parts = text.split(",")
    if len(parts) < 3:
        raise PayloadError(f"colour {text[:40]!r} is not r,g,b")
    values = [round(number(part, "colour")) for part in parts[:3]]
    if not all(0 <= value <= 255 for value in values):
        raise PayloadError(f"colour {text[:40]!r} is outside 0-255")
    return {"rgb": (values[0], values[1], values[2])}


# -- JSON schema ----------------------------------------------------------------------------


def _json_light(conf: Conf) -> Built:
    topic = conf.topic("command_topic", required=True)
    assert topic is not None
    retain = conf.flag("retain", False)
    brightness_scale = conf.positive("brightness_scale", 255)
    in_kelvin = conf.flag("color_temp_kelvin", False)
    modes = conf.words("supported_color_modes")
    unknown = [mode for mode in modes if mode not in _COLOR_MODES]
    if unknown:
        raise PayloadError(f"supported_color_modes has unknown {unknown[0][:40]!r}")
    legacy = {
        key for key in ("brightness", "color_temp", "rgb", "hs", "xy") if conf.flag(key, False)
    }
    forms = [form for form in _COLOR_FORMS if form in modes or form in legacy]
    traits = {Trait.ON_OFF}
    if "brightness" in legacy or any(mode != "onoff" for mode in modes):
        traits.add(Trait.BRIGHTNESS)
    if "color_temp" in modes or "color_temp" in legacy:
        traits.add(Trait.COLOR_TEMP)
    if forms:
        traits.add(Trait.RGB)
    spec = _light_spec(conf, traits)

    def encode(commands: Sequence[DeviceCommand]) -> list[Publish]:
        wanted = _wanted(commands, spec)
        message = _json_command(wanted, brightness_scale, in_kelvin, forms)
        return [Publish(topic, json.dumps(message, separators=(",", ":")), retain)]

    parsers = StateParsers()
    parsers.add(conf.topic("state_topic"), _json_state(spec, brightness_scale, in_kelvin))
    return Built(spec, parsers.build(), encode)


def _json_command(
    wanted: _Wanted, brightness_scale: float, in_kelvin: bool, forms: Sequence[str]
) -> dict[str, Any]:
    if not wanted.on:
        return {"state": "OFF"}
    message: dict[str, Any] = {"state": "ON"}
    if wanted.brightness is not None:
        message["brightness"] = _device_brightness(wanted.brightness, brightness_scale)
    if wanted.kelvin is not None:
        message["color_temp"] = wanted.kelvin if in_kelvin else kelvin_to_mired(wanted.kelvin)
    if wanted.rgb is not None:
        message["color"] = _color_object(wanted.rgb, forms[0])
    return message


def _color_object(rgb: tuple[int, int, int], form: str) -> dict[str, Any]:
    red, green, blue = rgb
    if form == "xy":
        x, y = rgb_to_xy(rgb)
        return {"x": x, "y": y}
    if form == "hs":
        hue, saturation, _ = colorsys.rgb_to_hsv(red / 255, green / 255, blue / 255)
        return {"h": round(hue * 360, 2), "s": round(saturation * 100, 2)}
    color = {"r": red, "g": green, "b": blue}
    if form == "rgbw":
        color["w"] = 0
    elif form == "rgbww":
        color["c"] = color["w"] = 0
    return color


def _json_state(spec: DeviceSpec, brightness_scale: float, in_kelvin: bool) -> Any:
    def parse(payload: Payload) -> Mapping[str, Any]:
        data = payload.json
        if not isinstance(data, dict):
            raise PayloadError("light state is not a JSON object")
        values: dict[str, Any] = {}
        state = data.get("state")
        if state in ("ON", "OFF"):
            values["on_off"] = state == "ON"
        elif state is not None:
            raise PayloadError(f"state {str(state)[:40]!r} is neither 'ON' nor 'OFF'")
        if Trait.BRIGHTNESS in spec.traits and data.get("brightness") is not None:
            percent = _percent_of(number(data["brightness"], "brightness"), brightness_scale)
            if percent is not None:
                values["brightness"] = percent
        if Trait.COLOR_TEMP in spec.traits and data.get("color_temp") is not None:
            values["color_temp"] = _kelvin_of(number(data["color_temp"], "color_temp"), in_kelvin)
        color = data.get("color")
        if Trait.RGB in spec.traits and isinstance(color, dict):
            if data.get("color_mode") != "color_temp":
                rgb = _rgb_from_object(color)
                if rgb is not None:
                    values["rgb"] = rgb
        return values

    return parse


def _rgb_from_object(color: Mapping[str, Any]) -> tuple[int, int, int] | None:
    if all(color.get(key) is not None for key in "rgb"):
        red, green, blue = (round(number(color[key], "colour")) for key in "rgb")
        if not all(0 <= part <= 255 for part in (red, green, blue)):
            raise PayloadError("colour is outside 0-255")
        return red, green, blue
    if color.get("x") is not None and color.get("y") is not None:
        return xy_to_rgb(number(color["x"], "colour x"), number(color["y"], "colour y"))
    if color.get("h") is not None and color.get("s") is not None:
        hue, saturation = number(color["h"], "hue"), number(color["s"], "saturation")
        parts = colorsys.hsv_to_rgb((hue % 360) / 360, max(0, min(100, saturation)) / 100, 1)
        return round(parts[0] * 255), round(parts[1] * 255), round(parts[2] * 255)
    return None
