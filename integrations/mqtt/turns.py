"""The assistant on the broker: every finished turn as JSON on ``<prefix>/<site>/turn``."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from assistant.config import MqttSettings
from assistant.turn import TurnResult

from .connection import MqttConnection
from .model import TlsSettings

__all__ = ["TurnPublisher", "connection_from", "turn_topic"]

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
