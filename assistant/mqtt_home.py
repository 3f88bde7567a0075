"""The daemon's MQTT side: the broker connection, its device sources and the registry.

``MqttCatalog`` decides how a discovered entity enters the registry: a ``devices:`` entry in
config.yaml that names it (by unique id, friendly name, IEEE address or Tasmota topic) can
rename it, put it in an area, give it aliases, or hide it; otherwise it keeps the name the
source gave it and its suggested area (created when no configured area matches).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from assistant.act.registry import Area, Device, Registry, normalize_name, slugify
from assistant.config import DeviceSettings, MqttSettings
from integrations.mqtt.connection import MqttConnection
from integrations.mqtt.driver import MqttDriver, Source
from integrations.mqtt.entity import Entity
from integrations.mqtt.errors import MqttConnectError
from integrations.mqtt.manual import entity_from_settings
from integrations.mqtt.turns import connection_from

__all__ = ["MqttCatalog", "start_mqtt"]

_LOGGER = logging.getLogger(__name__)


class MqttCatalog:
    """Implements ``integrations.mqtt.driver.Catalog`` on the registry and config."""

    def __init__(self, registry: Registry, entries: Sequence[DeviceSettings]) -> None:
        self._registry = registry
        self._by_key: dict[str, DeviceSettings] = {}
        """Normalized id/name -> the config entry that names a discovered device."""
        self._manual: dict[str, DeviceSettings] = {}
        """Device id -> the config entry of a hand-written device."""
        for entry in entries:
            assert entry.mqtt is not None
            if entry.mqtt.discovered is not None:
                self._by_key[normalize_name(entry.mqtt.discovered)] = entry

    def manual_entities(self, entries: Sequence[DeviceSettings]) -> list[Entity]:
        """Entities of the hand-written devices (config checks already built them once)."""
        entities = []
        for entry in entries:
            assert entry.mqtt is not None
            if entry.mqtt.discovered is None:
                entity = entity_from_settings(entry)
                self._manual[entity.device_id] = entry
                entities.append(entity)
        return entities

    def adopt(self, entity: Entity) -> bool:
        entry = self._manual.get(entity.device_id) or self._match(entity)
        if entry is not None and entry.mqtt is not None and entry.mqtt.hidden:
            self.forget(entity.device_id)
            return False
        name = entry.name if entry is not None and entry.name else entity.name
        known = entity.device_id in self._registry
        self._registry.add_device(
            Device(
                id=entity.device_id,
                name=name,
                spec=entity.spec,
                driver="mqtt",
                area_id=self._area_id(entry.area if entry is not None else None, entity.area),
                aliases=tuple(entry.aliases) if entry is not None else (),
                exposed=entry.exposed if entry is not None else True,
                sensitive=entry.sensitive if entry is not None else False,
            )
        )
        if not known:
            _LOGGER.info(
                "MQTT device %s (%s) from %s", name, entity.spec.kind, _source(entity.source)
            )
        return True

    def forget(self, device_id: str) -> None:
        if device_id in self._registry:
            _LOGGER.info("MQTT device %s removed", self._registry.device(device_id).name)
            self._registry.remove_device(device_id)

    def _match(self, entity: Entity) -> DeviceSettings | None:
        for key in (entity.unique_id, entity.name, *entity.keys):
            entry = self._by_key.get(normalize_name(key))
            if entry is not None:
                return entry
        return None

    def _area_id(self, configured: str | None, suggested: str | None) -> str | None:
        """A configured area (checked by config), else the suggested one, created if new."""
        name = configured or suggested
        if not name:
            return None
        area = self._registry.find_area(name)
        if area is None:
            area = Area(slugify(name), name.strip())
            if area.id in {a.id for a in self._registry.areas()}:
                return area.id
            self._registry.add_area(area)
            _LOGGER.info("area %s created for MQTT devices", area.name)
        return area.id


def _source(source: str) -> str:
    return {
        "hass": "Home Assistant discovery",
        "zigbee2mqtt": "Zigbee2MQTT",
        "tasmota": "Tasmota",
        "config": "config.yaml",
    }.get(source, source)


def _sources(settings: MqttSettings) -> list[Source]:
    from integrations.mqtt.hass import HassDiscovery
    from integrations.mqtt.tasmota import TasmotaDiscovery
    from integrations.mqtt.zigbee2mqtt import Zigbee2Mqtt

    sources: list[Source] = []
    if settings.zigbee2mqtt.enabled:  # native sources first: they win over HA duplicates
        sources.append(Zigbee2Mqtt(settings.zigbee2mqtt.base_topic))
    if settings.tasmota.enabled:
        sources.append(TasmotaDiscovery(settings.tasmota.discovery_prefix))
    if settings.discovery:
        sources.append(HassDiscovery(settings.discovery_prefix))
    return sources


async def start_mqtt(
    settings: MqttSettings,
    registry: Registry,
    entries: Sequence[DeviceSettings],
    stack: contextlib.AsyncExitStack,
) -> tuple[MqttConnection, MqttDriver]:
    """Connect (in the background), start the driver, wait briefly for retained devices.

    A broker that is down or refuses us is logged with its reason; the daemon goes on and
    the connection keeps retrying.
    """
    connection = await stack.enter_async_context(connection_from(settings))
    catalog = MqttCatalog(registry, entries)
    driver = MqttDriver(
        connection,
        registry,
        catalog,
        _sources(settings),
        entities=catalog.manual_entities(entries),
        confirm_timeout=settings.confirm_timeout,
    )
    stack.push_async_callback(driver.stop)
    await driver.start()
    if settings.startup_wait > 0:
        try:
            await connection.wait_connected(settings.startup_wait, fail_fast=True)
        except MqttConnectError:
            return connection, driver  # already logged by the connection, with the reason
        settled = await driver.settle(limit=settings.startup_wait)
        _LOGGER.debug("MQTT devices %s", "settled" if settled else "still arriving")
    return connection, driver
