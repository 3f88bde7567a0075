"""One Tasmota relay (or shutter) as an entity: its topics, state parsing and commands.

``Relay`` holds everything an entity is built from (equal relays mean an unchanged entity);
``relay_entity`` builds it. Both Tasmota sources, native discovery and hand-written devices,
use it; the topic layout and trait mapping are described in ``integrations.mqtt.tasmota``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from integrations.base import DeviceKind, DeviceSpec, Trait, Unsupported

from .colour import is_rgb
from .entity import (
    AvailabilityTopic,
    Entity,
    PayloadError,
    Publish,
    StateParser,
    decode_text,
    kelvin_to_mired,
    mired_to_kelvin,
    number,
    parse_json,
)

if TYPE_CHECKING:
    from assistant.messages import DeviceCommand

__all__ = [
    "CT_RANGE",
    "CT_RANGE_ALEXA",
    "DEFAULT_FULL_TOPIC",
    "Relay",
    "check_topic",
    "relay_entity",
    "topic_roots",
]

CT_RANGE = (153, 500)
"""Mireds Tasmota's CT command takes."""
CT_RANGE_ALEXA = (200, 380)
"""Mireds with SetOption82 (reduced CT range for Alexa)."""
DEFAULT_FULL_TOPIC = "%prefix%/%topic%/"
_HEX_COLOR = re.compile(r"#?([0-9A-Fa-f]{6})(?:[0-9A-Fa-f]{2}){0,2}")
_DECIMAL_COLOR = re.compile(r"([0-9]{1,3}),([0-9]{1,3}),([0-9]{1,3})(?:,[0-9]{1,3}){0,2}")
_SHUTTER_COMMANDS = {"open": "ShutterOpen", "close": "ShutterClose", "stop": "ShutterStop"}


@dataclass(frozen=True, slots=True)
class Relay:
    """Everything one entity is built from; equal plans mean an unchanged entity."""

    unique_id: str
    name: str
    kind: DeviceKind
    relay: int
    """1-based; for a shutter, the shutter's number."""
    indexed: bool
    """Commands use ``POWER<n>`` (several relays), not ``POWER``."""
    topics: tuple[str, str, str]
    """Command, stat and tele topic roots, each ending in '/'."""
    dimmer: bool = False
    color_temp: bool = False
    rgb: bool = False
    ct_range: tuple[int, int] = CT_RANGE
    """Mireds the CT command takes (commands are clamped to it)."""
    words: tuple[str, str] = ("OFF", "ON")
    """How state messages say off and on (StateText1/2, the config's ``state``)."""
    lwt: tuple[str, str] = ("Online", "Offline")
    """LWT payloads: online, offline (``onln``/``ofln``)."""
    keys: tuple[str, ...] = ()
    model: str | None = None
    area: str | None = None
    result_topics: tuple[str, ...] = ()
    """Extra JSON reply topics (SetOption4: ``stat/<topic>/DIMMER``, ...)."""


# -- topics ---------------------------------------------------------------------------------


def check_topic(topic: str) -> str:
    """``topic`` when it can be a topic level (no wildcards, at most 100 characters)."""
    if not topic or any(char in topic for char in "+#\0") or len(topic) > 100:
        raise PayloadError(f"topic {_show(topic)} cannot be used")
    return topic


def topic_roots(
    full_topic: str, prefixes: tuple[str, ...], topic: str, extra: dict[str, str]
) -> tuple[str, str, str]:
    """``%prefix%/%topic%/`` -> the command, stat and tele roots, each ending in '/'."""
    if "%prefix%" not in full_topic or any(char in full_topic for char in "+#\0"):
        raise PayloadError(f"full topic {_show(full_topic)} has no %prefix% or has wildcards")
    roots = []
    for prefix in prefixes:
        check_topic(prefix)
        root = full_topic.replace("%prefix%", prefix).replace("%topic%", topic)
        for token, value in extra.items():
            root = root.replace(token, value)
        roots.append(root if root.endswith("/") else root + "/")
    return roots[0], roots[1], roots[2]


