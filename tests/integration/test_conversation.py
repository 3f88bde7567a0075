"""Conversation: "turn it off" after "turn on the fan", against virtual devices over miio."""

from __future__ import annotations

import pytest

from assistant.pipeline import Conversation
from assistant.runtime import Home

from .home import device_values, load_home


@pytest.fixture
async def home(tmp_path):
    async with Home(load_home(tmp_path)) as h:
        yield h


async def say(home: Home, text: str, *, site: str = "living-room-hub", area="Living room"):
    return await home.pipeline.run_text(text, area_id=home.area_id(area), site=site)


async def test_turn_it_off_after_turn_on_the_fan(home):
    await say(home, "turn on the floor fan")
    assert (await device_values(home, "virtual:floor_fan"))["on_off"] is True
    result = await say(home, "turn it off")
    assert result.reply.text == "Turned off the floor fan", result.reply.text
    assert [r.device_id for r in result.results] == ["virtual:floor_fan"]
    assert (await device_values(home, "virtual:floor_fan"))["on_off"] is False
    result = await say(home, "turn it back on")
    assert result.reply.text == "Turned on the floor fan"


async def test_set_it_follows_the_kind_of_device(home):
    await say(home, "turn on the living room lamp")
    result = await say(home, "set it to 30%")
    assert result.intent.name == "HassLightSet" and result.reply.ok, result.reply.text
    assert (await device_values(home, "virtual:living_room_lamp"))["brightness"] == 30
    await say(home, "turn on the floor fan")
    result = await say(home, "set it to 100 percent")
    assert result.intent.name == "HassFanSetSpeed" and result.reply.ok, result.reply.text
    assert (await device_values(home, "virtual:floor_fan"))["fan_speed"] == 100
    await say(home, "open the bedroom curtain")
    result = await say(home, "set it to 40 percent")
    assert result.intent.name == "HassSetPosition" and result.reply.ok, result.reply.text
    assert (await device_values(home, "virtual:bedroom_curtain"))["position"] == 40


async def test_them_after_a_room_command(home):
    await say(home, "turn on the lights in the kitchen")
    result = await say(home, "turn them off")
    assert sorted(r.device_id for r in result.results) == [
        "virtual:kitchen_ceiling_light",
        "virtual:kitchen_counter_light",
    ]
    assert result.reply.text == "Turned off 2 lights"


async def test_it_after_a_question(home):
    await say(home, "is the air purifier on?")
    result = await say(home, "turn it on")
    assert result.reply.text == "Turned on the air purifier"


async def test_make_it_red_only_means_lights(home):
    await say(home, "turn on the living room lamp")
    result = await say(home, "make it red")
    assert result.reply.ok, result.reply.text
    assert tuple((await device_values(home, "virtual:living_room_lamp"))["rgb"]) == (255, 0, 0)
    await say(home, "turn on the floor fan")
    result = await say(home, "make it red")
    assert not result.reply.ok and result.results == ()
    assert result.reply.text == "The floor fan can't do that"


async def test_it_with_nothing_before_asks_which(home):
    result = await say(home, "turn it off")
    assert result.reply.text == "Which device do you mean?" and result.results == ()


async def test_history_is_per_site(home):
    await say(home, "turn on the floor fan", site="hub-a")
    result = await say(home, "turn it off", site="hub-b", area="Bedroom")
    assert result.reply.text == "Which device do you mean?"
    history = home.pipeline.history("hub-a")
    assert [(e.intent, e.device_ids) for e in history] == [("HassTurnOn", ("virtual:floor_fan",))]
    assert history[0].text == "turn on the floor fan"
    assert history[0].reply == "Turned on the floor fan"
    assert home.pipeline.history("hub-b") == []


def test_history_expires_and_keeps_the_last_few() -> None:
    now = [0.0]
    conversation = Conversation(turns=2, seconds=60, clock=lambda: now[0])
    for i in range(3):
        conversation.remember("hub", f"turn on lamp {i}", "HassTurnOn", (f"lamp{i}",), "ok")
    assert [e.device_ids for e in conversation.recent("hub")] == [("lamp1",), ("lamp2",)]
    assert conversation.last_targets("hub") == ("lamp2",)
    now[0] = 61
    assert conversation.recent("hub") == [] and conversation.last_targets("hub") == ()


async def test_a_bare_reference_is_no_whole_command_for_an_early_end(home):
    """Voice ends an utterance early only on a whole command: "turn on that" may be
    "turn on the ... bedroom light" cut at a pause, so it waits for the full silence."""
    pipeline = home.pipeline
    assert await pipeline.understands("turn on that")
    assert not await pipeline.understands("turn on that", whole=True)
    assert await pipeline.understands("turn on the bedroom light", whole=True)
