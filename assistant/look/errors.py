"""Errors of the eyes: ``SourceError`` inside a source, ``LookError`` for the rest of the daemon.

A source module (snapshot, MJPEG, video, MQTT) does not know how a camera is called; it raises
:class:`SourceError` with a ``kind`` and a ``detail`` for the log. :mod:`.cameras` turns that
into a :class:`LookError` whose message can be spoken ("The front door camera is not
answering") and whose code is ``look-<kind>``. Details never hold a password: URLs in them
are masked with :func:`assistant.look._url.mask_url`.
"""

from __future__ import annotations

from typing import Literal

from assistant.errors import AssistantError
from assistant.speak.responses import sentence, spoken

__all__ = ["LookError", "SourceError", "Kind", "camera_error", "unknown_camera"]

Kind = Literal["timeout", "unreachable", "denied", "http", "too-large", "not-image", "no-image"]

_SAY: dict[str, str] = {
    "timeout": "the {camera} is not answering",
    "unreachable": "I can't reach the {camera}",
    "denied": "the {camera} did not accept the login",
    "http": "the {camera} answered with an error",
    "too-large": "the {camera} sent a picture that is too large",
    "not-image": "the {camera} did not send a picture I can read",
    "no-image": "the {camera} has not sent a picture yet",
}
"""What a person hears for each kind of failure."""
_CAMERA_WORDS = ("camera", "cam", "doorbell", "webcam")


class LookError(AssistantError):
    """A camera gave no usable frame; ``message`` is short and speakable, ``code`` is
    ``look-timeout``, ``look-unreachable``, ``look-denied``, ``look-http``,
    ``look-too-large``, ``look-not-image``, ``look-no-image`` or ``look-unknown-camera``."""

    code = "look-failed"

    def __init__(self, message: str, *, code: str | None = None, camera: str | None = None):
        super().__init__(message, code=code)
        self.camera = camera
        """The camera's configured name (None for an unknown one)."""


class SourceError(Exception):
    """A source's failure before it is given a camera's name."""

    def __init__(self, kind: Kind, detail: str) -> None:
        super().__init__(detail)
        self.kind: Kind = kind
        self.detail = detail
        """For the log: what happened, never a secret."""


def camera_error(camera: str, kind: Kind) -> LookError:
    """The speakable error of ``kind`` for the camera called ``camera``."""
    message = sentence(_SAY[kind].format(camera=spoken_camera(camera)))
    return LookError(message, code=f"look-{kind}", camera=camera)


def unknown_camera(name: str) -> LookError:
    return LookError(f"I don't know a camera called {name}", code="look-unknown-camera")


def spoken_camera(name: str) -> str:
    """``"Front door"`` -> ``"front door camera"``; ``"Garage cam"`` -> ``"garage cam"``."""
    words = spoken(name)
    last = words.rsplit(" ", 1)[-1].casefold()
    return words if last in _CAMERA_WORDS else f"{words} camera"
