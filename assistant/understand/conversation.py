"""The conversation: what each hub's recent turns were about, so "turn it off" after "turn
on the fan" finds the fan, and the LLM sees what "it" may mean.

One :class:`Exchange` per turn that acted on or asked about devices (a grammar turn, or an LLM
turn with all its actions' devices); at most ``turns`` per site, none older than ``seconds``.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable

__all__ = ["Conversation", "Exchange"]


@dataclasses.dataclass(frozen=True, slots=True)
class Exchange:
    """One past turn of a site, as the conversation remembers it."""

    at: float
    """``time.monotonic()`` seconds when the turn ended."""
    text: str
    """What was said (a PIN masked)."""
    intent: str
    device_ids: tuple[str, ...]
    """The devices the turn acted on or asked about."""
    reply: str


class Conversation:
    """The last few turns per site that were about devices; older ones expire."""

    def __init__(
        self,
        *,
        turns: int = 5,
        seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._turns = turns
        self._seconds = seconds
        self._clock = clock
        self._sites: dict[str, deque[Exchange]] = {}

    def remember(self, site: str, text: str, intent: str, ids: tuple[str, ...], reply: str) -> None:
        exchanges = self._sites.setdefault(site, deque(maxlen=self._turns))
        exchanges.append(Exchange(self._clock(), text, intent, ids, reply))

    def recent(self, site: str) -> list[Exchange]:
        """``site``'s exchanges of the last ``seconds``, oldest first."""
        now = self._clock()
        return [e for e in self._sites.get(site, ()) if now - e.at <= self._seconds]

    def last_targets(self, site: str) -> tuple[str, ...]:
        """The devices of ``site``'s latest exchange: what "it" / "them" means."""
        recent = self.recent(site)
        return recent[-1].device_ids if recent else ()
