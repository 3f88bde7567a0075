"""What every hub (Wyoming server, satellite connection, local microphone) hands the daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from assistant.messages import AudioChunk, AudioFormat

__all__ = ["HubInfo", "VoiceReply", "VoiceHandler"]


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


class VoiceHandler(Protocol):
    """Runs one voice turn: reads ``audio`` until end of speech (or its end), answers.

    ``audio`` may be in any PCM format; the handler converts. It stops reading once it
    has heard the end of speech: the hub drains whatever else the peer sends.
    """

    async def __call__(self, audio: AsyncIterator[AudioChunk], hub: HubInfo) -> VoiceReply: ...
