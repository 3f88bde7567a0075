"""Home Assistant MQTT discovery as a device source.

Devices announce themselves with a retained JSON config on
``<prefix>/<component>/[<node_id>/]<object_id>/config`` (Zigbee2MQTT, ESPHome, Tasmota,
Shelly, hand-made firmware all do). ``HassDiscovery.handle`` turns each such message into a
``SourceUpdate``: an entity added or replaced, or removed by an empty payload. Home Assistant's
device discovery (``<prefix>/device/<object_id>/config`` with ``components``) is read too.
``build_entity`` builds the same entities from a config a user wrote by hand.

What is read, as Home Assistant reads it: abbreviations and ``~``; ``device`` (name,
identifiers, ``suggested_area`` -> ``Entity.area``, model); availability (``availability_topic``
or an ``availability`` list, ``availability_mode``); the component's own keys (see
``hass_light``, ``hass_components``, ``hass_climate``). Components supported: light, switch,
fan, cover, climate, lock, sensor, binary_sensor; others (button, number, ...) are skipped.

Names follow Home Assistant: a ``name`` is prefixed with the device's name; a null name is the
device's name; a missing name is the device's name, except that a sensor or binary sensor with
a ``device_class`` is "<device> <Device class>" (so a device's sensors do not all share one
name). An entity name equal to the device name, or starting with it, is used as is.
Entities with ``enabled_by_default: false`` (Zigbee2MQTT's link quality, ...) are skipped, as
Home Assistant adds them disabled. A config republished unchanged changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

from .entity import AvailabilityTopic, Entity, PayloadError, SourceUpdate, parse_json
from .hass_abbreviations import expand
from .hass_climate import build_climate
from .hass_components import (
    Built,
    build_binary_sensor,
    build_cover,
    build_fan,
    build_lock,
    build_sensor,
    build_switch,
)
from .hass_config import Conf
from .hass_light import build_light

__all__ = ["HassDiscovery", "build_entity", "SUPPORTED_COMPONENTS"]

_LOGGER = logging.getLogger(__name__)

_BUILDERS: Mapping[str, Callable[[Conf], Built]] = {
    "light": build_light,
    "switch": build_switch,
    "fan": build_fan,
    "cover": build_cover,
    "climate": build_climate,
    "lock": build_lock,
    "sensor": build_sensor,
    "binary_sensor": build_binary_sensor,
}
SUPPORTED_COMPONENTS = frozenset(_BUILDERS)

_DEFAULT_NAMES = {
    "light": "MQTT Light",
    "switch": "MQTT Switch",
    "fan": "MQTT Fan",
    "cover": "MQTT Cover",
    "climate": "MQTT HVAC",
    "lock": "MQTT Lock",
    "sensor": "MQTT Sensor",
    "binary_sensor": "MQTT Binary sensor",
}
_CLASS_NAMES = {
    "pm25": "PM2.5",
    "pm10": "PM10",
    "pm1": "PM1",
    "co2": "Carbon dioxide",
    "co": "Carbon monoxide",
    "volatile_organic_compounds": "Volatile organic compounds",
}
_SHARED_KEYS = (
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "payload_available",
    "payload_not_available",
    "command_topic",
    "state_topic",
    "device",
    "retain",
)
"""Keys a device discovery config passes down to its components."""
_Z2M_IDENTIFIER = re.compile(r"zigbee2mqtt_(0x[0-9a-fA-F]{16})")

Source = Literal["hass", "zigbee2mqtt", "tasmota", "config"]
_Mode = Literal["all", "any", "latest"]


def build_entity(
    component: str,
    config: Mapping[str, Any],
    *,
    unique_id: str,
    name: str | None = None,
    source: Source = "hass",
) -> Entity:
    """An entity from a Home Assistant style config (full or abbreviated keys).

    ``name`` overrides the name the config gives. PayloadError names the bad key.
    """
    if not isinstance(config, Mapping):
        raise PayloadError("the config must be an object")
    return _build(component, expand(config), unique_id, name, source, ())


def _build(
    component: str,
    data: Mapping[str, Any],
    unique_id: str,
    name: str | None,
    source: Source,
    extra_keys: Sequence[str],
) -> Entity:
    builder = _BUILDERS.get(component)
    if builder is None:
        raise PayloadError(f"component {component[:40]!r} is not supported")
    if not isinstance(unique_id, str) or not unique_id:
        raise PayloadError("unique_id must be a non-empty string")
    conf = Conf(data)
    built = builder(conf)
    device = _Device.read(conf)
    availability, mode = _availability(conf)
    spec = replace(built.spec, model=device.model) if device.model else built.spec
    return Entity(
        unique_id=unique_id,
        name=name or _name(component, conf, device),
        spec=spec,
        source=source,
        encode=built.encode,
        state=built.state,
        availability=availability,
        availability_mode=mode,
        area=device.area,
        keys=_keys(component, conf, device, unique_id, extra_keys),
    )


@dataclass(frozen=True, slots=True)
class _Device:
    name: str | None = None
    area: str | None = None
    model: str | None = None
    identifiers: tuple[str, ...] = ()

    @classmethod
    def read(cls, conf: Conf) -> _Device:
        data = conf.data.get("device")
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise PayloadError("device must be an object")
        device = Conf(data)
        identifiers = data.get("identifiers")
        if isinstance(identifiers, str | int) and not isinstance(identifiers, bool):
            identifiers = [identifiers]
        if identifiers is None:
            identifiers = []
        if not isinstance(identifiers, list) or not all(
            isinstance(item, str | int) and not isinstance(item, bool) for item in identifiers
        ):
            raise PayloadError("device identifiers must be a string or a list of strings")
        try:
            return cls(
                device.text("name"),
                device.text("suggested_area"),
                device.text("model"),
                tuple(str(item) for item in identifiers),
            )
        except PayloadError as err:
            raise PayloadError(f"device {err}") from None


def _name(component: str, conf: Conf, device: _Device) -> str:
    if "name" in conf.data:
        entity = conf.text("name")
    else:
        entity = _class_name(conf) if component in ("sensor", "binary_sensor") else None
    if not entity:
        return device.name or _DEFAULT_NAMES[component]
    if not device.name:
        return entity
    folded, device_folded = entity.casefold(), device.name.casefold()
    if folded == device_folded or folded.startswith(device_folded + " "):
        return entity
    return f"{device.name} {entity}"


def _class_name(conf: Conf) -> str | None:
    device_class = conf.text("device_class")
    if not device_class:
        return None
    return _CLASS_NAMES.get(device_class, device_class.replace("_", " ").capitalize())


def _keys(
    component: str, conf: Conf, device: _Device, unique_id: str, extra: Sequence[str]
) -> tuple[str, ...]:
    keys = list(extra)
    object_id = conf.text("object_id")
    if object_id:
        keys += [object_id, f"{component}.{object_id}"]
    default_entity_id = conf.text("default_entity_id")
    if default_entity_id:
        keys.append(default_entity_id)
    for identifier in device.identifiers:
        keys.append(identifier)
        if match := _Z2M_IDENTIFIER.fullmatch(identifier):
            keys.append(f"z2m:{match.group(1).lower()}")
    keys.append(unique_id)
    return tuple(dict.fromkeys(key for key in keys if key))


def _availability(conf: Conf) -> tuple[tuple[AvailabilityTopic, ...], _Mode]:
    mode = cast(_Mode, conf.choice("availability_mode", "latest", ("all", "any", "latest")))
    if conf.has("availability") and conf.has("availability_topic"):
        raise PayloadError("availability and availability_topic cannot both be given")
    topic = conf.topic("availability_topic")
    if topic is not None:
        entry = AvailabilityTopic(
            topic,
            conf.payload("payload_available", "online"),
            conf.payload("payload_not_available", "offline"),
            _extractor(conf, "availability_template"),
        )
        return (entry,), mode
    entries = conf.data.get("availability")
    if entries is None:
        return (), mode
    if not isinstance(entries, list):
        raise PayloadError("availability must be a list of objects")
    topics = []
    for index, item in enumerate(entries):
        try:
            if not isinstance(item, Mapping):
                raise PayloadError("must be an object")
            entry_conf = Conf(item)
            topics.append(
                AvailabilityTopic(
                    entry_conf.topic("topic", required=True) or "",
                    entry_conf.payload("payload_available", "online"),
                    entry_conf.payload("payload_not_available", "offline"),
                    _extractor(entry_conf, "value_template"),
                )
            )
        except PayloadError as err:
            raise PayloadError(f"availability[{index}]: {err}") from None
    return tuple(topics), mode


def _extractor(conf: Conf, key: str) -> Callable[[bytes], str] | None:
    template = conf.value_template(key)
    if template is None:
        return None
    return lambda payload: template.render(payload).strip()


# -- discovery ------------------------------------------------------------------------------


class HassDiscovery:
    """Reads discovery messages; remembers which topic made which entities."""

    def __init__(self, prefix: str = "homeassistant") -> None:
        prefix = prefix.strip("/")
        if not prefix or "+" in prefix or "#" in prefix:
            raise ValueError(f"discovery prefix {prefix!r} is not a plain topic")
        self.prefix = prefix
        self.topics: tuple[str, ...] = (f"{prefix}/+/+/config", f"{prefix}/+/+/+/config")
        """Subscription filters for every discovery config."""
        self._made: dict[str, tuple[str, ...]] = {}
        """Discovery topic -> unique_ids of the entities its config made."""
        self._owner: dict[str, str] = {}
        """unique_id -> the discovery topic that made it."""
        self._digest: dict[str, bytes] = {}
        """Discovery topic -> digest of the config that made its entities."""
        self.last_problems: tuple[str, ...] = ()
        """What the last ``handle`` skipped but did not raise for: the bad components of a
        device discovery config whose other components were fine."""

    def handle(self, topic: str, payload: bytes) -> SourceUpdate:
        """One discovery message -> what it changed; PayloadError says why it is unusable
        (the entities an earlier config made then stay)."""
        self.last_problems = ()
        component, node_id, object_id = self._split(topic)
        if not payload.strip():
            return self._commit(topic, [], b"")
        digest = hashlib.blake2b(payload, digest_size=16).digest()
        if self._digest.get(topic) == digest:
            return SourceUpdate()
        config = parse_json(payload)
        if not isinstance(config, dict):
            raise PayloadError("the discovery config is not a JSON object")
        discovery_ids = (object_id, f"{node_id}/{object_id}") if node_id else (object_id,)
        if component == "device":
            entities, problems = _device_entities(config, discovery_ids)
            self.last_problems = tuple(problems)
        elif component in _BUILDERS:
            entity = _component_entity(component, expand(config), discovery_ids)
            entities = [entity] if entity else []
        else:
            _LOGGER.debug("Skipping %s: component %s is not supported", topic, component)
            entities = []
        return self._commit(topic, entities, digest)

    def _split(self, topic: str) -> tuple[str, str | None, str]:
        parts = topic.split("/")
        size = self.prefix.count("/") + 1
        if "/".join(parts[:size]) != self.prefix or parts[-1] != "config":
            raise PayloadError("not a discovery topic")
        middle = parts[size:-1]
        if len(middle) not in (2, 3) or not all(middle):
            raise PayloadError("not a discovery topic")
        return middle[0], middle[1] if len(middle) == 3 else None, middle[-1]

    def _commit(self, topic: str, entities: Sequence[Entity], digest: bytes) -> SourceUpdate:
        new_ids = [entity.unique_id for entity in entities]
        for unique_id in new_ids:
            owner = self._owner.get(unique_id, topic)
            if owner != topic or new_ids.count(unique_id) > 1:
                raise PayloadError(f"unique_id {unique_id[:60]!r} is already used by {owner}")
        removed = tuple(uid for uid in self._made.get(topic, ()) if uid not in new_ids)
        for unique_id in removed:
            del self._owner[unique_id]
        self._owner.update(dict.fromkeys(new_ids, topic))
        if new_ids:
            self._made[topic] = tuple(new_ids)
            self._digest[topic] = digest
        else:
            self._made.pop(topic, None)
            self._digest.pop(topic, None)
        return SourceUpdate(added=tuple(entities), removed=removed)


def _component_entity(
    component: str, data: Mapping[str, Any], discovery_ids: Sequence[str]
) -> Entity | None:
    unique_id = data.get("unique_id")
    if isinstance(unique_id, int) and not isinstance(unique_id, bool):
        unique_id = str(unique_id)
    if not isinstance(unique_id, str) or not unique_id:
        raise PayloadError("has no unique_id")
    if Conf(data).flag("enabled_by_default", True) is False:
        _LOGGER.debug("Skipping %s: disabled by default", unique_id)
        return None
    return _build(component, data, unique_id, None, "hass", discovery_ids)


def _device_entities(
    config: Mapping[str, Any], discovery_ids: Sequence[str]
) -> tuple[list[Entity], list[str]]:
    """Home Assistant's device discovery: shared keys plus one config per component.

    Returns the entities and what was wrong with the other components; PayloadError when no
    component could be used."""
    base = config.get("~")
    data = expand(config)
    components = data.get("components")
    if not isinstance(components, Mapping) or not components:
        raise PayloadError("components must be a non-empty object")
    shared = {key: data[key] for key in _SHARED_KEYS if key in data}
    entities: list[Entity] = []
    errors: list[str] = []
    for component_id, item in components.items():
        try:
            entity = _device_component(item, shared, base, (str(component_id), *discovery_ids))
        except PayloadError as err:
            errors.append(f"component {str(component_id)[:40]}: {err}")
            continue
        if entity is not None:
            entities.append(entity)
    if errors and not entities:
        raise PayloadError("; ".join(errors[:3]))
    return entities, errors


def _device_component(
    item: Any, shared: Mapping[str, Any], base: Any, discovery_ids: Sequence[str]
) -> Entity | None:
    if not isinstance(item, Mapping):
        raise PayloadError("must be an object")
    if base is not None and "~" not in item:
        item = {**item, "~": base}
    own = expand(item)
    platform = own.get("platform")
    if not isinstance(platform, str):
        raise PayloadError("platform is missing")
    if platform not in _BUILDERS or set(own) == {"platform"}:
        return None  # unsupported, or {"platform": ...} alone: the component is removed
    data = {**shared, **own}
    return _component_entity(platform, data, discovery_ids)
