"""MQTT devices when things go wrong: hostile payloads, a broker that dies and comes back,
a wrong password, the say topic behind the broker's ACL."""

from __future__ import annotations

import asyncio
import json
import logging

from assistant.daemon import _start_mqtt
from assistant.runtime import Home
from integrations.mqtt import MqttConnection

from ..mqtt_devices import DeviceSimulator
from .home import load_home
from .test_mqtt_devices import BULB, PLUG, mqtt_config, say, zigbee_home

pytest_plugins = ["tests.mqtt_broker"]

HOSTILE = [
    b"{not json",
    b"[" * 3000 + b"]" * 3000,
    b'{"state": "' + b"x" * 400_000 + b'"}',
    b'{"state": ["ON"], "brightness": "bright"}',
    b'{"state": "MAYBE"}',
    b"\xff\xfe\x00",
    b"",
    b"null",
]


async def test_hostile_payloads_are_logged_once_and_hurt_nobody(
    mqtt, password, tag, tmp_path, caplog
):
    base = f"zigbee2mqtt/{tag}"
    async with DeviceSimulator(mqtt) as sim:
        states = await zigbee_home(sim, tag)
        settings = load_home(tmp_path, mqtt_config(mqtt, tag))
        async with Home(settings) as home:
            driver = home._drivers["mqtt"]
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="integrations.mqtt"):
                for payload in HOSTILE:
                    await sim.publish(f"{base}/Hallway bulb", payload)
                for payload in HOSTILE[:3]:  # broken discovery: the old device list stays
                    await sim.publish(f"{base}/bridge/devices", payload)
                await sim.publish(f"homeassistant/{tag}/light/x/y/config", b'{"name": 1}')
                await sim.publish(f"homeassistant/{tag}/light/x/z/config", b"[" * 5000)
                await driver.settle(limit=3)
            lines = [r.getMessage() for r in caplog.records]
            bulb_lines = [line for line in lines if "Hallway bulb:" in line]
            assert len(bulb_lines) == 1, lines  # one line per topic per minute
            assert f"{base}/bridge/devices" in " ".join(lines)
            assert f"homeassistant/{tag}/light/x/y/config" in " ".join(lines)
            assert all(len(line) < 400 for line in lines)

            # every device still works, the bulb too
            assert home.registry.state(f"mqtt:{BULB}").available
            result = await say(home, "turn on the hallway bulb")
            assert result.results[0].ok and states["Hallway bulb"]["state"] == "ON"
            assert (await say(home, "turn on the desk plug")).results[0].ok
            assert (await say(home, "turn on the coffee machine")).results[0].ok  # miio


async def test_broker_restart_queues_commands_and_resyncs(mqtt, password, tag, tmp_path):
    siren = f"home/{tag}/siren"
    devices = (  # retain: true, so the command can be read back after the restart
        f"  - name: Siren\n"
        f"    area: Hallway\n"
        f"    mqtt: {{kind: switch, command_topic: {siren}/set, retain: true}}\n"
    )
    async with DeviceSimulator(mqtt) as sim:
        states = await zigbee_home(sim, tag)
        settings = load_home(tmp_path, devices + mqtt_config(mqtt, tag))
        async with Home(settings) as home:
            connection = home.mqtt
            assert connection is not None and connection.connected
            mqtt.stop()
            for _ in range(100):
                if not connection.connected:
                    break
                await asyncio.sleep(0.05)
            assert not home.registry.state(f"mqtt:{BULB}").available  # follows the connection
            result = await say(home, "turn on the siren")
            assert result.results[0].error_code == "queued"
            assert result.reply.text == (
                "The broker is not reachable; I'll send it to the siren when it is back"
            )

            mqtt.start()
            await asyncio.gather(connection.wait_connected(30), sim.connection.wait_connected(30))
            witness = await sim.connection.subscribe(f"{siren}/set")
            assert (await witness.get(10)).payload == b"ON"  # sent after the reconnect

            # the broker forgot everything: Zigbee2MQTT publishes its devices and states again
            await zigbee_home(sim, tag)
            await home._drivers["mqtt"].settle(limit=3)
            assert home.registry.state(f"mqtt:{BULB}").available
            result = await say(home, "turn on the hallway bulb")
            assert result.results[0].ok and states["Hallway bulb"]["state"] == "ON"
        await sim.clear(f"{siren}/set")


async def test_wrong_password_is_a_clear_error_and_miio_keeps_working(
    mqtt, tag, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("MQTT_PASSWORD", "not-the-password")
    settings = load_home(tmp_path, mqtt_config(mqtt, tag, startup_wait=3.0))
    with caplog.at_level(logging.ERROR):
        async with Home(settings) as home:
            assert home.mqtt is not None and not home.mqtt.connected
            result = await say(home, "turn on the coffee machine")
            assert result.results[0].ok
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(f"{mqtt.host}:{mqtt.port}" in e and "refused the login" in e for e in errors)
    assert all("not-the-password" not in r.getMessage() for r in caplog.records)


async def test_say_topic_runs_turns_only_for_those_the_acl_allows(mqtt, password, tag, tmp_path):
    import contextlib

    settings = load_home(tmp_path, mqtt_config(mqtt, tag))
    guest = MqttConnection(
        mqtt.host, mqtt.port, username="guest", password=mqtt.guest_password, prefix="g"
    )
    async with DeviceSimulator(mqtt) as sim, guest, Home(settings) as home:
        async with contextlib.AsyncExitStack() as stack:
            await _start_mqtt(home, stack)
            await guest.wait_connected(10)
            turns = await guest.subscribe(f"mimo-assistant/{tag}/+/turn")
            say_topic = f"mimo-assistant/{tag}/test/say"
            await guest.publish(say_topic, "turn on the floor fan", qos=1)  # ACL: read only
            await sim.publish(say_topic, "turn on the coffee machine")
            message = await turns.get(10)
            turn = json.loads(message.payload)
            assert turn["text"] == "turn on the coffee machine" and turn["results"][0]["ok"]
            await sim.publish(say_topic, json.dumps({"text": "turn off the coffee machine"}))
            assert json.loads((await turns.get(10)).payload)["text"].endswith("coffee machine")
            await asyncio.sleep(0.3)
            assert turns._queue.empty()  # the guest's request never ran
        fan = home.registry.state("virtual:floor_fan").values
        assert fan.get("on_off") is not True


async def test_the_assistant_announces_itself_to_home_assistant(mqtt, password, tag, tmp_path):
    import contextlib

    settings = load_home(tmp_path, mqtt_config(mqtt, tag, announce=True))
    async with DeviceSimulator(mqtt) as sim, Home(settings) as home:
        async with contextlib.AsyncExitStack() as stack:
            await _start_mqtt(home, stack)
        configs = await sim.connection.subscribe(f"homeassistant/{tag}/+/+/+/config")
        seen = {}
        while len(seen) < 3:
            message = await configs.get(10)
            seen[message.topic] = json.loads(message.payload)
        for topic in seen:
            await sim.clear(topic)
    by_name = {c["name"]: c for c in seen.values()}
    assert set(by_name) == {"Status", "Last transcript", "Last reply"}
    assert by_name["Status"]["state_topic"] == f"mimo-assistant/{tag}/status"
    assert by_name["Last reply"]["state_topic"] == f"mimo-assistant/{tag}/test/turn"
    assert PLUG not in json.dumps(seen)
