"""Tasmota as a device source: native discovery (``tasmota/discovery/<MAC>/config``) and
devices listed by hand (``tasmota_entity``).

One entity per relay (``rl`` 1 relay, 2 light) and per shutter (a pair of ``rl`` 3 relays).
Topics follow the device's full topic (``ft``, e.g. ``%prefix%/%topic%/``) and prefixes:

- commands: ``cmnd/<topic>/POWER`` ON/OFF (``POWER<n>`` when the device has several relays),
  ``Dimmer`` 0-100, ``CT`` mireds, ``Color`` ``r,g,b``; shutters ``ShutterOpen<n>``,
  ``ShutterClose<n>``, ``ShutterStop<n>``, ``ShutterPosition<n>`` 0-100. One publish each.
- state: ``stat/<topic>/RESULT`` (the reply to every command) and ``tele/<topic>/STATE``,
  JSON with only the keys they carry (``{"POWER":"ON","Dimmer":40,"CT":250}``);
  ``stat/<topic>/POWER<n>``, plain ON/OFF (or JSON with SetOption4); shutters also
  ``tele/<topic>/SENSOR`` (``{"Shutter1":{"Position":50,"Direction":0}}``).
- availability: ``tele/<topic>/LWT``, "Online"/"Offline" (the config's ``onln``/``ofln``).

Relay 1 reads both ``POWER`` and ``POWER1``. ``unique_id``: ``tasmota_<mac>_<relay>`` for
discovered devices (relay counted from 1; a shutter takes its first relay's number),
``tasmota_<topic>_<relay>`` for hand-written ones. Only the first light relay gets dimmer and
colour (multi-channel PWM, SetOption68, is on/off per channel); iFan fans and TuyaMCU extras
are not modelled. An empty config payload removes the device.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from integrations.base import DeviceKind

from .entity import Entity, PayloadError, SourceUpdate, parse_json
from .tasmota_relay import (
    CT_RANGE,
    CT_RANGE_ALEXA,
    DEFAULT_FULL_TOPIC,
    Relay,
    check_topic,
    relay_entity,
    topic_roots,
)

__all__ = ["TasmotaDiscovery", "tasmota_entity"]

_MAC = re.compile(r"[0-9A-Fa-f]{12}")
_MAX_RELAYS = 32
"""Tasmota's most relays (POWER1..POWER32)."""


def tasmota_entity(
    topic: str,
    name: str,
    *,
    kind: DeviceKind = DeviceKind.SWITCH,
    relay: int = 1,
    dimmer: bool = False,
    color_temp: bool = False,
    full_topic: str = DEFAULT_FULL_TOPIC,
    unique_id: str | None = None,
    area: str | None = None,
) -> Entity:
    """An entity for a Tasmota device listed by hand (no discovery).

    ``kind`` is switch, light or fan (relay ``relay``, counted from 1; relay 1 commands
    ``POWER``), or cover (Tasmota shutter number ``relay``). ``dimmer`` and ``color_temp``
    need ``kind`` light. Raises ValueError for arguments that cannot describe a device.
    """
    if kind not in (DeviceKind.SWITCH, DeviceKind.LIGHT, DeviceKind.FAN, DeviceKind.COVER):
        raise ValueError(f"a Tasmota device cannot be a {kind}")
    if (dimmer or color_temp) and kind is not DeviceKind.LIGHT:
        raise ValueError("dimmer and color_temp need kind light")
    if isinstance(relay, bool) or not isinstance(relay, int) or not 1 <= relay <= _MAX_RELAYS:
        raise ValueError(f"relay must be 1-{_MAX_RELAYS}")
    if not name.strip():
        raise ValueError("a Tasmota device needs a name")
    try:
        topics = topic_roots(full_topic, ("cmnd", "stat", "tele"), check_topic(topic), {})
    except PayloadError as err:
        raise ValueError(str(err)) from None
    plan = Relay(
        unique_id=unique_id or f"tasmota_{topic}_{relay}",
        name=name.strip(),
        kind=kind,
        relay=relay,
        indexed=relay > 1,
        topics=topics,
        dimmer=dimmer,
        color_temp=color_temp,
        keys=(topic, name) if relay == 1 else (f"{topic}/{relay}", name),
        area=area,
    )
    return relay_entity(plan, source="config")


class TasmotaDiscovery:
    """Reads Tasmota's native discovery configs; pure, no I/O."""

    def __init__(self, prefix: str = "tasmota") -> None:
        prefix = prefix.strip("/")
        if not prefix or any(char in prefix for char in "+#\0"):
            raise ValueError(f"not a usable Tasmota discovery prefix: {prefix!r}")
        self.prefix = prefix
        self.topics: tuple[str, ...] = (f"{prefix}/discovery/+/config",)
        """Subscription filters for the discovery messages ``handle`` reads."""
        self._devices: dict[str, dict[str, Relay]] = {}
        """MAC -> unique_id -> plan."""

    def handle(self, topic: str, payload: bytes) -> SourceUpdate:
        """One retained config -> that device's entities added or replaced, ids removed."""
        mac = self._mac(topic)
        old = self._devices.get(mac, {})
        if not payload:
            self._devices.pop(mac, None)
            return SourceUpdate(removed=tuple(old))
        config = parse_json(payload)
        if not isinstance(config, dict):
            raise PayloadError(f"config is a JSON {type(config).__name__}, not an object")
        plans = {plan.unique_id: plan for plan in _discovered(mac, config)}
        self._devices[mac] = plans
        changed = [plan for key, plan in plans.items() if old.get(key) != plan]
        return SourceUpdate(
            added=tuple(relay_entity(plan, "tasmota") for plan in changed),
            removed=tuple(key for key in old if key not in plans),
        )

    def _mac(self, topic: str) -> str:
        parts = topic.split("/")
        head = f"{self.prefix}/discovery/"
        if not topic.startswith(head) or len(parts) != self.prefix.count("/") + 4:
            raise PayloadError(f"not a Tasmota discovery topic: {topic[:80]!r}")
        if parts[-1] != "config" or not _MAC.fullmatch(parts[-2]):
            raise PayloadError(f"not a Tasmota discovery config topic: {topic[:80]!r}")
        return parts[-2].lower()


