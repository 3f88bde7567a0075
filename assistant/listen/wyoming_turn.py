"""One Wyoming connection's voice turns, shared by the server and the satellite links.

Events in (from a Wyoming client or a satellite)::

    [detection]  run-pipeline | transcribe  [audio-start]  audio-chunk*  [audio-stop]
    audio-start  audio-chunk*  audio-stop          (a bare client: a whole turn, voice reply)
    run-pipeline from wake  [audio-start]  audio-chunk* ...   (the daemon's wake word; see
                                                               ``wyoming_wake``)
    ping -> pong;  describe -> info (server only)
    synthesize | recognize | transcript -> ... (server only: see ``wyoming_services``)

A turn starts at ``run-pipeline``/``transcribe``, or at ``audio-start`` when none is pending;
its chunks go to the voice handler as ``AudioStream`` until ``audio-stop`` or until the handler
stops reading (the rest is drained). On the same connection, as Home Assistant sends them::

    [transcribe]  voice-started  voice-stopped      (run-pipeline turns: while hearing; a
                                                     satellite's "listening"/"done" cues)
    transcript  synthesize  audio-start  audio-chunk*  audio-stop

``end_stage`` asr (and ``transcribe``) gets the transcript only, from the ASR-only
transcriber; intent/handle get transcript and synthesize; tts (the default) gets all, the
audio in run-pipeline's ``snd_format`` when given, else the voice's own.

If the peer disconnects mid-utterance the handler's iterator raises ``HubDisconnected``; audio
in an impossible format raises ``BadAudioFormat`` there and the peer gets an ``error`` event.
Either way the handler must not act on that utterance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk as WyChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.ping import Pong
from wyoming.pipeline import PipelineStage
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStarted, VoiceStopped

from assistant.listen.arbiter import Arbiter
from assistant.listen.base import HubInfo, TextServices, VoiceHandler, VoiceReply
from assistant.listen.errors import BadAudioFormat, HubDisconnected, HubError, HubProtocolError
from assistant.listen.wyoming_io import EventWriter, parse_format, read_event
from assistant.listen.wyoming_services import ServiceRequests
from assistant.listen.wyoming_stream import AudioStream
from assistant.listen.wyoming_wake import WakeSettings, WakeStage
from assistant.messages import AudioChunk, AudioFormat

__all__ = ["Transcriber", "TurnRequest", "WyomingSession"]

_LOGGER = logging.getLogger(__name__)

Transcriber = Callable[[AsyncIterator[AudioChunk]], Awaitable[str]]
"""Speech to text only (for ASR-only clients): reads audio, returns the text; never acts."""

_REPLY_SAMPLES = 1024
"""Samples per reply audio-chunk (what wyoming-piper sends)."""
_DETECTION_SECONDS = 5.0
"""A ``detection`` counts for the run-pipeline that follows it within this time, seconds."""
_DUPLICATE_WAKE = "duplicate_wake_up_detected"  # Home Assistant's code for the same case
_START_STAGES = (PipelineStage.WAKE, PipelineStage.ASR)


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """What the peer asked for with this utterance."""

    end_stage: PipelineStage = PipelineStage.TTS
    snd_format: AudioFormat | None = None
    """Format for the reply audio; None: the voice's own."""
    wake_word: str | None = None
    """The wake word the peer heard (``wake_word_name``)."""
    start_stage: PipelineStage = PipelineStage.ASR
    """``wake``: the daemon listens for the wake word first (``wyoming_wake``)."""
    restart: bool = False
    """``restart_on_end`` of a pipeline from wake: listen again after the turn."""
    wake_word_names: tuple[str, ...] = ()
    """Wake words to listen for (from wake): a bundled model among them is used."""
    pipeline: bool = False
    """Asked for by ``run-pipeline``: the peer is told voice-started / voice-stopped."""


