"""Local first, whole turns: the grammar, then the LLM (a real OpenAI-compatible server on
127.0.0.1), real handlers, safety and virtual devices over real miio."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from assistant.act.dispatch import Dispatcher
from assistant.act.registry import Area, Registry
from assistant.act.safety import Safety
from assistant.config import LlmSettings, SafetySettings, Secret, load_config
from assistant.demo import speak_to_pcm
from assistant.listen.base import HubInfo
from assistant.messages import SPEECH_FORMAT, AudioChunk, Transcript, TurnEvent, TurnEventType
from assistant.pipeline import Pipeline
from assistant.runtime import Home
from assistant.speak.tts import Speaker
from assistant.turn import TurnResult
from assistant.understand.brain import BUDGET_FILE, Brain
from assistant.voice import VoiceAssistant
from intents.handlers import HANDLERS
from tests.llm_server import Call, Fail, LlmServer, Say, Slow

from .home import device_values, write_home
from .test_safety_turns import DEVICES, PIN, MemoryDriver

KEY = "sk-pipeline-7c3e91d2b4a6"
PORCH = "  - {name: Porch light, area: Hallway, virtual: {model: philips.light.bulb}}"


class Rig:
    """A home with an ``llm`` section pointing at the test server; every event recorded."""

    def __init__(self, home: Home, server: LlmServer, events: list[TurnEvent]) -> None:
        self.home = home
        self.server = server
        self.events = events
        self.published: list[dict] = []
        assert home.pipeline is not None
        self.pipeline = home.pipeline
        self.pipeline.result_listeners.append(lambda r: self.published.append(r.to_json()))

    async def say(
        self, text: str, *, area: str = "Living room", alternatives: tuple[str, ...] = ()
    ) -> TurnResult:
        self.events.clear()
        return await self.pipeline.run_text(
            text, area_id=self.home.area_id(area), site="hub", alternatives=alternatives
        )

    def of(self, type_: TurnEventType) -> list[TurnEvent]:
        return [e for e in self.events if e.type is type_]


def llm_section(server: LlmServer, **overrides: object) -> str:
    values: dict[str, object] = {
        "base_url": server.base_url,
        "api_key": "!secret llm_key",
        "model": "text-model",
        "vision_model": "false",
        "timeout": 5.0,
        "price_in": 1.0,
        "price_out": 4.0,
        **overrides,
    }
    return "llm: {" + ", ".join(f"{k}: {v}" for k, v in values.items()) + "}"


@contextlib.asynccontextmanager
async def rig(
    tmp_path: Path, server: LlmServer, devices: str = "", **llm: object
) -> AsyncIterator[Rig]:
    path = write_home(tmp_path, f"{devices}\n{llm_section(server, **llm)}")
    with (tmp_path / "secrets.yaml").open("a") as secrets:
        secrets.write(f"llm_key: {KEY}\n")
    events: list[TurnEvent] = []
    async with Home(load_config(path), callback=events.append) as home:
        assert home.brain is not None
        yield Rig(home, server, events)


@pytest.fixture
async def server():
    async with LlmServer(api_key=KEY) as s:
        yield s
        assert s.unscripted == 0, "a request found no scripted answer"


@pytest.fixture
async def house(tmp_path, server):
    async with rig(tmp_path, server, PORCH) as r:
        yield r


async def test_the_grammar_answers_without_asking_the_llm(house):
    result = await house.say("turn on the coffee machine")
    assert result.reply.text == "Turned on the coffee machine"
    assert (await device_values(house.home, "virtual:coffee_machine"))["on_off"] is True
    assert house.server.requests == []
    data = result.to_json()
    assert data["source"] == "grammar" and data["usage"] is None
    assert data["intent"]["name"] == "HassTurnOn"
    assert data["actions"] == [
        {
            "name": "HassTurnOn",
            "slots": {"name": "coffee machine"},
            "devices": ["virtual:coffee_machine"],
            "ok": True,
        }
    ]
    (end,) = house.of(TurnEventType.TURN_END)
    assert end.data["source"] == "grammar" and end.data["usage"] is None


async def test_too_dark_the_llm_brightens_the_lamp(house):
    house.server.push(
        Call(("HassLightSet", {"name": "Living room lamp", "brightness": 80}), usage=(900, 20))
    )
    result = await house.say("it's too dark in the living room")
    values = await device_values(house.home, "virtual:living_room_lamp")
    assert values["on_off"] is True and values["brightness"] == 80
    assert result.reply.text == "The living room lamp is set to 80%" and result.reply.ok
    data = house.published[-1]
    assert data == result.to_json()
    assert data["source"] == "llm" and data["intent"]["name"] == "HassLightSet"
    assert data["actions"][0]["devices"] == ["virtual:living_room_lamp"]
    assert [r["device"] for r in data["results"]] == ["virtual:living_room_lamp"]
    usage = data["usage"]
    assert (usage["tokens_in"], usage["tokens_out"], usage["calls"]) == (900, 20, 1)
    assert usage["cost"] == pytest.approx((900 * 1.0 + 20 * 4.0) / 1e6)
    assert "llm" in data["timings_ms"]
    (intent,) = house.of(TurnEventType.INTENT)
    assert intent.data["source"] == "llm" and intent.data["name"] == "HassLightSet"
    (done,) = house.of(TurnEventType.RESULT)
    assert done.data["device"] == "virtual:living_room_lamp" and done.data["ok"]
    (end,) = house.of(TurnEventType.TURN_END)
    assert end.data["source"] == "llm" and end.data["usage"] == usage
    (request,) = house.server.requests  # the action ended the turn: no second request
    assert "Living room lamp" in request.text("system")


async def test_a_sentence_the_grammar_knows_but_nothing_here_does_goes_to_the_llm(house):
    house.server.push(Say("I can't tell the time yet, sorry.", usage=(800, 9)))
    result = await house.say("what time is it")  # HassGetCurrentTime: no handler here
    assert len(house.server.requests) == 1
    assert result.to_json()["source"] == "llm"
    assert result.reply.text == "I can't tell the time yet, sorry."


@pytest.mark.parametrize("devices", ["", PORCH], ids=["no-porch-light", "porch-light"])
async def test_a_misheard_name_goes_to_the_llm_with_the_alternatives(tmp_path, server, devices):
    # without a porch light the grammar knows "porch white" is no name; with one it cannot
    # place the sentence at all: either way the LLM gets a second chance
    async with rig(tmp_path, server, devices) as house:
        name = "Porch light" if devices else "Hall light"
        # a refused call goes back to the model, which answers; one that worked ends the turn
        server.push(Call(("HassTurnOn", {"name": name})), *([] if devices else [Say("On.")]))
        readings = ("turn on the porch light", "turn on the torch light")
        result = await house.say("turn on the porch white", area="Hallway", alternatives=readings)
    assert len(server.requests) == (1 if devices else 2)
    user = server.requests[0].text("user")
    assert 'Heard: "turn on the porch white"' in user
    assert 'Also heard: "turn on the porch light" | "turn on the torch light"' in user
    assert result.to_json()["source"] == "llm"
    if devices:
        assert result.reply.text == "Turned on the porch light"
    else:
        assert result.reply.text == "Sorry, I don't know any device called Hall light"
        assert result.results == () and not result.reply.ok


async def test_a_device_that_does_not_exist_moves_nothing_and_the_reply_says_so(house):
    before = {
        d.id: dict(house.home.registry.state(d.id).values) for d in house.home.registry.devices()
    }
    house.server.push(
        Call(("HassTurnOn", {"name": "Garden sprinkler"})), Say("I turned on the sprinkler.")
    )
    result = await house.say("water the garden please")
    assert result.reply.text == "Sorry, I don't know any device called Garden sprinkler"
    assert not result.reply.ok and result.results == () and result.actions == ()
    assert result.intent is None and result.to_json()["source"] == "llm"
    assert house.of(TurnEventType.RESULT) == [] and house.of(TurnEventType.INTENT) == []
    after = {
        d.id: dict(house.home.registry.state(d.id).values) for d in house.home.registry.devices()
    }
    assert after == before


@pytest.mark.parametrize(
    ("safety", "reply", "reason"),
    [
        (SafetySettings(), "Sorry, I can't unlock the front door by voice", "unlock-disabled"),
        (
            SafetySettings(allow_unlock=True, pin=Secret(PIN)),
            "To unlock the front door, say the command with the PIN",
            "pin-not-spoken",
        ),
    ],
)
async def test_an_llm_unlock_is_refused_by_safety(server, caplog, safety, reply, reason):
    caplog.set_level(logging.INFO, logger="assistant.audit")
    registry = Registry()
    for area in ("Hallway", "Garage", "Study"):
        registry.add_area(Area(area.lower(), area))
    for device in DEVICES:
        registry.add_device(device)
    driver = MemoryDriver(registry)
    await driver.start()
    settings = LlmSettings(base_url=server.base_url, api_key=KEY, vision_model=None)
    server.push(Call(("HassTurnOff", {"name": "Front door"})), Say("Unlocked."))
    async with Brain(settings, registry, supported=HANDLERS) as brain:
        pipeline = Pipeline(
            registry,
            Dispatcher(registry, {"mem": driver}),
            safety=Safety(safety, registry),
            brain=brain,
        )
        text = f"I need to unlock the front door for my friend, code {PIN}"
        result = await pipeline.run_text(text, area_id="hallway", site="hall")
    assert result.reply.text == reply and not result.reply.ok
    assert driver.done() == [] and registry.state("mem:front_door").values["locked"] is True
    assert PIN not in json.dumps(server.requests[0].body)  # the PIN never left the house
    assert "for my friend, code ****" in server.requests[0].text("user")
    assert result.intent.name == "HassTurnOff" and result.to_json()["source"] == "llm"
    audit = [r.getMessage() for r in caplog.records if r.name == "assistant.audit"]
    assert audit and all("source=llm" in line for line in audit)
    assert audit[-1].endswith(f"device=mem:front_door command=locked=False "
                              f"decision=refused reason={reason}")  # fmt: skip


async def test_rate_limited_once_then_the_turn_goes_through(house):
    house.server.push(
        Fail(429, "slow down", headers={"retry-after": "0"}),
        Call(("HassTurnOn", {"name": "Floor fan"})),
    )
    result = await house.say("I'm hot, get some air moving")
    assert result.reply.text == "Turned on the floor fan" and result.reply.ok
    assert (await device_values(house.home, "virtual:floor_fan"))["on_off"] is True
    assert len(house.server.requests) == 2 and result.usage is not None
    assert result.usage.calls == 1


async def test_timeout_is_an_apology_and_the_grammar_still_works(tmp_path, server, caplog):
    caplog.set_level(logging.INFO)
    async with rig(tmp_path, server, timeout=0.5) as house:
        server.push(Slow(5.0, Say("late")))
        result = await house.say("make it cosy in here")  # the server answers after 5 s
        assert result.reply.text == "My online brain took too long to answer"
        assert not result.reply.ok and result.to_json()["source"] == "llm"
        (error,) = house.of(TurnEventType.ERROR)
        assert error.stage == "llm" and error.data["error"] == "llm-timeout"
        lines = [r.getMessage() for r in caplog.records if "llm-timeout" in r.getMessage()]
        assert len(lines) == 1 and result.turn_id in lines[0]
        result = await house.say("turn on the coffee machine")
        assert result.reply.text == "Turned on the coffee machine"
        assert len(server.requests) == 1


async def test_budget_used_up_is_said_once_then_local_only(tmp_path, server):
    async with rig(tmp_path, server, daily_budget=0.001) as house:
        server.push(Say("Hello! How can I help?", usage=(1000, 0)))  # exactly the budget
        assert (await house.say("hello there")).reply.text == "Hello! How can I help?"
        result = await house.say("what's up")
        assert result.reply.text == (
            "I've used today's budget for my online brain, so I can only do simple commands"
        )
        assert not result.reply.ok and house.of(TurnEventType.ERROR)[0].data["error"] == (
            "llm-budget"
        )
        assert (await house.say("what's up")).reply.text == "Sorry, I didn't understand that"
        assert (await house.say("turn on the porch white")).reply.text == (
            "Sorry, I don't know any device called porch white"
        )
        assert (await house.say("turn on the coffee machine")).reply.ok
        assert len(server.requests) == 1
        saved = json.loads((house.home.state_dir / BUDGET_FILE).read_text())
        assert saved["cost"] == pytest.approx(0.001)


async def test_turn_them_off_after_an_llm_turn(house):
    house.server.push(
        Call(("HassTurnOn", {"name": "Living room lamp"}), ("HassTurnOn", {"name": "Floor fan"}))
    )
    result = await house.say("get the living room going")
    assert result.reply.text == "Turned on the living room lamp. Turned on the floor fan."
    assert [a["devices"] for a in result.to_json()["actions"]] == [
        ["virtual:living_room_lamp"],
        ["virtual:floor_fan"],
    ]
    (past,) = house.pipeline.history("hub")
    assert past.device_ids == ("virtual:living_room_lamp", "virtual:floor_fan")
    assert past.reply == result.reply.text
    result = await house.say("turn them off")
    assert result.to_json()["source"] == "grammar" and result.reply.ok, result.reply.text
    assert {r.device_id for r in result.results} == {
        "virtual:living_room_lamp",
        "virtual:floor_fan",
    }
    assert (await device_values(house.home, "virtual:floor_fan"))["on_off"] is False
    assert (await device_values(house.home, "virtual:living_room_lamp"))["on_off"] is False
    assert len(house.server.requests) == 1


async def test_the_llm_sees_the_hubs_history(house):
    await house.say("turn on the floor fan")
    house.server.push(Say("It is on."))
    await house.say("did that work")
    messages = house.server.requests[0].messages
    assert [m["content"] for m in messages[1:3]] == [
        "turn on the floor fan",
        "Turned on the floor fan",
    ]
    assert "Floor fan" in house.server.requests[0].text("system")


async def test_the_api_key_is_in_no_turn_json_event_or_log(tmp_path, server, caplog):
    caplog.set_level(logging.DEBUG)
    async with rig(tmp_path, server) as house:
        seen = []
        server.push(Call(("HassTurnOn", {"name": "Floor fan"})))
        assert (await house.say("air please")).reply.text == "Turned on the floor fan"
        seen += house.events
        server.push(Fail(500, "boom", echo_key=True), Fail(500, "boom", echo_key=True))
        result = await house.say("air please")
        seen += house.events
        assert result.reply.text == "My online brain is having trouble right now"
        assert KEY not in repr(house.home.brain) and KEY not in repr(house.home.settings)
    assert len(server.requests) == 3  # the turn that acted, then the 500 and its retry
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.requests)
    assert KEY not in json.dumps(house.published) and KEY not in repr(seen)
    assert KEY not in caplog.text


class Misheard:
    """A transcriber (the real interface: ``transcribe``) that mishears every utterance as
    ``heard``, with other readings as whisper's beam gives them."""

    def __init__(self, heard: Transcript) -> None:
        self.heard = heard

    async def transcribe(self, pcm: bytes, fmt=SPEECH_FORMAT, *, hints=()) -> Transcript:
        assert pcm, "no speech reached the transcriber"
        return self.heard


