"""Devices written by hand in config.yaml: built from the config, checked by check-config."""

from __future__ import annotations

from assistant.config import parse_config
from integrations.base import DeviceKind, Trait
from integrations.mqtt.manual import check_mqtt_devices, entity_from_settings

AREAS = "areas: [{name: Kitchen}]\n"


def settings(devices: str):
    return parse_config(AREAS + "devices:\n" + devices)


def test_a_tasmota_device_by_topic() -> None:
    s = settings(
        "  - {name: Kettle, mqtt: {tasmota: kettle_plug}}\n"
        "  - {name: Blind, mqtt: {tasmota: blind_1, type: cover}}\n"
        "  - {name: Lamp, mqtt: {tasmota: lamp_2, type: light, relay: 2, dimmer: true}}\n"
    )
    kettle, blind, lamp = (entity_from_settings(d) for d in s.devices)
    assert kettle.spec.kind is DeviceKind.SWITCH and kettle.unique_id == "tasmota_kettle"
    assert "stat/kettle_plug/RESULT" in kettle.state
    assert blind.spec.kind is DeviceKind.COVER and Trait.POSITION in blind.spec.traits
    assert lamp.spec.kind is DeviceKind.LIGHT and Trait.BRIGHTNESS in lamp.spec.traits
    assert list(check_mqtt_devices(s)) == []


def test_a_home_assistant_style_device() -> None:
    s = settings(
        "  - name: Garden pump\n"
        "    area: Kitchen\n"
        "    mqtt: {kind: switch, command_topic: g/pump/set, state_topic: g/pump,"
        " payload_on: '1', payload_off: '0'}\n"
    )
    pump = entity_from_settings(s.devices[0])
    assert pump.source == "config" and pump.unique_id == "config_garden_pump"
    assert pump.state["g/pump"](b"1") == {"on_off": True}


def test_check_config_names_what_is_wrong() -> None:
    s = settings(
        "  - {name: Kettle, mqtt: {tasmota: kettle_plug, type: toaster}}\n"
        "  - {name: Pump, mqtt: {kind: switch, command_topic: g/set, state_topic: 'g/#'}}\n"
        "  - {name: Plug, mqtt: {tasmota: p1, relay: 40}}\n"
    )
    problems = dict(check_mqtt_devices(s))
    assert "type must be one of: switch, light, fan, cover" in problems[("devices", 0, "mqtt")]
    assert "state_topic" in problems[("devices", 1, "mqtt")]
    assert "relay" in problems[("devices", 2, "mqtt")]
