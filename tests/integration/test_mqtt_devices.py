"""MQTT devices end to end on a real Mosquitto: discovered by each source, spoken to with a
text turn, confirmed by the device's own state report."""

from __future__ import annotations

import json

from assistant.runtime import Home

from ..mqtt_devices import DeviceSimulator, z2m_bulb, z2m_contact, z2m_coordinator, z2m_plug
from .home import load_home

pytest_plugins = ["tests.mqtt_broker"]

BULB = "0x000b57fffec6a5b2"
PLUG = "0x000d6ffffe1a2b3c"
CONTACT = "0x00158d0001a2b3c4"


def mqtt_config(broker, tag: str, **extra: object) -> str:
    """The ``mqtt:`` section for one test: its own topic namespaces on the session broker."""
    lines = [
        "mqtt:",
        f"  host: {broker.host}",
        f"  port: {broker.port}",
        "  username: assistant",
        "  password: !env MQTT_PASSWORD",
        f"  prefix: mimo-assistant/{tag}",
        f"  discovery_prefix: homeassistant/{tag}",
        f"  zigbee2mqtt: {{base_topic: zigbee2mqtt/{tag}}}",
        f"  tasmota: {{discovery_prefix: tasmota/{tag}}}",
        "  confirm_timeout: 1.0",
    ]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


async def say(home: Home, text: str, area: str | None = None):
    assert home.pipeline is not None
    return await home.pipeline.run_text(text, area_id=area, site="test")


async def zigbee_home(sim: DeviceSimulator, tag: str) -> dict:
    devices = [
        z2m_coordinator(),
        z2m_bulb(BULB, "Hallway bulb"),
        z2m_plug(PLUG, "Desk plug"),
        z2m_contact(CONTACT, "Front door sensor"),
    ]
    states = {
        "Hallway bulb": {"state": "OFF", "brightness": 10, "color_temp": 300, "linkquality": 80},
        "Desk plug": {"state": "OFF"},
        "Front door sensor": {"contact": True, "battery": 91},
    }
    return await sim.zigbee2mqtt(f"zigbee2mqtt/{tag}", devices, states)


async def test_zigbee2mqtt_bulb_from_a_cold_start(mqtt, password, tag, tmp_path):
    async with DeviceSimulator(mqtt) as sim:
        states = await zigbee_home(sim, tag)
        settings = load_home(tmp_path, mqtt_config(mqtt, tag))
        async with Home(settings) as home:
            bulb = home.registry.device(f"mqtt:{BULB}")
            assert bulb.name == "Hallway bulb" and str(bulb.kind) == "light"
            assert home.registry.state(bulb.id).values["on_off"] is False
            assert home.registry.state(bulb.id).available

            result = await say(home, "turn on the hallway bulb")
            assert result.reply.text == "Turned on the hallway bulb"
            assert states["Hallway bulb"]["state"] == "ON"

            result = await say(home, "set the hallway bulb to 40%")
            assert result.results[0].ok, result.reply.text
            assert states["Hallway bulb"]["brightness"] == round(0.4 * 254)
            assert home.registry.state(bulb.id).values["brightness"] == 40

            result = await say(home, "set the hallway bulb color temperature to 3000 kelvin")
            assert result.results[0].ok, result.reply.text
            assert states["Hallway bulb"]["color_temp"] == 333

            result = await say(home, "turn off the desk plug")
            assert result.results[0].ok and states["Desk plug"]["state"] == "OFF"
            sensor = home.registry.device(f"mqtt:{CONTACT}")
            assert home.registry.state(sensor.id).values.get("battery") == 91


async def test_a_device_that_does_not_confirm(mqtt, password, tag, tmp_path):
    async with DeviceSimulator(mqtt) as sim:
        await zigbee_home(sim, tag)
        settings = load_home(tmp_path, mqtt_config(mqtt, tag))
        async with Home(settings) as home:
            sim.answer = False
            result = await say(home, "turn on the hallway bulb")
    assert result.reply.text == "I sent it, but the hallway bulb has not confirmed"
    assert result.results[0].error_code == "unconfirmed"
    assert any(m.topic.endswith("Hallway bulb/set") for m in sim.received)


