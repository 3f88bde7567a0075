"""Messages and the async iterator that hands them to one subscriber."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

import paho.mqtt.client as paho

from .model import Message

__all__ = ["Listener", "Receiver", "Router", "Subscription"]

_LOGGER = logging.getLogger(__name__)
_DROP_LOG_INTERVAL = 60.0  # seconds between "queue full" warnings per subscription


class Subscription:
    """Messages matching ``topic_filter``: ``async for message in subscription``.

    Survives reconnects (the connection resubscribes). A full queue drops the oldest message
    with one rate-limited warning. ``close()`` (or leaving ``async with``) unsubscribes.
    """

    def __init__(
        self,
        topic_filter: str,
        qos: int,
        maxsize: int,
        on_close: Callable[[Subscription], None],
    ) -> None:
        self.topic_filter = topic_filter
        self.qos = qos
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue(maxsize)
        self._on_close = on_close
        self._closed = False
        self._dropped = 0
        self._last_drop_log = -_DROP_LOG_INTERVAL

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        message = await self._queue.get()
        if message is None:
            raise StopAsyncIteration
        return message

    async def get(self, timeout: float | None = None) -> Message:
        """The next message; ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            return await self.__anext__()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._on_close(self)
            self._end()

    def _end(self) -> None:
        self._closed = True
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    def _put(self, message: Message) -> None:
        if self._closed:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self._dropped += 1
            now = time.monotonic()
            if now - self._last_drop_log >= _DROP_LOG_INTERVAL:
                _LOGGER.warning(
                    "MQTT subscriber of %s is slow: %d message(s) dropped",
                    self.topic_filter,
                    self._dropped,
                )
                self._last_drop_log = now
        self._queue.put_nowait(message)


class Receiver(Protocol):
    """What the connection hands messages to (a Subscription or a Listener)."""

    qos: int

    def _put(self, message: Message) -> None: ...

    def _end(self) -> None: ...


class Listener:
    """A callback for messages on many topic filters; filters can be added and removed.

    Made by ``MqttConnection.listen``. The callback runs on the loop; an exception in it is
    logged (rate-limited) and never reaches the connection.
    """

    def __init__(
        self,
        qos: int,
        callback: Callable[[Message], None],
        add: Callable[[Listener, Sequence[str], int, float], Awaitable[None]],
        remove: Callable[[Listener, Sequence[str]], None],
    ) -> None:
        self.qos = qos
        self._callback = callback
        self._add, self._remove = add, remove
        self.filters: set[str] = set()
        self._closed = False
        self._last_error_log = -_DROP_LOG_INTERVAL

    async def add(self, topic_filters: Sequence[str], *, timeout: float = 5.0) -> None:
        """Also receive these filters (waits for the SUBACK when connected)."""
        fresh = [f for f in topic_filters if f not in self.filters]
        if fresh and not self._closed:
            self.filters.update(fresh)
            await self._add(self, fresh, self.qos, timeout)

    def remove(self, topic_filters: Sequence[str]) -> None:
        """Stop receiving these filters."""
        gone = [f for f in topic_filters if f in self.filters]
        self.filters.difference_update(gone)
        if gone:
            self._remove(self, gone)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._remove(self, list(self.filters))
            self.filters.clear()

    def _end(self) -> None:
        self._closed = True

    def _put(self, message: Message) -> None:
        if self._closed:
            return
        try:
            self._callback(message)
        except Exception:  # noqa: BLE001 - a bad handler must not break the connection
            now = time.monotonic()
            if now - self._last_error_log >= _DROP_LOG_INTERVAL:
                _LOGGER.exception("MQTT message handler failed on %s", message.topic)
                self._last_error_log = now


class Router:
    """Topic filter -> receivers; which receivers a topic reaches.

    Filters without ``+``/``#`` are found by a dict lookup on the topic, so thousands of
    state topics cost no more per message than a few; only wildcard filters are matched.
    """

    _CACHE_SIZE = 10_000  # topics whose receivers are remembered (cleared when full)

    def __init__(self) -> None:
        self._receivers: dict[str, list[Receiver]] = {}
        self._wildcards: set[str] = set()
        self._cache: dict[str, list[Receiver]] = {}
        """Topic -> its receivers, valid until the next add/remove."""

    def add(
        self, receiver: Receiver, topic_filters: Iterable[str], qos: int
    ) -> list[tuple[str, int]]:
        """Register; returns the (filter, qos) pairs the broker must be (re)subscribed to."""
        new = []
        self._cache.clear()
        for topic_filter in dict.fromkeys(topic_filters):
            receivers = self._receivers.setdefault(topic_filter, [])
            if receiver in receivers:
                continue
            if not receivers or qos > max(r.qos for r in receivers):
                new.append((topic_filter, max([qos, *(r.qos for r in receivers)])))
            receivers.append(receiver)
            if "+" in topic_filter or "#" in topic_filter:
                self._wildcards.add(topic_filter)
        return new

    def remove(self, receiver: Receiver, topic_filters: Iterable[str]) -> list[str]:
        """Deregister; returns the filters nobody wants any more (to unsubscribe)."""
        gone = []
        self._cache.clear()
        for topic_filter in topic_filters:
            receivers = self._receivers.get(topic_filter, [])
            if receiver in receivers:
                receivers.remove(receiver)
            if not receivers and self._receivers.pop(topic_filter, None) is not None:
                self._wildcards.discard(topic_filter)
                gone.append(topic_filter)
        return gone

    def route(self, topic: str) -> list[Receiver]:
        """Every receiver of a message on ``topic``, each once."""
        cached = self._cache.get(topic)
        if cached is not None:
            return cached
        found = list(self._receivers.get(topic, ()))
        for topic_filter in self._wildcards:
            if paho.topic_matches_sub(topic_filter, topic):
                found.extend(r for r in self._receivers[topic_filter] if r not in found)
        if len(self._cache) >= self._CACHE_SIZE:
            self._cache.clear()
        self._cache[topic] = found
        return found

    def filters(self) -> list[tuple[str, int]]:
        """(filter, qos) for everything registered: the subscription after a connect."""
        return [(f, max(r.qos for r in rs)) for f, rs in self._receivers.items()]

    def receivers(self) -> list[Receiver]:
        return list({id(r): r for rs in self._receivers.values() for r in rs}.values())
