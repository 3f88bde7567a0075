"""Whole text turns against a home of virtual devices over the real miio protocol."""

from __future__ import annotations

import pytest

from assistant.messages import TurnEventType
from assistant.runtime import Home

from .home import device_values, load_home, offline_hall_light


@pytest.fixture
async def home(tmp_path):
    async with Home(load_home(tmp_path)) as h:
        yield h


async def say(home: Home, text: str, area: str | None = "Living room"):
    return await home.pipeline.run_text(text, area_id=home.area_id(area))


async def test_turn_on_by_name(home):
    result = await say(home, "turn on the living room lamp")
    assert result.reply.text == "Turned on the living room lamp"
    assert result.intent.name == "HassTurnOn" and result.intent.source == "grammar"
    assert [r.device_id for r in result.results] == ["virtual:living_room_lamp"]
    assert (await device_values(home, "virtual:living_room_lamp"))["on_off"] is True


async def test_brightness(home):
    result = await say(home, "set the bedroom light to 30 percent")
    assert result.reply.ok, result.reply.text
    values = await device_values(home, "virtual:bedroom_light")
    assert values["brightness"] == 30 and values["on_off"] is True
    assert result.reply.text == "The bedroom light is set to 30%"


async def test_state_question_follows_the_device(home):
    assert (await say(home, "is the air purifier on?")).reply.text == "No, the air purifier is off"
    await say(home, "turn on the air purifier")
    reply = (await say(home, "is the air purifier on?")).reply.text
    assert reply.startswith("Yes, the air purifier is on")


async def test_all_lights_in_an_area(home):
    await say(home, "turn on the kitchen ceiling light")
    await say(home, "turn on the kitchen counter light")
    result = await say(home, "turn off all the lights in the kitchen")
    assert sorted(r.device_id for r in result.results) == [
        "virtual:kitchen_ceiling_light",
        "virtual:kitchen_counter_light",
    ]
    assert all(r.ok for r in result.results)
    assert result.reply.text == "Turned off the lights in the kitchen"
    for device_id in ("virtual:kitchen_ceiling_light", "virtual:kitchen_counter_light"):
        assert (await device_values(home, device_id))["on_off"] is False
    # the plug in the kitchen is not a light and was left alone
    assert "virtual:coffee_machine" not in [r.device_id for r in result.results]


async def test_speaker_area_context(home):
    result = await say(home, "turn on the lights", area="Kitchen")
    assert sorted(r.device_id for r in result.results) == [
        "virtual:kitchen_ceiling_light",
        "virtual:kitchen_counter_light",
    ]
    result = await say(home, "turn off the lights in here", area="Bedroom")
    assert [r.device_id for r in result.results] == ["virtual:bedroom_light"]


async def test_unknown_device_does_nothing(home):
    result = await say(home, "turn on the garage lamp")
    assert not result.reply.ok and result.results == ()
    assert "garage" in result.reply.text


async def test_ambiguous_alias_is_named(home):
    # "lamp" is an alias of the living room lamp and the bedroom light.
    result = await say(home, "turn on the lamp", area="Kitchen")
    assert not result.reply.ok and result.results == ()
    assert "the living room lamp" in result.reply.text and "the bedroom light" in result.reply.text
    # From the living room, the lamp there is meant.
    result = await say(home, "turn on the lamp", area="Living room")
    assert [r.device_id for r in result.results] == ["virtual:living_room_lamp"]


async def test_out_of_range_brightness_refused(home):
    result = await say(home, "set the bedroom light to 150%")
    assert not result.reply.ok and result.results == ()
    assert "0 to 100" in result.reply.text


async def test_color_and_color_temperature(home):
    result = await say(home, "set the living room lamp to red")
    assert result.reply.ok, result.reply.text
    assert tuple((await device_values(home, "virtual:living_room_lamp"))["rgb"]) == (255, 0, 0)
    result = await say(home, "set the living room lamp color temperature to 4000 kelvin")
    assert result.reply.ok, result.reply.text
    assert (await device_values(home, "virtual:living_room_lamp"))["color_temp"] == 4000


async def test_fan_speed(home):
    result = await say(home, "set the floor fan speed to 100 percent")
    assert result.intent.name == "HassFanSetSpeed" and result.reply.ok, result.reply.text
    values = await device_values(home, "virtual:floor_fan")
    assert values["on_off"] is True and values["fan_speed"] == 100


async def test_curtain_open_and_position(home):
    result = await say(home, "open the bedroom curtain")
    assert result.reply.text == "Opened the bedroom curtain", result.reply.text
    result = await say(home, "set the bedroom curtain position to 40 percent")
    assert result.intent.name == "HassSetPosition" and result.reply.ok, result.reply.text
    assert (await device_values(home, "virtual:bedroom_curtain"))["position"] == 40


