"""Local first without an LLM: the local-only notice, and the turn JSON's shape."""

from __future__ import annotations

from assistant.messages import CommandResult, Intent, IntentSource, Reply
from assistant.speak.responses import Responses
from assistant.turn import LlmUsage, TurnAction, TurnResult
from assistant.understand.chain import LOCAL_ONLY_EVERY, Fallback
from assistant.understand.grammar import NoMatch

PLAIN = Reply("Sorry, I didn't understand that", ok=False)
NOTICE = "Sorry, I didn't understand that, and I'm set up to work without an online assistant"


def test_without_a_brain_the_notice_comes_once_in_a_while():
    now = [100.0]
    fallback = Fallback(None, Responses("en"), clock=lambda: now[0])
    assert not fallback.wants(NoMatch("make me a sandwich"))
    assert not fallback.wants(NoMatch("turn on the tv", {"name": "tv"}))
    assert fallback.not_understood(PLAIN) == Reply(NOTICE, ok=False)
    now[0] += LOCAL_ONLY_EVERY - 1
    assert fallback.not_understood(PLAIN) == PLAIN
    now[0] += 1
    assert fallback.not_understood(PLAIN).text == NOTICE
    assert fallback.not_understood(PLAIN) == PLAIN


def test_a_result_built_as_before_keeps_its_json():
    intent = Intent("HassTurnOn", {"name": "fan"})
    result = CommandResult("virtual:fan", "Fan", True, state={"on_off": True})
    old = TurnResult("t1", "turn on the fan", "hub", None, intent, (result,), Reply("On"))
    data = old.to_json()
    assert data["intent"] == {"name": "HassTurnOn", "slots": {"name": "fan"}}
    assert data["source"] == "grammar" and data["actions"] == [] and data["usage"] is None


def test_an_llm_result_lists_every_action_and_its_cost():
    first = Intent("HassTurnOn", {"name": "lamp"}, source=IntentSource.LLM)
    second = Intent("HassTurnOff", {"device_ids": ("virtual:fan",)}, source=IntentSource.LLM)
    result = TurnResult(
        "t2",
        "cosy please",
        "hub",
        "living_room",
        first,
        (),
        Reply("Done"),
        actions=(TurnAction(first, ("virtual:lamp",)), TurnAction(second, ("virtual:fan",), False)),
        source=IntentSource.LLM,
        usage=LlmUsage(1200, 30, 0.00012345678912, 2),
    )
    data = result.to_json()
    assert data["source"] == "llm" and data["intent"]["name"] == "HassTurnOn"
    assert data["actions"] == [
        {"name": "HassTurnOn", "slots": {"name": "lamp"}, "devices": ["virtual:lamp"], "ok": True},
        {
            "name": "HassTurnOff",
            "slots": {"device_ids": ["virtual:fan"]},
            "devices": ["virtual:fan"],
            "ok": False,
        },
    ]
    assert data["usage"] == {"tokens_in": 1200, "tokens_out": 30, "cost": 0.000123457, "calls": 2}
