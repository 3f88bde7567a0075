"""End of speech: voice activity (pymicro-vad) turned into utterance events.

Home Assistant's defaults are the baseline: speech counts as started after 0.3 s of speech,
the utterance ends after 0.7 s of silence, and no utterance is longer than 15 s.

Input is 16 kHz, 16-bit, mono PCM in chunks of any size; the VAD sees 10 ms frames. Every
event carries ``at_ms``: milliseconds of audio since the start of the stream at the end of
the frame that decided it. Events, in the order they can happen::

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

Measured on pymicro-vad 2.1: it answers -1 for the first ~0.75 s (warm-up; counted as not
speech) and its probability follows the audio about 0.6 s late, at speech onset and at speech
end alike. So SPEECH_START comes ~0.6 s + speech_seconds after the onset and END ~0.6 s +
silence_seconds after the last word (Home Assistant, on the same VAD, has the same delay);
``speech_audio()`` reaches back that delay plus the pre-roll. It also smooths: a 0.5 s pause
between words barely dips below 0.5, a 0.8 s pause reads as ~0.4 s of silence. So the VAD
itself filters short pauses, and SILENCE_START needs only a short debounce (pause_seconds).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pymicro_vad import MicroVad

from assistant.messages import SPEECH_FORMAT

__all__ = ["SegmenterSettings", "SegmenterEventType", "SegmenterEvent", "Segmenter"]

_FRAME_MS = 10
_FRAME_BYTES = SPEECH_FORMAT.bytes_per_second * _FRAME_MS // 1000  # 320
_VAD_DELAY_MS = 600
"""How late pymicro-vad's probability follows the audio (measured), milliseconds."""
_GAP_MS = 150
"""A pause this short does not reset the speech count before SPEECH_START, milliseconds."""
_RESUME_MS = 30
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
    """VAD probability (0-1) from which a 10 ms frame counts as speech."""
    pause_seconds: float = 0.1
    """Silence this long after speech gives SILENCE_START, seconds (<= silence_seconds)."""
    pre_roll_seconds: float = 0.3
    """Audio kept from before the speech onset (beyond the VAD's own delay), seconds."""


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


def _ms(seconds: float) -> int:
    return max(_FRAME_MS, round(seconds * 1000))


class Segmenter:
    """Finds one utterance in a stream of 16 kHz, 16-bit mono PCM. Pure CPU, no I/O."""

    def __init__(self, settings: SegmenterSettings | None = None) -> None:
        self.settings = settings or SegmenterSettings()
        s = self.settings
        self._speech_ms, self._silence_ms = _ms(s.speech_seconds), _ms(s.silence_seconds)
        self._pause_ms = min(_ms(s.pause_seconds), self._silence_ms)
        self._max_ms, self._pre_roll_ms = _ms(s.max_seconds), round(s.pre_roll_seconds * 1000)
        self._vad = MicroVad()
        self._pending = bytearray()
        self._audio = bytearray()
        self.reset()

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

    def process(self, pcm: bytes) -> list[SegmenterEvent]:
        """Feed audio (16 kHz, 16-bit mono, any length); return what it decided."""
        if self._state is _State.DONE:
            return []
        self._pending += pcm
        events: list[SegmenterEvent] = []
        whole = len(self._pending) - len(self._pending) % _FRAME_BYTES
        for start in range(0, whole, _FRAME_BYTES):
            frame = bytes(self._pending[start : start + _FRAME_BYTES])
            self._audio += frame
            self._now_ms += _FRAME_MS
            self._frame(self._vad.process_10ms(frame), events)
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
        if not speech:
            self._gap_ms += _FRAME_MS
            if self._gap_ms >= _GAP_MS:
                self._run_ms = 0
            return
        if self._run_ms == 0:
            self._run_onset_ms = self._now_ms - _FRAME_MS
        self._run_ms += _FRAME_MS
        self._gap_ms = 0
        if self._run_ms < self._speech_ms:
            return
        start_ms = max(0, self._run_onset_ms - _VAD_DELAY_MS - self._pre_roll_ms)
        self._keep_from = start_ms * _FRAME_BYTES // _FRAME_MS
        self._state = _State.SPEECH
        self._emit(SegmenterEventType.SPEECH_START, events)

    def _speaking(self, speech: bool, events: list[SegmenterEvent]) -> None:
        if speech and self._quiet_ms == 0:
            return
        self._quiet_ms += _FRAME_MS
        self._resume_ms = self._resume_ms + _FRAME_MS if speech else 0
        if self._resume_ms >= _RESUME_MS:
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
