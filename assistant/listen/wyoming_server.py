"""The Wyoming server the daemon listens on: any Wyoming client can speak a command to it.

Each connection is its own named task running a ``WyomingSession`` (see ``wyoming_turn`` for
the events in and out). ``describe`` is answered with an ``info`` that offers asr, tts,
intent and handle programs, so Home Assistant style clients accept the server; with
``services`` it serves them too: ``synthesize`` (tts), ``recognize`` (intent) and
``transcript`` (handle, Home Assistant's Wyoming conversation agent), see
``wyoming_services``. A peer that
breaks the framing is logged in one line and dropped; the others keep going. At most
``max_connections`` are served at once: one more gets an ``error`` event (code
``too-many-connections``) and is closed, logged at most once a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from types import TracebackType

from wyoming.error import Error
from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    HandleModel,
    HandleProgram,
    Info,
    IntentModel,
    IntentProgram,
    TtsProgram,
    TtsVoice,
)

from assistant.listen.arbiter import Arbiter
from assistant.listen.base import HubInfo, TextServices, VoiceHandler
from assistant.listen.wyoming_io import MAX_HEADER_BYTES, EventWriter
from assistant.listen.wyoming_turn import Transcriber, WyomingSession
from assistant.listen.wyoming_wake import WakeSettings

__all__ = ["WyomingServer"]

_LOGGER = logging.getLogger(__name__)

_ATTRIBUTION = Attribution(name="mimo-assistant", url="")
_REFUSAL_LOG_SECONDS = 60.0


class WyomingServer:
    """``async with WyomingServer(handler, port=0) as server:`` serves until the block ends."""

    def __init__(
        self,
        handler: VoiceHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 10700,
        name: str = "mimo-assistant",
        area: str | None = None,
        languages: Sequence[str] = ("en",),
        transcriber: Transcriber | None = None,
        arbiter: Arbiter | None = None,
        wake: WakeSettings | None = None,
        max_connections: int = 16,
        services: TextServices | None = None,
    ) -> None:
        """``name`` is the program name in ``info`` and the hub name of its turns;
        ``transcriber`` serves ASR-only clients (``transcribe``), refused without one;
        ``wake`` is the wake word for clients that stream from wake (default okay_nabu);
        ``services`` answers synthesize, recognize and transcript (ignored without)."""
        self._handler = handler
        self.host = host
        self.port = port
        """The bound port (the real one after start when 0 was asked for)."""
        self.hub = HubInfo(name=name, area=area)
        self._info = _info(name, list(languages)).event()
        self._transcriber = transcriber
        self._arbiter = arbiter
        self._wake = wake
        self._services = services
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._max_connections = max_connections
        self._refused = 0
        self._refusal_logged = float("-inf")

    async def __aenter__(self) -> WyomingServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind and start accepting connections."""
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, limit=MAX_HEADER_BYTES
        )
        self.port = self._server.sockets[0].getsockname()[1]
        _LOGGER.info("Wyoming server listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop accepting, end every connection and its turns."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def connections(self) -> int:
        """Connections being served now."""
        return len(self._tasks)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        peer = f"Wyoming client {host}:{port}"
        if len(self._tasks) >= self._max_connections:
            await self._refuse(writer, peer)
            return
        task = asyncio.create_task(self._serve(reader, writer, peer), name=peer)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refuse(self, writer: asyncio.StreamWriter, peer: str) -> None:
        """One connection too many: say so and close; log once a minute with a count."""
        self._refused += 1
        now = time.monotonic()
        if now - self._refusal_logged >= _REFUSAL_LOG_SECONDS:
            _LOGGER.warning(
                "%s refused: %d connections are served already (hubs.wyoming.max_connections);"
                " %d refused since the last warning",
                peer,
                self._max_connections,
                self._refused,
            )
            self._refusal_logged, self._refused = now, 0
        out = EventWriter(writer)
        error = Error(text="Too many connections", code="too-many-connections")
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(out.write(error.event()), 2.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(out.close(), 2.0)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        _LOGGER.debug("%s connected", peer)
        out = EventWriter(writer)
        session = WyomingSession(
            self._handler,
            reader,
            out,
            peer=peer,
            hub=self.hub,
            info=self._info,
            transcriber=self._transcriber,
            arbiter=self._arbiter,
            wake=self._wake,
            services=self._services,
        )
        try:
            await session.run()
        finally:
            await out.close()
            _LOGGER.debug("%s disconnected", peer)


def _info(name: str, languages: list[str]) -> Info:
    """What ``describe`` answers: speech to text, text to speech, intents and their handling."""
    art = {"attribution": _ATTRIBUTION, "installed": True, "version": None}
    model = {**art, "description": None, "languages": languages}
    return Info(
        asr=[
            AsrProgram(
                name=name,
                description="Speech to text (faster-whisper)",
                models=[AsrModel(name="faster-whisper", **model)],
                **art,
            )
        ],
        tts=[
            TtsProgram(
                name=name,
                description="Spoken replies (piper)",
                voices=[TtsVoice(name="default", **model)],
                **art,
            )
        ],
        intent=[
            IntentProgram(
                name=name,
                description="Home Assistant intents (hassil grammar, LLM fallback)",
                models=[IntentModel(name="grammar", **model)],
                **art,
            )
        ],
        handle=[
            HandleProgram(
                name=name,
                description="Home control",
                models=[HandleModel(name="home", **model)],
                supports_home_control=True,
                **art,
            )
        ],
    )
