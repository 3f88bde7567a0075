"""The daemon connects out to Wyoming satellites, as Home Assistant does.

One ``SatelliteLink`` per configured satellite, run as a long-lived task: connect, send
``run-satellite``, then serve the satellite's ``run-pipeline`` + audio turns exactly like the
server does (``WyomingSession``). Every ``ping_seconds`` it sends a ``ping``; no ``pong``
within ``pong_timeout`` means the satellite is dead: the connection is closed and made again.
Reconnects back off from ``reconnect_seconds`` to ``max_reconnect_seconds``, forever; an
outage is logged once when it begins and once when it ends, not per attempt.

``stop()`` or cancelling the task ends it; a turn that had heard its utterance finishes
first on ``stop()`` (it is cancelled on cancellation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import urlparse

from wyoming.ping import Ping
from wyoming.satellite import RunSatellite

from assistant.listen.arbiter import Arbiter
from assistant.listen.base import HubInfo, VoiceHandler
from assistant.listen.wyoming_io import MAX_HEADER_BYTES, EventWriter
from assistant.listen.wyoming_turn import Transcriber, WyomingSession
from assistant.listen.wyoming_wake import WakeSettings

__all__ = ["SatelliteLink"]

_LOGGER = logging.getLogger(__name__)


class SatelliteLink:
    """A reconnecting connection to one satellite; ``await link.run()`` in its own task."""

    def __init__(
        self,
        handler: VoiceHandler,
        *,
        uri: str,
        name: str,
        area: str | None = None,
        reconnect_seconds: float = 1.0,
        max_reconnect_seconds: float = 30.0,
        ping_seconds: float = 5.0,
        pong_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        arbiter: Arbiter | None = None,
        transcriber: Transcriber | None = None,
        wake: WakeSettings | None = None,
    ) -> None:
        """``wake``: the daemon's wake word when the satellite streams from wake."""
        parsed = urlparse(uri)
        if parsed.scheme != "tcp" or not parsed.hostname or parsed.port is None:
            raise ValueError(f"satellite {name}: want tcp://host:port, got {uri!r}")
        self.host, self.port, self.uri = parsed.hostname, parsed.port, uri
        self.hub = HubInfo(name=name, area=area)
        self._handler, self._arbiter, self._transcriber = handler, arbiter, transcriber
        self._reconnect = reconnect_seconds
        self._max_reconnect = max_reconnect_seconds
        self._ping_seconds, self._pong_timeout = ping_seconds, pong_timeout
        self._connect_timeout = connect_timeout
        self._wake = wake
        self._stopping = asyncio.Event()
        self._writer: EventWriter | None = None
        self.connected = asyncio.Event()
        """Set while a connection is up (``run-satellite`` sent)."""
        self.connections = 0
        """Connections made so far."""

    @property
    def _label(self) -> str:
        return f"Satellite {self.hub.name} ({self.uri})"

    def stop(self) -> None:
        """Ask ``run()`` to close the connection and return."""
        self._stopping.set()
        if self._writer is not None:
            self._writer.abort()

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff until ``stop()`` or cancellation."""
        delay = self._reconnect
        down_since: float | None = None
        while not self._stopping.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port, limit=MAX_HEADER_BYTES),
                    self._connect_timeout,
                )
            except (OSError, TimeoutError) as err:
                if down_since is None:
                    down_since = time.monotonic()
                    _LOGGER.warning(
                        "%s unreachable (%s); retrying", self._label, str(err) or "timeout"
                    )
                await self._pause(delay)
                delay = min(2 * delay, self._max_reconnect)
                continue
            if self._stopping.is_set():
                writer.close()
                break
            if down_since is not None:
                _LOGGER.info("%s back after %.0f s", self._label, time.monotonic() - down_since)
            delay = self._reconnect
            reason = await self._serve(reader, writer)
            if self._stopping.is_set():
                break
            down_since = time.monotonic()
            _LOGGER.warning("%s: %s; reconnecting", self._label, reason)
            await self._pause(delay)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """One connection, until it ends; returns why it ended."""
        out = self._writer = EventWriter(writer)
        session = WyomingSession(
            self._handler,
            reader,
            out,
            peer=self._label,
            hub=self.hub,
            transcriber=self._transcriber,
            arbiter=self._arbiter,
            wake=self._wake,
        )
        keepalive = asyncio.create_task(self._keepalive(session), name=f"{self._label} ping")
        reason = "connection closed"
        try:
            await session.send(RunSatellite().event())
            self.connections += 1
            self.connected.set()
            _LOGGER.info("%s connected", self._label)
            await session.run()
        except ConnectionError as err:
            reason = f"connection lost ({err})"
        finally:
            self.connected.clear()
            keepalive.cancel()
            await asyncio.wait([keepalive])  # never swallows our own cancellation
            self._writer = None
            await out.close()
        if not keepalive.cancelled() and keepalive.exception() is None:
            reason = keepalive.result()
        return reason

    async def _keepalive(self, session: WyomingSession) -> str:
        """Ping until a pong is missing; then drop the connection (the session then ends)."""
        count = 0
        while True:
            await asyncio.sleep(self._ping_seconds)
            count += 1
            session.pong.clear()
            try:
                async with asyncio.timeout(self._pong_timeout):
                    await session.send(Ping(text=str(count)).event())
                    await session.pong.wait()
            except ConnectionError:
                return "connection lost"
            except TimeoutError:
                session.writer.abort()
                return f"no pong within {self._pong_timeout:g} s"
