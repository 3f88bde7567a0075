"""Voice turns: audio from a hub -> end of speech -> transcript -> text turn -> spoken reply.

Latency is the feature: when the trailing silence begins, the utterance so far is already
being transcribed (speculatively); when the silence reaches the end-of-speech timeout and no
speech came back, that transcript is used as it is, so the turn acts at once instead of
starting to transcribe only then. The reply is spoken sentence by sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from assistant.act.safety import redact_pin
from assistant.audio import ToSpeech
from assistant.config import VoiceSettings
from assistant.listen.base import Answer, HubInfo, Understood, VoiceActivity
from assistant.listen.errors import HubError
from assistant.listen.segmenter import Segmenter, SegmenterEventType, SegmenterSettings
from assistant.messages import AudioChunk, AudioFormat, Intent, Transcript, TurnEventType
from assistant.pipeline import PIN_SLOT, Pipeline
from assistant.speak.tts import Speaker
from assistant.transcribe import Transcriber
from assistant.turn import Turn, TurnResult

__all__ = ["Speech", "VoiceAssistant", "VoiceTurn"]

_LOGGER = logging.getLogger(__name__)


@dataclass
class VoiceTurn:
    """One voice turn's answer: a VoiceReply for hubs, and everything that happened."""

    transcript: str
    text: str
    result: TurnResult
    heard: Transcript | None
    speaker: Speaker
    turn: Turn
    timings_ms: dict[str, float] = field(default_factory=dict)
    """listen stages (``end_of_speech``, ``stt``) and ``first_audio`` once spoken."""

    async def audio(self, fmt: AudioFormat | None = None) -> AsyncIterator[AudioChunk]:
        started = time.perf_counter()
        first = True
        async for chunk in self.speaker.synthesize(self.text, fmt):
            if first:
                first = False
                self.timings_ms["first_audio"] = (time.perf_counter() - started) * 1000
                self.turn.emit(
                    TurnEventType.STAGE_END, "speak", first_audio_ms=self.timings_ms["first_audio"]
                )
            yield chunk

    def to_json(self) -> dict[str, object]:
        data = self.result.to_json()
        data["transcript"] = self.transcript
        data["confidence"] = None if self.heard is None else round(self.heard.confidence, 3)
        data["timings_ms"] = {
            **{k: round(v, 2) for k, v in self.timings_ms.items()},
            **data["timings_ms"],  # type: ignore[dict-item]
        }
        return data


@dataclass(frozen=True, slots=True)
class Speech:
    """Text in the daemon's voice, for a client that only wants it spoken (a VoiceReply)."""

    text: str
    speaker: Speaker
    transcript: str = ""

    def audio(self, fmt: AudioFormat | None = None) -> AsyncIterator[AudioChunk]:
        return self.speaker.synthesize(self.text, fmt)


_WORD_SLOTS = ("name", "area", "floor")
"""Slots whose value is one of the daemon's ids: a client gets the words said instead."""


