"""MiioDriver failure paths and safety against virtual devices: refusals, silence, secrets."""

from __future__ import annotations

import asyncio
import logging

import pytest
from blockbuster import blockbuster_ctx

from integrations.base import DriverError, Refused, Unreachable, Unsupported
from integrations.miio import MiioDriver, load_spec

pytest.register_assert_rewrite("tests.integration.conftest_miio")

from .conftest_miio import (  # noqa: E402
    OTHER_TOKEN,
    TOKEN,
    MakeVirtual,
    RecordingSink,
    attach,
    closed_udp_port,
    cmd,
    raw,
)

pytest_plugins = ["tests.integration.conftest_miio"]


# ----------------------------------------------------------------------------- refusals


async def test_unsupported_trait_or_choice_sends_nothing(
    make_virtual: MakeVirtual, driver: MiioDriver
) -> None:
    dev = await make_virtual("xiaomi.airc.r24r00")
    ac = attach(driver, "ac", dev)
    with pytest.raises(Unsupported):
        await driver.execute(ac, [cmd(ac, "brightness", 50)])
    with pytest.raises(Unsupported, match="turbo"):
        await driver.execute(ac, [cmd(ac, "hvac_mode", "turbo")])
    with pytest.raises(Unsupported):
        await driver.execute(ac, [cmd(ac, "humidity", 40)])  # read only
    with pytest.raises(DriverError) as err:
        await driver.execute(ac, [cmd(ac, "target_temperature", "warm")])
    assert err.value.code == "invalid-value"
    with pytest.raises(Unsupported):
        await driver.execute("nobody", [cmd("nobody", "on_off", True)])
    assert dev.requests == []


async def test_device_error_code_is_refused(
    make_virtual: MakeVirtual, driver: MiioDriver, sink: RecordingSink
) -> None:
    dev = await make_virtual("philips.light.bulb")
    lamp = attach(driver, "lamp", dev)
    dev.fail_next(-4004)
    with pytest.raises(Refused) as err:
        await driver.execute(lamp, [cmd(lamp, "on_off", True)])
    assert err.value.device_code == -4004
    assert err.value.code == "refused"


async def test_per_item_code_is_refused(make_virtual: MakeVirtual, driver: MiioDriver) -> None:
    dev = await make_virtual("philips.light.bulb")
    lamp = attach(driver, "lamp", dev)
    dev.set_error(-4005, per_item=True)
    with pytest.raises(Refused) as err:
        await driver.execute(lamp, [cmd(lamp, "brightness", 50)])
    assert err.value.device_code == -4005
    dev.set_error(None)
    await driver.execute(lamp, [cmd(lamp, "brightness", 50)])
    assert raw(dev, "brightness") == 50


@pytest.mark.parametrize("action_shape", ["list", "dict"])
async def test_action_error_is_refused(
    action_shape: str, make_virtual: MakeVirtual, driver: MiioDriver
) -> None:
    dev = await make_virtual("dreame.vacuum.p2008", action_shape=action_shape)
    vacuum = attach(driver, "vacuum", dev)
    dev.set_error(-4004, per_item=True)
    with pytest.raises(Refused) as err:
        await driver.execute(vacuum, [cmd(vacuum, "vacuum", "start")])
    assert err.value.device_code == -4004


async def test_recoverable_code_is_retried_then_refused(
    make_virtual: MakeVirtual, driver: MiioDriver
) -> None:
    """python-miio retries -9999 once by itself; a lasting -9999 still surfaces its code."""
    dev = await make_virtual("philips.light.bulb")
    lamp = attach(driver, "lamp", dev)
    dev.fail_next(-9999)
    await driver.execute(lamp, [cmd(lamp, "on_off", True)])
    assert raw(dev, "on_off") is True
    dev.set_error(-9999)
    with pytest.raises(Refused) as err:
        await driver.refresh(lamp)
    assert err.value.device_code == -9999


@pytest.mark.parametrize("answer_shape", ["list", "zero"])
async def test_both_set_answer_shapes(
    answer_shape: str, make_virtual: MakeVirtual, driver: MiioDriver, sink: RecordingSink
) -> None:
    dev = await make_virtual("cuco.plug.cp1", answer_shape=answer_shape)
    plug = attach(driver, "plug", dev)
    await driver.execute(plug, [cmd(plug, "on_off", True)])
    assert raw(dev, "on_off") is True and sink.values[plug]["on_off"] is True


# ----------------------------------------------------------------------------- no answer


async def test_closed_port_is_unreachable_within_the_deadline(
    driver: MiioDriver, sink: RecordingSink
) -> None:
    spec = load_spec("philips.light.bulb")
    driver.add_device("gone", host="127.0.0.1", token=TOKEN, spec=spec, port=closed_udp_port())
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(Unreachable):
        await driver.execute("gone", [cmd("gone", "on_off", True)])
    # Behaviour: reported within our 2 s deadline, not python-miio's fixed 5 s handshake wait.
    assert loop.time() - started < 4
    assert sink.available["gone"] is False


