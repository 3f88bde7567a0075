"""End of speech: voice activity (Silero VAD or pymicro-vad) turned into utterance events.

Home Assistant's defaults are the baseline: speech counts as started after 0.3 s of speech,
the utterance ends after 0.7 s of silence, and no utterance is longer than 15 s.

Input is 16 kHz, 16-bit, mono PCM in chunks of any size; the VAD sees frames of its own size
(Silero: 32 ms, pymicro-vad: 10 ms), and every duration below is counted in whole frames
(rounded up). Every event carries ``at_ms``: milliseconds of audio since the start of the
stream at the end of the frame that decided it. Events, in the order they can happen::

    SPEECH_START                  speech_seconds of speech (gaps < 0.15 s tolerated)
    SILENCE_START                 pause_seconds of silence after speech: a good moment to
                                  start transcribing speculatively
    SPEECH_RESUMED                speech again before the silence timeout: the speculation
                                  is void; SILENCE_START may follow again later
    END                           silence_seconds of silence after speech (counted from the
                                  first silent frame, so END comes silence_seconds after speech)
    TIMEOUT                       max_seconds of audio since the start, whatever was heard

After END or TIMEOUT the segmenter is done and ignores further audio. Silence or noise alone
never give SPEECH_START, hence never END: only TIMEOUT (or the stream's end) stops them.
``silence_ms`` is the trailing silence so far (0 while speaking), for callers that end early.

The engines differ in lag and smoothing (measured on piper speech, see ``vad``):

pymicro-vad 2.1 (the default) answers -1 for the first ~0.75 s (warm-up; counted as not
speech) and its probability follows the audio about 0.6 s late, at speech onset and at speech
end alike. So SPEECH_START comes ~0.6 s + speech_seconds after the onset and END ~0.6 s +
silence_seconds after the last word (Home Assistant, on the same VAD, has the same delay). It
also smooths: a 0.5 s pause between words barely dips below 0.5, a 0.8 s pause reads as
~0.4 s of silence, and only a pause of ~1.25 s or more ends the utterance (at 0.7 s).

Silero VAD v6 follows the audio within ~0.1 s at speech onset and end: SPEECH_START comes
~0.37 s after the onset, SILENCE_START ~0.16 s and END ~0.74 s after the last word. It hears
a pause between words of ~0.2 s or more as silence (a pause of t seconds reaches a
``silence_ms`` of about t + 0.05 s): SILENCE_START, then SPEECH_RESUMED when the next word
comes. END needs silence_seconds of it, so silence_seconds is the longest pause it tolerates.

``speech_audio()`` reaches back the engine's onset lag plus the pre-roll.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from assistant.listen.vad import Vad, VadEngineName, make_vad
from assistant.messages import SPEECH_FORMAT

__all__ = ["SegmenterSettings", "SegmenterEventType", "SegmenterEvent", "Segmenter"]

_BYTES_PER_MS = SPEECH_FORMAT.bytes_per_second // 1000  # 32
_VAD_DELAY_MS: dict[str, int] = {"micro": 600, "silero": 150}
"""How late each engine's probability follows the audio at speech onset, ms (measured: micro
~0.6 s; silero up to ~0.1 s after the first sample above -40 dBFS, plus a margin)."""
_GAP_MS = 150
"""A pause this short does not reset the speech count before SPEECH_START, milliseconds."""
_RESUME_MS: dict[str, int] = {"micro": 30, "silero": 64}
"""Speech this long in the trailing silence resumes the utterance, milliseconds."""


@dataclass(frozen=True, slots=True)
class SegmenterSettings:
    """When speech starts and ends."""

    speech_seconds: float = 0.3
    """Speech this long starts an utterance, seconds."""
    silence_seconds: float = 0.7
    """Silence this long after speech ends it, seconds."""
    max_seconds: float = 15.0
    """Audio this long (from the stream's start) times out, seconds."""
    threshold: float = 0.5
    """VAD probability (0-1) from which a frame counts as speech."""
    pause_seconds: float = 0.1
    """Silence this long after speech gives SILENCE_START, seconds (<= silence_seconds)."""
    pre_roll_seconds: float = 0.3
    """Audio kept from before the speech onset (beyond the VAD's own delay), seconds."""
    engine: VadEngineName = "micro"
    """Which VAD: "micro" (pymicro-vad: ~0.6 s lag, smooths pauses up to ~1.2 s away) or
    "silero" (Silero v6 on onnxruntime: ~0.1 s lag, END ~0.55 s sooner, but a pause longer
    than silence_seconds ends the utterance, and ``silence_ms`` is the true silence)."""


class SegmenterEventType(enum.StrEnum):
    """What the segmenter noticed."""

    SPEECH_START = "speech-start"
    SILENCE_START = "silence-start"
    SPEECH_RESUMED = "speech-resumed"
    END = "end"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class SegmenterEvent:
    """One event of one utterance."""

    type: SegmenterEventType
    at_ms: int
    """Milliseconds of audio since the stream's start when the event was decided."""


class _State(enum.Enum):
    WAITING = enum.auto()
    SPEECH = enum.auto()
    DONE = enum.auto()


class Segmenter:
    """Finds one utterance in a stream of 16 kHz, 16-bit mono PCM. Pure CPU, no I/O."""

    def __init__(self, settings: SegmenterSettings | None = None) -> None:
        self.settings = settings or SegmenterSettings()
        s = self.settings
        self._vad: Vad = make_vad(s.engine)
        self._frame_bytes = 2 * self._vad.frame_samples
        self._frame_ms = self._frame_bytes // _BYTES_PER_MS  # 32 or 10
        self._speech_ms, self._silence_ms = self._ms(s.speech_seconds), self._ms(s.silence_seconds)
        self._pause_ms = min(self._ms(s.pause_seconds), self._silence_ms)
        self._max_ms, self._pre_roll_ms = self._ms(s.max_seconds), round(s.pre_roll_seconds * 1000)
        self._gap_limit_ms = self._ms(_GAP_MS / 1000)
        self._resume_limit_ms = self._ms(_RESUME_MS[s.engine] / 1000)
        self._delay_ms = _VAD_DELAY_MS[s.engine]
        self._pending = bytearray()
        self._audio = bytearray()
        self.reset()

    def _ms(self, seconds: float) -> int:
        """A duration in ms, rounded up to whole frames (at least one)."""
        return max(1, -(-round(seconds * 1000) // self._frame_ms)) * self._frame_ms

    def reset(self) -> None:
        """Forget everything: the next audio starts a new stream."""
        self._vad.reset()
        self._pending.clear()
        self._audio.clear()
        self._state = _State.WAITING
        self._now_ms = 0
        self._run_ms = 0  # speech heard in the current run (before SPEECH_START)
        self._run_onset_ms = 0
        self._gap_ms = 0  # quiet since the run's last speech frame
        self._keep_from = -1  # byte offset where the utterance audio starts; -1: none yet
        self._quiet_ms = 0  # trailing silence after speech
        self._resume_ms = 0  # speech heard inside the trailing silence
        self._announced = False  # SILENCE_START sent for this pause

    @property
    def done(self) -> bool:
        """True after END or TIMEOUT."""
        return self._state is _State.DONE

    @property
    def in_speech(self) -> bool:
        """True between SPEECH_START and END/TIMEOUT."""
        return self._state is _State.SPEECH

    @property
    def elapsed_ms(self) -> int:
        """Milliseconds of audio processed (whole frames)."""
        return self._now_ms

    @property
    def silence_ms(self) -> int:
        """Milliseconds of silence since the utterance's last speech (whole frames, as the VAD
        hears it: add the engine's lag for the time since the last word); 0 while speaking or
        before SPEECH_START. After END it is the silence that ended the utterance."""
        return self._quiet_ms

    def process(self, pcm: bytes) -> list[SegmenterEvent]:
        """Feed audio (16 kHz, 16-bit, mono, any length); return what it decided."""
        if self._state is _State.DONE:
            return []
        self._pending += pcm
        events: list[SegmenterEvent] = []
        size = self._frame_bytes
        whole = len(self._pending) - len(self._pending) % size
        for start in range(0, whole, size):
            frame = bytes(self._pending[start : start + size])
            self._audio += frame
            self._now_ms += self._frame_ms
            self._frame(self._vad.probability(frame), events)
            if self._state is _State.DONE:
                break
        del self._pending[:whole]
        return events

    def speech_audio(self) -> bytes:
        """The utterance so far: from pre-roll before its first speech to now ("" if none)."""
        if self._keep_from < 0:
            return b""
        return bytes(self._audio[self._keep_from :])

    def _frame(self, probability: float, events: list[SegmenterEvent]) -> None:
        speech = probability >= self.settings.threshold
        if self._state is _State.WAITING:
            self._waiting(speech, events)
        else:
            self._speaking(speech, events)
        if self._state is not _State.DONE and self._now_ms >= self._max_ms:
            self._emit(SegmenterEventType.TIMEOUT, events)
            self._state = _State.DONE

    def _waiting(self, speech: bool, events: list[SegmenterEvent]) -> None:
        step = self._frame_ms
        if not speech:
            self._gap_ms += step
            if self._gap_ms >= self._gap_limit_ms:
                self._run_ms = 0
            return
        if self._run_ms == 0:
            self._run_onset_ms = self._now_ms - step
        self._run_ms += step
        self._gap_ms = 0
        if self._run_ms < self._speech_ms:
            return
        start_ms = max(0, self._run_onset_ms - self._delay_ms - self._pre_roll_ms)
        self._keep_from = start_ms * _BYTES_PER_MS
        self._state = _State.SPEECH
        self._emit(SegmenterEventType.SPEECH_START, events)

    def _speaking(self, speech: bool, events: list[SegmenterEvent]) -> None:
        if speech and self._quiet_ms == 0:
            return
        step = self._frame_ms
        self._quiet_ms += step
        self._resume_ms = self._resume_ms + step if speech else 0
        if self._resume_ms >= self._resume_limit_ms:
            if self._announced:
                self._emit(SegmenterEventType.SPEECH_RESUMED, events)
            self._quiet_ms = self._resume_ms = 0
            self._announced = False
            return
        if not self._announced and self._quiet_ms >= self._pause_ms:
            self._announced = True
            self._emit(SegmenterEventType.SILENCE_START, events)
        if self._quiet_ms >= self._silence_ms:
            self._emit(SegmenterEventType.END, events)
            self._state = _State.DONE

    def _emit(self, kind: SegmenterEventType, events: list[SegmenterEvent]) -> None:
        events.append(SegmenterEvent(kind, self._now_ms))
