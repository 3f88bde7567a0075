"""A local microphone and speaker as a hub: wake word, one turn, the reply played back.

:class:`LocalMicHub` reads 16 kHz mono 16-bit audio from an :class:`AudioSource`, waits for
its wake word (in a worker thread of its own), claims it in the :class:`Arbiter` when one is
shared with other hubs (a lost claim: another hub answers, keep waiting), hands the audio
after the wake word to the voice handler until it stops reading, and plays the reply through
an :class:`AudioSink`. While the reply plays, the microphone's audio is dropped, so the
assistant does not wake itself. One failed turn is logged; the hub keeps listening.

The default :class:`SoundDeviceSource` and :class:`SoundDeviceSink` use ``sounddevice``
(PortAudio), an optional extra: ``pip install 'mimo-assistant[mic]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from assistant.audio import convert
from assistant.listen.arbiter import Arbiter
from assistant.listen.base import HubInfo, VoiceHandler
from assistant.listen.errors import HubError
from assistant.listen.wakeword import WakeWordDetector
from assistant.messages import SPEECH_FORMAT, AudioChunk, AudioFormat

__all__ = [
    "AudioSource",
    "AudioSink",
    "LocalMicHub",
    "MicState",
    "MicUnavailable",
    "SoundDeviceSource",
    "SoundDeviceSink",
]

_LOGGER = logging.getLogger(__name__)


class AudioSource(AsyncIterable[AudioChunk], Protocol):
    """Where microphone audio comes from: an async iterable of chunks, 16 kHz mono 16-bit
    (others are converted chunk by chunk for the wake word). Its end ends the hub."""


class AudioSink(Protocol):
    """Where reply audio goes: plays ``chunks`` and returns when they have been heard."""

    async def play(self, chunks: AsyncIterator[AudioChunk]) -> None: ...


class MicState(enum.StrEnum):
    """What a local microphone hub is doing."""

    STARTING = "starting"
    WAITING = "waiting"
    """Listening for the wake word."""
    LISTENING = "listening"
    """A turn is running: the audio goes to the voice handler."""
    SPEAKING = "speaking"
    """The reply is playing: the microphone is ignored."""
    STOPPED = "stopped"


_END: None = None
"""Queued when the source ends."""


class LocalMicHub:
    """A microphone and a speaker on this machine as one hub; see the module doc."""

    def __init__(
        self,
        handler: VoiceHandler,
        *,
        name: str,
        area: str | None = None,
        wake_word: str = "okay_nabu",
        threshold: float = 0.5,
        source: AudioSource | None = None,
        sink: AudioSink | None = None,
        arbiter: Arbiter | None = None,
        max_turn_seconds: float = 30.0,
    ) -> None:
        source = source if source is not None else SoundDeviceSource()
        sink = sink if sink is not None else SoundDeviceSink()
        self.handler = handler
        self.hub = HubInfo(name, area)
        self.wake_word = wake_word
        self.threshold = threshold
        self.source = source
        self.sink = sink
        self.arbiter = arbiter
        self.max_turn_ms = max_turn_seconds * 1000
        self.state = MicState.STARTING
        self.turns = 0
        """Turns handed to the handler so far."""
        self.refused = 0
        """Wake words heard here that another hub answered."""
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._ended = False
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"wakeword-{name}")
        self._detector: WakeWordDetector | None = None

    @property
    def name(self) -> str:
        return self.hub.name

    async def run(self) -> None:
        """Listen until the source ends or :meth:`stop` is called; cancelling it propagates."""
        self._stopping = False
        task = asyncio.create_task(self._serve(), name=f"mic-hub-{self.name}")
        self._task = task
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self._stopping or (current is not None and current.cancelling()):
                raise
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._task = None
            self.state = MicState.STOPPED

    def stop(self) -> None:
        """Make :meth:`run` return soon (a turn in progress is abandoned)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        detector = self._detector
        if detector is None:
            detector = await loop.run_in_executor(
                self._executor, WakeWordDetector, self.wake_word, self.threshold
            )
            self._detector = detector
        queue: asyncio.Queue[AudioChunk | None] = asyncio.Queue()
        self._ended = False
        pump = asyncio.create_task(self._pump(queue), name=f"mic-hub-{self.name}-source")
        self.state = MicState.WAITING
        _LOGGER.info("Local microphone %s: waiting for %s", self.name, detector.name)
        try:
            while not self._ended:
                chunk = await queue.get()
                if chunk is _END:
                    break
                pcm = chunk.audio
                if chunk.format != SPEECH_FORMAT:  # whole-chunk conversion: enough to wake
                    pcm = convert(chunk.audio, chunk.format, SPEECH_FORMAT)
                word = await loop.run_in_executor(self._executor, detector.process, pcm)
                if word is not None and self._claim(word):
                    await self._turn(word, queue, detector)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _pump(self, queue: asyncio.Queue[AudioChunk | None]) -> None:
        """Source -> queue, dropping the audio heard while the reply plays."""
        try:
            async for chunk in self.source:
                if self.state is not MicState.SPEAKING:
                    queue.put_nowait(chunk)
        finally:
            queue.put_nowait(_END)

    def _claim(self, word: str) -> bool:
        if self.arbiter is None or self.arbiter.claim(self.name, word, time.monotonic()):
            return True
        self.refused += 1
        _LOGGER.info("Wake word %s on %s: another hub answers", word, self.name)
        return False

    async def _turn(
        self, word: str, queue: asyncio.Queue[AudioChunk | None], detector: WakeWordDetector
    ) -> None:
        loop = asyncio.get_running_loop()
        self.turns += 1
        self.state = MicState.LISTENING
        _LOGGER.info("Wake word %s on %s: listening", word, self.name)
        # The detector's thread is idle during the turn: forget the wake word there now.
        resetting = loop.run_in_executor(self._executor, detector.reset)
        audio = self._utterance(queue)
        try:
            reply = await self.handler(audio, self.hub)
            await audio.aclose()
            _LOGGER.info("%s heard %r, answers %r", self.name, reply.transcript, reply.text)
            self.state = MicState.SPEAKING
            self._drain(queue)
            await self.sink.play(reply.audio(None))
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOGGER.exception("Turn on %s failed; listening again", self.name)
        finally:
            await audio.aclose()
            await asyncio.shield(resetting)
            self._drain(queue)
            self.state = MicState.WAITING

    async def _utterance(
        self, queue: asyncio.Queue[AudioChunk | None]
    ) -> AsyncGenerator[AudioChunk, None]:
        """The audio after the wake word, until the handler stops reading (or the cap)."""
        heard_ms = 0.0
        while heard_ms < self.max_turn_ms:
            chunk = await queue.get()
            if chunk is _END:
                self._ended = True
                return
            heard_ms += chunk.duration_ms
            yield chunk
        _LOGGER.info("%s: turn capped at %.0f s of audio", self.name, self.max_turn_ms / 1000)

    def _drain(self, queue: asyncio.Queue[AudioChunk | None]) -> None:
        """Drop queued audio (heard during the turn or the reply), noting the source's end."""
        while not queue.empty():
            if queue.get_nowait() is _END:
                self._ended = True

    def close(self) -> None:
        """Release the wake word model and its thread (after :meth:`run` has returned).

        A cancelled run may leave inference running in the thread: the model is closed
        there, after it, never under it.
        """
        if self._detector is not None:
            self._executor.submit(self._detector.close)
            self._detector = None
        self._executor.shutdown(wait=False)