async def test_an_offline_device_gets_an_honest_reply(mqtt, password, tag, tmp_path):
    async with DeviceSimulator(mqtt) as sim:
        await zigbee_home(sim, tag)
        settings = load_home(tmp_path, mqtt_config(mqtt, tag))
        async with Home(settings) as home:
            await sim.retain(f"zigbee2mqtt/{tag}/Hallway bulb/availability", {"state": "offline"})
            await home._drivers["mqtt"].settle(limit=2)
            assert not home.registry.state(f"mqtt:{BULB}").available
            sent_before = len(sim.received)
            result = await say(home, "turn on the hallway bulb")
            assert result.reply.text == "The hallway bulb is offline"
            assert len(sim.received) == sent_before  # nothing was sent

            await sim.retain(f"zigbee2mqtt/{tag}/Hallway bulb/availability", "online")
            await home._drivers["mqtt"].settle(limit=2)
            assert (await say(home, "turn on the hallway bulb")).results[0].ok


async def test_tasmota_plug_from_native_discovery(mqtt, password, tag, tmp_path):
    topic = f"plug_{tag}"
    async with DeviceSimulator(mqtt) as sim:
        state = await sim.tasmota_plug(f"tasmota/{tag}", topic, "A1B2C3D4E5F6", "Kettle")
        settings = load_home(tmp_path, mqtt_config(mqtt, tag))
        async with Home(settings) as home:
            (kettle,) = home.registry.find_by_name("kettle")
            assert kettle.id.startswith("mqtt:") and home.registry.state(kettle.id).available
            result = await say(home, "turn on the kettle")
            assert result.reply.text == "Turned on the kettle"
            assert state["POWER"] == "ON"
        await sim.clear(f"tasmota/{tag}/discovery/A1B2C3D4E5F6/config", f"tele/{topic}/LWT")


async def test_home_assistant_discovery_light_json_schema(mqtt, password, tag, tmp_path):
    base = f"home/{tag}/porch"
    config = {
        "name": None,
        "unique_id": f"porch_light_{tag}",
        "schema": "json",
        "command_topic": f"{base}/set",
        "state_topic": base,
        "brightness": True,
        "supported_color_modes": ["brightness"],
        "availability_topic": f"{base}/status",
        "device": {"identifiers": [f"esp_{tag}"], "name": "Porch light", "suggested_area": "Porch"},
    }
    async with DeviceSimulator(mqtt) as sim:
        state = {"state": "OFF", "brightness": 0}
        await sim.retain(f"homeassistant/{tag}/light/esp/porch/config", config)
        await sim.retain(f"{base}/status", "online")
        await sim.retain(base, state)

        async def on_set(message):
            state.update(json.loads(message.payload))
            await sim.publish(base, state)

        await sim.on(f"{base}/set", on_set)
        settings = load_home(tmp_path, mqtt_config(mqtt, tag))
        async with Home(settings) as home:
            (porch,) = home.registry.find_by_name("porch light")
            assert home.registry.area(porch.area_id).name == "Porch"  # created from discovery
            result = await say(home, "turn on the lights in the porch")
            assert result.results and result.results[0].ok, result.reply.text
            assert state["state"] == "ON"
            result = await say(home, "set the porch light brightness to 50%")
            assert result.results[0].ok and state["brightness"] in (127, 128)

            await sim.retain(f"homeassistant/{tag}/light/esp/porch/config", b"")  # removed
            await home._drivers["mqtt"].settle(limit=2)
            assert home.registry.find_by_name("porch light") == []
            result = await say(home, "turn on the porch light")
            assert not result.results and "porch" in result.reply.text


async def test_hand_written_device_and_config_overrides(mqtt, password, tag, tmp_path):
    base = f"home/{tag}/pump"
    devices = (
        f"  - name: Garden pump\n"
        f"    area: Kitchen\n"
        f"    mqtt: {{kind: switch, command_topic: {base}/set, state_topic: {base}/state,"
        f" payload_on: '1', payload_off: '0'}}\n"
        f"  - {{name: Hall light, area: Hallway, aliases: [ceiling],"
        f" mqtt: {{discovered: '{BULB}'}}}}\n"
        f"  - mqtt: {{discovered: Desk plug, hidden: true}}\n"
    )
    async with DeviceSimulator(mqtt) as sim:
        await zigbee_home(sim, tag)
        pump = {"on": "0"}

        async def on_pump(message):
            pump["on"] = message.payload.decode()
            await sim.publish(f"{base}/state", pump["on"])

        await sim.on(f"{base}/set", on_pump)
        settings = load_home(tmp_path, devices + mqtt_config(mqtt, tag))
        async with Home(settings) as home:
            result = await say(home, "turn on the garden pump")
            assert result.reply.text == "Turned on the garden pump" and pump["on"] == "1"
            hall = home.registry.device(f"mqtt:{BULB}")
            assert hall.name == "Hall light" and hall.area_id == "hallway"
            assert (await say(home, "turn on the ceiling")).results[0].ok
            assert home.registry.find_by_name("desk plug") == []
            assert f"mqtt:{PLUG}" not in {d.id for d in home.registry.devices()}


