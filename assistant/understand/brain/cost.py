"""What the online brain costs: prices, per-turn usage, and a daily budget kept on disk.

The budget file (``<state_dir>/llm_budget.json``) holds today's spend; it survives a restart
and starts again from zero on the first call after local midnight.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BudgetExceeded

__all__ = ["Pricing", "Usage", "Budget", "BUDGET_FILE"]

_LOGGER = logging.getLogger(__name__)

BUDGET_FILE = "llm_budget.json"


@dataclass(frozen=True, slots=True)
class Pricing:
    """Prices of one model."""

    input_per_million: float = 0.0
    """Price of one million prompt tokens, in the budget's currency."""
    output_per_million: float = 0.0
    """Price of one million completion tokens (reasoning included)."""

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """Price of one call, in the budget's currency."""
        return (tokens_in * self.input_per_million + tokens_out * self.output_per_million) / 1e6


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and money spent, for one call, one turn or one day."""

    tokens_in: int = 0
    """Prompt tokens."""
    tokens_out: int = 0
    """Completion tokens, reasoning included."""
    cost: float = 0.0
    """In the budget's currency (``llm.price_in``/``price_out``)."""
    calls: int = 0
    """Requests that were answered (errors are not billed)."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            self.cost + other.cost,
            self.calls + other.calls,
        )


class Budget:
    """Today's spend against ``limit``; ``limit == 0`` means no limit (spend is still kept).

    ``load()`` reads the file (blocking: call it from a thread at start); ``add()`` writes
    it from a thread, so the event loop never waits on the disk.
    """

    def __init__(
        self,
        path: Path | None,
        limit: float,
        *,
        today: Callable[[], datetime.date] = datetime.date.today,
    ) -> None:
        """``path``: the JSON file (None: kept in memory only); ``today``: local date."""
        self._path = path
        self.limit = limit
        """Money per local day; 0: none."""
        self._today = today
        self._day = today()
        self._spent = Usage()
        self._lock = asyncio.Lock()

    @property
    def spent(self) -> Usage:
        """What today has cost so far."""
        self._roll()
        return self._spent

    @property
    def exceeded(self) -> bool:
        return self.limit > 0 and self.spent.cost >= self.limit

    def check(self) -> None:
        """Raise :class:`BudgetExceeded` when today's budget is used up."""
        if self.exceeded:
            raise BudgetExceeded(
                detail=f"spent {self._spent.cost:.4f} of {self.limit:g} today ({self._day})"
            )

    def load(self) -> None:
        """Read today's spend from the file; a missing, old or broken file means zero."""
        if self._path is None:
            return
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as err:
            _LOGGER.warning("LLM budget file %s unreadable (%s); starting from 0", self._path, err)
            return
        usage = _usage_from(data)
        if usage is None:
            _LOGGER.warning("LLM budget file %s is malformed; starting from 0", self._path)
        elif data.get("day") == self._today().isoformat():
            self._day, self._spent = self._today(), usage

    async def add(self, usage: Usage) -> Usage:
        """Count ``usage`` against today and save; returns today's total."""
        async with self._lock:
            self._roll()
            self._spent = self._spent + usage
            snapshot = {"day": self._day.isoformat(), **_usage_json(self._spent)}
            if self._path is not None:
                await asyncio.to_thread(_write_json, self._path, snapshot)
            return self._spent

    def _roll(self) -> None:
        today = self._today()
        if today != self._day:
            self._day, self._spent = today, Usage()


def _usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "cost": round(usage.cost, 9),
        "tokens_in": usage.tokens_in,
        "tokens_out": usage.tokens_out,
        "calls": usage.calls,
    }


def _usage_from(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    try:
        return Usage(
            int(data.get("tokens_in", 0)),
            int(data.get("tokens_out", 0)),
            float(data["cost"]),
            int(data.get("calls", 0)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically (write a temporary file, then rename)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(data) + "\n", encoding="utf-8")
        os.replace(temp, path)
    except OSError as err:
        _LOGGER.warning("LLM budget file %s not saved: %s", path, err)
