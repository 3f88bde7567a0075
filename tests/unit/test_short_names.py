"""Short names: "the ceiling light" in the kitchen, "the purifier"; never for risky devices."""

from __future__ import annotations

import pytest

from assistant.act.registry import Area, Device, Registry
from assistant.act.targets import resolve_targets
from assistant.understand.grammar import GrammarRecognizer, NoMatch
from integrations.base import DeviceKind, DeviceSpec, Trait

LIGHT = DeviceSpec(DeviceKind.LIGHT, frozenset({Trait.ON_OFF, Trait.BRIGHTNESS}))
PURIFIER = DeviceSpec(DeviceKind.PURIFIER, frozenset({Trait.ON_OFF, Trait.FAN_SPEED}))
LOCK = DeviceSpec(DeviceKind.LOCK, frozenset({Trait.LOCKED}))
GARAGE = DeviceSpec(DeviceKind.COVER, frozenset({Trait.COVER}), device_class="garage")
CURTAIN = DeviceSpec(DeviceKind.COVER, frozenset({Trait.COVER}), device_class="curtain")
SWITCH = DeviceSpec(DeviceKind.SWITCH, frozenset({Trait.ON_OFF}))


def home() -> Registry:
    registry = Registry()
    registry.add_area(Area("kitchen", "Kitchen", "Ground floor"))
    registry.add_area(Area("living_room", "Living room", "Ground floor", ("lounge",)))
    registry.add_area(Area("bedroom", "Bedroom", "First floor"))
    for device in (
        Device("v:kc", "Kitchen ceiling light", LIGHT, "x", "kitchen"),
        Device("v:kn", "Kitchen counter light", LIGHT, "x", "kitchen"),
        Device("v:bc", "Bedroom ceiling light", LIGHT, "x", "bedroom"),
        Device("v:lamp", "Living room lamp", LIGHT, "x", "living_room"),
        Device("v:ap", "Air purifier", PURIFIER, "x", "bedroom"),
        Device("v:door", "Front door lock", LOCK, "x", "living_room"),
        Device("v:garage", "Double garage door", GARAGE, "x"),
        Device("v:heat", "Guest towel heater", SWITCH, "x", sensitive=True),
        Device("v:curt", "Bedroom blackout curtain", CURTAIN, "x", "bedroom"),
        Device("v:desk", "Desk lamp", LIGHT, "x", "bedroom"),
        Device("v:odesk", "Office desk lamp", LIGHT, "x"),
        Device("v:old", "Old kitchen", SWITCH, "x"),
    ):
        registry.add_device(device)
    return registry


def test_short_names_are_tails_of_the_name_after_the_room():
    short = home().short_names()
    assert short["v:kc"] == ("ceiling light",)  # not "light": a kind, not a name
    assert short["v:kn"] == ("counter light",)
    assert short["v:ap"] == ("purifier",)
    assert short["v:curt"] == ("blackout curtain",)
    assert "v:lamp" not in short  # "room lamp" starts inside the room's name; "lamp" is a kind


def test_risky_devices_are_called_by_their_name_only():
    short = home().short_names()
    assert {"v:door", "v:garage", "v:heat"}.isdisjoint(short)


def test_a_name_something_else_has_is_not_a_short_name():
    short = home().short_names()
    assert "v:odesk" not in short  # the bedroom's "Desk lamp" is called "desk lamp"
    assert "v:old" not in short  # "kitchen" is a room


def test_a_full_name_wins_over_a_short_name():
    registry = home()
    assert [d.id for d in registry.find_by_name("desk lamp")] == ["v:desk"]
    assert [d.id for d in registry.find_by_name("Purifier")] == ["v:ap"]
    registry.add_device(Device("v:p2", "Purifier", PURIFIER, "x", "kitchen"))
    assert [d.id for d in registry.find_by_name("purifier")] == ["v:p2"]
    assert "v:ap" not in registry.short_names()  # "purifier" is now a name


@pytest.fixture(scope="module")
def recognizer() -> GrammarRecognizer:
    return GrammarRecognizer(home())


def _targets(recognizer: GrammarRecognizer, text: str, area: str | None):
    intent = recognizer.recognize(text, area_id=area)
    assert not isinstance(intent, NoMatch), f"{text!r}: {intent}"
    found = resolve_targets(
        recognizer._registry, intent.slots, intent.slot_texts, speaker_area=area
    )
    return intent, found


@pytest.mark.parametrize(
    ("text", "area", "expected"),
    [
        ("turn on the ceiling light", "kitchen", ["v:kc"]),
        ("turn on the ceiling light", "bedroom", ["v:bc"]),
        ("switch off the purifier", None, ["v:ap"]),
        ("set the counter light to 60 percent", "living_room", ["v:kn"]),
        ("is the purifier on", "kitchen", ["v:ap"]),
        ("turn on the ceiling light in the kitchen", "bedroom", ["v:kc"]),
    ],
)
def test_short_names_are_understood_where_they_are_clear(recognizer, text, area, expected):
    _, found = _targets(recognizer, text, area)
    assert [d.id for d in found.devices] == expected, found


def test_a_short_name_two_rooms_share_asks_which_one_elsewhere(recognizer):
    _, found = _targets(recognizer, "turn on the ceiling light", "living_room")
    assert found.problem == "ambiguous"
    assert sorted(found.details["candidates"]) == ["Bedroom ceiling light", "Kitchen ceiling light"]


def test_kind_words_still_mean_the_rooms_devices(recognizer):
    intent, found = _targets(recognizer, "turn off the lights", "kitchen")
    assert intent.slots == {"area": "kitchen", "domain": "light"}
    assert {d.id for d in found.devices} == {"v:kc", "v:kn"}


@pytest.mark.parametrize(
    "part", ["door", "door lock", "lock", "garage door", "heater", "towel heater"]
)
def test_risky_devices_are_not_reached_by_part_of_their_name(part):
    registry = home()
    assert registry.find_by_name(part) == []
    assert [d.id for d in registry.find_by_name("front door lock")] == ["v:door"]