async def test_wrong_token_is_unreachable(
    make_virtual: MakeVirtual, driver: MiioDriver, sink: RecordingSink
) -> None:
    dev = await make_virtual("philips.light.bulb")
    lamp = attach(driver, "lamp", dev, token=OTHER_TOKEN)
    with pytest.raises(Unreachable, match="wrong token or offline"):
        await driver.refresh(lamp)
    assert dev.hellos >= 1 and dev.requests == []  # said hello, then stayed silent
    assert sink.available[lamp] is False


async def test_silent_device_comes_back(
    make_virtual: MakeVirtual, driver: MiioDriver, sink: RecordingSink
) -> None:
    dev = await make_virtual("cuco.plug.cp1")
    plug = attach(driver, "plug", dev)
    dev.go_silent()
    with pytest.raises(Unreachable):
        await driver.refresh(plug)
    assert sink.available[plug] is False
    dev.go_silent(False)
    await driver.refresh(plug)
    assert sink.available[plug] is True


# ----------------------------------------------------------------------------- loop, secrets


async def test_driver_never_blocks_the_loop(make_virtual: MakeVirtual, driver: MiioDriver) -> None:
    dev = await make_virtual("yeelink.light.color4")
    lamp = attach(driver, "lamp", dev)
    bad = attach(driver, "bad", dev, token=OTHER_TOKEN)
    with blockbuster_ctx(["integrations"]):  # the driver and the virtual device
        await driver.execute(lamp, [cmd(lamp, "brightness", 10)])
        await driver.refresh(lamp)
        await _expect_unreachable(driver.refresh(bad))  # ~1.8 s of retries, none on the loop


async def _expect_unreachable(work: object) -> None:
    with pytest.raises(Unreachable):
        await work  # type: ignore[misc]


async def test_token_never_logged(
    make_virtual: MakeVirtual, driver: MiioDriver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dev = await make_virtual("dreame.vacuum.p2008")
    ok = attach(driver, "ok", dev)
    bad = attach(driver, "bad", dev, token=OTHER_TOKEN)
    driver.add_device("gone", host="127.0.0.1", token=TOKEN, spec=dev.spec, port=closed_udp_port())
    await driver.start()
    await driver.execute(ok, [cmd(ok, "vacuum", "start")])
    await driver.info(ok)
    dev.fail_next(-4004)
    with pytest.raises(Refused) as refused:
        await driver.refresh(ok)
    with pytest.raises(Unreachable) as unreachable:
        await driver.refresh(bad)
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    text += repr(refused.value) + str(unreachable.value) + repr(driver._devices)
    assert "miio.miioprotocol" in {r.name for r in caplog.records}  # python-miio did log
    for secret in (TOKEN, OTHER_TOKEN):
        assert secret not in text
        assert secret.upper() not in text
        assert repr(bytes.fromhex(secret)) not in text


def test_add_device_rejects_bad_tokens_without_echoing_them(sink: RecordingSink) -> None:
    drv = MiioDriver(sink)
    spec = load_spec("cuco.plug.cp1")
    with pytest.raises(ValueError) as err:
        drv.add_device("plug", host="127.0.0.1", token="not-a-token-123", spec=spec)
    assert "not-a-token-123" not in str(err.value)
    drv.add_device("plug", host="127.0.0.1", token=TOKEN, spec=spec)
    with pytest.raises(ValueError):
        drv.add_device("plug", host="127.0.0.1", token=TOKEN, spec=spec)


async def test_info_and_command_for_another_device(
    make_virtual: MakeVirtual, driver: MiioDriver
) -> None:
    dev = await make_virtual("zhimi.fan.za5")
    fan = attach(driver, "fan", dev)
    info = await driver.info(fan)
    assert info["model"] == "zhimi.fan.za5"
    with pytest.raises(DriverError) as err:
        await driver.execute(fan, [cmd("other", "on_off", True)])
    assert err.value.code == "wrong-device"


async def test_overrun_request_keeps_the_device_slot_until_its_thread_ends(
    make_virtual: MakeVirtual, sink: RecordingSink
) -> None:
    """A thread that outlives the deadline is waited for before the next request starts.

    Uses the private ``_run`` with a plain blocking function: python-miio's own socket
    timeouts normally end a request before the deadline, so an overrun cannot be staged.
    """
    import time

    dev = await make_virtual("cuco.plug.cp1")
    drv = MiioDriver(sink, deadline=0.1)
    attach(drv, "plug", dev)
    slot = drv._devices["plug"]
    ended: list[float] = []

    def slow() -> None:
        time.sleep(0.4)
        ended.append(time.monotonic())

    try:
        with pytest.raises(Unreachable):
            await drv._run(slot, slow)
        assert not ended  # reported before the thread finished
        assert await drv._run(slot, time.monotonic) >= ended[0]
    finally:
        await drv.stop()