def _show(value: Any) -> str:
    return repr(value)[:60]


# -- entity ----------------------------------------------------------------------------------


def relay_entity(plan: Relay, source: Literal["tasmota", "config"]) -> Entity:
    """The entity for one relay or shutter: state from RESULT/STATE (SENSOR for shutters) and
    ``stat/<topic>/POWER<n>``, availability from LWT, commands to ``cmnd/<topic>/``."""
    cmnd, stat, tele = plan.topics
    json_parser = _state_parser(plan, plain=False)
    state: dict[str, StateParser] = {f"{stat}RESULT": json_parser, f"{tele}STATE": json_parser}
    if plan.kind is DeviceKind.COVER:
        state[f"{tele}SENSOR"] = json_parser
    else:
        for key in _power_keys(plan):
            state[f"{stat}{key}"] = _state_parser(plan, plain=True)
    state.update((topic, json_parser) for topic in plan.result_topics)
    traits = {Trait.COVER, Trait.POSITION} if plan.kind is DeviceKind.COVER else {Trait.ON_OFF}
    optional = ((Trait.BRIGHTNESS, plan.dimmer), (Trait.COLOR_TEMP, plan.color_temp))
    traits |= {trait for trait, present in (*optional, (Trait.RGB, plan.rgb)) if present}
    spec = DeviceSpec(
        kind=plan.kind,
        traits=frozenset(traits),
        model=plan.model,
        min_color_temp=mired_to_kelvin(plan.ct_range[1]) if plan.color_temp else None,
        max_color_temp=mired_to_kelvin(plan.ct_range[0]) if plan.color_temp else None,
        device_class="shutter" if plan.kind is DeviceKind.COVER else None,
    )
    online, offline = plan.lwt
    return Entity(
        unique_id=plan.unique_id,
        name=plan.name,
        spec=spec,
        source=source,
        encode=partial(_encode, plan),
        state=state,
        availability=(AvailabilityTopic(f"{tele}LWT", online, offline),),
        area=plan.area,
        keys=plan.keys,
        query=(Publish(f"{cmnd}STATE", ""),),  # answered on stat/<topic>/RESULT
    )


def _power_keys(plan: Relay) -> tuple[str, ...]:
    """JSON keys (and stat topic names) that carry this relay's power."""
    if plan.relay == 1:
        return ("POWER", "POWER1")
    return (f"POWER{plan.relay}",)


def _state_parser(plan: Relay, *, plain: bool) -> StateParser:
    def parse(payload: bytes) -> dict[str, Any]:
        text = decode_text(payload).strip()
        if plain and not text.startswith("{"):
            return {Trait.ON_OFF.value: _power(plan, text, "POWER")}
        document = parse_json(text)
        if not isinstance(document, dict):
            raise PayloadError(f"state is a JSON {type(document).__name__}, not an object")
        return _values(plan, document)

    return parse


def _values(plan: Relay, document: dict[str, Any]) -> dict[str, Any]:
    """Trait values from a RESULT/STATE/SENSOR object: only the keys it carries."""
    values: dict[str, Any] = {}
    if plan.kind is DeviceKind.COVER:
        shutter = document.get(f"Shutter{plan.relay}")
        return _shutter(shutter, plan.relay) if shutter is not None else {}
    for key in _power_keys(plan):
        if document.get(key) is not None:
            values[Trait.ON_OFF.value] = _power(plan, document[key], key)
            break
    if plan.dimmer and document.get("Dimmer") is not None:
        dimmer = number(document["Dimmer"], "Dimmer")
        values[Trait.BRIGHTNESS.value] = max(0, min(100, round(dimmer)))
    if plan.color_temp and document.get("CT") is not None:
        mired = number(document["CT"], "CT")
        if not 1 <= mired <= 1_000_000:
            raise PayloadError(f"CT {mired:g} is not a colour temperature in mireds")
        values[Trait.COLOR_TEMP.value] = mired_to_kelvin(mired)
    if plan.rgb and document.get("Color") is not None:
        values[Trait.RGB.value] = _color(document["Color"])
    return values


