"""Home Assistant MQTT discovery: configs as Zigbee2MQTT, ESPHome, Tasmota and HA users
publish them -> entities; state payloads -> trait values; commands -> publishes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.messages import DeviceCommand
from integrations.base import DeviceKind, DriverError, Trait, Unsupported
from integrations.mqtt.entity import Entity, PayloadError, Publish
from integrations.mqtt.hass import HassDiscovery, build_entity

PREFIX = "homeassistant"


def discover(component: str, config: dict[str, Any], object_id: str = "thing") -> Entity:
    update = HassDiscovery().handle(
        f"{PREFIX}/{component}/{object_id}/config", json.dumps(config).encode()
    )
    assert len(update.added) == 1 and not update.removed
    return update.added[0]


def state(entity: Entity, topic: str, payload: str | dict[str, Any]) -> dict[str, Any]:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    return dict(entity.state[topic](raw.encode()))


def send(entity: Entity, *commands: tuple[str, Any]) -> list[Publish]:
    return entity.encode(
        [DeviceCommand(entity.device_id, trait, value) for trait, value in commands]
    )


def payloads(publishes: list[Publish]) -> list[tuple[str, str]]:
    return [(publish.topic, publish.payload) for publish in publishes]


# -- Zigbee2MQTT ------------------------------------------------------------------------------

Z2M_DEVICE = {
    "identifiers": ["zigbee2mqtt_0x00158d0001a2b3c4"],
    "manufacturer": "IKEA",
    "model": "TRADFRI bulb E27 WS opal 980lm (LED1545G12)",
    "name": "Kitchen light",
    "sw_version": "2.3.087",
    "suggested_area": "Kitchen",
}
Z2M_AVAILABILITY = [
    {"topic": "zigbee2mqtt/bridge/state", "value_template": "{{ value_json.state }}"},
    {"topic": "zigbee2mqtt/Kitchen light/availability", "value_template": "{{ value_json.state }}"},
]
Z2M_LIGHT = {
    "availability": Z2M_AVAILABILITY,
    "availability_mode": "all",
    "brightness": True,
    "brightness_scale": 254,
    "command_topic": "zigbee2mqtt/Kitchen light/set",
    "device": Z2M_DEVICE,
    "max_mireds": 454,
    "min_mireds": 250,
    "name": None,
    "object_id": "kitchen_light",
    "origin": {"name": "Zigbee2MQTT", "sw": "1.40.2", "url": "https://www.zigbee2mqtt.io"},
    "schema": "json",
    "state_topic": "zigbee2mqtt/Kitchen light",
    "supported_color_modes": ["color_temp"],
    "unique_id": "0x00158d0001a2b3c4_light_zigbee2mqtt",
}


def test_zigbee2mqtt_json_light() -> None:
    source = HassDiscovery()
    topic = "homeassistant/light/0x00158d0001a2b3c4/light/config"
    assert source.topics == ("homeassistant/+/+/config", "homeassistant/+/+/+/config")
    (light,) = source.handle(topic, json.dumps(Z2M_LIGHT).encode()).added
    assert light.unique_id == "0x00158d0001a2b3c4_light_zigbee2mqtt"
    assert light.name == "Kitchen light"  # name null: the device's name
    assert light.area == "Kitchen"
    assert light.source == "hass"
    assert light.spec.kind is DeviceKind.LIGHT
    assert light.spec.traits == {Trait.ON_OFF, Trait.BRIGHTNESS, Trait.COLOR_TEMP}
    assert (light.spec.min_color_temp, light.spec.max_color_temp) == (2203, 4000)
    assert light.spec.model == Z2M_DEVICE["model"]
    for key in (
        "light",
        "0x00158d0001a2b3c4/light",
        "kitchen_light",
        "light.kitchen_light",
        "zigbee2mqtt_0x00158d0001a2b3c4",
        "z2m:0x00158d0001a2b3c4",
        light.unique_id,
    ):
        assert key in light.keys
    assert light.availability_mode == "all"
    bridge, own = light.availability
    assert bridge.topic == "zigbee2mqtt/bridge/state" and bridge.available == "online"
    assert own.value is not None and own.value(b'{"state": "offline"}') == "offline"

    values = state(
        light,
        "zigbee2mqtt/Kitchen light",
        {"state": "ON", "brightness": 254, "color_temp": 370, "color_mode": "color_temp"},
    )
    assert values == {"on_off": True, "brightness": 100, "color_temp": 2703}
    assert state(light, "zigbee2mqtt/Kitchen light", {"state": "OFF", "linkquality": 80}) == {
        "on_off": False
    }

    publishes = send(light, ("on_off", True), ("brightness", 50), ("color_temp", 2700))
    assert len(publishes) == 1
    assert publishes[0].topic == "zigbee2mqtt/Kitchen light/set"
    assert json.loads(publishes[0].payload) == {"state": "ON", "brightness": 127, "color_temp": 370}
    assert payloads(send(light, ("on_off", False))) == [
        ("zigbee2mqtt/Kitchen light/set", '{"state":"OFF"}')
    ]
    assert json.loads(send(light, ("brightness", 0))[0].payload) == {"state": "OFF"}
    # clamped to the light's range
    assert json.loads(send(light, ("color_temp", 9000))[0].payload)["color_temp"] == 250
    with pytest.raises(Unsupported):
        send(light, ("rgb", (255, 0, 0)))


def test_zigbee2mqtt_colour_light_speaks_xy() -> None:
    config = {**Z2M_LIGHT, "supported_color_modes": ["xy", "color_temp"]}
    light = discover("light", config)
    assert Trait.RGB in light.spec.traits
    message = json.loads(send(light, ("rgb", (255, 0, 0)))[0].payload)
    assert message["state"] == "ON"
    assert message["color"] == {"x": 0.7006, "y": 0.2993}
    values = state(
        light,
        "zigbee2mqtt/Kitchen light",
        {"state": "ON", "color_mode": "xy", "color": {"x": 0.7006, "y": 0.2993}},
    )
    red, green, blue = values["rgb"]
    assert red == 255 and green < 20 and blue < 20
    # in colour-temperature mode the colour object is stale: not read
    values = state(
        light,
        "zigbee2mqtt/Kitchen light",
        {"color_mode": "color_temp", "color_temp": 250, "color": {"x": 0.7, "y": 0.3}},
    )
    assert values == {"color_temp": 4000}


def test_zigbee2mqtt_binary_sensor_with_boolean_payloads() -> None:
    config = {
        "availability": Z2M_AVAILABILITY,
        "device": {**Z2M_DEVICE, "name": "Front door", "model": "MCCGQ11LM"},
        "device_class": "door",
        "name": None,
        "object_id": "front_door_contact",
        "payload_off": True,
        "payload_on": False,
        "state_topic": "zigbee2mqtt/Front door",
        "unique_id": "0x00158d0001a2b3c4_contact_zigbee2mqtt",
        "value_template": "{{ value_json.contact }}",
    }
    sensor = discover("binary_sensor", config)
    assert sensor.spec.kind is DeviceKind.BINARY_SENSOR
    assert sensor.spec.traits == {Trait.ACTIVE}
    assert sensor.spec.device_class == "door"
    assert sensor.name == "Front door"
    topic = "zigbee2mqtt/Front door"
    assert state(sensor, topic, {"contact": False, "battery": 91}) == {"active": True}
    assert state(sensor, topic, {"contact": True}) == {"active": False}
    with pytest.raises(PayloadError, match="contact"):  # names the missing key
        state(sensor, topic, {"battery": 90})
    with pytest.raises(Unsupported):
        send(sensor, ("on_off", True))


def test_zigbee2mqtt_sensors_on_one_topic_get_their_own_names() -> None:
    device = {**Z2M_DEVICE, "name": "Bedroom sensor"}
    temperature = discover(
        "sensor",
        {
            "device": device,
            "device_class": "temperature",
            "state_class": "measurement",
            "state_topic": "zigbee2mqtt/Bedroom sensor",
            "unique_id": "0x1_temperature_zigbee2mqtt",
            "unit_of_measurement": "°C",
            "value_template": "{{ value_json.temperature }}",
        },
    )
    battery = discover(
        "sensor",
        {
            "device": device,
            "device_class": "battery",
            "entity_category": "diagnostic",
            "state_topic": "zigbee2mqtt/Bedroom sensor",
            "unique_id": "0x1_battery_zigbee2mqtt",
            "unit_of_measurement": "%",
            "value_template": "{{ value_json.battery }}",
        },
    )
    assert temperature.name == "Bedroom sensor Temperature"
    assert battery.name == "Bedroom sensor Battery"
    message = {"temperature": 21.37, "humidity": 48.2, "battery": 86.5}
    assert state(temperature, "zigbee2mqtt/Bedroom sensor", message) == {
        "current_temperature": 21.37
    }
    assert state(battery, "zigbee2mqtt/Bedroom sensor", message) == {"battery": 86}


def test_disabled_by_default_entities_are_skipped() -> None:
    config = {
        "device": Z2M_DEVICE,
        "enabled_by_default": False,
        "entity_category": "diagnostic",
        "name": "Linkquality",
        "state_topic": "zigbee2mqtt/Kitchen light",
        "unique_id": "0x00158d0001a2b3c4_linkquality_zigbee2mqtt",
        "value_template": "{{ value_json.linkquality }}",
    }
    update = HassDiscovery().handle(
        "homeassistant/sensor/x/linkquality/config", json.dumps(config).encode()
    )
    assert update.added == () and update.removed == ()


# -- ESPHome (abbreviated keys) ---------------------------------------------------------------

ESPHOME_DEVICE = {
    "ids": "a4cf12345678",
    "name": "desk",
    "sw": "esphome v2024.6.1 Jun 20 2024",
    "mdl": "esp32dev",
    "mf": "espressif",
    "sa": "Office",
}


def test_esphome_abbreviated_rgb_light() -> None:
    config = {
        "name": "Lamp",
        "stat_t": "desk/light/lamp/state",
        "cmd_t": "desk/light/lamp/command",
        "schema": "json",
        "brightness": True,
        "sup_clrm": ["rgb"],
        "avty_t": "desk/status",
        "uniq_id": "ESPlightlamp",
        "dev": ESPHOME_DEVICE,
    }
    light = discover("light", config, "lamp")
    assert light.name == "desk Lamp"
    assert light.area == "Office"
    assert light.spec.model == "esp32dev"
    assert light.spec.traits == {Trait.ON_OFF, Trait.BRIGHTNESS, Trait.RGB}
    assert "a4cf12345678" in light.keys and "lamp" in light.keys
    (availability,) = light.availability
    assert (availability.topic, availability.available, availability.unavailable) == (
        "desk/status",
        "online",
        "offline",
    )
    values = state(
        light,
        "desk/light/lamp/state",
        {
            "state": "ON",
            "color_mode": "rgb",
            "brightness": 128,
            "color": {"r": 255, "g": 128, "b": 0},
        },
    )
    assert values == {"on_off": True, "brightness": 50, "rgb": (255, 128, 0)}
    message = json.loads(send(light, ("rgb", (0, 0, 255)), ("brightness", 100))[0].payload)
    assert message == {"state": "ON", "brightness": 255, "color": {"r": 0, "g": 0, "b": 255}}


def test_esphome_climate_in_fahrenheit() -> None:
    config = {
        "name": "Thermostat",
        "uniq_id": "ESPclimatethermostat",
        "dev": ESPHOME_DEVICE,
        "avty_t": "desk/status",
        "curr_temp_t": "desk/climate/thermostat/current_temperature/state",
        "mode_cmd_t": "desk/climate/thermostat/mode/command",
        "mode_stat_t": "desk/climate/thermostat/mode/state",
        "modes": ["off", "heat_cool", "cool", "heat", "fan_only"],
        "temp_cmd_t": "desk/climate/thermostat/target_temperature/command",
        "temp_stat_t": "desk/climate/thermostat/target_temperature/state",
        "min_temp": 50,
        "max_temp": 86,
        "temp_unit": "F",
        "precision": 1.0,
    }
    climate = discover("climate", config)
    spec = climate.spec
    assert spec.kind is DeviceKind.CLIMATE
    assert spec.traits == {
        Trait.ON_OFF,
        Trait.HVAC_MODE,
        Trait.TARGET_TEMPERATURE,
        Trait.CURRENT_TEMPERATURE,
    }
    assert spec.modes == ("off", "heat_cool", "cool", "heat", "fan")
    assert (spec.min_temperature, spec.max_temperature) == (10.0, 30.0)
    base = "desk/climate/thermostat"
    assert state(climate, f"{base}/current_temperature/state", "68.9") == {
        "current_temperature": 20.5
    }
    assert state(climate, f"{base}/mode/state", "fan_only") == {"hvac_mode": "fan", "on_off": True}
    assert state(climate, f"{base}/mode/state", "off") == {"hvac_mode": "off", "on_off": False}
    with pytest.raises(PayloadError, match="dry"):
        state(climate, f"{base}/mode/state", "dry")
    assert payloads(send(climate, ("target_temperature", 21.0))) == [
        (f"{base}/target_temperature/command", "70.0")
    ]
    assert send(climate, ("target_temperature", 40))[0].payload == "86.0"  # clamped
    assert payloads(send(climate, ("hvac_mode", "fan"), ("on_off", False))) == [
        (f"{base}/mode/command", "fan_only"),
        (f"{base}/mode/command", "off"),
    ]
    assert send(climate, ("on_off", True))[0].payload == "heat_cool"
    with pytest.raises(Unsupported):
        send(climate, ("hvac_mode", "dry"))


def test_climate_power_topic_and_templates() -> None:
    config = {
        "name": "Bedroom AC",
        "unique_id": "ac-1",
        "power_command_topic": "ac/power/set",
        "payload_on": "1",
        "payload_off": "0",
        "mode_command_topic": "ac/set",
        "mode_command_template": '{"mode": "{{ value }}"}',
        "mode_state_topic": "ac/state",
        "mode_state_template": "{{ value_json.mode }}",
        "temperature_command_topic": "ac/set",
        "temperature_command_template": '{"target": {{ value }}}',
        "temperature_state_topic": "ac/state",
        "temperature_state_template": "{{ value_json.target }}",
        "current_humidity_topic": "ac/state",
        "current_humidity_template": "{{ value_json.humidity }}",
        "modes": ["off", "cool", "dry"],
    }
    ac = build_entity("climate", config, unique_id="ac-1", source="config")
    assert ac.source == "config" and ac.name == "Bedroom AC"
    assert Trait.HUMIDITY in ac.spec.traits
    assert state(ac, "ac/state", {"mode": "cool", "target": 24.5, "humidity": 51}) == {
        "hvac_mode": "cool",
        "on_off": True,
        "target_temperature": 24.5,
        "humidity": 51.0,
    }
    assert payloads(send(ac, ("on_off", True), ("target_temperature", 23.25))) == [
        ("ac/power/set", "1"),
        ("ac/set", '{"target": 23.2}'),
    ]
    assert payloads(send(ac, ("hvac_mode", "dry"))) == [("ac/set", '{"mode": "dry"}')]


# -- Tasmota (base topic ~) -------------------------------------------------------------------


def test_tasmota_relay_with_base_topic() -> None:
    config = {
        "name": "Sonoff Basic",
        "cmd_t": "~cmnd/POWER",
        "stat_t": "~tele/STATE",
        "val_tpl": "{{value_json.POWER}}",
        "pl_off": "OFF",
        "pl_on": "ON",
        "avty_t": "~tele/LWT",
        "pl_avail": "Online",
        "pl_not_avail": "Offline",
        "uniq_id": "A1B2C3_RL_1",
        "dev": {"ids": ["A1B2C3"], "cns": [["mac", "A0:20:A6:A1:B2:C3"]]},
        "~": "sonoff/",
    }
    relay = discover("switch", config)
    assert relay.name == "Sonoff Basic"
    assert relay.spec.kind is DeviceKind.SWITCH and relay.spec.traits == {Trait.ON_OFF}
    assert list(relay.state) == ["sonoff/tele/STATE"]
    (availability,) = relay.availability
    assert (availability.topic, availability.available, availability.unavailable) == (
        "sonoff/tele/LWT",
        "Online",
        "Offline",
    )
    assert state(relay, "sonoff/tele/STATE", {"Time": "2024-01-01T00:00:00", "POWER": "ON"}) == {
        "on_off": True
    }
    assert payloads(send(relay, ("on_off", False))) == [("sonoff/cmnd/POWER", "OFF")]


def test_tasmota_dimmer_on_command_type_brightness() -> None:
    config = {
        "name": "Dimmer",
        "cmd_t": "~cmnd/POWER",
        "stat_t": "~tele/STATE",
        "stat_val_tpl": "{{value_json.POWER}}",
        "bri_cmd_t": "~cmnd/Dimmer",
        "bri_stat_t": "~tele/STATE",
        "bri_scl": 100,
        "bri_val_tpl": "{{value_json.Dimmer}}",
        "on_cmd_type": "brightness",
        "uniq_id": "D1D2D3_LI_1",
        "~": "tasmota_D1D2D3/",
    }
    light = discover("light", config)
    assert light.spec.traits == {Trait.ON_OFF, Trait.BRIGHTNESS}
    topic = "tasmota_D1D2D3/tele/STATE"
    assert state(light, topic, {"POWER": "ON", "Dimmer": 40}) == {"on_off": True, "brightness": 40}
    # a message without the Dimmer key still says on/off
    assert state(light, topic, {"POWER": "OFF"}) == {"on_off": False}
    # turning on sends the last brightness, not ON
    assert payloads(send(light, ("on_off", True))) == [("tasmota_D1D2D3/cmnd/Dimmer", "40")]
    assert payloads(send(light, ("brightness", 75))) == [("tasmota_D1D2D3/cmnd/Dimmer", "75")]
    assert payloads(send(light, ("on_off", False))) == [("tasmota_D1D2D3/cmnd/POWER", "OFF")]


# -- Home Assistant users' own configs --------------------------------------------------------


def test_default_schema_light_topics_and_order() -> None:
    config = {
        "name": "Hall",
        "unique_id": "hall-light",
        "command_topic": "hall/light/set",
        "state_topic": "hall/light/state",
        "brightness_command_topic": "hall/light/brightness/set",
        "brightness_state_topic": "hall/light/brightness",
        "color_temp_command_topic": "hall/light/ct/set",
        "color_temp_state_topic": "hall/light/ct",
        "rgb_command_topic": "hall/light/rgb/set",
        "rgb_command_template": "{{ red }};{{ green }};{{ blue }}",
        "rgb_state_topic": "hall/light/rgb",
        "payload_on": "on",
        "payload_off": "off",
        "on_command_type": "first",
    }
    light = discover("light", config)
    assert light.spec.traits == {
        Trait.ON_OFF,
        Trait.BRIGHTNESS,
        Trait.COLOR_TEMP,
        Trait.RGB,
    }
    assert (light.spec.min_color_temp, light.spec.max_color_temp) == (2000, 6536)
    assert state(light, "hall/light/state", "on") == {"on_off": True}
    assert state(light, "hall/light/state", "None") == {}
    with pytest.raises(PayloadError, match="'ON' is neither 'on' nor 'off'"):
        state(light, "hall/light/state", "ON")
    assert state(light, "hall/light/brightness", "128") == {"brightness": 50}
    assert state(light, "hall/light/brightness", "0") == {}
    assert state(light, "hall/light/ct", "250") == {"color_temp": 4000}
    assert state(light, "hall/light/rgb", "255,0,10") == {"rgb": (255, 0, 10)}
    publishes = send(light, ("brightness", 20), ("rgb", (1, 2, 3)), ("color_temp", 3000))
    assert payloads(publishes) == [
        ("hall/light/set", "on"),
        ("hall/light/rgb/set", "1;2;3"),
        ("hall/light/ct/set", "333"),
        ("hall/light/brightness/set", "51"),
    ]
    last = build_entity("light", {**config, "on_command_type": "last"}, unique_id="x")
    assert payloads(send(last, ("brightness", 100)))[-1] == ("hall/light/set", "on")


def test_switch_with_state_words_command_template_and_retain() -> None:
    config = {
        "name": "Heater plug",
        "unique_id": "plug-7",
        "command_topic": "plugs/7/set",
        "command_template": '{"relay": "{{ value }}"}',
        "state_topic": "plugs/7",
        "state_on": "1",
        "state_off": "0",
        "retain": True,
        "device_class": "outlet",
    }
    plug = discover("switch", config)
    assert plug.spec.device_class == "outlet"
    assert state(plug, "plugs/7", " 1\n") == {"on_off": True}
    assert state(plug, "plugs/7", "0") == {"on_off": False}
    with pytest.raises(PayloadError) as caught:
        state(plug, "plugs/7", "x" * 5000)
    assert len(str(caught.value)) < 120
    assert send(plug, ("on_off", True)) == [Publish("plugs/7/set", '{"relay": "ON"}', True)]
    with pytest.raises(Unsupported):
        send(plug, ("brightness", 10))
    with pytest.raises(Unsupported):
        send(plug, ("on_off", "yes"))


def test_command_template_failure_is_a_driver_error() -> None:
    config = {"command_topic": "a/set", "command_template": "{{ value_json.x }}"}
    plug = build_entity("switch", config, unique_id="p")
    with pytest.raises(DriverError, match="command_template"):
        send(plug, ("on_off", True))


def test_fan_percentage_range_and_presets() -> None:
    config = {
        "name": "Ceiling fan",
        "unique_id": "fan-1",
        "command_topic": "fan/on/set",
        "state_topic": "fan/on/state",
        "percentage_command_topic": "fan/speed/set",
        "percentage_state_topic": "fan/speed/state",
        "speed_range_min": 1,
        "speed_range_max": 3,
        "preset_mode_command_topic": "fan/preset/set",
        "preset_mode_state_topic": "fan/preset/state",
        "preset_modes": ["auto", "sleep"],
    }
    fan = discover("fan", config)
    assert fan.spec.kind is DeviceKind.FAN
    assert fan.spec.traits == {Trait.ON_OFF, Trait.FAN_SPEED, Trait.MODE}
    assert fan.spec.modes == ("auto", "sleep")
    assert [state(fan, "fan/speed/state", str(n)) for n in (0, 1, 2, 3)] == [
        {"fan_speed": 0},
        {"fan_speed": 33},
        {"fan_speed": 66},
        {"fan_speed": 100},
    ]
    assert state(fan, "fan/speed/state", "None") == {}
    assert state(fan, "fan/preset/state", "sleep") == {"mode": "sleep"}
    assert payloads(send(fan, ("fan_speed", 50))) == [("fan/speed/set", "2")]
    assert payloads(send(fan, ("fan_speed", 1))) == [("fan/speed/set", "1")]
    assert payloads(send(fan, ("fan_speed", 0))) == [("fan/on/set", "OFF")]
    assert payloads(send(fan, ("on_off", True), ("mode", "auto"))) == [
        ("fan/on/set", "ON"),
        ("fan/preset/set", "auto"),
    ]
    with pytest.raises(Unsupported):
        send(fan, ("mode", "turbo"))


def test_cover_states_positions_and_commands() -> None:
    config = {
        "name": "Garage door",
        "unique_id": "garage",
        "device_class": "garage",
        "command_topic": "garage/set",
        "state_topic": "garage/state",
        "position_topic": "garage/position",
        "set_position_topic": "garage/position/set",
        "position_open": 255,
        "position_closed": 0,
        "payload_stop": None,
    }
    cover = discover("cover", config)
    assert cover.spec.kind is DeviceKind.COVER
    assert cover.spec.device_class == "garage"
    assert cover.spec.traits == {Trait.COVER, Trait.POSITION}
    for word in ("open", "opening", "closed", "closing", "stopped"):
        assert state(cover, "garage/state", word) == {"cover": word}
    with pytest.raises(PayloadError, match="ajar"):
        state(cover, "garage/state", "ajar")
    assert state(cover, "garage/position", "128") == {"position": 50}
    assert payloads(send(cover, ("cover", "open"))) == [("garage/set", "OPEN")]
    assert payloads(send(cover, ("cover", "close"))) == [("garage/set", "CLOSE")]
    assert payloads(send(cover, ("position", 25))) == [("garage/position/set", "64")]
    with pytest.raises(Unsupported):
        send(cover, ("cover", "stop"))  # payload_stop: null


def test_cover_position_only_and_read_only() -> None:
    blind = build_entity(
        "cover",
        {"command_topic": "blind/set", "position_topic": "blind/pos"},
        unique_id="blind",
    )
    assert state(blind, "blind/pos", "0") == {"position": 0, "cover": "closed"}
    assert state(blind, "blind/pos", "30") == {"position": 30, "cover": "open"}
    assert payloads(send(blind, ("position", 100))) == [("blind/set", "OPEN")]
    with pytest.raises(Unsupported):
        send(blind, ("position", 40))  # no set_position_topic
    door = build_entity("cover", {"command_topic": "door/set"}, unique_id="door")
    assert door.spec.traits == {Trait.COVER}
    with pytest.raises(Unsupported):
        send(door, ("position", 100))  # no position trait
    gate = build_entity(
        "cover", {"state_topic": "gate/state", "device_class": "gate"}, unique_id="g"
    )
    assert state(gate, "gate/state", "closed") == {"cover": "closed"}
    with pytest.raises(Unsupported):
        send(gate, ("cover", "open"))


def test_lock_states() -> None:
    config = {
        "name": "Front door",
        "unique_id": "lock-1",
        "command_topic": "lock/set",
        "state_topic": "lock/state",
    }
    lock = discover("lock", config)
    assert lock.spec.kind is DeviceKind.LOCK and lock.spec.traits == {Trait.LOCKED}
    assert state(lock, "lock/state", "LOCKED") == {"locked": True}
    assert state(lock, "lock/state", "UNLOCKED") == {"locked": False}
    for word in ("LOCKING", "UNLOCKING", "JAMMED", "MOTOR_JAMMED", "OPEN"):
        assert state(lock, "lock/state", word) == {}
    with pytest.raises(PayloadError):
        state(lock, "lock/state", "BROKEN")
    assert payloads(send(lock, ("locked", True))) == [("lock/set", "LOCK")]
    assert payloads(send(lock, ("locked", False))) == [("lock/set", "UNLOCK")]


@pytest.mark.parametrize(
    ("extra", "payload", "expected"),
    [
        (
            {"device_class": "temperature", "unit_of_measurement": "°F"},
            "70.7",
            {"current_temperature": 21.5},
        ),
        ({"device_class": "humidity", "unit_of_measurement": "%"}, "55.5", {"humidity": 55.5}),
        ({"device_class": "pm25", "unit_of_measurement": "µg/m³"}, "12", {"pm25": 12.0}),
        ({"device_class": "battery"}, "99.6", {"battery": 100}),
        ({"device_class": "power", "unit_of_measurement": "W"}, "230.5", {"value": 230.5}),
        ({}, "washing", {"value": "washing"}),
        ({}, "None", {}),
    ],
)
def test_sensor_traits(extra: dict[str, Any], payload: str, expected: dict[str, Any]) -> None:
    sensor = build_entity("sensor", {"state_topic": "s", **extra}, unique_id="s")
    assert sensor.spec.kind is DeviceKind.SENSOR
    assert state(sensor, "s", payload) == expected


def test_sensor_value_unit_and_bad_numbers() -> None:
    sensor = build_entity("sensor", {"state_topic": "s", "unit_of_measurement": "W"}, unique_id="s")
    assert sensor.spec.traits == {Trait.VALUE} and sensor.spec.unit == "W"
    with pytest.raises(PayloadError, match="'high' is not a number"):
        state(sensor, "s", "high")
    temperature = build_entity(
        "sensor", {"state_topic": "t", "device_class": "temperature"}, unique_id="t"
    )
    with pytest.raises(PayloadError):
        state(temperature, "t", "warm")


# -- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity_name", "device_name", "expected"),
    [
        ("Ceiling", "Living room", "Living room Ceiling"),
        (None, "Living room", "Living room"),
        ("Living room", "Living room", "Living room"),
        ("living room lamp", "Living room", "living room lamp"),
        ("Lamp", None, "Lamp"),
        (None, None, "MQTT Light"),
    ],
)
def test_names(entity_name: str | None, device_name: str | None, expected: str) -> None:
    config: dict[str, Any] = {"command_topic": "l/set", "name": entity_name}
    if device_name:
        config["device"] = {"name": device_name, "identifiers": "dev-1"}
    assert build_entity("light", config, unique_id="l").name == expected
    assert build_entity("light", config, unique_id="l", name="Mine").name == "Mine"


# -- discovery bookkeeping ------------------------------------------------------------------

SWITCH = {"name": "Pump", "unique_id": "pump", "command_topic": "pump/set"}


def test_removal_replacement_and_republish() -> None:
    source = HassDiscovery()
    topic = "homeassistant/switch/garden/pump/config"
    first = source.handle(topic, json.dumps(SWITCH).encode())
    assert [entity.name for entity in first.added] == ["Pump"]
    # the same retained config again (a reconnect): nothing changed
    assert source.handle(topic, json.dumps(SWITCH).encode()) == first.__class__()
    # a changed config replaces the entity (same unique_id), nothing removed
    second = source.handle(topic, json.dumps({**SWITCH, "name": "Well pump"}).encode())
    assert [entity.name for entity in second.added] == ["Well pump"] and second.removed == ()
    # an empty retained payload removes it
    gone = source.handle(topic, b"")
    assert gone.added == () and gone.removed == ("pump",)
    assert source.handle(topic, b"").removed == ()
    # a new unique_id on the same topic replaces the old one
    source.handle(topic, json.dumps(SWITCH).encode())
    moved = source.handle(topic, json.dumps({**SWITCH, "unique_id": "pump2"}).encode())
    assert [entity.unique_id for entity in moved.added] == ["pump2"] and moved.removed == ("pump",)


def test_a_unique_id_belongs_to_one_topic() -> None:
    source = HassDiscovery()
    source.handle("homeassistant/switch/a/config", json.dumps(SWITCH).encode())
    with pytest.raises(PayloadError, match="already used by homeassistant/switch/a/config"):
        source.handle("homeassistant/switch/b/config", json.dumps(SWITCH).encode())


def test_a_bad_update_keeps_the_old_entity() -> None:
    source = HassDiscovery()
    topic = "homeassistant/switch/pump/config"
    source.handle(topic, json.dumps(SWITCH).encode())
    with pytest.raises(PayloadError):
        source.handle(topic, json.dumps({**SWITCH, "command_topic": 5}).encode())
    assert source.handle(topic, b"").removed == ("pump",)


@pytest.mark.parametrize("component", ["button", "number", "device_automation", "select"])
def test_unsupported_components_are_skipped(component: str) -> None:
    config = {"unique_id": "u", "command_topic": "x/set", "automation_type": "trigger"}
    update = HassDiscovery().handle(
        f"homeassistant/{component}/node/thing/config", json.dumps(config).encode()
    )
    assert update.added == () and update.removed == ()


def test_custom_prefix_and_topic_checks() -> None:
    source = HassDiscovery("site/discovery/")
    assert source.topics == ("site/discovery/+/+/config", "site/discovery/+/+/+/config")
    assert source.handle("site/discovery/switch/pump/config", json.dumps(SWITCH).encode()).added
    for topic in ("homeassistant/switch/pump/config", "site/discovery/switch/config", "a/b"):
        with pytest.raises(PayloadError, match="not a discovery topic"):
            source.handle(topic, b"{}")
    with pytest.raises(ValueError):
        HassDiscovery("home/#")


def test_device_discovery_with_components() -> None:
    config = {
        "dev": {
            "ids": "ea334450945afc",
            "name": "Kitchen",
            "mf": "Bla",
            "mdl": "xya",
            "sa": "Kitchen",
        },
        "o": {"name": "bla2mqtt", "sw": "2.1"},
        "~": "sensorKitchen/",
        "stat_t": "~state",
        "avty_t": "~status",
        "cmps": {
            "temperature": {
                "p": "sensor",
                "device_class": "temperature",
                "unit_of_measurement": "°C",
                "value_template": "{{ value_json.temperature }}",
                "unique_id": "kitchen_t",
            },
            "humidity": {
                "p": "sensor",
                "device_class": "humidity",
                "value_template": "{{ value_json.humidity }}",
                "unique_id": "kitchen_h",
            },
            "reboot": {"p": "button", "cmd_t": "~reboot", "unique_id": "kitchen_r"},
        },
    }
    source = HassDiscovery()
    topic = "homeassistant/device/kitchen/config"
    update = source.handle(topic, json.dumps(config).encode())
    temperature, humidity = update.added
    assert temperature.name == "Kitchen Temperature" and humidity.name == "Kitchen Humidity"
    assert temperature.area == "Kitchen" and temperature.spec.model == "xya"
    assert temperature.availability[0].topic == "sensorKitchen/status"
    assert "temperature" in temperature.keys and "kitchen" in temperature.keys
    message = {"temperature": 22.5, "humidity": 40}
    assert state(temperature, "sensorKitchen/state", message) == {"current_temperature": 22.5}
    assert state(humidity, "sensorKitchen/state", message) == {"humidity": 40.0}
    # {"p": ...} alone removes that component
    config["cmps"]["humidity"] = {"p": "sensor"}  # type: ignore[index]
    update = source.handle(topic, json.dumps(config).encode())
    assert [entity.unique_id for entity in update.added] == ["kitchen_t"]
    assert update.removed == ("kitchen_h",)
    assert source.handle(topic, b"").removed == ("kitchen_t",)


def test_device_discovery_keeps_the_good_components() -> None:
    config = {
        "dev": {"ids": "d1", "name": "Box"},
        "cmps": {
            "good": {"p": "switch", "cmd_t": "box/set", "uniq_id": "box_sw"},
            "bad": {"p": "switch", "uniq_id": "box_bad"},
        },
    }
    source = HassDiscovery()
    update = source.handle("homeassistant/device/box/config", json.dumps(config).encode())
    assert [entity.unique_id for entity in update.added] == ["box_sw"]
    assert source.last_problems == ("component bad: command_topic is missing",)
    config["cmps"] = {"bad": config["cmps"]["bad"]}  # type: ignore[index]
    with pytest.raises(PayloadError, match="component bad: command_topic is missing"):
        HassDiscovery().handle("homeassistant/device/box/config", json.dumps(config).encode())


# -- bad configs ------------------------------------------------------------------------------

LIGHT = {"unique_id": "l", "command_topic": "l/set"}


@pytest.mark.parametrize(
    ("component", "config", "message"),
    [
        ("light", {**LIGHT, "brightness_scale": "abc"}, "brightness_scale"),
        ("light", {**LIGHT, "brightness_scale": 0}, "brightness_scale must be positive"),
        ("light", {**LIGHT, "state_topic": ["a", "b"]}, "state_topic must be a non-empty string"),
        ("light", {**LIGHT, "state_topic": "lights/+/state"}, "state_topic .* wildcard"),
        ("light", {**LIGHT, "stat_t": "lights/#"}, "state_topic .* wildcard"),
        ("light", {**LIGHT, "schema": "template"}, "template"),
        ("light", {**LIGHT, "schema": "fancy"}, "schema must be one of"),
        ("light", {**LIGHT, "schema": "json", "supported_color_modes": ["plaid"]}, "plaid"),
        ("light", {**LIGHT, "supported_color_modes": "rgb", "schema": "json"}, "list of strings"),
        ("light", {**LIGHT, "on_command_type": "never"}, "on_command_type"),
        ("light", {**LIGHT, "payload_on": ["ON"]}, "payload_on must be a string"),
        ("light", {**LIGHT, "color_temp_kelvin": "sometimes"}, "color_temp_kelvin"),
        ("light", {**LIGHT, "max_mireds": 100, "min_mireds": 400}, "colour temperature range"),
        ("light", {"unique_id": "l"}, "command_topic is missing"),
        ("switch", {"unique_id": "s", "state_topic": "s"}, "command_topic is missing"),
        ("lock", {"unique_id": "k"}, "command_topic is missing"),
        ("sensor", {"unique_id": "s"}, "state_topic is missing"),
        ("binary_sensor", {"unique_id": "b", "state_topic": 7}, "state_topic"),
        ("switch", {"command_topic": "s/set"}, "has no unique_id"),
        ("switch", {"unique_id": "", "command_topic": "s/set"}, "has no unique_id"),
        ("switch", {**LIGHT, "value_template": "{{ value_json.x"}, "bad value_template"),
        ("switch", {**LIGHT, "command_template": "{% for %}"}, "bad command_template"),
        ("switch", {**LIGHT, "availability_mode": "some"}, "availability_mode"),
        (
            "switch",
            {**LIGHT, "availability_topic": "a", "availability": [{"topic": "b"}]},
            "availability",
        ),
        (
            "switch",
            {**LIGHT, "availability": [{"payload_available": "up"}]},
            r"availability\[0\]: topic",
        ),
        ("switch", {**LIGHT, "availability": "a/b"}, "availability must be a list"),
        ("switch", {**LIGHT, "device": "kitchen"}, "device must be an object"),
        ("switch", {**LIGHT, "device": {"name": 5}}, "device name must be a string"),
        ("switch", {**LIGHT, "device": {"identifiers": [{}]}}, "identifiers"),
        ("switch", {**LIGHT, "name": 12}, "name must be a string"),
        ("switch", {**LIGHT, "retain": "maybe"}, "retain"),
        ("switch", {**LIGHT, "~": 5}, "~"),
        ("fan", {**LIGHT, "speed_range_min": 5, "speed_range_max": 2}, "speed_range_max"),
        ("fan", {**LIGHT, "preset_modes": "auto"}, "preset_modes"),
        ("cover", {"unique_id": "c", "position_open": 5, "position_closed": 5}, "position_open"),
        ("climate", {"unique_id": "c", "temperature_unit": "R"}, "temperature_unit"),
        ("climate", {"unique_id": "c", "min_temp": 30, "max_temp": 10}, "min_temp"),
        ("climate", {"unique_id": "c", "modes": [1, 2]}, "modes"),
    ],
)
def test_bad_configs_name_the_key(component: str, config: dict[str, Any], message: str) -> None:
    with pytest.raises(PayloadError, match=message) as caught:
        HassDiscovery().handle(f"homeassistant/{component}/x/config", json.dumps(config).encode())
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 3000 + b"]" * 3000, "nested"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"a": "' + b"x" * 300_000 + b'"}', "cap"),
    ],
)
def test_bad_payloads(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        HassDiscovery().handle("homeassistant/switch/x/config", payload)


def test_unknown_component_in_build_entity() -> None:
    with pytest.raises(PayloadError, match="vacuum"):
        build_entity("vacuum", {}, unique_id="v")


def test_state_payload_garbage_is_a_short_payload_error() -> None:
    light = discover("light", Z2M_LIGHT)
    for garbage in (b"\xff", b"[1]", b"{" * 50, b'{"state": "MAYBE"}', b'{"brightness": "lots"}'):
        with pytest.raises(PayloadError) as caught:
            light.state["zigbee2mqtt/Kitchen light"](garbage)
        assert len(str(caught.value)) < 120


def test_colour_round_trip_is_one_conversion() -> None:
    from integrations.mqtt.colour import rgb_to_xy, xy_to_rgb

    for rgb in [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 160, 40), (255, 255, 255)]:
        back = xy_to_rgb(*rgb_to_xy(rgb))
        assert max(abs(a - b) for a, b in zip(back, rgb, strict=True)) <= 3, (rgb, back)
