"""The brain with the real handlers: tool calls move virtual devices over real miio."""

from __future__ import annotations

import pytest

from assistant.act.dispatch import Dispatcher
from assistant.act.safety import Request, Safety
from assistant.config import LlmSettings, SafetySettings
from assistant.messages import Intent
from assistant.runtime import Home
from assistant.speak.responses import Responses
from assistant.understand.brain import Brain
from intents.handlers import HANDLERS, HandlerContext, Outcome
from tests.llm_server import Call, LlmServer, Say

from .home import device_values, load_home

EXTRA = (
    "  - {name: Hall sconce, area: Hallway, exposed: false, virtual: {model: yeelink.light.color4}}"
)


@pytest.fixture
async def home(tmp_path):
    async with Home(load_home(tmp_path, EXTRA)) as h:
        yield h


def executor(home: Home, area_id: str | None):
    """Like the pipeline's: safety and the handlers, with the home's dispatcher."""
    dispatcher = Dispatcher(home.registry, home._drivers)
    responses = Responses("en")
    safety = Safety(SafetySettings(), home.registry)

    async def execute(intent: Intent) -> Outcome:
        request = Request("t-brain", "test", intent.source, "name" in intent.slots)
        ctx = HandlerContext(
            home.registry, dispatcher, responses, area_id, "t-brain", safety, request
        )
        return await HANDLERS[intent.name](ctx, intent)

    return execute


async def run(home: Home, server: LlmServer, text: str, area: str = "Living room"):
    settings = LlmSettings(base_url=server.base_url, model="m", vision_model=None, timeout=5.0)
    area_id = home.area_id(area)
    async with Brain(settings, home.registry, supported=HANDLERS) as brain:
        return await brain.run(text, executor(home, area_id), area_id=area_id)


async def test_a_tool_call_moves_a_virtual_device_in_one_request(home):
    async with LlmServer() as server:
        server.push(Call(("HassLightSet", {"name": "Bedroom light", "brightness": 35})))
        result = await run(home, server, "it's too bright in the bedroom, dim the light a bit")
        assert len(server.requests) == 1 and server.unscripted == 0
    values = await device_values(home, "virtual:bedroom_light")
    assert values["on_off"] is True and values["brightness"] == 35
    assert result.reply.text == "The bedroom light is set to 35%" and result.reply.ok
    assert [r.device_id for r in result.actions[0].results] == ["virtual:bedroom_light"]
    assert result.rounds == 1 and result.usage.calls == 1


async def test_a_question_is_answered_from_the_device_not_the_model(home):
    async with LlmServer() as server:
        server.push(
            Call(("HassGetState", {"name": "Air purifier", "state": "on"})),
            Say("Yes, it is running at full speed."),
        )
        result = await run(home, server, "did I leave the purifier on in the bedroom?")
        fed_back = server.requests[1].messages[-1]["content"]  # a question's answer goes back
    assert '"said":"No, the air purifier is off"' in fed_back
    assert result.reply.text == "No, the air purifier is off"
    assert result.model_text == "Yes, it is running at full speed."


async def test_the_answer_to_a_question_decides_the_next_call(home):
    async with LlmServer() as server:
        server.push(
            Call(("HassGetState", {"name": "Air purifier", "state": "on"})),
            Call(("HassTurnOn", {"name": "Air purifier"})),
        )
        result = await run(home, server, "if the purifier is off, switch it on")
        assert len(server.requests) == 2 and server.unscripted == 0
    assert (await device_values(home, "virtual:air_purifier"))["on_off"] is True
    assert [a.intent.name for a in result.actions] == ["HassGetState", "HassTurnOn"]
    assert result.reply.text == "No, the air purifier is off. Turned on the air purifier."
    assert result.rounds == 2 and result.reply.ok


async def test_an_action_a_handler_refuses_is_fed_back(home):
    async with LlmServer() as server:
        server.push(
            Call(("HassSetPosition", {"name": "Bedroom light", "position": 50})),
            Say("That light has no position."),
        )
        result = await run(home, server, "half the bedroom light")
        fed_back = server.requests[1].messages[-1]["content"]
    assert '"ok":false' in fed_back
    assert not result.reply.ok and result.rounds == 2


async def test_an_area_call_uses_the_speakers_room(home):
    async with LlmServer() as server:
        server.push(Call(("HassTurnOn", {"domain": "light"})))
        result = await run(home, server, "it's so dark in here")
        assert len(server.requests) == 1
    assert [r.device_id for r in result.actions[0].results] == ["virtual:living_room_lamp"]
    assert (await device_values(home, "virtual:living_room_lamp"))["on_off"] is True
    assert "Living room lamp (big lamp, lamp) | light |" in server.requests[0].text("system")


async def test_a_device_that_does_not_exist_moves_nothing(home):
    async with LlmServer() as server:
        server.push(Call(("HassTurnOn", {"name": "Garage lamp"})), Say("Turned it on!"))
        result = await run(home, server, "turn on the garage lamp")
    assert result.actions == ()
    assert result.reply.text == "Sorry, I don't know any device called Garage lamp"
    assert not result.reply.ok


async def test_unexposed_devices_are_neither_shown_nor_moved(home):
    async with LlmServer() as server:
        server.push(
            Call(("HassTurnOn", {"name": "Hall sconce"}), ("HassTurnOn", {"area": "Hallway"})),
            Say("Done."),
        )
        result = await run(home, server, "turn on the hall sconce", area="Hallway")
    assert "Hall sconce" not in server.requests[0].text("system")
    assert [r.problem for r in result.rejections] == ["no_device", "not_exposed"]
    assert result.actions == ()
    assert (await device_values(home, "virtual:hall_sconce")).get("on_off") is not True
