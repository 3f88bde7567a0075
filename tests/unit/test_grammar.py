"""The grammar: HA sentences + ours, slot lists from the registry, speaker's area."""

from __future__ import annotations

import pytest

from assistant.act.registry import Area, Device, Registry
from assistant.understand.grammar import GrammarRecognizer, NoMatch
from integrations.base import DeviceKind, DeviceSpec, Trait

LIGHT = DeviceSpec(DeviceKind.LIGHT, frozenset({Trait.ON_OFF, Trait.BRIGHTNESS}))
PURIFIER = DeviceSpec(DeviceKind.PURIFIER, frozenset({Trait.ON_OFF, Trait.FAN_SPEED}))
VACUUM = DeviceSpec(DeviceKind.VACUUM, frozenset({Trait.VACUUM}))


@pytest.fixture(scope="module")
def recognizer() -> GrammarRecognizer:
    registry = Registry()
    registry.add_area(Area("kitchen", "Kitchen", "Ground floor", ("cooking area",)))
    registry.add_area(Area("living_room", "Living room", "Ground floor"))
    registry.add_area(Area("bedroom", "Bedroom", "First floor"))
    for device in (
        Device("v:lamp", "Living room lamp", LIGHT, "x", "living_room", ("big lamp",)),
        Device("v:bed", "Bedroom light", LIGHT, "x", "bedroom"),
        Device("v:k1", "Kitchen light", LIGHT, "x", "kitchen"),
        Device("v:ap", "Air purifier", PURIFIER, "x", "bedroom"),
        Device("v:vac", "Robot vacuum", VACUUM, "x", "living_room"),
    ):
        registry.add_device(device)
    return GrammarRecognizer(registry)


def _intent(recognizer: GrammarRecognizer, text: str, area: str | None = None):
    result = recognizer.recognize(text, area_id=area)
    assert not isinstance(result, NoMatch), f"{text!r} was not understood: {result}"
    return result


def test_name_by_alias(recognizer):
    intent = _intent(recognizer, "turn on the big lamp")
    assert (intent.name, intent.slots["name"]) == ("HassTurnOn", "big lamp")
    assert intent.source == "grammar"


def test_brightness_slot(recognizer):
    intent = _intent(recognizer, "set the bedroom light to 30 percent")
    assert intent.name == "HassLightSet"
    assert intent.slots == {"name": "bedroom light", "brightness": 30}


def test_name_match_wins_over_area_and_domain(recognizer):
    # "kitchen light" is both a device name and (area kitchen + domain light).
    intent = _intent(recognizer, "turn off the kitchen light")
    assert intent.slots.get("name") == "kitchen light"
    assert "domain" not in intent.slots


def test_area_and_domain(recognizer):
    intent = _intent(recognizer, "turn off all the lights in the cooking area")
    assert intent.name == "HassTurnOff"
    assert intent.slots == {"area": "kitchen", "domain": "light"}


def test_speaker_area_is_the_context(recognizer):
    intent = _intent(recognizer, "turn off the lights in here", area="bedroom")
    assert intent.slots == {"area": "bedroom", "domain": "light"}


@pytest.mark.parametrize(
    "text", ["turn on the lights", "turn off the lights in here", "what is the temperature"]
)
def test_no_area_context_asks_for_the_room(recognizer, text):
    result = recognizer.recognize(text)
    assert isinstance(result, NoMatch)
    assert result.needs_area and not result.unknown


@pytest.mark.parametrize(
    ("text", "name"), [("turn on the tv", "tv"), ("turn on the kitchen radio", "radio")]
)
def test_unknown_single_word_names(recognizer, text, name):
    result = recognizer.recognize(text)
    assert isinstance(result, NoMatch) and result.unknown == {"name": name}


def test_floor(recognizer):
    intent = _intent(recognizer, "turn off the lights on the ground floor")
    assert intent.slots == {"floor": "ground_floor", "domain": "light"}