class VoiceAssistant:
    """The daemon's VoiceHandler: hears, understands, acts and answers one utterance."""

    def __init__(
        self,
        pipeline: Pipeline,
        transcriber: Transcriber,
        speaker: Speaker,
        settings: VoiceSettings,
        *,
        area_id: Callable[[str | None], str | None],
        hints: Callable[[], Sequence[str]],
    ) -> None:
        self._pipeline = pipeline
        self._transcriber = transcriber
        self._speaker = speaker
        self._settings = settings
        self._area_id = area_id
        self._hints = hints
        vad = settings.vad
        self._segmenter_settings = SegmenterSettings(
            engine=vad.engine,
            speech_seconds=vad.speech_seconds,
            silence_seconds=vad.silence_seconds,
            max_seconds=vad.max_seconds,
        )

    async def __call__(
        self,
        audio: AsyncIterator[AudioChunk],
        hub: HubInfo,
        *,
        activity: VoiceActivity | None = None,
    ) -> VoiceTurn:
        area = self._area_id(hub.area)
        turn = self._pipeline.new_turn(area_id=area, site=hub.name)
        timings: dict[str, float] = {}
        try:
            heard = await self._hear(audio, turn, timings, area, activity)
        except HubError as err:  # the hub went away or sent bad audio: act on nothing
            _LOGGER.info("[%s] %s: %s", turn.id, hub.name, err)
            heard = None
        except Exception:
            _LOGGER.exception("[%s] listening failed", turn.id)
            heard = None
        if heard is None or not heard.text:
            result = self._pipeline.end_turn(turn, self._pipeline.reply("not_heard"))
        elif heard.confidence < self._settings.stt.min_confidence:
            turn.text = redact_pin(heard.text)
            _LOGGER.info(
                "[%s] %r heard with confidence %.2f: asking again",
                turn.id,
                turn.text,
                heard.confidence,
            )
            result = self._pipeline.end_turn(turn, self._pipeline.reply("not_sure"))
        else:
            text = await self._best_reading(heard, area, turn)
            others = [t for t in (heard.text, *heard.alternatives) if t != text]
            result = await self._pipeline.run_text(
                text, area_id=area, turn=turn, alternatives=others
            )
        return VoiceTurn(
            redact_pin(heard.text) if heard else "",
            result.reply.text,
            result,
            heard,
            self._speaker,
            turn,
            timings,
        )

    async def _best_reading(self, heard: Transcript, area: str | None, turn: Turn) -> str:
        """The decoder's best reading, or the first alternative the grammar understands.

        "Is the air purifier one" is no command; the decoder's second reading "is the air
        purifier on" is. The grammar knows the home's sentences and names: let it choose.
        """
        if await self._pipeline.understands(heard.text, area_id=area):
            return heard.text
        for alternative in heard.alternatives:
            if await self._pipeline.understands(alternative, area_id=area):
                _LOGGER.info(
                    "[%s] heard %r, acting on the reading %r",
                    turn.id,
                    redact_pin(heard.text),
                    redact_pin(alternative),
                )
                return alternative
        return heard.text

    def speech(self, text: str) -> Speech:
        """``text`` in the reply voice (Wyoming ``synthesize``)."""
        return Speech(text, self._speaker)

    async def recognize(self, text: str, hub: HubInfo) -> Understood | None:
        """The grammar's intent for ``text`` said at ``hub``; acts on nothing, no LLM."""
        recognized = await self._pipeline.recognize(text, area_id=self._area_id(hub.area))
        if not isinstance(recognized, Intent):
            return None
        return _understood(recognized)

    async def answer(self, text: str, hub: HubInfo) -> Answer:
        """A text turn from ``hub``, as ``mimo-assistant say`` runs one (safety included)."""
        area = self._area_id(hub.area)
        result = await self._pipeline.run_text(text, area_id=area, site=hub.name)
        return Answer(result.reply.text, result.reply.ok)

    async def transcribe_only(self, audio: AsyncIterator[AudioChunk]) -> str:
        """Speech to text for ASR-only Wyoming clients: never acts on what it hears."""
        turn = Turn("", site="asr")
        heard = await self._hear(audio, turn, {})
        return heard.text if heard is not None else ""

    async def _hear(
        self,
        audio: AsyncIterator[AudioChunk],
        turn: Turn,
        timings: dict[str, float],
        area: str | None = None,
        activity: VoiceActivity | None = None,
    ) -> Transcript | None:
        """Read until end of speech; transcribe (speculatively during the trailing silence).
        ``activity`` hears when speech starts and when listening ends after speech."""
        heard = self.utterance(area)
        with turn.stage("listen"):
            async for chunk in audio:
                speaking = heard.heard_speech
                why = await heard.feed(chunk)
                if activity is not None and heard.heard_speech and not speaking:
                    await activity(True, heard.speech_at_ms)
                if why is not None:
                    if activity is not None and heard.heard_speech:
                        await activity(False, heard.segmenter.elapsed_ms)
                    return await self._final(heard, why, turn, timings)
            # The stream ended before the silence timeout: what was said is all there is.
            if not heard.heard_speech:
                _void(heard.speculation)
                return None
            if activity is not None:
                await activity(False, heard.segmenter.elapsed_ms)
            return await self._final(heard, "stream-end", turn, timings)

    def utterance(self, area: str | None) -> _Utterance:
        """A new utterance to feed audio to, heard in ``area``."""
        return _Utterance(
            self._segmenter_settings,
            list(self._hints()),
            transcribe=lambda pcm, hints: self._transcriber.transcribe(pcm, hints=hints),
            understands=lambda text: self._pipeline.understands(text, area_id=area, whole=True),
            early_seconds=self._settings.vad.early_seconds,
            min_confidence=self._settings.stt.min_confidence,
        )

    async def _final(
        self, heard: _Utterance, why: str, turn: Turn, timings: dict[str, float]
    ) -> Transcript:
        """The utterance's transcript: the speculation when the silence since it changes
        nothing (end of speech, or an early end), else a transcription of everything."""
        timings["end_of_speech"] = turn.elapsed_ms()
        started = time.perf_counter()
        speculative = why in (_END, _EARLY) and heard.speculation is not None
        if speculative:
            transcript = await heard.speculation  # type: ignore[misc]
        else:
            _void(heard.speculation)
            transcript = await self._transcriber.transcribe(
                heard.segmenter.speech_audio(), hints=heard.hints
            )
        timings["stt"] = (time.perf_counter() - started) * 1000
        turn.emit(
            TurnEventType.STAGE_END,
            "transcribe",
            text=redact_pin(transcript.text),
            confidence=transcript.confidence,
            end=why,
            speculative=speculative,
            duration_ms=timings["stt"],
        )
        return transcript


