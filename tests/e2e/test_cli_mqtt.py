"""``mimo-assistant say`` from a cold start, with the devices on the broker."""

from __future__ import annotations

import asyncio
import sys

from tests.integration.home import write_home
from tests.integration.test_mqtt_devices import BULB, mqtt_config, zigbee_home
from tests.mqtt_devices import DeviceSimulator

from .test_cli import ROOT

pytest_plugins = ["tests.mqtt_broker"]


async def test_say_waits_for_retained_devices_before_the_first_turn(mqtt, password, tag, tmp_path):
    async with DeviceSimulator(mqtt) as sim:
        states = await zigbee_home(sim, tag)
        config = write_home(tmp_path, mqtt_config(mqtt, tag))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "assistant",
            "say",
            "-c",
            str(config),
            "--json",
            "turn on the hallway bulb",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert b'"Turned on the hallway bulb"' in out
    assert f"mqtt:{BULB}".encode() in out
    assert states["Hallway bulb"]["state"] == "ON"
    assert password.encode() not in out + err
