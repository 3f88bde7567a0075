"""MQTT devices as the broker sees them, for tests: a Zigbee2MQTT bridge with its devices,
a Tasmota plug, a Home Assistant discovery light, a hand-written switch.

Each one is a real MQTT client on the test broker that publishes retained discovery and
state the way the real firmware does, and answers commands on its command topics with a new
state (unless ``answer`` is False: a device that stays silent).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from integrations.mqtt import MqttConnection
from integrations.mqtt.model import Message

__all__ = ["DeviceSimulator", "z2m_bulb", "z2m_plug", "z2m_contact", "z2m_coordinator"]


class DeviceSimulator:
    """A client that owns some device topics and answers commands on them."""

    def __init__(self, broker: Any) -> None:
        self.connection = MqttConnection(
            broker.host,
            broker.port,
            username="assistant",
            password=broker.assistant_password,
            prefix="mimo-test-devices",
        )
        self.answer = True
        """False: commands are received but no state is published back."""
        self.received: list[Message] = []
        self._handlers: list[tuple[str, Any]] = []
        self._listener: Any = None

    async def __aenter__(self) -> DeviceSimulator:
        await self.connection.__aenter__()
        await self.connection.wait_connected(10)
        self._listener = await self.connection.listen([], self._on_message)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def retain(self, topic: str, payload: Any) -> None:
        await self.publish(topic, payload, retain=True)

    async def publish(self, topic: str, payload: Any, *, retain: bool = False) -> None:
        if not isinstance(payload, str | bytes):
            payload = json.dumps(payload)
        delivery = await self.connection.publish(topic, payload, qos=1, retain=retain)
        assert await delivery.wait(5), f"broker did not acknowledge {topic}"

    async def on(self, topic_filter: str, handler: Any) -> None:
        """Call ``handler(message)`` (may be async) for every command on ``topic_filter``."""
        self._handlers.append((topic_filter, handler))
        await self._listener.add([topic_filter])

    async def clear(self, *topics: str) -> None:
        """Remove retained messages (so a later test on the session broker starts clean)."""
        for topic in topics:
            with contextlib.suppress(Exception):
                await self.retain(topic, b"")

    def _on_message(self, message: Message) -> None:
        import paho.mqtt.client as paho

        self.received.append(message)
        for topic_filter, handler in self._handlers:
            if paho.topic_matches_sub(topic_filter, message.topic) and self.answer:
                result = handler(message)
                if asyncio.iscoroutine(result):
                    asyncio.get_running_loop().create_task(result)

    # -- ready-made devices ----------------------------------------------------------------

    async def zigbee2mqtt(
        self,
        base: str,
        devices: list[dict[str, Any]],
        states: dict[str, dict[str, Any]],
        *,
        retain_states: bool = True,
    ) -> dict[str, dict[str, Any]]:
        """A Zigbee2MQTT bridge: retained ``bridge/devices``, state (retained unless
        ``retain_states`` is False, Zigbee2MQTT's default) and availability per device;
        ``<base>/<name>/set`` merges into the state and publishes it back, ``/get`` publishes
        the state."""
        await self.retain(f"{base}/bridge/devices", devices)
        for name, state in states.items():
            if retain_states:
                await self.retain(f"{base}/{name}", state)
            await self.retain(f"{base}/{name}/availability", {"state": "online"})

        async def on_get(message: Message) -> None:
            name = message.topic[len(base) + 1 : -len("/get")]
            await self.publish(f"{base}/{name}", states[name])

        await self.on(f"{base}/+/get", on_get)

        async def on_set(message: Message) -> None:
            name = message.topic[len(base) + 1 : -len("/set")]
            states[name].update(json.loads(message.payload))
            await self.publish(f"{base}/{name}", states[name])

        await self.on(f"{base}/+/set", on_set)
        return states

    async def tasmota_plug(self, prefix: str, topic: str, mac: str, name: str) -> dict[str, str]:
        """A Tasmota plug (one relay) with native discovery; cmnd/<topic>/POWER ON|OFF."""
        state = {"POWER": "OFF"}
        config = {
            "ip": "192.168.1.50",
            "dn": name,
            "fn": [name, None, None, None, None, None, None, None],
            "hn": f"{topic}-1234",
            "mac": mac,
            "md": "Sonoff Basic",
            "ty": 0,
            "if": 0,
            "ofln": "Offline",
            "onln": "Online",
            "state": ["OFF", "ON", "TOGGLE", "HOLD"],
            "sw": "13.2.0",
            "t": topic,
            "ft": "%prefix%/%topic%/",
            "tp": ["cmnd", "stat", "tele"],
            "rl": [1, 0, 0, 0, 0, 0, 0, 0],
            "swc": [-1] * 8,
            "swn": [None] * 8,
            "btn": [0, 0, 0, 0, 0, 0, 0, 0],
            "so": {"4": 0, "11": 0, "13": 0, "17": 0, "20": 0, "30": 0, "68": 0, "73": 0},
            "lk": 0,
            "lt_st": 0,
            "sho": [0, 0, 0, 0],
            "sht": [[0, 0, 0]] * 4,
            "ver": 1,
        }
        await self.retain(f"{prefix}/discovery/{mac}/config", config)
        await self.retain(f"tele/{topic}/LWT", "Online")
        await self.retain(f"tele/{topic}/STATE", {"Time": "2026-11-29T10:00:00", **state})

        async def on_power(message: Message) -> None:
            word = message.payload.decode().upper()
            state["POWER"] = {"TOGGLE": "OFF" if state["POWER"] == "ON" else "ON"}.get(word, word)
            await self.publish(f"stat/{topic}/RESULT", {"POWER": state["POWER"]})
            await self.publish(f"stat/{topic}/POWER", state["POWER"])

        await self.on(f"cmnd/{topic}/POWER", on_power)
        return state


def z2m_coordinator() -> dict[str, Any]:
    return {
        "ieee_address": "0x00124b0000000001",
        "type": "Coordinator",
        "network_address": 0,
        "supported": True,
        "disabled": False,
        "friendly_name": "Coordinator",
        "definition": None,
        "interview_completed": True,
    }


def _z2m_device(ieee: str, name: str, model: str, exposes: list[dict[str, Any]]) -> dict:
    return {
        "ieee_address": ieee,
        "type": "Router",
        "network_address": 1234,
        "supported": True,
        "disabled": False,
        "friendly_name": name,
        "interview_completed": True,
        "definition": {
            "model": model,
            "vendor": "IKEA",
            "description": model,
            "exposes": exposes,
            "options": [],
        },
    }


def z2m_bulb(ieee: str, name: str) -> dict[str, Any]:
    """An IKEA TRADFRI bulb with brightness and colour temperature."""
    return _z2m_device(
        ieee,
        name,
        "LED1545G12",
        [
            {
                "type": "light",
                "features": [
                    {
                        "type": "binary",
                        "name": "state",
                        "property": "state",
                        "access": 7,
                        "value_on": "ON",
                        "value_off": "OFF",
                        "value_toggle": "TOGGLE",
                    },
                    {
                        "type": "numeric",
                        "name": "brightness",
                        "property": "brightness",
                        "access": 7,
                        "value_min": 0,
                        "value_max": 254,
                    },
                    {
                        "type": "numeric",
                        "name": "color_temp",
                        "property": "color_temp",
                        "access": 7,
                        "unit": "mired",
                        "value_min": 250,
                        "value_max": 454,
                    },
                ],
            },
            {"type": "numeric", "name": "linkquality", "property": "linkquality", "access": 1},
        ],
    )


def z2m_plug(ieee: str, name: str) -> dict[str, Any]:
    return _z2m_device(
        ieee,
        name,
        "E1603",
        [
            {
                "type": "switch",
                "features": [
                    {
                        "type": "binary",
                        "name": "state",
                        "property": "state",
                        "access": 7,
                        "value_on": "ON",
                        "value_off": "OFF",
                    }
                ],
            }
        ],
    )


def z2m_contact(ieee: str, name: str) -> dict[str, Any]:
    device = _z2m_device(
        ieee,
        name,
        "MCCGQ11LM",
        [
            {
                "type": "binary",
                "name": "contact",
                "property": "contact",
                "access": 1,
                "value_on": False,
                "value_off": True,
            },
            {"type": "numeric", "name": "battery", "property": "battery", "access": 1},
        ],
    )
    device["type"] = "EndDevice"
    return device
