"""Zigbee2MQTT source: bridge/devices -> entities, state, availability, commands, bad input."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from assistant.messages import DeviceCommand
from integrations.base import DeviceKind, Trait, Unsupported
from integrations.mqtt.entity import Entity, PayloadError
from integrations.mqtt.zigbee2mqtt import BRIDGE_DEVICES_LIMIT, Zigbee2Mqtt

TOPIC = "zigbee2mqtt/bridge/devices"
BULB = "0x000b57fffec6a5b2"
HUE = "0x0017880104e45517"
PLUG = "0x842e14fffe05b879"
CONTACT = "0x00158d0001a2b3c4"
CLIMATE_SENSOR = "0x00158d00045d1e2f"
BLIND = "0xa4c138d2b1c0f3e1"
LOCK = "0x000d6f0011e6a8b1"
TRV = "0x842e14fffe3b1a2c"
FAN = "0x00124b0024c1d2e3"
LUX = "0x001788010b2c3d4e"
REMOTE = "0x000b57fffe8e9f01"


def _binary(name: str, on: Any, off: Any, access: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "type": "binary",
        "name": name,
        "property": extra.pop("property", name),
        "access": access,
        "value_on": on,
        "value_off": off,
        **extra,
    }


def _numeric(name: str, access: int = 1, **extra: Any) -> dict[str, Any]:
    return {"type": "numeric", "name": name, "property": extra.pop("property", name), **extra,
            "access": access}  # fmt: skip


def _enum(name: str, values: list[str], access: int = 7, **extra: Any) -> dict[str, Any]:
    prop = extra.pop("property", name)
    return {"type": "enum", "name": name, "property": prop, "values": values, "access": access}


LINKQUALITY = _numeric("linkquality", unit="lqi", value_min=0, value_max=255, category="diagnostic")
BATTERY = _numeric("battery", unit="%", value_min=0, value_max=100, category="diagnostic")


def _device(
    ieee: str, name: str, model: str, vendor: str, exposes: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "ieee_address": ieee,
        "type": extra.pop("type", "Router"),
        "network_address": 12345,
        "supported": extra.pop("supported", True),
        "disabled": extra.pop("disabled", False),
        "friendly_name": name,
        "description": None,
        "definition": {
            "model": model,
            "vendor": vendor,
            "description": extra.pop("description", f"{vendor} {model}"),
            "exposes": exposes,
            "options": [],
            "supports_ota": True,
        },
        "power_source": "Mains (single phase)",
        "interview_completed": True,
        "interviewing": False,
        **extra,
    }


def devices() -> list[dict[str, Any]]:
    """A realistic bridge/devices list (trimmed of options and scenes)."""
    ikea_light = {
        "type": "light",
        "features": [
            _binary("state", "ON", "OFF", 7, value_toggle="TOGGLE"),
            _numeric("brightness", 7, value_min=0, value_max=254),
            _numeric("color_temp", 7, unit="mired", value_min=250, value_max=454, presets=[]),
            _numeric("color_temp_startup", 7, unit="mired", value_min=250, value_max=454),
        ],
    }
    hue_light = {
        "type": "light",
        "features": [
            _binary("state", "ON", "OFF", 7),
            _numeric("brightness", 7, value_min=0, value_max=254),
            _numeric("color_temp", 7, value_min=153, value_max=500),
            {
                "type": "composite",
                "name": "color_xy",
                "property": "color",
                "label": "Color (X/Y)",
                "features": [_numeric("x", 7), _numeric("y", 7)],
            },
        ],
    }
    return [
        {
            "ieee_address": "0x00124b001cdd2e3f",
            "type": "Coordinator",
            "friendly_name": "Coordinator",
            "supported": True,
            "disabled": False,
            "definition": None,
            "interview_completed": True,
        },
        _device(
            BULB,
            "living_room/floor_lamp",
            "LED1545G12",
            "IKEA",
            [ikea_light, _enum("effect", ["blink", "breathe"], 2), LINKQUALITY],
            description="TRADFRI bulb E26/E27, white spectrum, globe, opal, 980 lm",
        ),
        _device(HUE, "Hue Go", "7146060PH", "Philips", [hue_light, LINKQUALITY]),
        _device(
            PLUG,
            "coffee_machine",
            "TS011F_plug_1",
            "TuYa",
            [
                {"type": "switch", "features": [_binary("state", "ON", "OFF", 7)]},
                _numeric("power", 5, unit="W"),
                _numeric("energy", 5, unit="kWh"),
                LINKQUALITY,
            ],
        ),
        _device(
            CONTACT,
            "hall/front_door",
            "MCCGQ11LM",
            "Xiaomi",
            [
                _binary("contact", False, True),
                BATTERY,
                _numeric("device_temperature", unit="°C", category="diagnostic"),
                LINKQUALITY,
            ],
            type="EndDevice",
        ),
        _device(
            CLIMATE_SENSOR,
            "bedroom/climate",
            "WSDCGQ11LM",
            "Xiaomi",
            [
                BATTERY,
                _numeric("temperature", unit="°C"),
                _numeric("humidity", unit="%"),
                _numeric("pressure", unit="hPa"),
                LINKQUALITY,
            ],
            type="EndDevice",
        ),
        _device(
            BLIND,
            "study/blind",
            "TS0601_cover_1",
            "TuYa",
            [
                {
                    "type": "cover",
                    "features": [
                        _enum("state", ["OPEN", "CLOSE", "STOP"], 3),
                        _numeric("position", 7, value_min=0, value_max=100, unit="%"),
                    ],
                },
                LINKQUALITY,
            ],
        ),
        _device(
            LOCK,
            "back_door_lock",
            "YRD226HA2619",
            "Yale",
            [
                {
                    "type": "lock",
                    "features": [
                        _binary("state", "LOCK", "UNLOCK", 3),
                        _enum("lock_state", ["not_fully_locked", "locked", "unlocked"], 1),
                    ],
                },
                BATTERY,
            ],
        ),
        _device(
            TRV,
            "office/radiator",
            "TS0601_thermostat",
            "TuYa",
            [
                {
                    "type": "climate",
                    "features": [
                        _numeric(
                            "current_heating_setpoint",
                            7,
                            value_min=5,
                            value_max=35,
                            value_step=0.5,
                            unit="°C",
                        ),  # fmt: skip
                        _numeric("local_temperature", 5, unit="°C"),
                        _enum("system_mode", ["off", "heat", "auto"], 7),
                    ],
                },
                BATTERY,
            ],
        ),
        _device(
            FAN,
            "ceiling_fan",
            "99432",
            "Hampton Bay",
            [
                {
                    "type": "fan",
                    "features": [
                        _binary("state", "ON", "OFF", 7, property="fan_state"),
                        _enum(
                            "mode",
                            ["off", "low", "medium", "high", "on", "smart"],
                            7,
                            property="fan_mode",
                        ),  # fmt: skip
                    ],
                }
            ],
        ),
        _device(
            LUX,
            "garden_light_level",
            "SML001",
            "Philips",
            [_numeric("illuminance_lux", unit="lx"), BATTERY, LINKQUALITY],
        )  # fmt: skip
        | {"type": "EndDevice"},
        _device(
            REMOTE,
            "remote",
            "E1524/E1810",
            "IKEA",
            [_enum("action", ["toggle", "brightness_up_click"], 1), BATTERY],
        )  # fmt: skip
        | {"type": "EndDevice"},
        _device("0x00158d0002b3c4d5", "unknown", "?", "?", [], supported=False),
        _device(
            "0x00158d0002b3c4d6",
            "disabled_plug",
            "X",
            "Y",
            [{"type": "switch", "features": [_binary("state", "ON", "OFF", 7)]}],
            disabled=True,
        ),  # fmt: skip
    ]


def _payload(items: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps(devices() if items is None else items).encode()


@pytest.fixture
def source() -> Zigbee2Mqtt:
    return Zigbee2Mqtt()


@pytest.fixture
def entities(source: Zigbee2Mqtt) -> dict[str, Entity]:
    update = source.handle(TOPIC, _payload())
    assert update.removed == ()
    assert source.last_problems == []
    return {entity.unique_id: entity for entity in update.added}


def _commands(*pairs: tuple[str, Any]) -> list[DeviceCommand]:
    return [DeviceCommand("mqtt:x", trait, value) for trait, value in pairs]


def _body(entity: Entity, *pairs: tuple[str, Any]) -> dict[str, Any]:
    [publish] = entity.encode(_commands(*pairs))
    assert publish.topic == f"zigbee2mqtt/{entity.keys[0]}/set"
    assert publish.retain is False
    return json.loads(publish.payload)


def _state(entity: Entity, document: Any) -> dict[str, Any]:
    [(topic, parse)] = entity.state.items()
    assert topic == f"zigbee2mqtt/{entity.keys[0]}"
    return dict(parse(json.dumps(document).encode()))


# -- discovery -------------------------------------------------------------------------------


def test_subscribes_to_the_device_list_and_bridge_info() -> None:
    assert Zigbee2Mqtt().topics == ("zigbee2mqtt/bridge/devices", "zigbee2mqtt/bridge/info")
    assert Zigbee2Mqtt("/home/z2m/").topics[0] == "home/z2m/bridge/devices"
    with pytest.raises(ValueError):
        Zigbee2Mqtt("zigbee2mqtt/#")


def test_one_entity_per_modelled_device(entities: dict[str, Entity]) -> None:
    kinds = {uid: entity.spec.kind for uid, entity in entities.items()}
    assert kinds == {
        BULB: DeviceKind.LIGHT,
        HUE: DeviceKind.LIGHT,
        PLUG: DeviceKind.SWITCH,
        CONTACT: DeviceKind.BINARY_SENSOR,
        CLIMATE_SENSOR: DeviceKind.SENSOR,
        BLIND: DeviceKind.COVER,
        LOCK: DeviceKind.LOCK,
        TRV: DeviceKind.CLIMATE,
        FAN: DeviceKind.FAN,
        LUX: DeviceKind.SENSOR,
    }  # no coordinator, remote, unsupported or disabled device
    assert all(entity.source == "zigbee2mqtt" for entity in entities.values())


def test_names_areas_and_keys(entities: dict[str, Entity]) -> None:
    bulb = entities[BULB]
    assert (bulb.name, bulb.area) == ("floor lamp", "living room")
    assert bulb.keys == ("living_room/floor_lamp", BULB, f"z2m:{BULB}")
    assert bulb.device_id == f"mqtt:{BULB}"
    assert (entities[HUE].name, entities[HUE].area) == ("Hue Go", None)
    assert entities[PLUG].name == "coffee machine"


def test_light_spec(entities: dict[str, Entity]) -> None:
    spec = entities[BULB].spec
    assert spec.traits == {Trait.ON_OFF, Trait.BRIGHTNESS, Trait.COLOR_TEMP}
    assert (spec.min_color_temp, spec.max_color_temp) == (2203, 4000)
    assert spec.model == "LED1545G12"
    assert Trait.RGB in entities[HUE].spec.traits


def test_sensor_specs(entities: dict[str, Entity]) -> None:
    contact = entities[CONTACT].spec
    assert contact.traits == {Trait.ACTIVE, Trait.BATTERY}
    assert contact.device_class == "door"
    climate = entities[CLIMATE_SENSOR].spec
    assert climate.traits == {Trait.CURRENT_TEMPERATURE, Trait.HUMIDITY, Trait.BATTERY}
    lux = entities[LUX].spec
    assert lux.traits == {Trait.VALUE, Trait.BATTERY}
    assert (lux.unit, lux.device_class) == ("lx", "illuminance_lux")
    assert entities[PLUG].spec.traits == {Trait.ON_OFF}  # power/energy: the plug has better


def test_climate_and_fan_specs(entities: dict[str, Entity]) -> None:
    trv = entities[TRV].spec
    assert trv.traits == {
        Trait.TARGET_TEMPERATURE,
        Trait.CURRENT_TEMPERATURE,
        Trait.HVAC_MODE,
        Trait.BATTERY,
    }
    assert (trv.min_temperature, trv.max_temperature) == (5, 35)
    fan = entities[FAN].spec
    assert fan.traits == {Trait.ON_OFF, Trait.MODE, Trait.FAN_SPEED}
    assert "smart" in fan.modes


def test_an_unchanged_list_reports_nothing(
    source: Zigbee2Mqtt, entities: dict[str, Entity]
) -> None:
    assert source.handle(TOPIC, _payload()) == source.handle(TOPIC, _payload())
    update = source.handle(TOPIC, _payload())
    assert (update.added, update.removed) == ((), ())


def test_removed_device(source: Zigbee2Mqtt, entities: dict[str, Entity]) -> None:
    items = [item for item in devices() if item["ieee_address"] != PLUG]
    update = source.handle(TOPIC, _payload(items))
    assert (update.added, update.removed) == ((), (PLUG,))


def test_disabling_a_device_removes_it(source: Zigbee2Mqtt, entities: dict[str, Entity]) -> None:
    items = devices()
    next(item for item in items if item["ieee_address"] == LOCK)["disabled"] = True
    assert source.handle(TOPIC, _payload(items)).removed == (LOCK,)


def test_rename_replaces_the_entity(source: Zigbee2Mqtt, entities: dict[str, Entity]) -> None:
    items = devices()
    next(item for item in items if item["ieee_address"] == PLUG)["friendly_name"] = "kitchen/kettle"
    update = source.handle(TOPIC, _payload(items))
    assert update.removed == ()
    [renamed] = update.added
    assert (renamed.unique_id, renamed.name, renamed.area) == (PLUG, "kettle", "kitchen")
    assert list(renamed.state) == ["zigbee2mqtt/kitchen/kettle"]
    assert renamed.availability[0].topic == "zigbee2mqtt/kitchen/kettle/availability"
    assert renamed.encode(_commands(("on_off", True)))[0].topic == "zigbee2mqtt/kitchen/kettle/set"


def test_empty_payload_removes_everything(source: Zigbee2Mqtt, entities: dict[str, Entity]) -> None:
    update = source.handle(TOPIC, b"")
    assert set(update.removed) == set(entities)
    assert source.handle(TOPIC, _payload()).added  # and they come back


def test_unnamed_device_uses_its_description(source: Zigbee2Mqtt) -> None:
    [item] = [copy.deepcopy(d) for d in devices() if d["ieee_address"] == BULB]
    item["friendly_name"] = BULB
    [entity] = source.handle(TOPIC, _payload([item])).added
    assert entity.name.startswith("TRADFRI bulb E26/E27")
    assert entity.area is None


def test_endpoint_devices_use_the_plain_or_first_endpoint(source: Zigbee2Mqtt) -> None:
    def gang(endpoint: str) -> dict[str, Any]:
        state = _binary("state", "ON", "OFF", 7, property=f"state_{endpoint}")
        return {"type": "switch", "endpoint": endpoint, "features": [state]}

    item = _device("0xa4c1380000000001", "two_gang", "TS0012", "TuYa", [gang("l1"), gang("l2")])
    [entity] = source.handle(TOPIC, _payload([item])).added
    assert _state(entity, {"state_l1": "ON", "state_l2": "OFF"}) == {"on_off": True}
    assert _body(entity, ("on_off", False)) == {"state_l1": "OFF"}


# -- state -----------------------------------------------------------------------------------


def test_light_state(entities: dict[str, Entity]) -> None:
    document = {"state": "ON", "brightness": 215, "color_temp": 325, "linkquality": 87,
                "update": {"state": "idle"}, "color_mode": "color_temp"}  # fmt: skip
    assert _state(entities[BULB], document) == {
        "on_off": True,
        "brightness": 85,
        "color_temp": 3077,
    }
    assert _state(entities[BULB], {"state": "OFF"}) == {"on_off": False}
    assert _state(entities[BULB], {"linkquality": 40, "brightness": None}) == {}


def test_colour_state(entities: dict[str, Entity]) -> None:
    # the xy Home Assistant sends for pure red (wide-gamut D65, as Hue bulbs use)
    red = _state(entities[HUE], {"color": {"x": 0.7006, "y": 0.2993}})["rgb"]
    assert red[0] == 255 and red[1] < 10 and red[2] < 10
    assert _state(entities[HUE], {"color": {"hue": 240, "saturation": 100}}) == {"rgb": (0, 0, 255)}


def test_sensor_state(entities: dict[str, Entity]) -> None:
    reading = {"battery": 97, "humidity": 44.72, "temperature": 27.34, "pressure": 1009,
               "voltage": 3005, "linkquality": 120}  # fmt: skip
    assert _state(entities[CLIMATE_SENSOR], reading) == {
        "battery": 97,
        "humidity": 44.72,
        "current_temperature": 27.34,
    }
    assert _state(entities[LUX], {"illuminance_lux": 312, "battery": 100}) == {
        "value": 312.0,
        "battery": 100,
    }


def test_contact_true_means_closed(entities: dict[str, Entity]) -> None:
    assert _state(entities[CONTACT], {"contact": True}) == {"active": False}
    assert _state(entities[CONTACT], {"contact": False, "battery": 91}) == {
        "active": True,
        "battery": 91,
    }


def test_cover_lock_climate_fan_state(entities: dict[str, Entity]) -> None:
    assert _state(entities[BLIND], {"state": "CLOSE", "position": 0}) == {
        "cover": "closed",
        "position": 0,
    }
    assert _state(entities[BLIND], {"state": "OPEN", "position": 100}) == {
        "cover": "open",
        "position": 100,
    }
    locked = {"state": "LOCK", "lock_state": "locked", "battery": 80}
    assert _state(entities[LOCK], locked) == {"locked": True, "battery": 80}
    thermostat = {"current_heating_setpoint": 21.5, "local_temperature": 19.8,
                  "system_mode": "heat", "running_state": "heat"}  # fmt: skip
    assert _state(entities[TRV], thermostat) == {
        "target_temperature": 21.5,
        "current_temperature": 19.8,
        "hvac_mode": "heat",
    }
    assert _state(entities[FAN], {"fan_state": "ON", "fan_mode": "medium"}) == {
        "on_off": True,
        "mode": "medium",
        "fan_speed": 67,
    }
    assert _state(entities[FAN], {"fan_mode": "smart"}) == {"mode": "smart"}


@pytest.mark.parametrize(
    ("uid", "document", "named"),
    [
        (BULB, {"state": 1}, "state"),
        (BULB, {"state": "MAYBE"}, "state"),
        (BULB, {"brightness": "bright"}, "brightness"),
        (BULB, {"brightness": True}, "brightness"),
        (BULB, {"color_temp": 0}, "color_temp"),
        (BULB, {"color_temp": 1e-300}, "color_temp"),
        (HUE, {"color": "red"}, "color"),
        (HUE, {"color": {"x": 0.3, "y": 0}}, "color"),
        (HUE, {"color": {"x": 0.5, "y": 5e-324}}, "color"),
        (HUE, {"color": {"hue": "red", "saturation": 100}}, "color.hue"),
        (CONTACT, {"contact": "open"}, "contact"),
        (CLIMATE_SENSOR, {"temperature": [21]}, "temperature"),
        (BLIND, {"state": "SIDEWAYS"}, "state"),
        (BLIND, {"position": {}}, "position"),
        (TRV, {"system_mode": 3}, "system_mode"),
        (LOCK, {"state": True}, "state"),
    ],
)
def test_wrong_types_name_the_property(
    entities: dict[str, Entity], uid: str, document: dict[str, Any], named: str
) -> None:
    with pytest.raises(PayloadError, match=named):
        _state(entities[uid], document)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"ON",
        b"[1, 2]",
        b'"text"',
        b"\xff\xfe",
        b"[" * 3000,
        b'{"a": NaN}',
        b"{" + b" " * (300 * 1024) + b"}",
    ],  # fmt: skip
)
def test_bad_state_payloads(entities: dict[str, Entity], payload: bytes) -> None:
    [parse] = entities[BULB].state.values()
    with pytest.raises(PayloadError):
        parse(payload)


# -- availability ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "word"),
    [
        (b'{"state":"online"}', "online"),
        (b'{"state": "offline"}', "offline"),
        (b"online", "online"),
        (b"offline\n", "offline"),
    ],  # fmt: skip
)
def test_availability_both_formats(entities: dict[str, Entity], payload: bytes, word: str) -> None:
    [topic] = entities[PLUG].availability
    assert topic.topic == "zigbee2mqtt/coffee_machine/availability"
    assert (topic.available, topic.unavailable) == ("online", "offline")
    assert topic.value is not None
    assert topic.value(payload) == word


@pytest.mark.parametrize("payload", [b'{"status":"online"}', b'{"state":1}', b"{", b"\xff"])
def test_bad_availability(entities: dict[str, Entity], payload: bytes) -> None:
    value = entities[PLUG].availability[0].value
    assert value is not None
    with pytest.raises(PayloadError):
        value(payload)


def _info(availability: Any = None, devices: dict[str, Any] | None = None) -> bytes:
    config: dict[str, Any] = {"homeassistant": {"enabled": False}, "devices": devices or {}}
    if availability is not None:
        config["availability"] = availability
    return json.dumps({"version": "2.1.0", "coordinator": {"type": "zStack3x0"},
                       "config": config, "permit_join": False}).encode()  # fmt: skip


INFO = "zigbee2mqtt/bridge/info"


@pytest.mark.parametrize(
    "availability", [None, False, {"enabled": False, "active": {"timeout": 10}}]
)
def test_availability_turned_off_in_bridge_info(
    source: Zigbee2Mqtt, entities: dict[str, Entity], availability: Any
) -> None:
    update = source.handle(INFO, _info(availability))
    assert {entity.unique_id for entity in update.added} == set(entities)
    assert all(entity.availability == () for entity in update.added)
    assert source.handle(INFO, _info(availability)).added == ()  # unchanged
    items = devices()
    next(item for item in items if item["ieee_address"] == PLUG)["friendly_name"] = "kettle"
    [renamed] = source.handle(TOPIC, _payload(items)).added
    assert renamed.availability == ()


@pytest.mark.parametrize("availability", [True, {"active": {"timeout": 10}}, {"enabled": True}])
def test_availability_turned_on_in_bridge_info(
    source: Zigbee2Mqtt, entities: dict[str, Entity], availability: Any
) -> None:
    assert source.handle(INFO, _info(availability)).added == ()  # as assumed
    update = source.handle(INFO, _info(availability, {PLUG: {"availability": False}}))
    [plug] = update.added
    assert (plug.unique_id, plug.availability) == (PLUG, ())
    others = {entity.unique_id for entity in source.handle(INFO, _info(False)).added}
    assert others == set(entities) - {PLUG}  # the plug had none already


def test_bridge_info_before_the_device_list(source: Zigbee2Mqtt) -> None:
    assert source.handle(INFO, _info(False)).added == ()
    update = source.handle(TOPIC, _payload())
    assert update.added and all(entity.availability == () for entity in update.added)


@pytest.mark.parametrize(
    "payload",
    [
        b"[]",
        b'{"config": 1}',
        b'{"config": {"devices": []}}',
        b"\xff",
        b"[" * 3000,
        _info("yes"),
        _info({"enabled": "no"}),
    ],  # fmt: skip
)
def test_bad_bridge_info(source: Zigbee2Mqtt, entities: dict[str, Entity], payload: bytes) -> None:
    with pytest.raises(PayloadError):
        source.handle(INFO, payload)
    assert source.handle(INFO, b"") == source.handle(INFO, _info(True))  # nothing changed


# -- commands --------------------------------------------------------------------------------


def test_light_commands_make_one_message(entities: dict[str, Entity]) -> None:
    bulb = entities[BULB]
    assert _body(bulb, ("on_off", True)) == {"state": "ON"}
    assert _body(bulb, ("on_off", False), ("brightness", 100)) == {
        "state": "OFF",
        "brightness": 254,
    }
    assert _body(bulb, ("brightness", 50), ("color_temp", 2700)) == {
        "brightness": 127,
        "color_temp": 370,
    }
    assert _body(bulb, ("color_temp", 6500)) == {"color_temp": 250}  # clamped to the bulb
    assert _body(entities[HUE], ("rgb", (255, 0, 0))) == {"color": {"r": 255, "g": 0, "b": 0}}
    assert bulb.encode([]) == []


def test_other_commands(entities: dict[str, Entity]) -> None:
    assert _body(entities[PLUG], ("on_off", True)) == {"state": "ON"}
    assert _body(entities[BLIND], ("cover", "open")) == {"state": "OPEN"}
    assert _body(entities[BLIND], ("cover", "stop")) == {"state": "STOP"}
    assert _body(entities[BLIND], ("position", 50)) == {"position": 50}
    assert _body(entities[LOCK], ("locked", True)) == {"state": "LOCK"}
    assert _body(entities[LOCK], ("locked", False)) == {"state": "UNLOCK"}
    assert _body(entities[TRV], ("target_temperature", 21.3)) == {"current_heating_setpoint": 21.5}
    assert _body(entities[TRV], ("target_temperature", 40)) == {"current_heating_setpoint": 35}
    assert _body(entities[TRV], ("hvac_mode", "auto")) == {"system_mode": "auto"}
    assert _body(entities[FAN], ("on_off", True), ("fan_speed", 30)) == {
        "fan_state": "ON",
        "fan_mode": "low",
    }
    assert _body(entities[FAN], ("fan_speed", 100)) == {"fan_mode": "high"}
    assert _body(entities[FAN], ("mode", "smart")) == {"fan_mode": "smart"}


@pytest.mark.parametrize(
    ("uid", "trait", "value"),
    [
        (BULB, "rgb", (1, 2, 3)),  # no colour on this bulb
        (BULB, "on_off", "yes"),
        (BULB, "brightness", "half"),
        (BULB, "brightness", float("nan")),
        (BULB, "color_temp", -5),
        (HUE, "rgb", (256, 0, 0)),
        (CONTACT, "active", True),  # read only
        (CLIMATE_SENSOR, "current_temperature", 20),
        (BLIND, "cover", "sideways"),
        (TRV, "hvac_mode", "cool"),
        (FAN, "mode", "turbo"),
        (LOCK, "locked", 1),
    ],
)
def test_commands_it_cannot_send(
    entities: dict[str, Entity], uid: str, trait: str, value: Any
) -> None:
    with pytest.raises(Unsupported):
        entities[uid].encode(_commands((trait, value)))


# -- bad discovery input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"{}",
        b'"devices"',
        b"null",
        b"\xff\xfe",
        b"[" * 3000,
        b"[1, 2",
        b"[NaN]",
        b"[" + b" " * BRIDGE_DEVICES_LIMIT + b"]",
    ],  # fmt: skip
)
def test_bad_device_lists_fail_and_change_nothing(
    source: Zigbee2Mqtt, entities: dict[str, Entity], payload: bytes
) -> None:
    with pytest.raises(PayloadError):
        source.handle(TOPIC, payload)
    assert source.handle(TOPIC, _payload()).removed == ()


def test_lists_over_the_usual_payload_cap_are_accepted(source: Zigbee2Mqtt) -> None:
    padding = {"ieee_address": "0x0000000000000001", "type": "Router", "definition": None,
               "friendly_name": "pad", "description": "x" * 400_000}  # fmt: skip
    update = source.handle(TOPIC, _payload([*devices(), padding]))
    assert len(update.added) == 10


def test_wrong_topic(source: Zigbee2Mqtt) -> None:
    with pytest.raises(PayloadError):
        source.handle("zigbee2mqtt/bridge/info", b"{}")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.pop("ieee_address"), "ieee_address"),
        (lambda d: d.update(ieee_address="0x123"), "ieee_address"),
        (lambda d: d.update(ieee_address=7), "ieee_address"),
        (lambda d: d.pop("friendly_name"), "friendly_name"),
        (lambda d: d.update(friendly_name="a/+/b"), "friendly_name"),
        (lambda d: d.update(friendly_name="/lamp"), "friendly_name"),
        (lambda d: d.update(supported="yes"), "supported"),
        (lambda d: d.update(definition=[]), "definition"),
        (lambda d: d["definition"].update(exposes={}), "exposes"),
        (lambda d: d["definition"].update(exposes=[1]), "exposes"),
        (lambda d: d["definition"].update(model=5), "model"),
        (lambda d: d["definition"]["exposes"][0].update(features="x"), "features"),
        (lambda d: d["definition"]["exposes"][0]["features"][1].update(access="7"), "access"),
        (lambda d: d["definition"]["exposes"][0]["features"][1].update(value_max="x"), "value_max"),
        (lambda d: d["definition"]["exposes"][0]["features"][2].update(value_min=-5), "mired"),
        (lambda d: d["definition"]["exposes"][0]["features"][0].update(property=None), "property"),
        (lambda d: d["definition"]["exposes"][0]["features"][0].update(value_on={}), "value_on"),
    ],
)
def test_a_bad_entry_skips_only_that_device(source: Zigbee2Mqtt, change: Any, reason: str) -> None:
    items = devices()
    bulb = next(item for item in items if item.get("ieee_address") == BULB)
    change(bulb)
    update = source.handle(TOPIC, _payload(items))
    assert {entity.unique_id for entity in update.added} == {
        HUE, PLUG, CONTACT, CLIMATE_SENSOR, BLIND, LOCK, TRV, FAN, LUX,
    }  # fmt: skip
    [problem] = source.last_problems
    assert problem.startswith("device 1 ")
    assert reason in problem


def test_non_object_entries_and_duplicates(source: Zigbee2Mqtt) -> None:
    items: list[Any] = [None, "x", 5, *devices()[:3], devices()[2]]
    update = source.handle(TOPIC, _payload(items))
    assert {entity.unique_id for entity in update.added} == {BULB, HUE}
    assert len(source.last_problems) == 4
    assert "listed twice" in source.last_problems[-1]


def _mutations(value: Any, rng: random.Random) -> Any:
    """``value`` with one randomly chosen leaf replaced by an odd value."""
    odd = [None, True, -1, 0, 1e308, 1e-300, "", "x" * 500, [], {}, [[[]]], {"a": {}}, "ON", 0.5]
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        return {**value, key: _mutations(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.8:
        index = rng.randrange(len(value))
        return [*value[:index], _mutations(value[index], rng), *value[index + 1 :]]
    return rng.choice(odd)


def test_random_damage_raises_only_payload_errors() -> None:
    rng = random.Random(1234)
    base = devices()
    for _ in range(600):
        source = Zigbee2Mqtt()
        items = _mutations(base, rng)
        try:
            update = source.handle(TOPIC, json.dumps(items).encode())
        except PayloadError:
            continue
        document = json.dumps(_mutations({"state": "ON", "brightness": 3}, rng)).encode()
        for entity in update.added:
            for parse in entity.state.values():
                try:
                    parse(document)
                except PayloadError:
                    pass
            for trait in entity.spec.traits:
                try:
                    entity.encode(_commands((trait.value, rng.choice([True, 50, 1e8, "low"]))))
                except Unsupported:
                    pass


def test_random_state_damage_raises_only_payload_errors(entities: dict[str, Entity]) -> None:
    rng = random.Random(99)
    documents = [
        {"state": "ON", "brightness": 3, "color_temp": 300, "color": {"x": 0.3, "y": 0.3}},
        {"contact": True, "battery": 3, "temperature": 2, "humidity": 1, "position": 2},
        {"fan_state": "ON", "fan_mode": "low", "system_mode": "heat", "illuminance_lux": 3},
    ]
    for _ in range(2000):
        document = _mutations(rng.choice(documents), rng)
        for entity in entities.values():
            for parse in entity.state.values():
                try:
                    parse(json.dumps(document).encode())
                except PayloadError:
                    pass


def test_odd_command_values_raise_only_unsupported(entities: dict[str, Entity]) -> None:
    odd = [None, True, False, -1, 0, 50, 1e308, -1e308, float("inf"), float("nan"), 1e-320,
           "", "on", "open", "heat", "low", [], (0, 0, 0), (1, 2), {}, b"x"]  # fmt: skip
    for entity in entities.values():
        for trait in Trait:
            for value in odd:
                try:
                    entity.encode(_commands((trait.value, value)))
                except Unsupported:
                    pass