async def test_vacuum_start_and_dock(home):
    result = await say(home, "start the robot vacuum")
    assert result.reply.text == "The robot vacuum is cleaning"
    result = await say(home, "send the robot vacuum back to the dock")
    assert result.intent.name == "HassVacuumReturnToBase" and result.reply.ok


async def test_climate_set_and_clamp(home):
    result = await say(home, "set the temperature to 22 degrees", area="Bedroom")
    assert result.intent.name == "HassClimateSetTemperature" and result.reply.ok, result.reply.text
    assert (await device_values(home, "virtual:air_conditioner"))["target_temperature"] == 22
    result = await say(home, "set the air conditioner to 5 degrees")
    assert result.reply.ok and "so I set it to" in result.reply.text, result.reply.text
    low = home.registry.device("virtual:air_conditioner").spec.min_temperature
    assert (await device_values(home, "virtual:air_conditioner"))["target_temperature"] == low


async def test_climate_get_temperature(home):
    result = await say(home, "what is the temperature in the bedroom")
    assert result.intent.name == "HassClimateGetTemperature"
    assert result.reply.ok and "degrees" in result.reply.text, result.reply.text


async def test_turn_events_in_order(tmp_path):
    events = []
    async with Home(load_home(tmp_path), callback=events.append) as home:
        await say(home, "turn on the living room lamp")
    types = [(e.type, e.stage) for e in events]
    assert types == [
        (TurnEventType.TURN_START, None),
        (TurnEventType.STAGE_START, "understand"),
        (TurnEventType.STAGE_END, "understand"),
        (TurnEventType.INTENT, "understand"),
        (TurnEventType.STAGE_START, "act"),
        (TurnEventType.STAGE_END, "act"),
        (TurnEventType.RESULT, "act"),
        (TurnEventType.REPLY, None),
        (TurnEventType.TURN_END, None),
    ]
    assert len({e.turn_id for e in events}) == 1


async def test_offline_device_named_others_still_act(tmp_path):
    async with Home(load_home(tmp_path, offline_hall_light())) as home:
        assert not home.registry.state("miio:hall_light").available
        result = await say(home, "turn on the lights in the kitchen")
    by_id = {r.device_id: r for r in result.results}
    assert by_id["virtual:kitchen_ceiling_light"].ok and by_id["virtual:kitchen_counter_light"].ok
    assert not by_id["miio:hall_light"].ok
    assert by_id["miio:hall_light"].error_code == "unreachable"
    assert result.reply.text == "Turned on 2 lights; the hall light is not responding"


async def test_device_error_code_is_reported(home):
    home.virtual_devices["virtual:bedroom_light"].set_error(-4004)
    result = await say(home, "turn on the lights", area="Bedroom")
    assert not result.reply.ok
    assert result.results[0].error_code == "refused"
    assert "-4004" in result.reply.text


async def test_state_survives_a_restart(tmp_path):
    settings = load_home(tmp_path)
    async with Home(settings) as home:
        await say(home, "set the bedroom light to 30 percent")
    async with Home(settings) as home:
        state = home.registry.state("virtual:bedroom_light")
        assert state.available and state.values["brightness"] == 30


async def test_multi_device_commands_run_concurrently(home):
    lights = [
        home.virtual_devices[d]
        for d in ("virtual:kitchen_ceiling_light", "virtual:kitchen_counter_light")
    ]
    for light in lights:
        light.delay = 0.15
        light.requests.clear()
    result = await say(home, "turn on the lights in the kitchen")
    assert all(r.ok for r in result.results)
    first_sets = [
        next(r for r in light.requests if r.method == "set_properties") for light in lights
    ]
    a, b = first_sets
    # Each light received its command before the other one answered: they overlapped.
    assert a.received_at < b.answered_at and b.received_at < a.answered_at


async def test_a_turn_never_blocks_the_loop(home):
    from blockbuster import blockbuster_ctx

    with blockbuster_ctx(["assistant", "intents", "integrations"]):
        result = await say(home, "turn on the lights in the kitchen")
        assert result.reply.ok
        result = await say(home, "is the air purifier on")
        assert result.reply.text.startswith("No")


async def test_starting_and_stopping_never_block_the_loop(tmp_path):
    from blockbuster import blockbuster_ctx

    settings = load_home(tmp_path)
    with blockbuster_ctx(["assistant", "intents", "integrations"]):
        async with Home(settings) as home:
            assert len(home.registry.devices()) == 10


async def test_room_commands_without_a_room_ask_which(home):
    result = await home.pipeline.run_text("turn on the lights", area_id=None)
    assert result.reply.text == "Which room do you mean?" and result.results == ()