def _understood(intent: Intent) -> Understood:
    """An intent as a client sees it: no PIN, words for the daemon's ids, plain values."""
    entities: dict[str, object] = {}
    for name, value in intent.slots.items():
        if name == PIN_SLOT:
            continue
        if name in _WORD_SLOTS and name in intent.slot_texts:
            value = intent.slot_texts[name]
        ok = value is None or isinstance(value, str | int | float | bool)
        entities[name] = value if ok else str(value)
    return Understood(intent.name, entities, redact_pin(intent.text))


_END = str(SegmenterEventType.END)
_EARLY = "early"
"""End reasons: silence reached ``vad.silence_seconds``; or an early end: the speculative
transcript is a whole command and ``vad.early_seconds`` of silence followed it."""


class _Utterance:
    """One utterance being heard: the segmenter, the speculation, the early end."""

    def __init__(
        self,
        settings: SegmenterSettings,
        hints: list[str],
        *,
        transcribe: Callable[[bytes, list[str]], Awaitable[Transcript]],
        understands: Callable[[str], Awaitable[bool]],
        early_seconds: float,
        min_confidence: float,
    ) -> None:
        self.hints = hints
        self._transcribe = transcribe
        self._understands = understands
        self._early_ms = early_seconds * 1000
        self._min_confidence = min_confidence
        self.segmenter = Segmenter(settings)
        self._to_speech = ToSpeech()
        self.speculation: asyncio.Task[Transcript] | None = None
        self._silence_at: int | None = None
        self._complete: bool | None = None
        """Whether the finished speculation is a whole command (None: not checked yet)."""
        self.heard_speech = False
        self.speech_at_ms = 0
        """Where SPEECH_START came, milliseconds into the audio."""

    async def feed(self, chunk: AudioChunk) -> str | None:
        """Take one chunk; the reason to stop listening, or None to go on."""
        for event in self.segmenter.process(self._to_speech.feed(chunk)):
            kind = event.type
            if kind is SegmenterEventType.SPEECH_START:
                self.heard_speech, self.speech_at_ms = True, event.at_ms
            elif kind is SegmenterEventType.SILENCE_START:
                self._silence_at, self._complete = event.at_ms, None
                self.speculation = asyncio.create_task(
                    self._transcribe(self.segmenter.speech_audio(), self.hints),
                    name="speculative-transcription",
                )
            elif kind is SegmenterEventType.SPEECH_RESUMED:
                self.speculation, self._silence_at = _void(self.speculation), None
            elif kind in (SegmenterEventType.END, SegmenterEventType.TIMEOUT):
                return str(kind)
        return _EARLY if await self._ends_early() else None

    async def _ends_early(self) -> bool:
        early_ms = self._early_ms
        task = self.speculation
        if early_ms <= 0 or task is None or not task.done() or self._silence_at is None:
            return False
        if self._complete is None:
            self._complete = await self._whole_command(task)
        return self._complete and self.segmenter.elapsed_ms - self._silence_at >= early_ms

    async def _whole_command(self, task: asyncio.Task[Transcript]) -> bool:
        if task.cancelled() or task.exception() is not None:
            return False
        heard = task.result()
        if not heard.text or heard.confidence < self._min_confidence:
            return False
        return await self._understands(heard.text)


def _void(task: asyncio.Task[Transcript] | None) -> None:
    """Drop a speculation: its result is not wanted (the worker finishes it anyway)."""
    if task is not None and not task.done():
        task.add_done_callback(_quiet)
        task.cancel()
    elif task is not None:
        with contextlib.suppress(BaseException):
            task.exception()
    return None


def _quiet(task: asyncio.Task[Transcript]) -> None:
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()
