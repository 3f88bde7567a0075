"""Server-side wake word for Wyoming peers that stream without a wake word of their own.

A satellite without local wake word detection (wyoming-satellite without ``--wake-uri``,
streaming always or on voice activity) sends ``run-pipeline`` with ``start_stage: wake``,
then audio chunks. The daemon answers it as Home Assistant does::

    detect                   listening for the wake word (names: the model)
    detection  transcribe    heard it (name; timestamp: ms of audio since listening began)
    transcript  synthesize  audio-start  audio-chunk*  audio-stop     the command, from ASR on

When nothing is heard the stream just goes on; ``audio-stop`` ends the pipeline without a
turn (audio not yet scanned is dropped); a model that cannot load gets an ``error``. After
the turn, a ``restart_on_end`` pipeline (an always-streaming satellite) listens for the wake
word again; otherwise the peer sends ``run-pipeline`` again. The model is a
bundled one named in ``wake_word_names`` if there is one, else the configured one.

:class:`WakeStage` runs this for one connection (a ``WyomingSession``, its :class:`WakeHost`);
its :class:`WakeListener` is the connection's detector. Inference runs in a worker thread of
its own, over batches of the chunks that arrived meanwhile, never on the loop. Audio before
the wake word is dropped once scanned; at most ``max_backlog_seconds`` of it wait to be
scanned, and a peer sending faster than that is paused (its reader waits, TCP holds the
rest), so a stream that never says the wake word holds no more memory however long it runs.
The command starts with the chunk after the one the wake word was heard in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from wyoming.asr import Transcribe
from wyoming.event import Event
from wyoming.pipeline import PipelineStage
from wyoming.wake import Detect, Detection

from assistant.audio import ToSpeech
from assistant.listen.wakeword import (
    WakeWordDetector,
    WakeWordError,
    bundled_model,
    wake_word_key,
)
from assistant.messages import SPEECH_FORMAT, AudioChunk

if TYPE_CHECKING:
    from assistant.listen.wyoming_stream import AudioStream
    from assistant.listen.wyoming_turn import TurnRequest

__all__ = ["WakeHeard", "WakeHost", "WakeListener", "WakeSettings", "WakeStage"]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WakeSettings:
    """Server-side wake word of one hub (the Wyoming server, or one satellite link)."""

    model: str = "okay_nabu"
    """A bundled pyopen-wakeword model's name or an openWakeWord ``.tflite`` path."""
    threshold: float = 0.5
    """Model probability (0-1) above which the wake word counts as spoken."""
    max_backlog_seconds: float = 2.0
    """Audio waiting to be scanned, at most, seconds (of 16 kHz mono 16-bit: 64 KB); the
    peer's reader waits beyond it."""

    def model_for(self, wake_word_names: Sequence[str]) -> str:
        """The model to listen with: the configured one, unless ``wake_word_names`` names
        another that is bundled (in any spelling)."""
        if wake_word_key(self.model) in {wake_word_key(name) for name in wake_word_names}:
            return self.model
        return bundled_model(wake_word_names) or self.model


@dataclass(frozen=True, slots=True)
class WakeHeard:
    """The wake word was heard."""

    name: str
    """The model's name (``okay_nabu``)."""
    timestamp_ms: int
    """Audio since listening began, to the end of the chunk it was heard in, milliseconds."""
    at: float
    """When that chunk arrived, ``time.monotonic()`` seconds (for the Arbiter)."""
    rest: list[AudioChunk]
    """The chunks that arrived after it: the beginning of the command."""


_DUPLICATE_WAKE = "duplicate_wake_up_detected"  # Home Assistant's code for the same case


