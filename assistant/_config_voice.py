"""Voice settings: speech to text, text to speech, end of speech, and the hubs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from assistant import _config_checks as _checks
from assistant._config_types import AnyPort, ConfigPath, Host, Name, _Section

__all__ = [
    "HubSettings",
    "LocalMicSettings",
    "SatelliteSettings",
    "SttSettings",
    "TtsSettings",
    "VadSettings",
    "VoiceSettings",
    "WyomingServerSettings",
]


class SttSettings(_Section):
    """Speech to text (faster-whisper)."""

    model: ConfigPath | None = None
    """A CTranslate2 Whisper model folder; default: the bundled tiny.en."""
    language: Name = "en"
    beam_size: Annotated[StrictInt, Field(ge=1, le=10)] = 5
    min_confidence: Annotated[StrictFloat, Field(ge=0, le=1)] = 0.3
    """Below this (0-1) the daemon asks again instead of acting."""


class TtsSettings(_Section):
    """Text to speech (piper)."""

    voice: ConfigPath | None = None
    """A piper ``.onnx`` voice, its ``.onnx.json`` beside it; default: en_US-joe-medium."""


class VadSettings(_Section):
    """End of speech: Home Assistant's defaults."""

    engine: Literal["micro", "silero"] = "silero"
    """``silero``: Silero (faster-whisper's copy), which follows speech ~0.5 s more closely
    than ``micro`` (pymicro-vad, Home Assistant's), whose lag and smoothing make it wait
    ~1.3 s after the last word at a 0.7 s setting."""
    speech_seconds: Annotated[StrictFloat, Field(gt=0, le=5)] = 0.3
    """Speech this long starts an utterance, seconds."""
    silence_seconds: Annotated[StrictFloat, Field(gt=0, le=5)] = 1.0
    """Silence this long ends it, seconds (a whole command ends after ``early_seconds``).
    Home Assistant's 0.7 s with pymicro-vad tolerates ~1.25 s pauses; Silero takes it
    literally, so 1.0 s keeps a mid-sentence pause from cutting a command."""
    max_seconds: Annotated[StrictFloat, Field(gt=0, le=60)] = 15.0
    """No utterance is longer, seconds."""
    early_seconds: Annotated[StrictFloat, Field(ge=0, le=5)] = 0.3
    """Silence this long ends an utterance already transcribed as a whole command, seconds
    (0: always wait for ``silence_seconds``)."""


class VoiceSettings(_Section):
    """Hearing and speaking."""

    stt: SttSettings = Field(default_factory=SttSettings)
    tts: TtsSettings = Field(default_factory=TtsSettings)
    vad: VadSettings = Field(default_factory=VadSettings)


class WyomingServerSettings(_Section):
    """The Wyoming server the daemon listens on: any Wyoming client can speak to it."""

    enabled: StrictBool = True
    host: Host = "127.0.0.1"
    """Bind address; the default takes connections from this machine only."""
    port: AnyPort = 10700
    area: Name | None = None
    """The room its clients are in."""
    wake_word: Name = "okay_nabu"
    """The daemon's wake word for clients that stream without their own (run-pipeline from
    wake): a bundled pyopen-wakeword model or a ``.tflite`` path; a bundled model named in
    the client's ``wake_word_names`` wins."""
    wake_threshold: Annotated[StrictFloat, Field(gt=0, lt=1)] = 0.5
    max_connections: Annotated[StrictInt, Field(ge=1, le=1000)] = 16
    """Connections served at once; one more gets an ``error`` event and is closed (each
    holds a reader, and one streaming from wake a detector thread of ~10 MB)."""


class SatelliteSettings(_Section):
    """A Wyoming satellite (microphone hub) the daemon connects to."""

    name: Name
    uri: Annotated[StrictStr, AfterValidator(_checks.check_tcp_uri)]
    """``tcp://host:port``."""
    area: Name | None = None
    """The room it is in: "turn on the lights" there means that room's lights."""
    wake_word: Name = "okay_nabu"
    """The daemon's wake word when the satellite has none of its own (as hubs.wyoming)."""
    wake_threshold: Annotated[StrictFloat, Field(gt=0, lt=1)] = 0.5


class LocalMicSettings(_Section):
    """A microphone and speaker on this machine (needs the ``mic`` extra and PortAudio)."""

    enabled: StrictBool = False
    name: Name = "local"
    area: Name | None = None
    """The room the microphone is in (default: site.area)."""
    wake_word: Name = "okay_nabu"
    """A pyopen-wakeword bundled model (okay_nabu, hey_jarvis, alexa, hey_mycroft,
    hey_rhasspy) or a ``.tflite`` path."""
    threshold: Annotated[StrictFloat, Field(gt=0, lt=1)] = 0.5


class HubSettings(_Section):
    """Where voice comes from."""

    wyoming: WyomingServerSettings = Field(default_factory=WyomingServerSettings)
    satellites: tuple[SatelliteSettings, ...] = ()
    local_mic: LocalMicSettings = Field(default_factory=LocalMicSettings)