_MIC_EXTRA = "install the mic extra: pip install 'mimo-assistant[mic]'"


class MicUnavailable(HubError):
    """No microphone or speaker: sounddevice or PortAudio is missing, or no device opens."""

    code = "mic-unavailable"


def _sounddevice(kind: str) -> Any:
    """The ``sounddevice`` module, once a default ``kind`` ("input"/"output") device exists."""
    try:
        import sounddevice
    except ImportError as err:
        raise MicUnavailable(f"sounddevice is not installed: {_MIC_EXTRA}") from err
    except OSError as err:  # sounddevice's import fails so when PortAudio is absent
        raise MicUnavailable(
            f"the PortAudio library is missing ({err}): install it (Debian: apt-get install "
            f"libportaudio2), and {_MIC_EXTRA}"
        ) from err
    try:
        sounddevice.query_devices(kind=kind)
    except (sounddevice.PortAudioError, ValueError) as err:
        raise MicUnavailable(f"no audio {kind} device can be opened: {err}") from err
    return sounddevice


class SoundDeviceSource:
    """The default microphone (or ``device``) as 16 kHz mono 16-bit chunks of ``chunk_ms``."""

    def __init__(self, device: int | str | None = None, *, chunk_ms: int = 80) -> None:
        self._sd = _sounddevice("input")
        self.device = device
        self.blocksize = SPEECH_FORMAT.rate * chunk_ms // 1000
        self.max_queued = 5000 // chunk_ms
        """Chunks kept when the loop falls behind (5 s); older audio is dropped."""

    async def __aiter__(self) -> AsyncIterator[AudioChunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue(self.max_queued)

        def offer(data: bytes) -> None:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(data)

        def callback(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            if status:
                _LOGGER.debug("Microphone: %s", status)
            with contextlib.suppress(RuntimeError):  # the loop closed under us
                loop.call_soon_threadsafe(offer, bytes(indata))

        try:
            stream = self._sd.RawInputStream(
                samplerate=SPEECH_FORMAT.rate,
                channels=1,
                dtype="int16",
                blocksize=self.blocksize,
                device=self.device,
                callback=callback,
            )
            stream.start()
        except (self._sd.PortAudioError, ValueError) as err:
            raise MicUnavailable(f"cannot open the microphone: {err}") from err
        samples = 0
        try:
            while True:
                data = await queue.get()
                yield AudioChunk(data, SPEECH_FORMAT, timestamp_ms=samples / 16)
                samples += len(data) // 2
        finally:
            stream.stop()
            stream.close()


class SoundDeviceSink:
    """The default speaker (or ``device``); writes block, so they run in a worker thread."""

    def __init__(self, device: int | str | None = None) -> None:
        self._sd = _sounddevice("output")
        self.device = device
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="speaker")

    async def play(self, chunks: AsyncIterator[AudioChunk]) -> None:
        loop = asyncio.get_running_loop()
        stream: Any = None
        fmt: AudioFormat | None = None
        try:
            async for chunk in chunks:
                if chunk.format != fmt:
                    if stream is not None:
                        await loop.run_in_executor(self._executor, _finish, stream)
                    fmt = chunk.format
                    stream = await loop.run_in_executor(self._executor, self._open, fmt)
                pcm = convert(chunk.audio, fmt, AudioFormat(fmt.rate, 2, fmt.channels))
                await loop.run_in_executor(self._executor, stream.write, pcm)
        finally:
            if stream is not None:
                await asyncio.shield(loop.run_in_executor(self._executor, _finish, stream))

    def _open(self, fmt: AudioFormat) -> Any:
        try:
            stream = self._sd.RawOutputStream(
                samplerate=fmt.rate, channels=fmt.channels, dtype="int16", device=self.device
            )
            stream.start()
        except (self._sd.PortAudioError, ValueError) as err:
            raise MicUnavailable(f"cannot open the speaker: {err}") from err
        return stream


def _finish(stream: Any) -> None:
    """Let the stream play what it holds, then close it (worker thread)."""
    try:
        stream.stop()
    finally:
        stream.close()