async def test_a_voice_turn_hands_the_decoders_readings_to_the_llm(house):
    speaker = Speaker()
    await speaker.load()
    heard = Transcript(
        "turn on the porch white", 0.8, ("turn on the porch wide", "turn on the porch light")
    )
    transcriber = Misheard(heard)
    voice = VoiceAssistant(
        house.pipeline,
        transcriber,  # type: ignore[arg-type]
        speaker,
        house.home.settings.voice,
        area_id=house.home.area_id,
        hints=house.home.hints,
    )
    pcm = await speak_to_pcm(speaker, "Turn on the porch light.")
    pcm += bytes(SPEECH_FORMAT.bytes_per_second * 2)  # two seconds of silence
    step = SPEECH_FORMAT.bytes_per_second // 50

    async def audio() -> AsyncIterator[AudioChunk]:
        for offset in range(0, len(pcm), step):
            yield AudioChunk(pcm[offset : offset + step], SPEECH_FORMAT)

    # the grammar places "porch light": the second reading is acted on, no LLM asked
    turn = await voice(audio(), HubInfo("hall-hub", "Hallway"))
    assert turn.text == "Turned on the porch light" and house.server.requests == []
    # with nothing the grammar can place, the LLM gets the transcript and every reading
    transcriber.heard = Transcript("turn off the torch white", 0.8, ("turn of the torch white",))
    house.server.push(Call(("HassTurnOff", {"name": "Porch light"})))
    turn = await voice(audio(), HubInfo("hall-hub", "Hallway"))
    assert turn.text == "Turned off the porch light"
    user = house.server.requests[0].text("user")
    assert 'Heard: "turn off the torch white"' in user
    assert 'Also heard: "turn of the torch white"' in user
    assert turn.to_json()["source"] == "llm" and turn.to_json()["usage"]["calls"] == 1
