"""One conversation turn: stages in order, events to one callback, per-stage timings."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.messages import (
    CommandResult,
    Intent,
    IntentSource,
    Reply,
    TurnEvent,
    TurnEventType,
)

__all__ = ["Turn", "TurnResult", "TurnAction", "LlmUsage", "EventCallback", "jsonable"]

_LOGGER = logging.getLogger(__name__)

EventCallback = Callable[[TurnEvent], None]


@dataclass(frozen=True, slots=True)
class TurnAction:
    """One intent a turn carried out (an LLM turn may carry out several)."""

    intent: Intent
    device_ids: tuple[str, ...] = ()
    """The devices it acted on or asked about."""
    ok: bool = True
    """Whether its handler's reply was a success."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.intent.name,
            "slots": jsonable(dict(self.intent.slots)),
            "devices": list(self.device_ids),
            "ok": self.ok,
        }


@dataclass(frozen=True, slots=True)
class LlmUsage:
    """What the LLM cost one turn (every call of it, the vision model's included)."""

    tokens_in: int = 0
    """Prompt tokens."""
    tokens_out: int = 0
    """Completion tokens, reasoning included."""
    cost: float = 0.0
    """In the currency of ``llm.price_in`` / ``llm.price_out``."""
    calls: int = 0
    """Requests that were answered."""

    def to_json(self) -> dict[str, Any]:
        return {
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": round(self.cost, 9),
            "calls": self.calls,
        }


@dataclass(frozen=True, slots=True)
class TurnResult:
    """Everything a turn did, as ``say --json`` prints it."""

    turn_id: str
    text: str
    site: str
    area: str | None
    intent: Intent | None
    results: tuple[CommandResult, ...]
    reply: Reply
    timings_ms: dict[str, float] = field(default_factory=dict)
    """Stage name -> milliseconds, plus ``total``."""
    actions: tuple[TurnAction, ...] = ()
    """Every intent carried out, in order; ``intent`` is the first (or the one not run)."""
    source: IntentSource | None = None
    """Which recognizer answered: the grammar, or the LLM after it; None: nothing heard."""
    usage: LlmUsage | None = None
    """Tokens and cost, for a turn the LLM took part in."""
    cameras: tuple[str, ...] = ()
    """The names of the cameras looked through (never their URLs)."""

    def to_json(self) -> dict[str, Any]:
        source = self.source or (self.intent.source if self.intent is not None else None)
        return {
            "turn_id": self.turn_id,
            "text": self.text,
            "site": self.site,
            "area": self.area,
            "intent": None
            if self.intent is None
            else {
                "name": self.intent.name,
                "slots": dict(self.intent.slots),
            },
            "source": None if source is None else str(source),
            "actions": [action.to_json() for action in self.actions],
            "results": [
                {
                    "device": r.device_id,
                    "name": r.name,
                    "ok": r.ok,
                    "error": r.error,
                    "error_code": r.error_code,
                    "state": jsonable(r.state),
                }
                for r in self.results
            ],
            "reply": self.reply.text,
            "ok": self.reply.ok,
            "usage": None if self.usage is None else self.usage.to_json(),
            "cameras": list(self.cameras),
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


def jsonable(values: Any) -> Any:
    """Trait values as JSON has them: tuples become lists, keys strings."""
    if isinstance(values, dict):
        return {str(k): jsonable(v) for k, v in values.items()}
    if isinstance(values, tuple | list):
        return [jsonable(v) for v in values]
    return values


class Turn:
    """Emits TurnEvents for one turn; ``stage()`` times a stage and always ends it."""

    def __init__(
        self,
        text: str,
        *,
        site: str = "default",
        area: str | None = None,
        callback: EventCallback | None = None,
        turn_id: str | None = None,
    ) -> None:
        self.id = turn_id or uuid.uuid4().hex[:12]
        self.text = text
        self.site = site
        self.area = area
        self.timings_ms: dict[str, float] = {}
        self.cameras: tuple[str, ...] = ()
        """The names of the cameras looked through this turn."""
        self._callback = callback
        self._started = time.perf_counter()

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self._started) * 1000

    def emit(self, type_: TurnEventType, stage: str | None = None, **data: Any) -> None:
        event = TurnEvent(self.id, type_, stage, self.elapsed_ms(), data)
        if self._callback is None:
            return
        try:
            self._callback(event)
        except Exception:  # an observer must never break a turn
            _LOGGER.exception("[%s] turn event callback failed", self.id)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self.emit(TurnEventType.STAGE_START, name)
        try:
            yield
        finally:
            self.timings_ms[name] = (time.perf_counter() - started) * 1000
            self.emit(TurnEventType.STAGE_END, name, duration_ms=self.timings_ms[name])

    def finish(
        self,
        intent: Intent | None,
        results: Sequence[CommandResult],
        reply: Reply,
        *,
        actions: Sequence[TurnAction] = (),
        source: IntentSource | None = None,
        usage: LlmUsage | None = None,
    ) -> TurnResult:
        self.timings_ms["total"] = self.elapsed_ms()
        return TurnResult(
            self.id,
            self.text,
            self.site,
            self.area,
            intent,
            tuple(results),
            reply,
            dict(self.timings_ms),
            tuple(actions),
            source,
            usage,
            self.cameras,
        )
