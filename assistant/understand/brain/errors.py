"""What can go wrong with the online brain: one error per cause, each with a code and a
short sentence a person can hear.

``message`` is spoken; ``detail`` is for the log. Neither ever holds the API key: the
details of an HTTP error are scrubbed of it (see :func:`scrub`) before they are stored.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from assistant.errors import UnderstandError

__all__ = [
    "BrainError",
    "BrainTimeout",
    "BrainUnreachable",
    "RateLimited",
    "NoCredit",
    "ContentFiltered",
    "ServerError",
    "AuthFailed",
    "RequestRejected",
    "BadResponse",
    "BudgetExceeded",
    "retry_after",
    "scrub",
]

_MASK = "**********"
_DETAIL_CHARS = 300
"""A log detail is cut to this many characters."""


class BrainError(UnderstandError):
    """The LLM could not help with this turn; ``message`` is short and speakable."""

    code = "llm-error"
    spoken = "My online brain is not available right now"

    def __init__(
        self, message: str | None = None, *, detail: str = "", status: int | None = None
    ) -> None:
        super().__init__(message or self.spoken)
        self.detail = detail
        """What happened, for the log (scrubbed of secrets)."""
        self.status = status
        """The HTTP status, when the server answered with one."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r})"


class BrainTimeout(BrainError):
    """No answer within the turn's time limit."""

    code = "llm-timeout"
    spoken = "My online brain took too long to answer"


class BrainUnreachable(BrainError):
    """The server could not be reached (connection refused, DNS, TLS, ...)."""

    code = "llm-unreachable"
    spoken = "I can't reach my online brain right now"


class RateLimited(BrainError):
    """HTTP 429, still there after the one retry allowed (or asked to wait too long)."""

    code = "llm-rate-limited"
    spoken = "My online brain is busy; please try again in a moment"

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: str = "",
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, detail=detail, status=status)
        self.retry_after = retry_after
        """Seconds the server asked us to wait, when it said."""


class NoCredit(BrainError):
    """HTTP 402: the account has no balance left."""

    code = "llm-no-credit"
    spoken = "My online brain is out of credit"


class ContentFiltered(BrainError):
    """HTTP 421 (MiMo) or ``finish_reason: content_filter``: the provider refused."""

    code = "llm-content-filter"
    spoken = "My online brain refused to answer that"


class ServerError(BrainError):
    """HTTP 5xx, still there after the one retry allowed."""

    code = "llm-server-error"
    spoken = "My online brain is having trouble right now"


class AuthFailed(BrainError):
    """HTTP 401/403: the API key was refused."""

    code = "llm-auth"
    spoken = "My online brain did not accept my key"


class RequestRejected(BrainError):
    """Any other 4xx: the request itself was wrong (a bug or an incompatible server)."""

    code = "llm-bad-request"
    spoken = "My online brain could not handle that request"


class BadResponse(BrainError):
    """The server answered 200 with something that is not a usable completion."""

    code = "llm-bad-response"
    spoken = "My online brain gave an answer I couldn't use"


class BudgetExceeded(BrainError):
    """Today's spend reached ``llm.daily_budget``; only local commands until midnight."""

    code = "llm-budget"
    spoken = "I've used today's budget for my online brain, so I can only do simple commands"


_BY_STATUS: Mapping[int, type[BrainError]] = {
    401: AuthFailed,
    402: NoCredit,
    403: AuthFailed,
    421: ContentFiltered,
    429: RateLimited,
}


def for_status(status: int) -> type[BrainError]:
    """The error class for an HTTP status of 400 or more."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else RequestRejected


def scrub(text: str, secret: str | None) -> str:
    """``text`` cut to a log-sized detail with every copy of ``secret`` masked."""
    if secret:
        text = text.replace(secret, _MASK)
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 3] + "..."


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)
