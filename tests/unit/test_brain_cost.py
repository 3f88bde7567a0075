"""Prices, usage and the daily budget file."""

from __future__ import annotations

import asyncio
import datetime
import json

import pytest

from assistant.understand.brain import BUDGET_FILE, Budget, BudgetExceeded, Pricing, Usage


def test_pricing_is_per_million_tokens():
    mimo = Pricing(0.1, 0.3)
    assert mimo.cost(1_000_000, 0) == pytest.approx(0.1)
    assert mimo.cost(1200, 80) == pytest.approx((1200 * 0.1 + 80 * 0.3) / 1e6)
    assert Pricing().cost(10**9, 10**9) == 0


def test_usage_adds_up():
    total = Usage(10, 2, 0.5, 1) + Usage(5, 1, 0.25, 1)
    assert total == Usage(15, 3, 0.75, 2)


async def test_budget_survives_a_restart_and_resets_at_midnight(tmp_path):
    day = [datetime.date(2026, 5, 1)]
    path = tmp_path / "state" / BUDGET_FILE
    budget = Budget(path, 1.0, today=lambda: day[0])
    await budget.add(Usage(100, 10, 0.4, 1))
    await budget.add(Usage(100, 10, 0.4, 1))
    assert json.loads(path.read_text()) == {
        "day": "2026-05-01",
        "cost": 0.8,
        "tokens_in": 200,
        "tokens_out": 20,
        "calls": 2,
    }
    again = Budget(path, 1.0, today=lambda: day[0])
    again.load()
    assert again.spent == Usage(200, 20, 0.8, 2) and not again.exceeded
    await again.add(Usage(cost=0.2))
    assert again.exceeded
    with pytest.raises(BudgetExceeded) as caught:
        again.check()
    assert caught.value.code == "llm-budget" and "2026-05-01" in caught.value.detail
    day[0] = datetime.date(2026, 5, 2)
    assert not again.exceeded and again.spent == Usage()
    again.check()
    tomorrow = Budget(path, 1.0, today=lambda: day[0])
    tomorrow.load()  # yesterday's file counts for nothing today
    assert tomorrow.spent == Usage()


async def test_no_limit_still_counts(tmp_path):
    budget = Budget(tmp_path / BUDGET_FILE, 0)
    await budget.add(Usage(cost=1e6))
    budget.check()
    assert budget.spent.cost == 1e6 and not budget.exceeded


@pytest.mark.parametrize("text", ["not json", "[]", '{"day": "2026-05-01"}', '{"cost": "x"}'])
def test_a_broken_file_means_zero(tmp_path, caplog, text):
    path = tmp_path / BUDGET_FILE
    path.write_text(text)
    budget = Budget(path, 1.0, today=lambda: datetime.date(2026, 5, 1))
    budget.load()
    assert budget.spent == Usage()


async def test_concurrent_turns_add_up(tmp_path):
    budget = Budget(tmp_path / BUDGET_FILE, 0)
    await asyncio.gather(*(budget.add(Usage(1, 1, 0.001, 1)) for _ in range(50)))
    assert budget.spent.calls == 50
    assert json.loads((tmp_path / BUDGET_FILE).read_text())["calls"] == 50


async def test_in_memory_budget():
    budget = Budget(None, 0.5)
    await budget.add(Usage(cost=0.5))
    assert budget.exceeded
