"""Messages and the async iterator that hands them to one subscriber."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .model import Message

__all__ = ["Subscription"]

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
