"""The assistant on the broker: every finished turn as JSON on ``<prefix>/<site>/turn``, text
turns from ``<prefix>/<site>/say``, and Home Assistant discovery of the assistant itself."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from assistant.config import MqttSettings
from assistant.turn import TurnResult

from .connection import MqttConnection
from .entity import PayloadError, decode_text, parse_json
from .model import Message, TlsSettings
from .subscription import Listener

__all__ = ["SayTopic", "TurnPublisher", "announce", "connection_from", "say_topic", "turn_topic"]

_LOGGER = logging.getLogger(__name__)
_TOPIC_UNSAFE = re.compile(r"[/#+\s]+")


def turn_topic(prefix: str, site: str) -> str:
    """``mimo-assistant/kitchen/turn``; a site name never adds levels or wildcards."""
    return f"{prefix}/{_TOPIC_UNSAFE.sub('_', site) or 'default'}/turn"


def connection_from(settings: MqttSettings) -> MqttConnection:
    """An MqttConnection as the config describes it (the password revealed only here)."""
    tls = None
    if settings.tls is not None:
        tls = TlsSettings(
            ca_file=settings.tls.ca_file,
            certfile=settings.tls.certfile,
            keyfile=settings.tls.keyfile,
        )
    return MqttConnection(
        settings.host,
        settings.port,
        username=settings.username,
        password=settings.password.reveal() if settings.password is not None else None,
        tls=tls,
        client_id=settings.client_id,
        prefix=settings.prefix,
        protocol=settings.protocol,
    )


class TurnPublisher:
    """A Pipeline result listener: publishes each turn without blocking the turn."""

    def __init__(self, connection: MqttConnection, prefix: str) -> None:
        self._connection = connection
        self._prefix = prefix
        self._pending: set[asyncio.Task[Any]] = set()

    def __call__(self, result: TurnResult) -> None:
        payload = json.dumps(result.to_json(), default=str)
        task = asyncio.create_task(
            self._connection.publish(turn_topic(self._prefix, result.site), payload, qos=0),
            name="mqtt-turn",
        )
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.warning("turn not published: %s", task.exception())

    async def drain(self) -> None:
        """Wait for turns still being published (at shutdown)."""
        if self._pending:
            await asyncio.wait(self._pending, timeout=2.0)


def say_topic(prefix: str, site: str) -> str:
    """``mimo-assistant/kitchen/say``: text published here runs as a turn of that site."""
    return turn_topic(prefix, site)[: -len("turn")] + "say"


class SayTopic:
    """Runs a text turn for every message on ``<prefix>/<site>/say``, one at a time.

    The payload is the text itself or ``{"text": ..., "area": ...}``. Retained messages are
    ignored (a stale command must not run again at every start); at most ``backlog``
    messages wait, the rest are dropped with a log line. Who may publish here is the
    broker's ACL to decide.
    """

    MAX_TEXT = 500  # characters

    def __init__(
        self,
        connection: MqttConnection,
        topic: str,
        run: Callable[[str, str | None], Awaitable[object]],
        *,
        backlog: int = 10,
    ) -> None:
        self.topic = topic
        self._connection = connection
        self._run = run
        self._queue: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue(backlog)
        self._listener: Listener | None = None
        self._worker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SayTopic:
        self._worker = asyncio.create_task(self._work(), name="mqtt-say")
        self._listener = await self._connection.listen([self.topic], self._on_message)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._listener is not None:
            self._listener.close()
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    def _on_message(self, message: Message) -> None:
        if message.retain:
            _LOGGER.info("MQTT %s: retained message ignored (clear it)", message.topic)
            return
        try:
            text, area = _say_request(message.payload)
        except PayloadError as err:
            _LOGGER.warning("MQTT %s: %s; ignored", message.topic, err)
            return
        if len(text) > self.MAX_TEXT:
            _LOGGER.warning("MQTT %s: text over %d characters; ignored", self.topic, self.MAX_TEXT)
            return
        try:
            self._queue.put_nowait((text, area))
        except asyncio.QueueFull:
            _LOGGER.warning("MQTT %s: too many requests waiting; %r dropped", self.topic, text)

    async def _work(self) -> None:
        while True:
            text, area = await self._queue.get()
            try:
                await self._run(text, area)
            except Exception:  # noqa: BLE001 - one bad request must not stop the topic
                _LOGGER.exception("MQTT %s: turn for %r failed", self.topic, text)


def _say_request(payload: bytes) -> tuple[str, str | None]:
    text = decode_text(payload, limit=4096).strip()
    if text.startswith("{"):
        data = parse_json(text, limit=4096)
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise PayloadError('JSON must be an object with a "text" string')
        area = data.get("area")
        if area is not None and not isinstance(area, str):
            raise PayloadError('"area" must be a string')
        text = data["text"].strip()
        return (text, area) if text else _empty()
    return (text, None) if text else _empty()


def _empty() -> tuple[str, str | None]:
    raise PayloadError("empty text")


async def announce(
    connection: MqttConnection, discovery_prefix: str, prefix: str, site: str, node: str
) -> None:
    """Home Assistant discovery for the assistant itself: its status, the last transcript and
    the last reply of ``site`` (retained, so a dashboard shows them after a restart)."""
    node = _TOPIC_UNSAFE.sub("_", node)
    device = {"identifiers": [f"mimo_assistant_{node}"], "name": "mimo-assistant"}
    turns = turn_topic(prefix, site)
    entities = {
        ("binary_sensor", "status"): {
            "name": "Status",
            "state_topic": f"{prefix}/status",
            "payload_on": "online",
            "payload_off": "offline",
            "device_class": "connectivity",
        },
        ("sensor", "last_transcript"): {
            "name": "Last transcript",
            "state_topic": turns,
            "value_template": "{{ value_json.text }}",
        },
        ("sensor", "last_reply"): {
            "name": "Last reply",
            "state_topic": turns,
            "value_template": "{{ value_json.reply }}",
        },
    }
    for (component, key), config in entities.items():
        body = {**config, "unique_id": f"mimo_assistant_{node}_{key}", "device": device}
        topic = f"{discovery_prefix}/{component}/{node}/{key}/config"
        await connection.publish(topic, json.dumps(body), qos=1, retain=True)