class WyomingSession:
    """Reads one connection's events and runs its voice turns; ``run()`` until it closes."""

    def __init__(
        self,
        handler: VoiceHandler,
        reader: asyncio.StreamReader,
        writer: EventWriter,
        *,
        peer: str,
        hub: HubInfo,
        info: Event | None = None,
        transcriber: Transcriber | None = None,
        arbiter: Arbiter | None = None,
        wake: WakeSettings | None = None,
        services: TextServices | None = None,
    ) -> None:
        """``wake``: the daemon's own wake word, for pipelines from wake (default okay_nabu);
        ``services``: synthesize, recognize and transcript requests are served (server)."""
        self._handler, self._reader, self.writer = handler, reader, writer
        self.peer, self.hub = peer, hub
        self._info, self._transcriber, self._arbiter = info, transcriber, arbiter
        self.wake = WakeStage(self, wake or WakeSettings())
        self.pong = asyncio.Event()
        """Set whenever a ``pong`` arrives (the satellite link's keepalive clears it)."""
        self._stream: AudioStream | None = None
        self._detection: tuple[str | None, float] | None = None
        self._turns: list[asyncio.Task[None]] = []
        self._dispatch: dict[str, Callable[[Event], Awaitable[None]]] = {
            "ping": self._on_ping,
            "pong": self._on_pong,
            "describe": self._on_describe,
            "detection": self._on_detection,
            "run-pipeline": self._on_run_pipeline,
            "transcribe": self._on_transcribe,
            "audio-start": self._on_audio_start,
            "audio-chunk": self._on_audio_chunk,
            "audio-stop": self._on_audio_stop,
        }
        if services is not None:
            self._dispatch.update(ServiceRequests(self, services).handlers())

    async def run(self) -> None:
        """Serve events until the peer closes or breaks the protocol (logged, then return)."""
        try:
            while (event := await read_event(self._reader)) is not None:
                on_event = self._dispatch.get(event.type)
                if on_event is None:
                    _LOGGER.debug("%s: ignoring %s", self.peer, event.type)
                    continue
                await on_event(event)
        except HubProtocolError as err:
            _LOGGER.warning("%s: %s; dropping the connection", self.peer, err)
        except ConnectionError as err:
            _LOGGER.info("%s: connection lost: %s", self.peer, err)
        except Exception:
            _LOGGER.exception("%s: unexpected error; dropping the connection", self.peer)
        except asyncio.CancelledError:
            self.wake.close()
            await self._cancel_turns()
            raise
        finally:
            self.wake.close()
            self._void_stream(HubDisconnected(f"{self.peer} disconnected mid-utterance"))
        await self._finish_turns()

    async def _finish_turns(self) -> None:
        """Let turns that heard their utterance finish (no half-done action)."""
        try:
            if self._turns:
                await asyncio.wait(list(self._turns))
        except asyncio.CancelledError:
            await self._cancel_turns()
            raise

    async def _cancel_turns(self) -> None:
        turns = list(self._turns)
        for task in turns:
            task.cancel()
        await asyncio.gather(*turns, return_exceptions=True)

    async def send(self, event: Event) -> None:
        """Send one event (raises ConnectionError when the peer is gone)."""
        await self.writer.write(event)

    async def _on_ping(self, event: Event) -> None:
        await self.send(Pong(text=event.data.get("text")).event())

    async def _on_pong(self, event: Event) -> None:
        self.pong.set()

    async def _on_describe(self, event: Event) -> None:
        if self._info is not None:
            await self.send(self._info)

    async def _on_detection(self, event: Event) -> None:
        name = event.data.get("name")
        self._detection = (name if isinstance(name, str) else None, time.monotonic())

    async def _on_run_pipeline(self, event: Event) -> None:
        request = _pipeline_request(event.data, self.peer)
        if request is None:
            await self.refuse("This pipeline is not supported here", "unsupported-pipeline")
            return
        self.wake.stop()
        if request.start_stage is PipelineStage.WAKE:
            self._void_stream(HubError("superseded by a new pipeline"))
            await self.wake.listen(request)
        elif not self._claim_wake(request):
            await self.refuse("Another hub is answering", _DUPLICATE_WAKE)
        else:
            self.start_turn(request, [Transcribe().event()])

    async def _on_transcribe(self, event: Event) -> None:
        self.wake.stop()
        self.start_turn(TurnRequest(end_stage=PipelineStage.ASR))

    async def _on_audio_start(self, event: Event) -> None:
        try:
            parse_format(event.data)
        except BadAudioFormat as err:
            await self._bad_audio(err)
            return
        if self.wake.request is not None:  # the command's stream starts at the wake word
            return
        stream = self._stream
        if stream is None or stream.started or not stream.open:
            stream = self.start_turn(TurnRequest())
        stream.started = True

    async def _on_audio_chunk(self, event: Event) -> None:
        stream = self._stream
        if not (self.wake.listening or (stream is not None and stream.open)) or not event.payload:
            return
        try:
            fmt = parse_format(event.data)
            if len(event.payload) % (fmt.width * fmt.channels):
                raise BadAudioFormat(f"a chunk of {len(event.payload)} bytes splits a sample")
        except BadAudioFormat as err:
            await self._bad_audio(err)
            return
        timestamp = event.data.get("timestamp")
        ms = float(timestamp) if isinstance(timestamp, int | float) else None
        chunk = AudioChunk(event.payload, fmt, ms)
        if await self.wake.take(chunk):
            return
        stream = self._stream  # (the wake word may have been heard meanwhile: a new stream)
        if stream is not None and stream.open:
            stream.put(chunk)

    async def _on_audio_stop(self, event: Event) -> None:
        self.wake.stop()
        if self._stream is not None:
            self._stream.end()
            self._stream = None

    def _claim_wake(self, request: TurnRequest) -> bool:
        """True unless another hub already answers this wake word (see ``Arbiter``)."""
        detection, self._detection = self._detection, None
        at = time.monotonic()
        wake = request.wake_word
        reported = wake is not None
        if detection is not None and at - detection[1] <= _DETECTION_SECONDS:
            wake, at, reported = wake or detection[0], detection[1], True
        return not reported or self.arbitrate(wake, at)

    def arbitrate(self, wake_word: str | None, at: float) -> bool:
        """Claim the wake word heard ``at`` for this peer (each connection is a hub)."""
        if self._arbiter is None or self._arbiter.claim(self.peer, wake_word, at):
            return True
        _LOGGER.info("%s: wake word %r already answered by another hub", self.peer, wake_word)
        return False

    async def _bad_audio(self, err: BadAudioFormat) -> None:
        _LOGGER.warning("%s: %s; utterance dropped", self.peer, err)
        self._void_stream(err)
        self.wake.stop()
        await self.refuse(str(err), err.code)

    async def refuse(self, text: str, code: str) -> None:
        """Send an ``error`` event, if the peer is still there."""
        with contextlib.suppress(ConnectionError):
            await self.send(Error(text=text, code=code).event())

    def _void_stream(self, error: HubError) -> None:
        if self._stream is not None:
            self._stream.fail(error)

    def start_turn(self, request: TurnRequest, announce: list[Event] | None = None) -> AudioStream:
        """A turn for the utterance that follows; ``announce`` is sent first."""
        if self._stream is not None and self._stream.open:
            _LOGGER.info("%s: a new utterance replaces an unfinished one", self.peer)
            self._void_stream(HubError("superseded by a new utterance"))
        stream = self._stream = AudioStream()
        previous = self._turns[-1] if self._turns else None
        self.spawn(self._turn(stream, request, previous, announce or []), "wyoming turn")
        return stream

    def spawn(self, job: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        """Run ``job`` as a task of this connection (awaited when the connection ends)."""
        task = asyncio.create_task(job, name=f"{what} {self.peer}")
        self._turns.append(task)
        task.add_done_callback(self._turns.remove)
        return task

    async def _turn(
        self,
        stream: AudioStream,
        request: TurnRequest,
        previous: asyncio.Task[None] | None,
        announce: list[Event],
    ) -> None:
        try:
            for event in announce:  # detection, transcribe: the wake word was heard
                await self.send(event)
            result = await self._hear(stream, request)
        except ConnectionError as err:
            _LOGGER.info("%s: gone before the command: %s", self.peer, err)
            result = None
        finally:
            stream.close()
        if previous is not None:
            await asyncio.wait([previous])  # replies go out in order
        try:
            if result is not None:
                await self._answer(result, request)
            await self.wake.again(request)
        except ConnectionError as err:
            _LOGGER.info("%s: gone before the reply was sent: %s", self.peer, err)

    async def _hear(self, stream: AudioStream, request: TurnRequest) -> VoiceReply | str | None:
        """The handler's reply (the transcriber's text for ASR-only), None if void."""
        try:
            if request.end_stage is not PipelineStage.ASR:
                activity = self._voice_activity if request.pipeline else None
                return await self._handler(stream, self.hub, activity=activity)
            if self._transcriber is None:
                await self.refuse("Speech to text alone is not offered here", "asr-unsupported")
                return None
            return await self._transcriber(stream)
        except HubError as err:
            _LOGGER.info("%s: utterance void: %s", self.peer, err)
        except Exception:
            _LOGGER.exception("%s: voice turn failed", self.peer)
            await self.refuse("The assistant failed on this utterance", "turn-failed")
        return None

    async def _voice_activity(self, speaking: bool, at_ms: int) -> None:
        event = VoiceStarted(timestamp=at_ms) if speaking else VoiceStopped(timestamp=at_ms)
        with contextlib.suppress(ConnectionError):  # the audio stream ends the turn then
            await self.send(event.event())

    async def _answer(self, result: VoiceReply | str, request: TurnRequest) -> None:
        if isinstance(result, str):
            await self.send(Transcript(text=result).event())
            return
        await self.send(Transcript(text=result.transcript).event())
        if request.end_stage is PipelineStage.ASR:
            return
        await self.send(Synthesize(text=result.text).event())
        if request.end_stage is PipelineStage.TTS:
            await self.send_audio(result, request.snd_format)

    async def send_audio(self, reply: VoiceReply, fmt: AudioFormat | None) -> bool:
        """The reply audio as audio-start, audio-chunk*, audio-stop (nothing if silent);
        whether any audio went out."""
        sent_ms = 0.0
        started = False
        try:
            async for chunk in reply.audio(fmt):
                if not started:
                    f = chunk.format
                    await self.send(AudioStart(f.rate, f.width, f.channels, timestamp=0).event())
                    started = True
                for piece in _split(chunk):
                    await self.send(_wyoming_chunk(piece, chunk.format, sent_ms))
                    sent_ms += 1000 * len(piece) / chunk.format.bytes_per_second
        except ConnectionError:
            raise
        except Exception:
            _LOGGER.exception("%s: reply audio failed", self.peer)
        if started:
            await self.send(AudioStop(timestamp=int(sent_ms)).event())
        return started


def _pipeline_request(data: dict[str, Any], peer: str) -> TurnRequest | None:
    """run-pipeline's wishes; None for pipelines this daemon cannot run.

    wyoming 1.10's ``RunPipeline`` has no ``snd_format`` (older ones and wyoming-satellite
    send it), so it is read from the raw event data.
    """
    try:
        start = PipelineStage(data.get("start_stage"))
        end = PipelineStage(data.get("end_stage", PipelineStage.TTS))
    except ValueError:
        return None
    if start not in _START_STAGES:
        _LOGGER.warning("%s: run-pipeline from %s is not supported (wake or asr)", peer, start)
        return None
    fmt = None
    if isinstance(data.get("snd_format"), dict):
        try:
            fmt = parse_format(data["snd_format"])
        except BadAudioFormat as err:
            _LOGGER.warning("%s: ignoring snd_format: %s", peer, err)
    wake, names = data.get("wake_word_name"), data.get("wake_word_names")
    return TurnRequest(
        end,
        fmt,
        wake if isinstance(wake, str) else None,
        start_stage=start,
        restart=start is PipelineStage.WAKE and data.get("restart_on_end") is True,
        wake_word_names=tuple(n for n in names if isinstance(n, str))
        if isinstance(names, list)
        else (),
        pipeline=True,
    )


def _split(chunk: AudioChunk) -> list[bytes]:
    step = _REPLY_SAMPLES * chunk.format.width * chunk.format.channels
    return [chunk.audio[i : i + step] for i in range(0, len(chunk.audio), step)]


def _wyoming_chunk(audio: bytes, fmt: AudioFormat, at_ms: float) -> Event:
    return WyChunk(fmt.rate, fmt.width, fmt.channels, audio, timestamp=int(at_ms)).event()
