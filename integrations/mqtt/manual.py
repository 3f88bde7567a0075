"""Devices written by hand in config.yaml, and the config check that builds them early."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from integrations.base import DeviceKind

from .entity import Entity, PayloadError
from .hass import build_entity
from .tasmota import tasmota_entity

if TYPE_CHECKING:
    from assistant.config import DeviceSettings, Settings

__all__ = ["check_mqtt_devices", "entity_from_settings", "manual_unique_id"]

_TASMOTA_KEYS = {"relay", "dimmer", "color_temp", "full_topic"}
_TASMOTA_KINDS = {
    "switch": DeviceKind.SWITCH,
    "light": DeviceKind.LIGHT,
    "fan": DeviceKind.FAN,
    "cover": DeviceKind.COVER,
}


def manual_unique_id(entry: DeviceSettings) -> str:
    """``unique_id`` from config, else one made from the name (stable while it keeps it)."""
    from assistant.act.registry import slugify

    assert entry.mqtt is not None
    if entry.mqtt.unique_id:
        return entry.mqtt.unique_id
    prefix = "tasmota_" if entry.mqtt.tasmota else "config_"
    return prefix + slugify(entry.label)


def entity_from_settings(entry: DeviceSettings) -> Entity:
    """The Entity of a hand-written ``mqtt:`` device (``kind`` or ``tasmota``); PayloadError
    names the first key that is wrong."""
    mqtt = entry.mqtt
    assert mqtt is not None and mqtt.discovered is None
    extra = mqtt.extra()
    unique_id = manual_unique_id(entry)
    if mqtt.tasmota is not None:
        return _tasmota(mqtt.tasmota, entry.label, unique_id, extra)
    assert mqtt.kind is not None
    config = {**extra, "unique_id": unique_id}
    entity = build_entity(mqtt.kind, config, unique_id=unique_id, name=entry.label)
    return _as_config(entity)


def _tasmota(topic: str, name: str, unique_id: str, extra: dict[str, Any]) -> Entity:
    unknown = sorted(set(extra) - _TASMOTA_KEYS - {"type"})
    if unknown:
        raise PayloadError(f"unknown key for a Tasmota device: {', '.join(unknown)}")
    kind = extra.get("type", "switch")
    if kind not in _TASMOTA_KINDS:
        raise PayloadError(f"type must be one of: {', '.join(_TASMOTA_KINDS)}")
    relay = extra.get("relay", 1)
    if not isinstance(relay, int) or isinstance(relay, bool) or not 1 <= relay <= 32:
        raise PayloadError("relay must be a whole number from 1 to 32")
    flags = {k: extra.get(k, False) for k in ("dimmer", "color_temp")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise PayloadError(f"{key} must be true or false")
    full_topic = extra.get("full_topic", "%prefix%/%topic%/")
    if not isinstance(full_topic, str) or "%topic%" not in full_topic:
        raise PayloadError("full_topic must be a string containing %topic%")
    return tasmota_entity(
        topic,
        name,
        kind=_TASMOTA_KINDS[kind],
        relay=relay,
        full_topic=full_topic,
        unique_id=unique_id,
        **flags,
    )


def _as_config(entity: Entity) -> Entity:
    from dataclasses import replace

    return replace(entity, source="config")


def check_mqtt_devices(settings: Settings) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Config check: every hand-written MQTT device can be built (topics, payloads,
    templates). Yields ``(key path, message)`` for ``load_config(checks=...)``."""
    for index, entry in enumerate(settings.devices):
        if entry.mqtt is None or entry.mqtt.discovered is not None:
            continue
        try:
            entity_from_settings(entry)
        except PayloadError as err:
            yield ("devices", index, "mqtt"), str(err)
