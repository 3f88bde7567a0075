"""One exception hierarchy for the daemon; every error carries a machine-readable code."""

from __future__ import annotations

__all__ = [
    "AssistantError",
    "ConfigError",
    "UnderstandError",
    "ActError",
    "ControlError",
]


class AssistantError(Exception):
    """Base class: ``code`` is stable and machine-readable, ``message`` is for people."""

    code: str = "assistant-error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigError(AssistantError):
    """The configuration is invalid; ``problems`` holds one line per problem."""

    code = "config-invalid"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class UnderstandError(AssistantError):
    """Text could not be turned into an intent."""

    code = "understand-failed"


class ActError(AssistantError):
    """An intent could not be carried out as a whole (not a per-device failure)."""

    code = "act-failed"


class ControlError(AssistantError):
    """The control socket could not be used."""

    code = "control-failed"
