"""What every hub (Wyoming server, satellite connection, local microphone) hands the daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from assistant.messages import AudioChunk, AudioFormat

__all__ = [
    "Answer",
    "HubInfo",
    "TextServices",
    "Understood",
    "VoiceActivity",
    "VoiceHandler",
    "VoiceReply",
]


@dataclass(frozen=True, slots=True)
class HubInfo:
    """Where a voice turn comes from."""

    name: str
    """The hub's name (its site): replies go back to it."""
    area: str | None = None
    """The room the hub is in (an area name from the config), the turn's context."""


class VoiceReply(Protocol):
    """The daemon's answer to one utterance."""

    transcript: str
    """What was heard ("" when nothing was)."""
    text: str
    """What the daemon answers."""

    def audio(self, fmt: AudioFormat | None = None) -> AsyncIterator[AudioChunk]:
        """The spoken answer, first sentence first, in ``fmt`` (None: the voice's own)."""
        ...


class VoiceActivity(Protocol):
    """Told when the person starts speaking and when the utterance has ended.

    ``speaking`` True: speech began ``at_ms`` milliseconds into the turn's audio; False:
    the handler heard the end of the utterance there and reads no more. A hub passes it
    on (Wyoming ``voice-started`` / ``voice-stopped``: a satellite's LEDs and "done" sound).
    """

    async def __call__(self, speaking: bool, at_ms: int) -> None: ...


class VoiceHandler(Protocol):
    """Runs one voice turn: reads ``audio`` until end of speech (or its end), answers.

    ``audio`` may be in any PCM format; the handler converts. It stops reading once it
    has heard the end of speech: the hub drains whatever else the peer sends.
    """

    async def __call__(
        self,
        audio: AsyncIterator[AudioChunk],
        hub: HubInfo,
        *,
        activity: VoiceActivity | None = None,
    ) -> VoiceReply: ...


@dataclass(frozen=True, slots=True)
class Understood:
    """An intent the grammar found in a text; nothing was acted on."""

    name: str
    """Intent name, e.g. ``HassTurnOn``."""
    entities: Mapping[str, Any] = field(default_factory=dict)
    """Slot name -> value; ``name``/``area``/``floor`` as the words used ("bedroom light")."""
    text: str = ""
    """The text it was recognized from (a PIN masked)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A text turn's reply."""

    text: str
    ok: bool
    """True when the turn understood and did what was asked (or answered the question)."""


class TextServices(Protocol):
    """What a Wyoming server offers besides voice turns: speech, intents, text turns."""

    def speech(self, text: str) -> VoiceReply:
        """``text`` in the daemon's voice (the reply voice); acts on nothing."""
        ...

    async def recognize(self, text: str, hub: HubInfo) -> Understood | None:
        """The local grammar's intent for ``text`` said at ``hub``; None: not recognized."""
        ...

    async def answer(self, text: str, hub: HubInfo) -> Answer:
        """A text turn from ``hub`` (site and area), with safety: understand, act, reply."""
        ...
