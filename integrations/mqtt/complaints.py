"""Rate-limited warnings about bad payloads, so a noisy or hostile broker cannot flood the log."""

from __future__ import annotations

import logging
import time

__all__ = ["Complaints"]

_PER_TOPIC_INTERVAL = 60.0  # seconds between two warnings about the same topic
_MAX_PER_MINUTE = 20  # warnings about all topics together
_MAX_TOPICS = 1000  # topics remembered; a flood of distinct topics cannot grow memory


class Complaints:
    """``add(topic, reason)`` logs ``MQTT <topic>: <reason>`` at most once a minute per topic
    and at most 20 times a minute overall; what was held back is counted in the next line."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._last: dict[str, float] = {}
        self._window_start = -_PER_TOPIC_INTERVAL
        self._in_window = 0
        self.suppressed = 0
        """Warnings held back since the last one logged."""
        self.total = 0
        """Bad payloads seen, logged or not."""

    def add(self, topic: str, reason: str) -> None:
        self.total += 1
        now = time.monotonic()
        if now - self._last.get(topic, -_PER_TOPIC_INTERVAL) < _PER_TOPIC_INTERVAL:
            self.suppressed += 1
            return
        if now - self._window_start >= 60.0:
            self._window_start, self._in_window = now, 0
        if self._in_window >= _MAX_PER_MINUTE:
            self.suppressed += 1
            return
        if len(self._last) >= _MAX_TOPICS:
            self._last.clear()
        self._last[topic] = now
        self._in_window += 1
        more = f" ({self.suppressed} more bad payloads not logged)" if self.suppressed else ""
        self.suppressed = 0
        self._logger.warning("MQTT %s: %s; ignored%s", _short(topic), reason, more)


def _short(topic: str) -> str:
    return topic if len(topic) <= 200 else topic[:200] + "..."
