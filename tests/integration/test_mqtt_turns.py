"""The assistant on the broker: status and every turn, from the config, with no secret."""

from __future__ import annotations

import contextlib
import json

from assistant.daemon import _start_mqtt
from assistant.runtime import Home
from integrations.mqtt import MqttConnection

from .home import load_home

pytest_plugins = ["tests.mqtt_broker"]


async def test_every_turn_is_published_without_secrets(mqtt, tmp_path, monkeypatch):
    monkeypatch.setenv("MQTT_PASSWORD", mqtt.assistant_password)
    extra = (
        "mqtt:\n"
        f"  host: {mqtt.host}\n"
        f"  port: {mqtt.port}\n"
        "  username: assistant\n"
        "  password: !env MQTT_PASSWORD\n"
        "  prefix: mimo-assistant/turns-test\n"
    )
    settings = load_home(tmp_path, extra)
    observer = MqttConnection(
        mqtt.host,
        mqtt.port,
        username="guest",
        password=mqtt.guest_password,
        prefix="mimo-assistant/observer",
    )
    async with observer, Home(settings) as home, contextlib.AsyncExitStack() as stack:
        await observer.wait_connected(5)
        turns = await observer.subscribe("mimo-assistant/turns-test/+/turn")
        status = await observer.subscribe("mimo-assistant/turns-test/status")
        await _start_mqtt(home, stack)
        assert (await status.get(10)).payload == b"online"
        await home.pipeline.run_text("turn on the coffee machine", area_id=None, site="kitchen hub")
        message = await turns.get(10)
    assert message.topic == "mimo-assistant/turns-test/kitchen_hub/turn"
    turn = json.loads(message.payload)
    assert turn["text"] == "turn on the coffee machine"
    assert turn["intent"]["name"] == "HassTurnOn" and turn["source"] == "grammar"
    assert turn["results"][0]["device"] == "virtual:coffee_machine" and turn["results"][0]["ok"]
    assert turn["reply"] == "Turned on the coffee machine" and "total" in turn["timings_ms"]
    assert mqtt.assistant_password not in message.payload.decode()