async def test_state_questions_about_sensors_and_locks(mqtt, password, tag, tmp_path):
    lock = f"home/{tag}/lock"
    config = {
        "name": "Back door",
        "unique_id": f"back_door_lock_{tag}",
        "command_topic": f"{lock}/set",
        "state_topic": lock,
    }
    thermometer = {
        "name": "Garden temperature",
        "unique_id": f"garden_temp_{tag}",
        "state_topic": f"home/{tag}/garden/temp",
        "device_class": "temperature",
        "unit_of_measurement": "°C",
    }
    async with DeviceSimulator(mqtt) as sim:
        await zigbee_home(sim, tag)  # the front door sensor reports contact: true (closed)
        await sim.retain(f"homeassistant/{tag}/lock/back/config", config)
        await sim.retain(lock, "LOCKED")
        await sim.retain(f"homeassistant/{tag}/sensor/garden/config", thermometer)
        await sim.retain(f"home/{tag}/garden/temp", "17.5")
        settings = load_home(tmp_path, mqtt_config(mqtt, tag))
        async with Home(settings) as home:
            reply = (await say(home, "is the front door sensor open")).reply.text
            assert reply.startswith("No, the front door sensor is closed"), reply
            await sim.publish(f"zigbee2mqtt/{tag}/Front door sensor", {"contact": False})
            await home._drivers["mqtt"].settle(limit=2)
            reply = (await say(home, "is the front door sensor open")).reply.text
            assert reply.startswith("Yes, the front door sensor is open"), reply
            reply = (await say(home, "is the back door locked")).reply.text
            assert reply.startswith("Yes, the back door is locked"), reply
            reply = (await say(home, "what is the garden temperature")).reply.text
            assert "17.5 degrees" in reply, reply


async def test_an_mqtt_lock_locks_by_voice_and_never_unlocks(mqtt, password, tag, tmp_path):
    lock = f"home/{tag}/front"
    config = {
        "name": "Front door",
        "unique_id": f"front_door_lock_{tag}",
        "command_topic": f"{lock}/set",
        "state_topic": lock,
    }
    async with DeviceSimulator(mqtt) as sim:
        await sim.retain(f"homeassistant/{tag}/lock/front/config", config)
        await sim.retain(lock, "UNLOCKED")

        async def on_set(message):
            await sim.publish(lock, message.payload.decode() + "ED")  # LOCK -> LOCKED

        await sim.on(f"{lock}/set", on_set)
        settings = load_home(tmp_path, mqtt_config(mqtt, tag))
        async with Home(settings) as home:
            result = await say(home, "lock the front door")
            assert result.results and result.results[0].ok, result.reply.text
            assert home.registry.state(f"mqtt:front_door_lock_{tag}").values["locked"] is True
            sent = len([m for m in sim.received if m.topic == f"{lock}/set"])
            result = await say(home, "unlock the front door")
            assert not result.results and not result.reply.ok, result.reply.text
            assert len([m for m in sim.received if m.topic == f"{lock}/set"]) == sent
            assert home.registry.state(f"mqtt:front_door_lock_{tag}").values["locked"] is True


async def test_a_state_nobody_retained_is_asked_for(mqtt, password, tag, tmp_path):
    devices = [z2m_coordinator(), z2m_bulb(BULB, "Hallway bulb"), z2m_plug(PLUG, "Desk plug")]
    states = {"Hallway bulb": {"state": "ON", "brightness": 127}, "Desk plug": {"state": "OFF"}}
    async with DeviceSimulator(mqtt) as sim:
        await sim.zigbee2mqtt(f"zigbee2mqtt/{tag}", devices, states, retain_states=False)
        settings = load_home(tmp_path, mqtt_config(mqtt, tag))
        async with Home(settings) as home:
            assert home.registry.state(f"mqtt:{BULB}").values == {}  # nothing retained
            reply = (await say(home, "is the hallway bulb on")).reply.text
            assert reply.startswith("Yes, the hallway bulb is on"), reply
            assert any(m.topic.endswith("Hallway bulb/get") for m in sim.received)
            sim.answer = False  # the plug never answers its /get
            reply = (await say(home, "is the desk plug on")).reply.text
            assert reply == "The desk plug has not reported its state yet, so I don't know"
