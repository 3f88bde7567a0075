"""Pictures published on MQTT topics (``mqtt_topic``): the newest one per topic.

Frigate (``frigate/<camera>/<label>/snapshot``) and Home Assistant's MQTT camera publish the
raw bytes of a JPEG, often retained. A base64 payload (Home Assistant's ``image_encoding:
b64``) is accepted too. The newest payload wins even when it is no picture: asking for the
frame then says so, instead of quietly showing an older one. An empty payload (a retained
message cleared) means there is no picture. Payloads are kept as they came; decoding happens
only when a frame is asked for.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Iterable

from integrations.mqtt.connection import Listener, MqttConnection
from integrations.mqtt.model import Message

from .errors import SourceError
from .frames import MAX_IMAGE_BYTES

__all__ = ["MqttImages"]

_LOGGER = logging.getLogger(__name__)
_BASE64_STARTS = (b"/9j/", b"iVBORw0KGgo")
"""JPEG and PNG signatures, base64-encoded."""


class MqttImages:
    """The newest picture on each of ``topics``: ``await images.latest(topic)``."""

    def __init__(self, topics: Iterable[str], *, limit: int = MAX_IMAGE_BYTES) -> None:
        self.topics = tuple(dict.fromkeys(topics))
        self._limit = limit
        self._latest: dict[str, tuple[bytes, float] | SourceError] = {}
        """topic -> (payload, UNIX time received) or why the newest payload was refused."""
        self._arrived = {topic: asyncio.Event() for topic in self.topics}
        self._listener: Listener | None = None

    async def start(self, mqtt: MqttConnection, *, timeout: float = 5.0) -> None:
        """Subscribe (waiting up to ``timeout`` seconds for the broker's SUBACK)."""
        if self._listener is None and self.topics:
            self._listener = await mqtt.listen(list(self.topics), self._on_message, timeout=timeout)

    def close(self) -> None:
        """Unsubscribe; the pictures already received stay."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def latest(self, topic: str) -> tuple[bytes, float]:
        """The newest payload on ``topic`` and when it came (UNIX time, seconds), waiting for
        the first one if none came yet (bound it with ``asyncio.timeout``).

        Raises :class:`SourceError`: ``too-large``, ``no-image`` (an empty payload, or not
        subscribed: no MQTT connection).
        """
        if topic not in self._arrived:
            raise SourceError("no-image", f"mqtt {topic}: not subscribed")
        if self._listener is None and topic not in self._latest:
            raise SourceError("no-image", f"mqtt {topic}: no MQTT connection")
        await self._arrived[topic].wait()
        latest = self._latest[topic]
        if isinstance(latest, SourceError):
            raise latest
        return latest

    def _on_message(self, message: Message) -> None:
        if message.topic not in self._arrived:
            return
        self._latest[message.topic] = self._accept(message)
        self._arrived[message.topic].set()

    def _accept(self, message: Message) -> tuple[bytes, float] | SourceError:
        where, payload = f"mqtt {message.topic}", message.payload
        if len(payload) > self._limit:
            _LOGGER.debug("%s: a payload of %d bytes, over the limit", where, len(payload))
            return SourceError("too-large", f"{where}: a payload of {len(payload)} bytes")
        if not payload.strip():
            return SourceError("no-image", f"{where}: an empty payload")
        return _unwrap(payload), time.time()


def _unwrap(payload: bytes) -> bytes:
    """Raw picture bytes: a base64 JPEG or PNG (or ``data:`` URI) decoded, else as is."""
    text = payload.strip()
    if text.startswith(b"data:image/") and b";base64," in text[:40]:
        text = text.split(b",", 1)[1]
    if text.startswith(_BASE64_STARTS):
        try:
            return base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError):
            return payload
    return payload
