"""Safety in whole text turns: locks, garage doors, bulk commands, the audit log.

There is no virtual lock or garage door model, so these devices live behind a small
in-memory driver that implements ``integrations.base.Driver`` (the real interface the
dispatcher calls) and pushes state into the registry like any driver.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import pytest

from assistant.act.dispatch import Dispatcher
from assistant.act.registry import Area, Device, Registry
from assistant.act.safety import Safety
from assistant.config import SafetySettings, Secret
from assistant.messages import DeviceCommand, Intent, IntentSource, TurnEventType
from assistant.pipeline import Pipeline
from integrations.base import DeviceKind, DeviceSpec, Driver, Trait

PIN = "2468"


class MemoryDriver:
    """Devices that do what they are told at once; every command is recorded."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self.commands: list[DeviceCommand] = []

    async def start(self) -> None:
        for device in self._registry.devices():
            self._registry.update_state(device.id, _initial(device))

    async def stop(self) -> None:
        pass

    async def execute(self, device_id: str, commands: Sequence[DeviceCommand]) -> None:
        self.commands.extend(commands)
        values = {}
        for command in commands:
            if command.trait == Trait.COVER:
                values[Trait.POSITION] = 100 if command.value == "open" else 0
            else:
                values[command.trait] = command.value
        self._registry.update_state(device_id, values)

    async def refresh(self, device_id: str) -> None:
        self._registry.update_state(device_id, {})

    def done(self) -> list[tuple[str, str, object]]:
        """(device id, trait, value) of every command carried out, then forgotten."""
        done = [(c.device_id, str(c.trait), c.value) for c in self.commands]
        self.commands.clear()
        return done


def _initial(device: Device) -> dict[str, object]:
    if device.kind is DeviceKind.LOCK:
        return {Trait.LOCKED: True}
    if device.kind is DeviceKind.COVER:
        return {Trait.POSITION: 0}
    return {Trait.ON_OFF: False}


def _device(name: str, area: str, kind: DeviceKind, traits: set[Trait], **extra) -> Device:
    spec = DeviceSpec(kind, frozenset(traits), device_class=extra.pop("device_class", None))
    return Device(f"mem:{name.lower().replace(' ', '_')}", name, spec, "mem", area, **extra)


DEVICES = [
    _device("Front door", "hallway", DeviceKind.LOCK, {Trait.LOCKED}),
    _device("Garage door", "garage", DeviceKind.COVER, {Trait.COVER}, device_class="garage"),
    _device("Garage light", "garage", DeviceKind.LIGHT, {Trait.ON_OFF}),
    _device("Desk lamp", "study", DeviceKind.LIGHT, {Trait.ON_OFF}),
    _device("Study blind", "study", DeviceKind.COVER, {Trait.COVER, Trait.POSITION}),
    _device("Space heater", "study", DeviceKind.SWITCH, {Trait.ON_OFF}, sensitive=True),
]


class House:
    """A pipeline over the memory devices, with the safety settings a test asks for."""

    def __init__(self, settings: SafetySettings) -> None:
        self.registry = Registry()
        for area in ("Hallway", "Garage", "Study"):
            self.registry.add_area(Area(area.lower(), area))
        for device in DEVICES:
            self.registry.add_device(device)
        self.driver = MemoryDriver(self.registry)
        assert isinstance(self.driver, Driver)
        self.events: list = []
        self.safety = Safety(settings, self.registry)
        self.pipeline = Pipeline(
            self.registry,
            Dispatcher(self.registry, {"mem": self.driver}),
            callback=self.events.append,
            safety=self.safety,
        )

    async def say(self, text: str, *, site: str = "study", area: str | None = "study"):
        return await self.pipeline.run_text(text, area_id=area, site=site)

    def value(self, device_id: str, trait: Trait) -> object:
        return self.registry.state(device_id).values[trait]


@pytest.fixture
async def house() -> House:
    house = House(SafetySettings())
    await house.driver.start()
    return house


@pytest.fixture
async def unlocking_house() -> House:
    house = House(SafetySettings(allow_unlock=True, pin=Secret(PIN)))
    await house.driver.start()
    return house


async def test_unlock_the_front_door_is_refused(house: House) -> None:
    result = await house.say("unlock the front door")
    assert result.reply.text == "Sorry, I can't unlock the front door by voice"
    assert not result.reply.ok and result.results == ()
    result = await house.say(f"unlock the front door {PIN}")
    assert result.reply.text == "Sorry, I can't unlock the front door by voice"
    assert house.driver.done() == [] and house.value("mem:front_door", Trait.LOCKED) is True


