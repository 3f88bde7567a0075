"""MIoT spec loading, trait resolution by URN, and value conversions both ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integrations.base import DeviceKind, Trait, Unsupported
from integrations.miio.model import CallAction, SetProperty
from integrations.miio.spec import (
    BUNDLED_SPECS,
    SpecError,
    SpecNotFound,
    bundled_models,
    load_spec,
    parse_spec,
)
from integrations.miio.specs._compact import compact_spec, render

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "miot-specs"

KINDS = {
    "chuangmi.plug.212a01": DeviceKind.SWITCH,
    "cuco.plug.cp1": DeviceKind.SWITCH,
    "dmaker.fan.p5": DeviceKind.FAN,
    "dooya.curtain.m2": DeviceKind.COVER,
    "dreame.vacuum.p2008": DeviceKind.VACUUM,
    "lumi.curtain.hagl08": DeviceKind.COVER,
    "philips.light.bulb": DeviceKind.LIGHT,
    "philips.light.moonlight.example": DeviceKind.LIGHT,
    "xiaomi.airc.r24r00": DeviceKind.CLIMATE,
    "yeelink.light.color4": DeviceKind.LIGHT,
    "zhimi.airp.mb5": DeviceKind.PURIFIER,
    "zhimi.airpurifier.ma4": DeviceKind.PURIFIER,
    "zhimi.fan.za5": DeviceKind.FAN,
}


def test_every_model_is_bundled_with_its_kind() -> None:
    assert bundled_models() == tuple(sorted(KINDS))
    for model, kind in KINDS.items():
        spec = load_spec(model)
        assert spec.kind is kind, model
        assert spec.device_spec().model == model


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared spec sources not present")
def test_bundled_files_are_the_compacted_sources() -> None:
    for source in sorted(SHARED.glob("*.json")):
        model = source.name.removesuffix(".json")
        expected = render(compact_spec(model, json.loads(source.read_text(encoding="utf-8"))))
        assert (BUNDLED_SPECS / source.name).read_text(encoding="utf-8") == expected, model


def test_compact_files_drop_prose() -> None:
    for path in BUNDLED_SPECS.glob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert "description" not in doc
        for service in doc["services"]:
            members = [service, *service.get("properties", []), *service.get("actions", [])]
            assert all("description" not in m for m in members), path.name


def test_traits_resolved_by_urn_not_iid() -> None:
    ma4, mb5 = load_spec("zhimi.airpurifier.ma4"), load_spec("zhimi.airp.mb5")
    assert ma4.binding(Trait.ON_OFF).write.key == (2, 2)  # type: ignore[union-attr]
    assert mb5.binding(Trait.ON_OFF).write.key == (2, 1)  # type: ignore[union-attr]
    assert ma4.binding("pm25").read.key == (3, 6)  # type: ignore[union-attr]
    assert mb5.binding("pm25").read.key == (3, 4)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("model", "traits"),
    [
        ("yeelink.light.color4", {"on_off", "brightness", "color_temp", "rgb", "mode"}),
        ("cuco.plug.cp1", {"on_off"}),
        ("zhimi.fan.za5", {"on_off", "fan_speed", "mode", "current_temperature", "humidity"}),
        ("dooya.curtain.m2", {"position", "cover"}),
        ("dreame.vacuum.p2008", {"vacuum", "battery", "mode"}),
        (
            "xiaomi.airc.r24r00",
            {
                "on_off",
                "target_temperature",
                "hvac_mode",
                "fan_speed",
                "current_temperature",
                "humidity",
            },
        ),
        (
            "zhimi.airp.mb5",
            {"on_off", "mode", "fan_speed", "pm25", "humidity", "current_temperature"},
        ),
    ],
)
def test_traits(model: str, traits: set[str]) -> None:
    assert load_spec(model).traits == {Trait(t) for t in traits}


def test_device_spec_ranges_and_modes() -> None:
    bulb = load_spec("philips.light.bulb").device_spec()
    assert (bulb.min_color_temp, bulb.max_color_temp) == (3000, 5700)
    assert bulb.modes == ("day", "night", "tv", "warmth")
    ac = load_spec("xiaomi.airc.r24r00")
    assert (ac.device_spec().min_temperature, ac.device_spec().max_temperature) == (16.0, 31.0)
    assert ac.device_spec().modes == ()
    assert ac.choices("hvac_mode") == ("cool", "dry", "fan", "heat")


def test_brightness_scales_and_clamps() -> None:
    bulb = load_spec("philips.light.bulb")  # 1..100
    assert bulb.encode("brightness", 50) == SetProperty(bulb.binding("brightness").write, 50)  # type: ignore[arg-type]
    assert bulb.encode("brightness", 0).value == 1  # type: ignore[union-attr]
    assert bulb.encode("brightness", 250).value == 100  # type: ignore[union-attr]
    assert bulb.decode({(2, 2): 1}) == {"brightness": 1}


def test_color_temp_and_rgb() -> None:
    lamp = load_spec("yeelink.light.color4")
    assert lamp.encode("color_temp", 1000).value == 1700  # type: ignore[union-attr]
    assert lamp.encode("rgb", (0, 0, 0)).value == 1  # the spec's minimum  # type: ignore[union-attr]
    assert lamp.encode("rgb", (300, 128, -5)).value == 0xFF8000  # type: ignore[union-attr]
    rgb = lamp.binding("rgb").read
    assert rgb is not None and lamp.decode({rgb.key: 0x102030}) == {"rgb": (0x10, 0x20, 0x30)}
    with pytest.raises(ValueError):
        lamp.encode("rgb", "red")


@pytest.mark.parametrize("percent", [0, 1, 20, 25, 26, 33, 50, 67, 75, 99, 100])
def test_fan_levels_round_trip(percent: int) -> None:
    for model in ("zhimi.airp.mb5", "zhimi.fan.za5", "dmaker.fan.p5", "xiaomi.airc.r24r00"):
        spec = load_spec(model)
        op = spec.encode("fan_speed", percent)
        assert isinstance(op, SetProperty)
        back = spec.decode({op.prop.key: op.value})["fan_speed"]
        assert spec.encode("fan_speed", back) == op  # a reported speed maps to the same level


def test_fan_auto_level_is_not_a_speed() -> None:
    ac = load_spec("xiaomi.airc.r24r00")
    level = ac.binding("fan_speed").read
    assert level is not None
    assert "fan_speed" not in ac.decode({level.key: 0})  # 0 is "Auto"
    assert ac.encode("fan_speed", 1).value == 1  # type: ignore[union-attr]


def test_choices_by_name() -> None:
    fan = load_spec("zhimi.fan.za5")
    assert fan.encode("mode", "Straight_Wind").value == 1  # type: ignore[union-attr]
    with pytest.raises(Unsupported, match="turbo"):
        fan.encode("mode", "turbo")
    for model, open_value in (("dooya.curtain.m2", 2), ("lumi.curtain.hagl08", 1)):
        assert load_spec(model).encode("cover", "open").value == open_value  # type: ignore[union-attr]
    assert load_spec("lumi.curtain.hagl08").encode("cover", "stop").value == 0  # type: ignore[union-attr]


def test_vacuum_commands_are_actions() -> None:
    vac = load_spec("dreame.vacuum.p2008")
    start, dock = vac.encode("vacuum", "start"), vac.encode("vacuum", "dock")
    assert isinstance(start, CallAction) and start.action.name == "start-sweep"
    assert isinstance(dock, CallAction) and dock.action.name == "start-charge"
    assert vac.decode({(2, 1): 5, (3, 1): 80}) == {"vacuum": "returning", "battery": 80}
    with pytest.raises(Unsupported):
        vac.encode("vacuum", "dance")


def test_target_temperature_rounds_to_step() -> None:
    ac = load_spec("xiaomi.airc.r24r00")
    assert ac.encode("target_temperature", 22.3).value == 22.5  # type: ignore[union-attr]
    assert ac.encode("target_temperature", 5).value == 16.0  # type: ignore[union-attr]


def test_missing_trait_is_unsupported() -> None:
    with pytest.raises(Unsupported):
        load_spec("cuco.plug.cp1").encode("brightness", 10)
    with pytest.raises(Unsupported):
        load_spec("cuco.plug.cp1").binding("not-a-trait")
    with pytest.raises(Unsupported):
        load_spec("zhimi.airp.mb5").encode("pm25", 10)


def test_decode_ignores_junk() -> None:
    bulb = load_spec("philips.light.bulb")
    assert bulb.decode({(2, 1): "yes", (2, 2): "bright", (9, 9): 1}) == {}


def test_user_dir_comes_first(tmp_path: Path) -> None:
    doc = json.loads((BUNDLED_SPECS / "cuco.plug.cp1.json").read_text())
    doc["type"] = "urn:miot-spec-v2:device:light:0000A001:custom:1"
    (tmp_path / "cuco.plug.cp1.json").write_text(json.dumps(doc))
    assert load_spec("cuco.plug.cp1", [tmp_path]).kind is DeviceKind.LIGHT
    assert load_spec("cuco.plug.cp1").kind is DeviceKind.SWITCH


def test_full_instance_document_loads(tmp_path: Path) -> None:
    if not SHARED.is_dir():
        pytest.skip("shared spec sources not present")
    (tmp_path / "my.own.light.json").write_text((SHARED / "philips.light.bulb.json").read_text())
    assert load_spec("my.own.light", [tmp_path]).traits == load_spec("philips.light.bulb").traits


def test_not_found_names_model_and_dirs(tmp_path: Path) -> None:
    with pytest.raises(SpecNotFound) as err:
        load_spec("acme.toaster.t1", [tmp_path])
    assert "acme.toaster.t1" in str(err.value)
    assert str(tmp_path) in str(err.value) and str(BUNDLED_SPECS) in str(err.value)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "", ".hidden"])
def test_model_names_cannot_escape(bad: str) -> None:
    with pytest.raises(SpecError):
        load_spec(bad)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{oops", "cannot read"),
        ("[]", "missing 'type'"),
        ('{"type": "urn:miot-spec-v2:device:light:1:x:1"}', "missing 'services'"),
        ('{"type": "nonsense", "services": []}', "not a MIoT type URN"),
        (
            '{"type": "urn:miot-spec-v2:device:light:1:x:1", "services": [{"iid": 2, '
            '"type": "urn:miot-spec-v2:service:light:1:x:1", "properties": [{"iid": 1}]}]}',
            "siid 2 piid 1: missing 'type'",
        ),
        (
            '{"type": "urn:miot-spec-v2:device:light:1:x:1", "services": [{"iid": 2, '
            '"type": "urn:miot-spec-v2:service:light:1:x:1", "properties": [{"iid": 1, '
            '"type": "urn:miot-spec-v2:property:on:1:x:1", "format": "uint8", '
            '"value-range": [1]}]}]}',
            "value-range",
        ),
    ],
)
def test_malformed_file_names_file_and_reason(content: str, reason: str, tmp_path: Path) -> None:
    (tmp_path / "bad.model.json").write_text(content)
    with pytest.raises(SpecError) as err:
        load_spec("bad.model", [tmp_path])
    assert str(tmp_path / "bad.model.json") in str(err.value)
    assert reason in str(err.value)


def test_unknown_device_type_is_a_sensor() -> None:
    doc = {
        "type": "urn:miot-spec-v2:device:temperature-humidity-sensor:0000A00A:x:1",
        "services": [
            {
                "iid": 2,
                "type": "urn:miot-spec-v2:service:environment:0000780A:x:1",
                "properties": [
                    {
                        "iid": 1,
                        "type": "urn:miot-spec-v2:property:temperature:00000020:x:1",
                        "format": "float",
                        "access": ["read"],
                        "value-range": [-30, 100, 0.1],
                    },
                ],
            }
        ],
    }
    spec = parse_spec(doc, "x.sensor.1")
    assert spec.kind is DeviceKind.SENSOR
    assert spec.decode({(2, 1): 21.37}) == {"current_temperature": 21.37}


def test_choices() -> None:
    assert load_spec("dreame.vacuum.p2008").choices("vacuum") == ("start", "stop", "dock")
    assert load_spec("dooya.curtain.m2").choices("cover") == ("close", "stop", "open")
    assert load_spec("zhimi.airp.mb5").choices("mode") == ("auto", "sleep", "favorite", "manual")
