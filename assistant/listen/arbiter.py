"""One answer per spoken wake word, however many hubs heard it.

When the same wake word reaches two hubs within ``window`` seconds, the first claim wins and
the others are refused (their pipeline is not run; the hub gets an ``error`` event with Home
Assistant's code ``duplicate_wake_up_detected``). Claims are keyed by wake word name, in one
spelling (``wake_word_key``: "ok_nabu", "Okay Nabu", "okay_nabu_v0.1" and ".../okay_nabu.tflite"
are one wake word); a claim without a name (the hub did not say which) conflicts with any
claim. The same hub claiming again is never refused: its own refractory period is its
business.

Times are whatever clock the caller uses (``time.monotonic()`` in the daemon), passed in, so
tests need no sleeps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from assistant.listen.wakeword import wake_word_key

__all__ = ["Arbiter"]

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Claim:
    hub: str
    wake_word: str | None
    """The wake word's key (``wake_word_key``); None: unnamed."""
    at: float
    """When the wake word was heard, seconds on the caller's clock."""


class Arbiter:
    """Decides which hub answers a wake word heard by several."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        """Claims this close together (seconds) are the same spoken wake word."""
        self._claims: list[_Claim] = []

    def claim(self, hub_name: str, wake_word_name: str | None, at: float) -> bool:
        """True if ``hub_name`` may answer the wake word it heard at ``at``."""
        key = wake_word_key(wake_word_name)
        self._claims = [c for c in self._claims if at - c.at < self.window]
        for other in self._claims:
            if other.hub == hub_name or abs(at - other.at) >= self.window:
                continue
            if None in (other.wake_word, key) or other.wake_word == key:
                _LOGGER.debug(
                    "Wake word %r on %s: %s answers it", wake_word_name, hub_name, other.hub
                )
                return False
        self._claims.append(_Claim(hub_name, key, at))
        return True