async def test_lock_the_front_door(house: House) -> None:
    result = await house.say("lock the front door")
    assert result.reply.text == "Locked the front door" and result.reply.ok
    assert house.driver.done() == [("mem:front_door", "locked", True)]


async def test_unlock_with_the_pin_in_the_same_sentence(unlocking_house: House) -> None:
    house = unlocking_house
    result = await house.say("unlock the front door")
    assert result.reply.text == "To unlock the front door, say the command with the PIN"
    result = await house.say("unlock the front door 1357")
    assert result.reply.text == "Sorry, that PIN is not right" and house.driver.done() == []
    result = await house.say(f"unlock the front door with pin {PIN}")
    assert result.reply.text == "Unlocked the front door" and result.reply.ok
    assert house.driver.done() == [("mem:front_door", "locked", False)]


async def test_the_pin_is_never_logged_or_published(
    unlocking_house: House, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    published = []
    unlocking_house.pipeline.result_listeners.append(lambda r: published.append(r.to_json()))
    result = await unlocking_house.say(f"unlock the front door {PIN}")
    assert result.reply.ok
    assert result.text == "unlock the front door ****" and "pin" not in result.intent.slots
    assert PIN not in caplog.text
    assert PIN not in repr(unlocking_house.events) and PIN not in repr(published)
    assert PIN not in repr(unlocking_house.pipeline.history("study"))


async def test_garage_door_needs_a_yes(house: House) -> None:
    result = await house.say("open the garage door")
    assert result.reply.text == "Do you want me to open the garage door?"
    assert result.reply.ok and result.results == () and house.driver.done() == []
    result = await house.say("yes")
    assert result.reply.text == "Opened the garage door" and result.reply.ok
    assert house.driver.done() == [("mem:garage_door", "cover", "open")]
    # the question was answered: another yes does nothing
    result = await house.say("yes")
    assert result.reply.text == "There is nothing waiting for a yes"
    assert house.driver.done() == []


async def test_no_drops_the_question(house: House) -> None:
    await house.say("open the garage door")
    result = await house.say("no")
    assert result.reply.text == "OK, I left the garage door alone"
    assert (await house.say("yes")).reply.text == "There is nothing waiting for a yes"
    assert house.driver.done() == []


async def test_anything_else_drops_the_question(house: House) -> None:
    await house.say("open the garage door")
    result = await house.say("turn on the desk lamp")
    assert result.reply.text == "Turned on the desk lamp"
    assert (await house.say("yes")).reply.text == "There is nothing waiting for a yes"
    assert house.driver.done() == [("mem:desk_lamp", "on_off", True)]


async def test_a_yes_from_another_hub_does_nothing(house: House) -> None:
    await house.say("open the garage door", site="garage-hub")
    assert (await house.say("yes", site="study-hub")).reply.text.startswith("There is nothing")
    assert (await house.say("yes", site="garage-hub")).reply.text == "Opened the garage door"


async def test_closing_the_garage_door_needs_no_yes(house: House) -> None:
    result = await house.say("close the garage door")
    assert result.reply.text == "Closed the garage door"
    assert house.driver.done() == [("mem:garage_door", "cover", "close")]


async def test_sensitive_device_needs_a_yes(house: House) -> None:
    result = await house.say("turn on the space heater")
    assert result.reply.text == "Do you want me to turn on the space heater?"
    result = await house.say("do it")
    assert result.reply.text == "Turned on the space heater"
    assert house.value("mem:space_heater", Trait.ON_OFF) is True


async def test_turn_off_everything_leaves_risky_devices_alone(house: House) -> None:
    for name in ("desk lamp", "garage light"):
        await house.say(f"turn on the {name}")
    house.driver.done()
    result = await house.say("turn off everything")
    assert result.reply.ok, result.reply.text
    assert result.reply.text == (
        "Turned off 3 devices. I left the front door, the garage door and the space heater alone"
    )
    touched = {device for device, _, _ in house.driver.done()}
    assert touched == {"mem:garage_light", "mem:desk_lamp", "mem:study_blind"}
    assert house.value("mem:front_door", Trait.LOCKED) is True


async def test_open_all_covers_skips_the_garage_door(house: House) -> None:
    result = await house.say("open all the covers")
    assert result.reply.text == "Opened the study blind. I left the garage door alone"
    assert house.driver.done() == [("mem:study_blind", "cover", "open")]
    result = await house.say("open the covers in the garage")
    assert result.reply.text == "I left the garage door alone" and not result.reply.ok
    assert house.driver.done() == []


async def test_turn_it_off_after_turn_on_the_desk_lamp(house: House) -> None:
    await house.say("turn on the desk lamp")
    result = await house.say("turn it off")
    assert result.reply.text == "Turned off the desk lamp"
    assert result.intent.slots["device_ids"] == ("mem:desk_lamp",)
    assert house.driver.done() == [
        ("mem:desk_lamp", "on_off", True),
        ("mem:desk_lamp", "on_off", False),
    ]


async def test_open_it_after_a_no_still_asks(house: House) -> None:
    await house.say("open the garage door")
    await house.say("no")
    result = await house.say("open it")
    assert result.reply.text == "Do you want me to open the garage door?"
    assert house.driver.done() == []


async def test_audit_lines_name_the_source_and_decision(
    house: House, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="assistant.audit")
    await house.say("turn on the desk lamp")
    await house.say("open the garage door", site="hub1")
    await house.say("yes", site="hub1")
    await house.say("unlock the front door")
    lines = [r.getMessage() for r in caplog.records if r.name == "assistant.audit"]
    assert [line.split(" ", 1)[1] for line in lines] == [
        "source=grammar site=study device=mem:desk_lamp command=on_off=True "
        "decision=allowed reason=ok",
        "source=grammar site=hub1 device=mem:garage_door command=cover='open' "
        "decision=held reason=needs-confirmation",
        "source=grammar site=hub1 device=mem:garage_door command=cover='open' "
        "decision=allowed reason=confirmed",
        "source=grammar site=study device=mem:front_door command=locked=False "
        "decision=refused reason=unlock-disabled",
    ]


async def test_turn_events_of_a_refused_turn(house: House) -> None:
    house.events.clear()
    await house.say("unlock the front door")
    types = [e.type for e in house.events]
    assert TurnEventType.RESULT not in types and types[-1] is TurnEventType.TURN_END


async def llm_turn(house: House, intent: Intent, *, site: str = "study"):
    """A turn whose intent came from the LLM (as a tool call), through the same pipeline."""
    turn = house.pipeline.new_turn("(llm)", area_id="study", site=site)
    intent, outcome = await house.pipeline.act_on(turn, intent, area_id="study")
    return house.pipeline.end_turn(turn, outcome.reply, intent, outcome.results)


def llm(intent: str, /, **slots: object) -> Intent:
    return Intent(intent, slots, source=IntentSource.LLM)


async def test_the_llm_cannot_unlock_even_with_the_pin(unlocking_house: House) -> None:
    # e.g. after a camera frame showing "unlock the front door 2468"
    result = await llm_turn(unlocking_house, llm("HassTurnOff", name="front door", pin=PIN))
    assert result.reply.text == "To unlock the front door, say the command with the PIN"
    assert unlocking_house.driver.done() == [] and "pin" not in result.intent.slots


async def test_an_llm_garage_door_open_waits_for_a_spoken_yes(house: House) -> None:
    result = await llm_turn(house, llm("HassTurnOn", name="garage door"))
    assert result.reply.text == "Do you want me to open the garage door?"
    # a "yes" the model makes up answers nothing; only a spoken one does
    assert (await llm_turn(house, llm("MimoConfirm"))).reply.text == (
        "There is nothing waiting for a yes"
    )
    assert house.driver.done() == []
    await llm_turn(house, llm("HassTurnOn", name="garage door"))
    assert (await house.say("yes")).reply.text == "Opened the garage door"
    assert house.driver.done() == [("mem:garage_door", "cover", "open")]


async def test_the_llm_cannot_touch_unexposed_devices(house: House) -> None:
    hidden = dataclasses.replace(house.registry.device("mem:desk_lamp"), exposed=False)
    house.registry.add_device(hidden)
    result = await llm_turn(house, llm("HassTurnOn", name="desk lamp"))
    assert result.reply.text == "Sorry, I'm not allowed to control the desk lamp"
    result = await llm_turn(house, llm("HassTurnOn", domain="light"))
    assert [r.device_id for r in result.results] == ["mem:garage_light"]
    assert result.reply.text == "Turned on the garage light"
    assert (await house.say("turn on the desk lamp")).reply.text == "Turned on the desk lamp"
