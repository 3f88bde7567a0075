"""MiioDriver against virtual devices speaking the real miIO protocol on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest

from integrations.base import Driver, Trait
from integrations.miio import MAX_BATCH, MiioDriver

pytest.register_assert_rewrite("tests.integration.conftest_miio")

from .conftest_miio import (  # noqa: E402
    TOKEN,
    MakeVirtual,
    RecordingSink,
    attach,
    closed_udp_port,
    cmd,
    methods,
    raw,
)

pytest_plugins = ["tests.integration.conftest_miio"]


def test_driver_satisfies_the_protocol(sink: RecordingSink) -> None:
    assert isinstance(MiioDriver(sink), Driver)


# ----------------------------------------------------------------------------- each kind


async def test_color_light(
    make_virtual: MakeVirtual, driver: MiioDriver, sink: RecordingSink
) -> None:
    dev = await make_virtual("yeelink.light.color4")
    lamp = attach(driver, "lamp", dev)
    await driver.execute(
        lamp,
        [
            cmd(lamp, "on_off", True),
            cmd(lamp, "brightness", 40),
            cmd(lamp, "color_temp", 2700),
            cmd(lamp, "rgb", (255, 0, 0)),
        ],
    )
    assert raw(dev, "on_off") is True
    assert raw(dev, "brightness") == 40
    assert raw(dev, "color_temp") == 2700
    assert raw(dev, "rgb") == 0xFF0000
    assert sink.values[lamp]["on_off"] is True
    assert sink.values[lamp]["brightness"] == 40
    assert sink.values[lamp]["color_temp"] == 2700
    assert sink.values[lamp]["rgb"] == (255, 0, 0)
    assert sink.available[lamp] is True
    assert methods(dev) == ["set_properties", "get_properties"]  # one write, one read back

    await driver.execute(lamp, [cmd(lamp, "on_off", False)])
    assert raw(dev, "on_off") is False
    assert sink.values[lamp]["on_off"] is False


async def test_light_values_are_clamped_to_the_spec(
    make_virtual: MakeVirtual, driver: MiioDriver, sink: RecordingSink
) -> None:
    dev = await make_virtual("philips.light.bulb")  # brightness 1-100, 3000-5700 K
    lamp = attach(driver, "bulb", dev)
    await driver.execute(lamp, [cmd(lamp, "brightness", 0), cmd(lamp, "color_temp", 9000)])
    assert raw(dev, "brightness") == 1
    assert raw(dev, "color_temp") == 5700
    await driver.execute(lamp, [cmd(lamp, "mode", "Night")])
    assert sink.values[lamp]["mode"] == "night"


@pytest.mark.parametrize("model", ["cuco.plug.cp1", "chuangmi.plug.212a01"])
async def test_plug(
    model: str, make_virtual: MakeVirtual, driver: MiioDriver, sink: RecordingSink
) -> None:
    dev = await make_virtual(model)
    plug = attach(driver, "plug", dev)
    assert driver.spec(plug).device_spec().kind == "switch"
    await driver.execute(plug, [cmd(plug, "on_off", True)])
    assert raw(dev, "on_off") is True
    assert sink.values[plug] == {"on_off": True}


@pytest.mark.parametrize(
    ("model", "percent", "level"),
    [("zhimi.fan.za5", 50, 2), ("dmaker.fan.p5", 100, 4), ("dmaker.fan.p5", 1, 1)],
)
async def test_fan_speed_and_mode(
    model: str,
    percent: int,
    level: int,
    make_virtual: MakeVirtual,
    driver: MiioDriver,
    sink: RecordingSink,
) -> None:
    dev = await make_virtual(model)
    fan = attach(driver, "fan", dev)
    await driver.execute(
        fan,
        [
            cmd(fan, "on_off", True),
            cmd(fan, "fan_speed", percent),
            cmd(fan, "mode", "straight wind"),
        ],
    )
    assert raw(dev, "fan_speed") == level
    assert sink.values[fan]["fan_speed"] == math.floor(level * 100 / 4 + 0.5)
    assert sink.values[fan]["mode"] == "straight wind"


@pytest.mark.parametrize("model", ["zhimi.airp.mb5", "zhimi.airpurifier.ma4"])
async def test_purifier(
    model: str, make_virtual: MakeVirtual, driver: MiioDriver, sink: RecordingSink
) -> None:
    dev = await make_virtual(model)
    purifier = attach(driver, "purifier", dev)
    await driver.execute(
        purifier,
        [
            cmd(purifier, "on_off", True),
            cmd(purifier, "mode", "sleep"),
            cmd(purifier, "fan_speed", 100),
        ],
    )
    state = sink.values[purifier]
    assert state["on_off"] is True and state["mode"] == "sleep" and state["fan_speed"] == 100
    assert {"pm25", "humidity", "current_temperature"} <= state.keys()
    assert raw(dev, "fan_speed") == 3


@pytest.mark.parametrize("model", ["dooya.curtain.m2", "lumi.curtain.hagl08"])
async def test_curtain(
    model: str, make_virtual: MakeVirtual, driver: MiioDriver, sink: RecordingSink
) -> None:
    dev = await make_virtual(model)
    curtain = attach(driver, "curtain", dev)
    await driver.execute(curtain, [cmd(curtain, "cover", "open")])
    assert sink.values[curtain]["position"] == 100
    await driver.execute(curtain, [cmd(curtain, "position", 30)])
    assert sink.values[curtain]["position"] == 30
    await driver.execute(curtain, [cmd(curtain, "cover", "close")])
    assert sink.values[curtain]["position"] == 0
    await driver.execute(curtain, [cmd(curtain, "cover", "stop")])
    assert sink.values[curtain]["position"] == 0


@pytest.mark.parametrize("action_shape", ["list", "dict"])
async def test_vacuum(
    action_shape: str, make_virtual: MakeVirtual, driver: MiioDriver, sink: RecordingSink
) -> None:
    dev = await make_virtual("dreame.vacuum.p2008", action_shape=action_shape)
    vacuum = attach(driver, "vacuum", dev)
    await driver.refresh(vacuum)
    assert sink.values[vacuum]["vacuum"] == "docked"
    assert sink.values[vacuum]["battery"] == 100
    await driver.execute(vacuum, [cmd(vacuum, "vacuum", "start")])
    assert sink.values[vacuum]["vacuum"] == "cleaning"
    await driver.execute(vacuum, [cmd(vacuum, "vacuum", "stop")])
    assert sink.values[vacuum]["vacuum"] == "idle"
    await driver.execute(vacuum, [cmd(vacuum, "vacuum", "dock")])
    assert sink.values[vacuum]["vacuum"] == "docked"
    assert methods(dev).count("action") == 3


async def test_air_conditioner(
    make_virtual: MakeVirtual, driver: MiioDriver, sink: RecordingSink
) -> None:
    dev = await make_virtual("xiaomi.airc.r24r00")
    ac = attach(driver, "ac", dev)
    await driver.execute(
        ac,
        [
            cmd(ac, "on_off", True),
            cmd(ac, "target_temperature", 22.4),  # step 0.5 -> 22.5
            cmd(ac, "hvac_mode", "heat"),
            cmd(ac, "fan_speed", 50),
        ],
    )
    state = sink.values[ac]
    assert state["target_temperature"] == 22.5
    assert state["hvac_mode"] == "heat"
    assert state["fan_speed"] == 50
    assert "current_temperature" in state and "humidity" in state
    await driver.execute(ac, [cmd(ac, "target_temperature", 40)])
    assert sink.values[ac]["target_temperature"] == 31.0


# ----------------------------------------------------------------------------- batching, locks


async def test_more_than_15_properties_are_read_in_batches(
    make_virtual: MakeVirtual, driver: MiioDriver
) -> None:
    dev = await make_virtual("xiaomi.airc.r24r00")
    ac = attach(driver, "ac", dev)
    keys = [p.key for p in dev.spec.properties() if p.readable]
    assert len(keys) > 2 * MAX_BATCH
    values = await driver.read_properties(ac, keys)
    assert set(values) == set(keys)
    gets = [r for r in dev.requests if r.method == "get_properties"]
    assert len(gets) == math.ceil(len(keys) / MAX_BATCH)
    assert all(len(r.params) <= MAX_BATCH for r in gets)


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


async def test_one_device_serializes_two_devices_overlap(
    make_virtual: MakeVirtual, driver: MiioDriver
) -> None:
    first = await make_virtual("cuco.plug.cp1", delay=0.2)
    second = await make_virtual("cuco.plug.cp1", delay=0.2)
    a, b = attach(driver, "a", first), attach(driver, "b", second)
    await asyncio.gather(
        driver.execute(a, [cmd(a, "on_off", True)]),
        driver.execute(a, [cmd(a, "on_off", False)]),
        driver.execute(b, [cmd(b, "on_off", True)]),
    )
    spans_a = [(r.received_at, r.answered_at) for r in first.requests]
    spans_b = [(r.received_at, r.answered_at) for r in second.requests]
    assert len(spans_a) == 4 and all(end is not None for _, end in spans_a)
    for earlier, later in itertools.pairwise(spans_a):
        assert later[0] >= earlier[1]  # each request starts after the previous one answered
    assert any(_overlap(sa, sb) for sa in spans_a for sb in spans_b)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- start, poll


async def test_start_polls_all_devices_concurrently_and_never_raises(
    make_virtual: MakeVirtual, sink: RecordingSink
) -> None:
    slow1 = await make_virtual("cuco.plug.cp1", delay=0.3)
    slow2 = await make_virtual("philips.light.bulb", delay=0.3)
    drv = MiioDriver(sink, poll_interval=3600)
    attach(drv, "one", slow1)
    attach(drv, "two", slow2)
    drv.add_device("gone", host="127.0.0.1", token=TOKEN, spec=slow1.spec, port=closed_udp_port())
    try:
        await drv.start()
        assert sink.available == {"one": True, "two": True, "gone": False}
        first, second = slow1.requests[0], slow2.requests[0]
        assert second.received_at < first.answered_at  # type: ignore[operator]
        assert first.received_at < second.answered_at  # type: ignore[operator]
    finally:
        await drv.stop()


async def test_background_poll_sees_changes_and_stops(
    make_virtual: MakeVirtual, sink: RecordingSink
) -> None:
    dev = await make_virtual("cuco.plug.cp1")
    drv = MiioDriver(sink, poll_interval=0.05)
    plug = attach(drv, "plug", dev)
    await drv.start()
    try:
        assert sink.values[plug]["on_off"] is False
        assert any(t.get_name() == "miio-poll" for t in asyncio.all_tasks())
        prop = dev.spec.binding(Trait.ON_OFF).read
        assert prop is not None
        dev.set_value(*prop.key, True)  # someone pressed the plug's button
        async with asyncio.timeout(3):
            while not sink.values[plug]["on_off"]:
                await asyncio.sleep(0.02)
    finally:
        await drv.stop()
    assert not any(t.get_name() == "miio-poll" for t in asyncio.all_tasks())
