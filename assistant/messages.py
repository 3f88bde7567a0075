"""The vocabulary every stage speaks: frozen, slotted value types."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AudioFormat",
    "AudioChunk",
    "Transcript",
    "SPEECH_FORMAT",
    "IntentSource",
    "Intent",
    "DeviceCommand",
    "CommandResult",
    "Reply",
    "TurnEventType",
    "TurnEvent",
]


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """How PCM audio is laid out."""

    rate: int
    """Samples per second per channel, Hertz."""
    width: int
    """Bytes per sample (2 = 16-bit signed little-endian)."""
    channels: int
    """Interleaved channels."""

    @property
    def bytes_per_second(self) -> int:
        return self.rate * self.width * self.channels


SPEECH_FORMAT = AudioFormat(16000, 2, 1)
"""What speech-to-text wants: 16 kHz, 16-bit, mono."""


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A piece of raw PCM audio."""

    audio: bytes
    format: AudioFormat
    timestamp_ms: float | None = None
    """Milliseconds since the stream started, when known."""

    @property
    def duration_ms(self) -> float:
        return 1000 * len(self.audio) / self.format.bytes_per_second


@dataclass(frozen=True, slots=True)
class Transcript:
    """What speech-to-text heard."""

    text: str
    confidence: float = 0.0
    """0-1: how sure the decoder was (from its log probabilities)."""
    alternatives: tuple[str, ...] = ()
    """Other readings of the same audio, best first (not including ``text``)."""
    audio_ms: float = 0.0
    """Milliseconds of audio transcribed."""


class IntentSource(enum.StrEnum):
    """Which recognizer produced an intent."""

    GRAMMAR = "grammar"
    LLM = "llm"


@dataclass(frozen=True, slots=True)
class Intent:
    """A Home Assistant style intent with its slots."""

    name: str
    """Intent name, e.g. ``HassTurnOn``."""
    slots: Mapping[str, Any] = field(default_factory=dict)
    """Slot name -> value (``name`` holds a device id, ``area`` an area id, ...)."""
    source: IntentSource = IntentSource.GRAMMAR
    text: str = ""
    """The text the intent was recognized from."""
    response: str | None = None
    """Response key of the matched sentence (hassil), e.g. ``lights_area``."""
    slot_texts: Mapping[str, str] = field(default_factory=dict)
    """Slot name -> the words the speaker used for it."""


@dataclass(frozen=True, slots=True)
class DeviceCommand:
    """One thing one device should do; trait units are in ``integrations.base``."""

    device_id: str
    trait: str
    value: Any


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What happened to one device during a turn."""

    device_id: str
    name: str
    """The device's spoken name."""
    ok: bool
    error: str | None = None
    """Short, speakable reason when ``ok`` is false."""
    error_code: str | None = None
    """Machine-readable code: ``unreachable``, ``refused``, ``unsupported``, ..."""
    state: Mapping[str, Any] = field(default_factory=dict)
    """The device's state after the command (trait -> value)."""
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Reply:
    """What the assistant answers."""

    text: str
    ok: bool = True
    """False when the turn could not do what was asked."""


class TurnEventType(enum.StrEnum):
    """Stages and milestones of a turn."""

    TURN_START = "turn-start"
    STAGE_START = "stage-start"
    STAGE_END = "stage-end"
    INTENT = "intent"
    RESULT = "result"
    LOOK = "look"
    """The cameras looked at: names, the frames taken (sizes), the failures (codes)."""
    REPLY = "reply"
    ERROR = "error"
    TURN_END = "turn-end"


@dataclass(frozen=True, slots=True)
class TurnEvent:
    """One event of one turn, handed to the turn's callback."""

    turn_id: str
    type: TurnEventType
    stage: str | None = None
    """``understand``, ``act``, ``speak``, ..."""
    elapsed_ms: float = 0.0
    """Milliseconds since the turn started."""
    data: Mapping[str, Any] = field(default_factory=dict)