def _power(plan: Relay, raw: Any, key: str) -> bool:
    if isinstance(raw, str):
        word = raw.strip().casefold()
        if word in (plan.words[1].casefold(), "on"):
            return True
        if word in (plan.words[0].casefold(), "off"):
            return False
    raise PayloadError(f"{key} is {_show(raw)}, not {plan.words[1]} or {plan.words[0]}")


def _shutter(raw: Any, number_: int) -> dict[str, Any]:
    what = f"Shutter{number_}"
    if not isinstance(raw, dict):
        raise PayloadError(f"{what} is not an object")
    values: dict[str, Any] = {}
    position = None
    if raw.get("Position") is not None:
        position = max(0, min(100, round(number(raw["Position"], f"{what}.Position"))))
        values[Trait.POSITION.value] = position
    if raw.get("Direction") is not None:
        direction = number(raw["Direction"], f"{what}.Direction")
        if direction > 0:
            values[Trait.COVER.value] = "opening"
        elif direction < 0:
            values[Trait.COVER.value] = "closing"
        elif position is not None:
            values[Trait.COVER.value] = "closed" if position == 0 else "open"
    return values


def _color(raw: Any) -> tuple[int, int, int]:
    """``FF8000`` (hex, more channels allowed) or ``255,128,0`` (SetOption17) -> rgb."""
    text = raw.replace(" ", "") if isinstance(raw, str) else ""
    if match := _HEX_COLOR.fullmatch(text):
        hex_rgb = match.group(1)
        return int(hex_rgb[0:2], 16), int(hex_rgb[2:4], 16), int(hex_rgb[4:6], 16)
    if match := _DECIMAL_COLOR.fullmatch(text):
        red, green, blue = (min(255, int(part)) for part in match.groups())
        return red, green, blue
    raise PayloadError(f"Color {_show(raw)} is not a colour")


# -- commands --------------------------------------------------------------------------------


def _encode(plan: Relay, commands: Sequence[DeviceCommand]) -> list[Publish]:
    """Commands -> one publish each on ``cmnd/<topic>/<Command>``; Unsupported otherwise."""
    return [_publish(plan, str(command.trait), command.value) for command in commands]


def _publish(plan: Relay, trait: str, value: Any) -> Publish:
    cmnd = plan.topics[0]
    if plan.kind is DeviceKind.COVER:
        if trait == Trait.COVER and isinstance(value, str) and value in _SHUTTER_COMMANDS:
            return Publish(f"{cmnd}{_SHUTTER_COMMANDS[value]}{plan.relay}", "")
        if trait == Trait.POSITION:
            position = round(max(0.0, min(100.0, _command_number(value, trait))))
            return Publish(f"{cmnd}ShutterPosition{plan.relay}", str(position))
    elif trait == Trait.ON_OFF and isinstance(value, bool):
        command = f"POWER{plan.relay}" if plan.indexed else "POWER"
        return Publish(f"{cmnd}{command}", "ON" if value else "OFF")
    elif trait == Trait.BRIGHTNESS and plan.dimmer:
        dimmer = round(max(0.0, min(100.0, _command_number(value, trait))))
        return Publish(f"{cmnd}Dimmer", str(dimmer))
    elif trait == Trait.COLOR_TEMP and plan.color_temp:
        kelvin = _command_number(value, trait)
        if kelvin >= 1:
            low, high = plan.ct_range
            return Publish(f"{cmnd}CT", str(max(low, min(high, kelvin_to_mired(kelvin)))))
    elif trait == Trait.RGB and plan.rgb and is_rgb(value):
        return Publish(f"{cmnd}Color", ",".join(str(channel) for channel in value))
    raise Unsupported(f"this device cannot set {trait} to {str(value)[:30]!r}")


def _command_number(value: Any, trait: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not abs(value) < 1e9:
        raise Unsupported(f"{trait} needs a number")
    return float(value)