def test_state_question(recognizer):
    intent = _intent(recognizer, "is the air purifier on?")
    assert intent.name == "HassGetState"
    assert intent.slots == {"name": "air purifier", "state": "on"}


def test_our_vacuum_sentences(recognizer):
    assert _intent(recognizer, "send the robot vacuum home").name == "HassVacuumReturnToBase"
    assert _intent(recognizer, "start the robot vacuum").name == "HassVacuumStart"


def test_out_of_range_brightness_is_understood(recognizer):
    intent = _intent(recognizer, "set the bedroom light to 150%")
    assert intent.slots["brightness"] == 150


def test_unknown_area_is_named(recognizer):
    result = recognizer.recognize("turn on the lights in the garage")
    assert isinstance(result, NoMatch)
    assert result.unknown == {"area": "garage"}


def test_gibberish(recognizer):
    result = recognizer.recognize("purple monkey dishwasher")
    assert isinstance(result, NoMatch) and not result.unknown


def test_new_device_is_picked_up(recognizer):
    registry = recognizer._registry
    registry.add_device(Device("v:new", "Desk lamp", LIGHT, "x", "bedroom"))
    assert _intent(recognizer, "turn on the desk lamp").slots["name"] == "desk lamp"


def test_unknown_device_name_is_named(recognizer):
    result = recognizer.recognize("turn on the garage lamp")
    assert isinstance(result, NoMatch)
    assert result.unknown == {"name": "garage lamp"}


def test_plural_after_unknown_area_stays_an_area(recognizer):
    result = recognizer.recognize("turn on the garage lights")
    assert isinstance(result, NoMatch) and result.unknown == {"area": "garage"}


def test_pieces_of_the_sentence_are_never_called_names(recognizer):
    for text in ("is the reading lamp on", "blah blah", "set the study lamp to 20%"):
        result = recognizer.recognize(text)
        assert isinstance(result, NoMatch)
        assert not any(w in v.split() for v in result.unknown.values() for w in ("is", "set", "to"))


@pytest.mark.parametrize(
    ("text", "area", "slots"),
    [
        (
            "set the kitchen lights to 20%",
            None,
            {"area": "kitchen", "domain": "light", "brightness": 20},
        ),
        (
            "dim the lights in the kitchen to 5 percent",
            None,
            {"area": "kitchen", "domain": "light", "brightness": 5},
        ),
        (
            "set the lights to 40%",
            "bedroom",
            {"area": "bedroom", "domain": "light", "brightness": 40},
        ),
        ("dim the bedroom light to 10%", None, {"name": "bedroom light", "brightness": 10}),
    ],
)
def test_our_brightness_sentences(recognizer, text, area, slots):
    intent = _intent(recognizer, text, area)
    assert intent.name == "HassLightSet"
    assert intent.slots == slots


@pytest.mark.parametrize(
    ("text", "floor"),
    [
        ("turn on the lights upstairs", "first_floor"),
        ("switch off all the lights downstairs", "ground_floor"),
        ("turn off the lights on the first floor", "first_floor"),
    ],
)
def test_floors_by_name_or_alias(text, floor):
    from assistant.act.targets import resolve_targets

    registry = Registry()
    registry.add_floor_aliases("Ground floor", ["downstairs"])
    registry.add_floor_aliases("First floor", ["upstairs"])
    registry.add_area(Area("kitchen", "Kitchen", "Ground floor"))
    registry.add_area(Area("bedroom", "Bedroom", "First floor"))
    registry.add_device(Device("v:k", "Kitchen light", LIGHT, "x", "kitchen"))
    registry.add_device(Device("v:b", "Bedroom light", LIGHT, "x", "bedroom"))
    assert registry.floor_names()["first_floor"] == ("First floor", "upstairs")
    intent = _intent(GrammarRecognizer(registry), text, area="kitchen")
    assert intent.slots == {"floor": floor, "domain": "light"}
    found = resolve_targets(registry, intent.slots, intent.slot_texts, speaker_area="kitchen")
    assert [d.id for d in found.devices] == ["v:b" if floor == "first_floor" else "v:k"]