class WakeHost(Protocol):
    """The connection a :class:`WakeStage` works for."""

    peer: str

    async def send(self, event: Event) -> None:
        """Send one event (raises ConnectionError when the peer is gone)."""

    async def refuse(self, text: str, code: str) -> None:
        """Send an ``error`` event, if the peer is still there."""

    def arbitrate(self, wake_word: str | None, at: float) -> bool:
        """Whether this connection may answer the wake word heard ``at`` (the Arbiter)."""

    def start_turn(self, request: TurnRequest, announce: list[Event]) -> AudioStream:
        """Start a command turn; ``announce`` is sent first. Its audio goes to the stream."""

    def spawn(self, job: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``job`` in a task of the connection (awaited when the connection ends)."""


class WakeStage:
    """A connection's pipelines from ``wake``: listen, hand over the command, listen again."""

    def __init__(self, host: WakeHost, settings: WakeSettings) -> None:
        self._host, self.settings = host, settings
        self.listener: WakeListener | None = None
        """Made at the connection's first pipeline from wake: one detector per connection."""
        self.request: TurnRequest | None = None
        """The pipeline from wake in progress (listening, or its turn), if any."""
        self._closed = False

    async def listen(self, request: TurnRequest) -> None:
        """``detect``, then the peer's audio goes to the detector until it is heard."""
        if self._closed:
            return
        if self.listener is None:
            self.listener = WakeListener(
                self.settings, label=self._host.peer, on_heard=self._heard, on_failed=self._failed
            )
        model = self.settings.model_for(request.wake_word_names)
        self.request = request
        self.listener.start(model)
        with contextlib.suppress(ConnectionError):
            await self._host.send(Detect(names=[wake_word_key(model) or model]).event())

    async def take(self, chunk: AudioChunk) -> bool:
        """Give a chunk to the detector if it is listening (waiting for room); False if not."""
        listener = self.listener
        if listener is None or not listener.listening:
            return False
        await listener.wait_for_room()  # the scans fell behind: this peer waits
        if not listener.listening:  # heard meanwhile: the chunk starts the command
            return False
        listener.put(chunk)
        return True

    @property
    def listening(self) -> bool:
        """The detector takes the peer's audio now."""
        return self.listener is not None and self.listener.listening

    def stop(self) -> None:
        """The pipeline from wake is over (audio-stop, another pipeline)."""
        self.request = None
        if self.listener is not None:
            self.listener.stop()

    def close(self) -> None:
        """The connection is gone: release the detector."""
        self._closed = True
        self.stop()
        if self.listener is not None:
            self.listener.close()

    async def again(self, request: TurnRequest) -> None:
        """After ``request``'s turn: listen again if it asked to (``restart_on_end``)."""
        if self.request is not request:  # not from wake, or stopped or replaced meanwhile
            return
        if request.restart:
            await self.listen(request)
        else:
            self.request = None

    def _heard(self, heard: WakeHeard) -> None:
        """The wake word was heard (called on the loop, between two events of the peer)."""
        request = self.request
        if request is None:
            return
        detection = Detection(name=heard.name, timestamp=heard.timestamp_ms).event()
        if not self._host.arbitrate(heard.name, heard.at):
            self._host.spawn(self._detected(request, detection, duplicate=True), "duplicate")
        elif request.end_stage is PipelineStage.WAKE:
            self._host.spawn(self._detected(request, detection), "wake word")
        else:
            stream = self._host.start_turn(request, [detection, Transcribe().event()])
            stream.started = True
            for chunk in heard.rest:
                stream.put(chunk)

    async def _detected(
        self, request: TurnRequest, detection: Event, duplicate: bool = False
    ) -> None:
        """No command turn: the wake word only was asked for, or another hub answers."""
        with contextlib.suppress(ConnectionError):
            await self._host.send(detection)
            if duplicate:
                await self._host.refuse("Another hub is answering", _DUPLICATE_WAKE)
            await self.again(request)

    def _failed(self, err: Exception) -> None:
        self.request = None
        self._host.spawn(
            self._host.refuse(f"No wake word detection here: {err}", "wake-word-failed"), "refuse"
        )


class WakeListener:
    """One connection's wake word detector; see the module doc.

    ``start(model)`` listens (again) from now on; ``put`` hands it chunks (after
    ``await wait_for_room()``); ``on_heard`` is called on the loop when the wake word is
    heard, and listening stops; ``on_failed`` when the model cannot be loaded or run.
    """

    def __init__(
        self,
        settings: WakeSettings,
        *,
        label: str,
        on_heard: Callable[[WakeHeard], None],
        on_failed: Callable[[Exception], None],
    ) -> None:
        self.settings = settings
        self._label = label
        self._on_heard, self._on_failed = on_heard, on_failed
        self._max_backlog = int(settings.max_backlog_seconds * SPEECH_FORMAT.bytes_per_second)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="wyoming-wakeword")
        self._detector: WakeWordDetector | None = None
        self._model = settings.model
        self._queue: deque[tuple[AudioChunk, float]] = deque()
        self._backlog = 0
        self._room = asyncio.Event()
        self._room.set()
        self._queued = asyncio.Event()
        self._epoch = 0
        """Changes whenever listening starts or stops: a scan from before is void."""
        self._position_ms = 0.0
        self._to_speech = ToSpeech()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.listening = False

    def start(self, model: str) -> None:
        """Listen for ``model``'s wake word in the audio put from now on."""
        if self._closed:
            return
        self._reset_queue()
        self.listening = True
        self._position_ms = 0.0
        self._to_speech = ToSpeech()  # a scan still running keeps the old one
        self._model = model
        if self._task is None:
            self._task = asyncio.create_task(self._scan(), name=f"{self._label} wake word")
        self._queued.set()  # load the model now, not at the first chunk

    def stop(self) -> None:
        """Stop listening; the audio not yet scanned is dropped."""
        self.listening = False
        self._reset_queue()

    def close(self) -> None:
        """Stop for good and release the model (in its thread, after any scan running)."""
        self.stop()
        self._closed = True
        if self._task is not None:
            self._task.cancel()
        if self._detector is not None:
            self._executor.submit(self._detector.close)
            self._detector = None
        self._executor.shutdown(wait=False)

    async def wait_for_room(self) -> None:
        """Return once more audio may be put (at once, unless the scans fall behind)."""
        while self.listening and self._backlog >= self._max_backlog:
            self._room.clear()
            await self._room.wait()

    def put(self, chunk: AudioChunk) -> None:
        """Queue a chunk to be scanned (ignored while not listening)."""
        if not self.listening:
            return
        self._queue.append((chunk, time.monotonic()))
        self._backlog += len(chunk.audio)
        self._queued.set()

    def _reset_queue(self) -> None:
        self._epoch += 1
        self._queue.clear()
        self._backlog = 0
        self._room.set()

    async def _scan(self) -> None:
        """Scan what has arrived, batch by batch, in the worker thread."""
        loop = asyncio.get_running_loop()
        while True:
            await self._queued.wait()
            self._queued.clear()
            if not self.listening:
                continue
            epoch = self._epoch
            try:
                detector = await self._loaded(loop)  # at once: listening starts loading it
                if epoch != self._epoch or not self._queue:
                    continue
                batch = list(self._queue)
                self._queue.clear()
                self._backlog = 0
                self._room.set()
                chunks = [chunk for chunk, _ in batch]
                found = await loop.run_in_executor(
                    self._executor, _first_detection, detector, self._to_speech, chunks
                )
            except Exception as err:
                if isinstance(err, WakeWordError):  # a model that cannot load: said once
                    _LOGGER.error("%s: %s", self._label, err)
                else:
                    _LOGGER.exception("%s: wake word detection failed", self._label)
                self.stop()
                self._on_failed(err)
                continue
            if epoch != self._epoch:  # stopped or restarted meanwhile
                continue
            self._heard(batch, found, detector)

    async def _loaded(self, loop: asyncio.AbstractEventLoop) -> WakeWordDetector:
        """The detector for the wanted model, loaded in the worker thread when it changes."""
        if self._detector is not None and self._detector.model == self._model:
            return self._detector
        if self._detector is not None:
            self._executor.submit(self._detector.close)
            self._detector = None
        loading = self._executor.submit(WakeWordDetector, self._model, self.settings.threshold)
        try:
            detector = await asyncio.wrap_future(loading, loop=loop)
        except asyncio.CancelledError:  # closed while loading: close what gets loaded
            loading.add_done_callback(_close_loaded)
            raise
        self._detector = detector
        _LOGGER.info("%s: listening for the wake word %s", self._label, detector.name)
        return detector

    def _heard(
        self,
        batch: list[tuple[AudioChunk, float]],
        found: tuple[int, str] | None,
        detector: WakeWordDetector,
    ) -> None:
        upto = len(batch) if found is None else found[0] + 1
        self._position_ms += sum(chunk.duration_ms for chunk, _ in batch[:upto])
        if found is None:
            return
        rest = [chunk for chunk, _ in batch[upto:]] + [chunk for chunk, _ in self._queue]
        heard = WakeHeard(found[1], int(self._position_ms), batch[found[0]][1], rest)
        self.stop()
        # The thread is idle while the command is heard: forget the wake word there now.
        self._executor.submit(detector.reset)
        _LOGGER.info("%s: wake word %s at %d ms", self._label, heard.name, heard.timestamp_ms)
        self._on_heard(heard)


def _close_loaded(loading: Future[WakeWordDetector]) -> None:
    if not loading.cancelled() and loading.exception() is None:
        loading.result().close()


def _first_detection(
    detector: WakeWordDetector, to_speech: ToSpeech, chunks: list[AudioChunk]
) -> tuple[int, str] | None:
    """Worker thread: the index of the first chunk the wake word is heard in, and its name."""
    for index, chunk in enumerate(chunks):
        name = detector.process(to_speech.feed(chunk))
        if name is not None:
            return index, name
    return None
