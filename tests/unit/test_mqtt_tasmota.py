"""Tasmota source: native discovery and hand-written devices -> entities, state, commands."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from assistant.messages import DeviceCommand
from integrations.base import DeviceKind, Trait, Unsupported
from integrations.mqtt.entity import Entity, PayloadError
from integrations.mqtt.tasmota import TasmotaDiscovery, tasmota_entity

SO = {"4": 0, "11": 0, "13": 0, "17": 0, "20": 0, "30": 0, "68": 0, "73": 0, "82": 0,
      "114": 0, "117": 0}  # fmt: skip


def _config(mac: str, topic: str, relays: list[int], names: list[str | None], **extra: Any) -> dict:
    """A discovery config as Tasmota 12 publishes it."""
    return {
        "ip": "192.168.1.50",
        "dn": extra.pop("dn", "Tasmota"),
        "fn": names + [None] * (8 - len(names)),
        "hn": f"{topic.replace('_', '-')}-1234",
        "mac": mac,
        "md": extra.pop("md", "Generic"),
        "ty": 0,
        "if": 0,
        "ofln": "Offline",
        "onln": "Online",
        "state": ["OFF", "ON", "TOGGLE", "HOLD"],
        "sw": "12.5.0",
        "t": topic,
        "ft": extra.pop("ft", "%prefix%/%topic%/"),
        "tp": ["cmnd", "stat", "tele"],
        "rl": relays + [0] * (8 - len(relays)),
        "swc": [-1] * 8,
        "swn": [None] * 8,
        "btn": [0] * 8,
        "so": {**SO, **extra.pop("so", {})},
        "lk": 1,
        "lt_st": extra.pop("lt_st", 0),
        "sho": [0, 0, 0, 0],
        "sht": [[0, 0, 0]] * 4,
        "ver": 1,
        **extra,
    }


BASIC = _config("DC4F22AABBCC", "sonoff_basic", [1], ["Kitchen Light"], dn="Sonoff Basic",
                md="Sonoff Basic")  # fmt: skip
DUAL = _config("600194112233", "dual", [1, 1], ["Bedside left", None], dn="Sonoff Dual",
               md="Sonoff Dual R2")  # fmt: skip
CT_BULB = _config("84F3EB445566", "desk_bulb", [2], ["Desk Lamp"], lt_st=2, md="Sonoff B1")
RGB_BULB = _config("84F3EB778899", "rgb_bulb", [2], ["Strip"], lt_st=5, so={"17": 1, "82": 1})
SHUTTER = _config("A4CF12001122", "blinds", [3, 3], [None, None], dn="Study blinds")


def _topic(config: dict[str, Any]) -> str:
    return f"tasmota/discovery/{config['mac']}/config"


def _discover(source: TasmotaDiscovery, config: dict[str, Any]) -> list[Entity]:
    update = source.handle(_topic(config), json.dumps(config).encode())
    assert update.removed == ()
    return list(update.added)


def _commands(*pairs: tuple[str, Any]) -> list[DeviceCommand]:
    return [DeviceCommand("mqtt:x", trait, value) for trait, value in pairs]


def _sent(entity: Entity, *pairs: tuple[str, Any]) -> list[tuple[str, str]]:
    publishes = entity.encode(_commands(*pairs))
    assert all(publish.retain is False for publish in publishes)
    return [(publish.topic, publish.payload) for publish in publishes]


def _parse(entity: Entity, topic: str, payload: Any) -> dict[str, Any]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return dict(entity.state[topic](raw))


@pytest.fixture
def source() -> TasmotaDiscovery:
    return TasmotaDiscovery()


# -- discovery -------------------------------------------------------------------------------


def test_subscription() -> None:
    assert TasmotaDiscovery().topics == ("tasmota/discovery/+/config",)
    assert TasmotaDiscovery("/home/tasmota/").topics == ("home/tasmota/discovery/+/config",)
    with pytest.raises(ValueError):
        TasmotaDiscovery("+")


def test_sonoff_basic(source: TasmotaDiscovery) -> None:
    [entity] = _discover(source, BASIC)
    assert entity.unique_id == "tasmota_dc4f22aabbcc_1"
    assert entity.device_id == "mqtt:tasmota_dc4f22aabbcc_1"
    assert (entity.name, entity.source) == ("Kitchen Light", "tasmota")
    assert entity.keys == ("sonoff_basic", "Kitchen Light", "Sonoff Basic")
    assert entity.spec.kind is DeviceKind.SWITCH
    assert entity.spec.traits == {Trait.ON_OFF}
    assert entity.spec.model == "Sonoff Basic"
    assert set(entity.state) == {
        "stat/sonoff_basic/RESULT",
        "tele/sonoff_basic/STATE",
        "stat/sonoff_basic/POWER",
        "stat/sonoff_basic/POWER1",
    }
    [availability] = entity.availability
    assert (availability.topic, availability.available, availability.unavailable) == (
        "tele/sonoff_basic/LWT",
        "Online",
        "Offline",
    )
    assert availability.value is None  # the payload itself
    assert _sent(entity, ("on_off", True)) == [("cmnd/sonoff_basic/POWER", "ON")]
    assert _sent(entity, ("on_off", False)) == [("cmnd/sonoff_basic/POWER", "OFF")]


def test_basic_state(source: TasmotaDiscovery) -> None:
    [entity] = _discover(source, BASIC)
    assert _parse(entity, "stat/sonoff_basic/RESULT", {"POWER": "ON"}) == {"on_off": True}
    assert _parse(entity, "stat/sonoff_basic/POWER", b"OFF") == {"on_off": False}
    assert _parse(entity, "stat/sonoff_basic/POWER", b'{"POWER":"ON"}') == {"on_off": True}
    telemetry = {"Time": "2026-01-01T10:00:00", "Uptime": "0T01:00:00", "UptimeSec": 3600,
                 "Heap": 25, "POWER": "OFF", "Wifi": {"AP": 1, "RSSI": 80}}  # fmt: skip
    assert _parse(entity, "tele/sonoff_basic/STATE", telemetry) == {"on_off": False}
    assert _parse(entity, "stat/sonoff_basic/RESULT", {"Timer1": {"Enable": 0}}) == {}


def test_two_relays(source: TasmotaDiscovery) -> None:
    first, second = _discover(source, DUAL)
    assert (first.unique_id, second.unique_id) == (
        "tasmota_600194112233_1",
        "tasmota_600194112233_2",
    )
    assert (first.name, second.name) == ("Bedside left", "Sonoff Dual 2")
    assert first.keys == ("dual/1", "Bedside left", "Sonoff Dual 1")
    assert second.keys == ("dual/2", "Sonoff Dual 2")
    assert _sent(first, ("on_off", True)) == [("cmnd/dual/POWER1", "ON")]
    assert _sent(second, ("on_off", False)) == [("cmnd/dual/POWER2", "OFF")]
    result = {"POWER1": "ON", "POWER2": "OFF"}
    assert _parse(first, "stat/dual/RESULT", result) == {"on_off": True}
    assert _parse(second, "stat/dual/RESULT", result) == {"on_off": False}
    assert _parse(second, "stat/dual/RESULT", {"POWER1": "OFF"}) == {}
    assert "stat/dual/POWER2" in second.state
    assert _parse(second, "stat/dual/POWER2", b"ON") == {"on_off": True}


def test_ct_bulb(source: TasmotaDiscovery) -> None:
    [bulb] = _discover(source, CT_BULB)
    assert bulb.spec.kind is DeviceKind.LIGHT
    assert bulb.spec.traits == {Trait.ON_OFF, Trait.BRIGHTNESS, Trait.COLOR_TEMP}
    assert (bulb.spec.min_color_temp, bulb.spec.max_color_temp) == (2000, 6536)
    result = {"POWER": "ON", "Dimmer": 40, "Color": "6699", "White": 40, "CT": 250,
              "Channel": [40, 60], "Fade": "OFF", "Speed": 1, "LedTable": "ON"}  # fmt: skip
    assert _parse(bulb, "stat/desk_bulb/RESULT", result) == {
        "on_off": True,
        "brightness": 40,
        "color_temp": 4000,
    }
    assert _parse(bulb, "stat/desk_bulb/RESULT", {"Dimmer": 75}) == {"brightness": 75}
    assert _sent(bulb, ("on_off", True), ("brightness", 40), ("color_temp", 2700)) == [
        ("cmnd/desk_bulb/POWER", "ON"),
        ("cmnd/desk_bulb/Dimmer", "40"),
        ("cmnd/desk_bulb/CT", "370"),
    ]
    assert _sent(bulb, ("color_temp", 10000), ("brightness", 120)) == [
        ("cmnd/desk_bulb/CT", "153"),
        ("cmnd/desk_bulb/Dimmer", "100"),
    ]


def test_rgb_bulb(source: TasmotaDiscovery) -> None:
    [strip] = _discover(source, RGB_BULB)
    assert strip.spec.traits == {Trait.ON_OFF, Trait.BRIGHTNESS, Trait.COLOR_TEMP, Trait.RGB}
    assert (strip.spec.min_color_temp, strip.spec.max_color_temp) == (2632, 5000)  # SO82
    assert _parse(strip, "stat/rgb_bulb/RESULT", {"Color": "255,128,0,0,0"}) == {
        "rgb": (255, 128, 0)
    }
    assert _parse(strip, "stat/rgb_bulb/RESULT", {"Color": "FF80000000"}) == {"rgb": (255, 128, 0)}
    assert _sent(strip, ("rgb", (255, 0, 10))) == [("cmnd/rgb_bulb/Color", "255,0,10")]
    assert _sent(strip, ("color_temp", 2000)) == [("cmnd/rgb_bulb/CT", "380")]


def test_shutter(source: TasmotaDiscovery) -> None:
    [blind] = _discover(source, SHUTTER)
    assert blind.unique_id == "tasmota_a4cf12001122_1"
    assert blind.name == "Study blinds"
    assert blind.spec.kind is DeviceKind.COVER
    assert blind.spec.traits == {Trait.COVER, Trait.POSITION}
    assert "tele/blinds/SENSOR" in blind.state
    moving = {"Shutter1": {"Position": 30, "Direction": 1, "Target": 100, "Tilt": 0}}
    assert _parse(blind, "stat/blinds/RESULT", moving) == {"position": 30, "cover": "opening"}
    stopped = {"Time": "2026-01-01T10:00:00", "Shutter1": {"Position": 0, "Direction": 0}}
    assert _parse(blind, "tele/blinds/SENSOR", stopped) == {"position": 0, "cover": "closed"}
    assert _parse(blind, "stat/blinds/RESULT", {"POWER1": "ON"}) == {}
    assert _sent(blind, ("cover", "open"), ("position", 50)) == [
        ("cmnd/blinds/ShutterOpen1", ""),
        ("cmnd/blinds/ShutterPosition1", "50"),
    ]
    assert _sent(blind, ("cover", "stop")) == [("cmnd/blinds/ShutterStop1", "")]


def test_options_and_full_topic(source: TasmotaDiscovery) -> None:
    config = _config("5CCF7F001122", "porch", [1], ["Porch"], so={"30": 1, "4": 1},
                     ft="home/%prefix%/%hostname%/")  # fmt: skip
    [light] = _discover(source, config)
    assert light.spec.kind is DeviceKind.LIGHT  # SetOption30
    assert "home/stat/porch-1234/RESULT" in light.state
    assert _sent(light, ("on_off", True)) == [("home/cmnd/porch-1234/POWER", "ON")]
    assert light.availability[0].topic == "home/tele/porch-1234/LWT"


def test_set_option_4_reply_topics(source: TasmotaDiscovery) -> None:
    config = copy.deepcopy(CT_BULB)
    config["so"]["4"] = 1
    [bulb] = _discover(source, config)
    assert _parse(bulb, "stat/desk_bulb/DIMMER", {"Dimmer": 20}) == {"brightness": 20}
    assert _parse(bulb, "stat/desk_bulb/POWER", {"POWER": "OFF"}) == {"on_off": False}


def test_custom_state_words(source: TasmotaDiscovery) -> None:
    config = copy.deepcopy(BASIC)
    config["state"] = ["AUS", "AN", "UMSCHALTEN", "HALTEN"]
    [entity] = _discover(source, config)
    assert _parse(entity, "stat/sonoff_basic/POWER", b"AN") == {"on_off": True}
    assert _parse(entity, "stat/sonoff_basic/RESULT", {"POWER": "AUS"}) == {"on_off": False}
    assert _sent(entity, ("on_off", True)) == [("cmnd/sonoff_basic/POWER", "ON")]


def test_republished_config_reports_only_changes(source: TasmotaDiscovery) -> None:
    _discover(source, DUAL)
    assert _discover(source, DUAL) == []
    renamed = copy.deepcopy(DUAL)
    renamed["fn"][1] = "Bedside right"
    [entity] = _discover(source, renamed)
    assert (entity.unique_id, entity.name) == ("tasmota_600194112233_2", "Bedside right")
    single = copy.deepcopy(renamed)
    single["rl"][1] = 0
    update = source.handle(_topic(single), json.dumps(single).encode())
    assert update.removed == ("tasmota_600194112233_2",)
    [first] = update.added  # relay 1 now commands POWER
    assert _sent(first, ("on_off", True)) == [("cmnd/dual/POWER", "ON")]


def test_empty_config_removes_the_device(source: TasmotaDiscovery) -> None:
    _discover(source, DUAL)
    _discover(source, BASIC)
    update = source.handle(_topic(DUAL), b"")
    assert update.added == ()
    assert set(update.removed) == {"tasmota_600194112233_1", "tasmota_600194112233_2"}
    assert source.handle(_topic(DUAL), b"").removed == ()


# -- hand-written ----------------------------------------------------------------------------


def test_hand_written_switch() -> None:
    entity = tasmota_entity("garage_plug", "Garage heater", area="Garage")
    assert entity.unique_id == "tasmota_garage_plug_1"
    assert (entity.source, entity.area, entity.keys) == (
        "config",
        "Garage",
        ("garage_plug", "Garage heater"),
    )
    assert entity.spec.kind is DeviceKind.SWITCH
    assert _sent(entity, ("on_off", True)) == [("cmnd/garage_plug/POWER", "ON")]
    assert _parse(entity, "stat/garage_plug/RESULT", {"POWER1": "ON"}) == {"on_off": True}
    assert entity.availability[0].topic == "tele/garage_plug/LWT"


def test_hand_written_light_and_relay() -> None:
    lamp = tasmota_entity("lamp", "Lamp", kind=DeviceKind.LIGHT, dimmer=True, color_temp=True,
                          unique_id="living_lamp", full_topic="%topic%/%prefix%/")  # fmt: skip
    assert lamp.unique_id == "living_lamp"
    assert lamp.spec.traits == {Trait.ON_OFF, Trait.BRIGHTNESS, Trait.COLOR_TEMP}
    assert _sent(lamp, ("brightness", 55)) == [("lamp/cmnd/Dimmer", "55")]
    assert _parse(lamp, "lamp/tele/STATE", {"POWER": "ON", "Dimmer": 55, "CT": 500}) == {
        "on_off": True,
        "brightness": 55,
        "color_temp": 2000,
    }
    third = tasmota_entity("quad", "Fan", kind=DeviceKind.FAN, relay=3)
    assert third.unique_id == "tasmota_quad_3"
    assert _sent(third, ("on_off", True)) == [("cmnd/quad/POWER3", "ON")]
    assert set(third.state) == {"stat/quad/RESULT", "tele/quad/STATE", "stat/quad/POWER3"}
    blind = tasmota_entity("blinds", "Blind", kind=DeviceKind.COVER, relay=2)
    assert _sent(blind, ("position", 10)) == [("cmnd/blinds/ShutterPosition2", "10")]


@pytest.mark.parametrize(
    "arguments",
    [
        {"topic": "a/+", "name": "x"},
        {"topic": "", "name": "x"},
        {"topic": "t", "name": "  "},
        {"topic": "t", "name": "x", "relay": 0},
        {"topic": "t", "name": "x", "relay": 33},
        {"topic": "t", "name": "x", "dimmer": True},
        {"topic": "t", "name": "x", "kind": DeviceKind.VACUUM},
        {"topic": "t", "name": "x", "full_topic": "%topic%/"},
    ],
)
def test_hand_written_mistakes(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        tasmota_entity(**arguments)


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uid_config", "topic", "payload", "named"),
    [
        (BASIC, "stat/sonoff_basic/POWER", b"MAYBE", "POWER"),
        (BASIC, "stat/sonoff_basic/RESULT", {"POWER": 1}, "POWER"),
        (BASIC, "stat/sonoff_basic/RESULT", [1], "list"),
        (BASIC, "stat/sonoff_basic/RESULT", b"ON", "JSON"),
        (CT_BULB, "stat/desk_bulb/RESULT", {"Dimmer": "bright"}, "Dimmer"),
        (CT_BULB, "stat/desk_bulb/RESULT", {"CT": 0}, "CT"),
        (CT_BULB, "stat/desk_bulb/RESULT", {"CT": True}, "CT"),
        (RGB_BULB, "stat/rgb_bulb/RESULT", {"Color": "purple"}, "Color"),
        (RGB_BULB, "stat/rgb_bulb/RESULT", {"Color": [1, 2, 3]}, "Color"),
        (RGB_BULB, "stat/rgb_bulb/RESULT", {"Color": "²,1,1"}, "Color"),
        (RGB_BULB, "stat/rgb_bulb/RESULT", {"Color": "1,2"}, "Color"),
        (SHUTTER, "stat/blinds/RESULT", {"Shutter1": 50}, "Shutter1"),
        (SHUTTER, "stat/blinds/RESULT", {"Shutter1": {"Position": "x"}}, "Position"),
    ],
)
def test_bad_state(
    source: TasmotaDiscovery, uid_config: dict, topic: str, payload: Any, named: str
) -> None:
    entities = _discover(source, uid_config)
    with pytest.raises(PayloadError, match=named):
        _parse(entities[0], topic, payload)


@pytest.mark.parametrize(
    "payload", [b"\xff\xfe", b"[" * 3000, b"{" + b" " * (300 * 1024) + b"}", b'{"POWER": NaN}']
)
def test_bad_state_payloads(source: TasmotaDiscovery, payload: bytes) -> None:
    [entity] = _discover(source, BASIC)
    for parse in entity.state.values():
        with pytest.raises(PayloadError):
            parse(payload)


@pytest.mark.parametrize(
    "topic",
    [
        "tasmota/discovery/DC4F22AABBCC/sensors",
        "tasmota/discovery/not-a-mac/config",
        "tasmota/discovery/DC4F22AABBCC/extra/config",
        "other/discovery/DC4F22AABBCC/config",
    ],
)
def test_wrong_topics(source: TasmotaDiscovery, topic: str) -> None:
    with pytest.raises(PayloadError):
        source.handle(topic, json.dumps(BASIC).encode())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: c.pop("t"), "t is missing"),
        (lambda c: c.pop("rl"), "rl is missing"),
        (lambda c: c.update(t=5), "t is int"),
        (lambda c: c.update(t="a/#"), "topic"),
        (lambda c: c.update(rl="1"), "rl"),
        (lambda c: c.update(rl=[1, "1"]), "rl"),
        (lambda c: c.update(fn="Kitchen"), "fn"),
        (lambda c: c.update(state=["OFF"]), "state"),
        (lambda c: c.update(tp=["cmnd", "stat"]), "tp"),
        (lambda c: c.update(tp=["cmnd", "stat", "#"]), "topic"),
        (lambda c: c.update(ft="%topic%/"), "full topic"),
        (lambda c: c.update(so=[]), "so"),
        (lambda c: c.update(lt_st="2"), "lt_st"),
        (lambda c: c.update(lt_st=True), "lt_st"),
        (lambda c: c.update(mac="001122334455"), "mac"),
        (lambda c: c.update(onln=None), "onln"),
    ],
)
def test_bad_configs(source: TasmotaDiscovery, change: Any, reason: str) -> None:
    config = copy.deepcopy(BASIC)
    change(config)
    with pytest.raises(PayloadError, match=reason):
        source.handle(_topic(BASIC), json.dumps(config).encode())


@pytest.mark.parametrize(
    "payload",
    [b"[]", b'"x"', b"null", b"\xff\xfe", b"[" * 3000, b"{", b"{" + b" " * (300 * 1024) + b"}"],
)
def test_bad_config_payloads(source: TasmotaDiscovery, payload: bytes) -> None:
    _discover(source, BASIC)
    with pytest.raises(PayloadError):
        source.handle(_topic(BASIC), payload)
    assert _discover(source, BASIC) == []  # the known device is kept


def _mutations(value: Any, rng: random.Random) -> Any:
    """``value`` with one randomly chosen leaf replaced by an odd value."""
    odd = [None, True, -1, 0, 1e308, 1e-300, "", "x" * 300, [], {}, [[[]]], "ON", "+", "FF00FF"]
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        return {**value, key: _mutations(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.8:
        index = rng.randrange(len(value))
        return [*value[:index], _mutations(value[index], rng), *value[index + 1 :]]
    return rng.choice(odd)


def test_random_damage_raises_only_payload_errors() -> None:
    rng = random.Random(4321)
    states = [
        {"POWER": "ON", "POWER2": "OFF", "Dimmer": 3, "CT": 300, "Color": "FF0000"},
        {"Shutter1": {"Position": 3, "Direction": 0}, "POWER1": "OFF"},
    ]
    for _ in range(800):
        source = TasmotaDiscovery()
        chosen = rng.choice([BASIC, DUAL, CT_BULB, RGB_BULB, SHUTTER])
        try:
            update = source.handle(_topic(chosen), json.dumps(_mutations(chosen, rng)).encode())
        except PayloadError:
            continue
        document = json.dumps(_mutations(rng.choice(states), rng)).encode()
        for entity in update.added:
            for parse in entity.state.values():
                try:
                    parse(document)
                except PayloadError:
                    pass


def test_odd_command_values_raise_only_unsupported(source: TasmotaDiscovery) -> None:
    entities = [*_discover(source, RGB_BULB), *_discover(source, SHUTTER)]
    odd = [None, True, -1, 0, 50, 1e308, float("inf"), float("nan"), 10**400, 1e-320, "",
           "open", "on", [], (0, 0, 0), (1, 2), (256, 0, 0), {}]  # fmt: skip
    for entity in entities:
        for trait in Trait:
            for value in odd:
                try:
                    entity.encode(_commands((trait.value, value)))
                except Unsupported:
                    pass
