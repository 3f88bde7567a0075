"""What every hub (Wyoming server, satellite connection, local microphone) hands the daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from assistant.messages import AudioChunk, AudioFormat

__all__ = ["HubInfo", "VoiceActivity", "VoiceReply", "VoiceHandler"]


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