# -- discovery config ------------------------------------------------------------------------


def _discovered(mac: str, config: dict[str, Any]) -> list[Relay]:
    """A discovery config -> one plan per relay and per shutter (a pair of ``rl`` 3)."""
    base, topic, relays, options = _device(mac, config)
    names = _field(config, "fn", list, [])
    light_type = _field(config, "lt_st", int, 0)
    several = sum(1 for r in relays if r in (1, 2)) + relays.count(3) // 2 > 1
    plans: list[Relay] = []
    shutter_relays = 0
    for index, relay_type in enumerate(relays, start=1):
        friendly = names[index - 1] if index <= len(names) else None
        plan = _named(base, f"tasmota_{mac}_{index}", topic, index, friendly, several)
        if relay_type == 1:
            kind = DeviceKind.LIGHT if options.get("30") == 1 else DeviceKind.SWITCH
            plans.append(replace(plan, kind=kind))
        elif relay_type == 2:
            first = not any(p.kind is DeviceKind.LIGHT and p.dimmer for p in plans)
            plans.append(_light(plan, light_type if first else 0, options.get("4") == 1))
        elif relay_type == 3:
            shutter_relays += 1
            if shutter_relays % 2:
                number = (shutter_relays + 1) // 2
                plans.append(replace(plan, kind=DeviceKind.COVER, relay=number))
    return plans


def _device(mac: str, config: dict[str, Any]) -> tuple[Relay, str, list[int], dict[str, Any]]:
    """What every relay of a device shares (named after the device), its topic, relay types
    and SetOptions."""
    config_mac = config.get("mac", mac)
    if not isinstance(config_mac, str) or config_mac.replace(":", "").lower() != mac:
        raise PayloadError(f"mac {_show(config_mac)} does not match the topic")
    topic = check_topic(_field(config, "t", str))
    relays = _field(config, "rl", list)
    if not all(isinstance(r, int) and not isinstance(r, bool) for r in relays):
        raise PayloadError("rl is not a list of integers")
    relays = relays[:_MAX_RELAYS]
    words = _strings(config, "state", ["OFF", "ON", "TOGGLE", "HOLD"], 2)
    options = _field(config, "so", dict, {})
    roots = topic_roots(
        _field(config, "ft", str, DEFAULT_FULL_TOPIC),
        tuple(_strings(config, "tp", ["cmnd", "stat", "tele"], 3)[:3]),
        topic,
        {"%hostname%": _field(config, "hn", str, ""), "%id%": mac.upper()},
    )
    base = Relay(
        unique_id="",
        name=_field(config, "dn", str, "") or topic,
        kind=DeviceKind.SWITCH,
        relay=0,
        indexed=sum(1 for r in relays if r) > 1,
        topics=roots,
        ct_range=CT_RANGE_ALEXA if options.get("82") == 1 else CT_RANGE,
        words=(words[0], words[1]),
        lwt=(_field(config, "onln", str, "Online"), _field(config, "ofln", str, "Offline")),
        model=_field(config, "md", str, None),
    )
    return base, topic, relays, options


def _named(
    base: Relay, unique_id: str, topic: str, index: int, friendly: Any, several: bool
) -> Relay:
    """Relay ``index`` of a device: its name (``fn`` entry, else the device name with the
    relay's number when there are several) and keys."""
    device_name = base.name
    friendly = friendly.strip()[:100] if isinstance(friendly, str) else ""
    numbered = f"{device_name} {index}" if several else device_name
    key = f"{topic}/{index}" if several else topic
    return replace(
        base,
        unique_id=unique_id,
        name=friendly or numbered,
        relay=index,
        keys=tuple(dict.fromkeys(k for k in (key, friendly, numbered) if k)),
    )


def _light(plan: Relay, light_type: int, so4: bool) -> Relay:
    """A light relay with the traits of its subtype (``lt_st``)."""
    stat = plan.topics[1]
    return replace(
        plan,
        kind=DeviceKind.LIGHT,
        dimmer=light_type >= 1,
        color_temp=light_type in (2, 5),
        rgb=light_type >= 3,
        result_topics=(f"{stat}DIMMER", f"{stat}CT", f"{stat}COLOR") if so4 else (),
    )


def _field(config: dict[str, Any], key: str, kind: type, default: Any = ...) -> Any:
    value = config.get(key, default)
    if value is ...:
        raise PayloadError(f"{key} is missing")
    if value is None and default is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise PayloadError(f"{key} is {type(value).__name__}, not {kind.__name__}")
    return value


def _strings(config: dict[str, Any], key: str, default: list[str], least: int) -> list[str]:
    value = _field(config, key, list, default)
    if len(value) < least or not all(isinstance(v, str) and v for v in value[:least]):
        raise PayloadError(f"{key} needs {least} strings")
    return value


def _show(value: Any) -> str:
    return repr(value)[:60]
