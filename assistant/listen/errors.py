"""What can go wrong between a hub and the daemon; every error carries a code."""

from __future__ import annotations

from assistant.errors import AssistantError

__all__ = ["HubError", "HubProtocolError", "HubDisconnected", "BadAudioFormat"]


class HubError(AssistantError):
    """A hub (satellite, Wyoming client) could not be heard or answered."""

    code = "hub-error"


class HubProtocolError(HubError):
    """The peer broke the Wyoming framing (bad header, absurd length): drop the connection."""

    code = "hub-protocol"


class HubDisconnected(HubError):
    """The peer went away in the middle of an utterance: nothing it said may be acted on."""

    code = "hub-disconnected"


class BadAudioFormat(HubError):
    """Audio in a format no one can play (rate 0, width 3, channels 0, torn samples)."""

    code = "bad-audio-format"
