"""One utterance's audio as an async iterator, fed by a Wyoming connection's reader."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from assistant.messages import AudioChunk

__all__ = ["AudioStream"]

_LOGGER = logging.getLogger(__name__)

_END = object()


class AudioStream(AsyncIterator[AudioChunk]):
    """Chunks from the peer, in order, until ``end()`` (audio-stop) or ``fail(err)``.

    The connection's reader puts chunks; the voice handler iterates. When the handler has
    heard enough it stops iterating and the connection calls ``close()``: later chunks are
    dropped (drained) instead of queued. A failed stream raises its error in the handler
    after the chunks queued before it.
    """

    def __init__(self, *, max_backlog_bytes: int = 16 * 1024 * 1024) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._max_backlog = max_backlog_bytes
        self._backlog = 0
        self._open = True
        self._warned = False
        self.started = False
        """An ``audio-start`` has been seen for this stream."""
        self.chunks = 0
        """Chunks accepted so far."""

    @property
    def open(self) -> bool:
        """True while chunks are still wanted."""
        return self._open

    def put(self, chunk: AudioChunk) -> None:
        """Queue a chunk for the handler; dropped once closed or when far behind."""
        if not self._open:
            return
        if self._backlog + len(chunk.audio) > self._max_backlog:
            if not self._warned:
                _LOGGER.warning("Voice handler is %d bytes behind; dropping audio", self._backlog)
                self._warned = True
            return
        self._backlog += len(chunk.audio)
        self.chunks += 1
        self._queue.put_nowait(chunk)

    def end(self) -> None:
        """The peer sent audio-stop: the iterator ends after the queued chunks."""
        if self._open:
            self._open = False
            self._queue.put_nowait(_END)

    def fail(self, error: BaseException) -> None:
        """The utterance is void (peer gone, bad audio): the iterator raises ``error``."""
        if self._open:
            self._open = False
            self._queue.put_nowait(error)

    def close(self) -> None:
        """The handler stopped reading: drop what is queued and whatever comes later."""
        self._open = False
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_END)
        self._backlog = 0

    def __aiter__(self) -> AudioStream:
        return self

    async def __anext__(self) -> AudioChunk:
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # stay ended for repeated calls
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._queue.put_nowait(_END)
            raise item
        assert isinstance(item, AudioChunk)
        self._backlog -= len(item.audio)
        return item
