"""The compact device context: only exposed devices, only relevant ones, one line each."""

from __future__ import annotations

import pytest

from assistant.act.registry import Area, Device, Registry
from assistant.understand.brain import build_context, estimate_tokens
from assistant.understand.brain.context import (
    MAX_DEVICES,
    MAX_UNNARROWED,
    device_line,
    state_summary,
)
from integrations.base import DeviceKind, DeviceSpec, DeviceState, Trait
from tests.llm_server import synthetic_registry


def listed(context) -> list[str]:
    return [d.name for d in context.devices]


@pytest.fixture
def big() -> Registry:
    return synthetic_registry(500, hidden_every=7)


def test_only_exposed_devices_are_ever_listed(big):
    hidden = {d.name for d in big.devices() if not d.exposed}
    assert hidden
    for text in ("turn on everything", "kitchen lamp", "", "Kitchen heater 2"):
        context = build_context(big, [text], speaker_area="kitchen")
        assert not hidden & set(listed(context))
        assert context.exposed == 500 - len(hidden)


def test_a_named_device_and_its_kin_in_that_room(big):
    context = build_context(big, ["turn on the study lamp please"], speaker_area="kitchen")
    names = listed(context)
    assert "Study lamp" in names and context.narrowed
    assert len(names) <= MAX_DEVICES
    assert {n for n in names if n.startswith("Study")} <= {
        n for n in names if "lamp" in n or "light" in n
    }
    assert "Bathroom plug" not in names


def test_an_area_without_a_kind_lists_the_room(big):
    context = build_context(big, ["turn everything off in the garage"])
    names = listed(context)
    assert names and all(n.startswith("Garage") for n in names)


def test_a_kind_in_here_means_the_speakers_room(big):
    context = build_context(big, ["it's too dark in here"], speaker_area="bedroom")
    bedroom = [d for d in context.devices if d.area_id == "bedroom"]
    assert bedroom and all(d.kind is DeviceKind.LIGHT for d in bedroom)


def test_a_misheard_name_still_finds_the_device():
    registry = Registry()
    registry.add_area(Area("outside", "Outside"))
    registry.add_area(Area("kitchen", "Kitchen"))
    light = DeviceSpec(DeviceKind.LIGHT, frozenset({Trait.ON_OFF}))
    registry.add_device(Device("v:p", "Porch light", light, "v", "outside"))
    for i in range(30):
        registry.add_device(Device(f"v:{i}", f"Spot {i}", light, "v", "kitchen"))
    context = build_context(registry, ["turn off the porch white"])
    assert listed(context) == ["Porch light"]


def test_recent_turns_make_devices_relevant(big):
    context = build_context(
        big,
        ["turn it off"],
        speaker_area="kitchen",
        history=["turn on the attic fan", "Turned on the attic fan"],
        recent_ids=["virtual:porch_heater"],
    )
    assert {"Attic fan", "Porch heater"} <= set(listed(context))


def test_alternatives_count_as_said(big):
    context = build_context(big, ["turn on the pantry white", "turn on the pantry light"])
    assert "Pantry light" in listed(context)


def test_nothing_narrows_so_a_capped_list_is_sent(big):
    context = build_context(big, ["hello there"])
    assert not context.narrowed and len(context.devices) == MAX_UNNARROWED


def test_small_home_sends_everything_relevant():
    registry = synthetic_registry(10)
    context = build_context(registry, ["what's up"], speaker_area=None)
    assert len(context.devices) == 10


def test_lines_are_compact_and_carry_state():
    registry = Registry()
    registry.add_area(Area("kitchen", "Kitchen"))
    spec = DeviceSpec(DeviceKind.LIGHT, frozenset({Trait.ON_OFF, Trait.BRIGHTNESS}))
    registry.add_device(
        Device("v:l", "Kitchen light", spec, "v", "kitchen", aliases=("a", "b", "c"))
    )
    registry.update_state("v:l", {Trait.ON_OFF: True, Trait.BRIGHTNESS: 80})
    context = build_context(registry, ["kitchen light"], speaker_area="kitchen")
    assert context.text.splitlines() == [
        "Speaker is in area: kitchen",
        "Devices (1 of 1; name | kind | area | state):",
        "Kitchen light (a, b) | light | kitchen | on 80%",
    ]


@pytest.mark.parametrize(
    ("kind", "values", "available", "expected"),
    [
        (DeviceKind.LIGHT, {Trait.ON_OFF: False, Trait.BRIGHTNESS: 50}, True, "off"),
        (DeviceKind.COVER, {Trait.POSITION: 0}, True, "closed"),
        (DeviceKind.COVER, {Trait.POSITION: 40}, True, "open 40%"),
        (DeviceKind.FAN, {Trait.ON_OFF: True, Trait.FAN_SPEED: 60}, True, "on speed 60%"),
        (
            DeviceKind.CLIMATE,
            {Trait.ON_OFF: True, Trait.CURRENT_TEMPERATURE: 20.5, Trait.TARGET_TEMPERATURE: 23},
            True,
            "on 20.5°C set 23°C",
        ),
        (DeviceKind.VACUUM, {Trait.VACUUM: "cleaning"}, True, "cleaning"),
        (DeviceKind.LOCK, {Trait.LOCKED: True}, True, "locked"),
        (DeviceKind.LIGHT, {Trait.ON_OFF: True}, False, "offline"),
        (DeviceKind.LIGHT, {}, False, "unknown"),
        (DeviceKind.SENSOR, {}, True, "-"),
    ],
)
def test_state_summary(kind, values, available, expected):
    device = Device("v:x", "X", DeviceSpec(kind, frozenset(values)), "v")
    assert state_summary(device, DeviceState(values, available)) == expected


def test_device_line_without_area():
    device = Device("v:x", "Lamp", DeviceSpec(DeviceKind.LIGHT, frozenset()), "v")
    assert device_line(device, DeviceState({}, True)) == "Lamp | light | - | -"


def test_token_estimate():
    assert estimate_tokens("") == 0
    assert estimate_tokens("turn on the kitchen lamp") == 5
    assert estimate_tokens('{"name": "Kitchen lamp"}') == 7
    assert estimate_tokens("1234567") == 3
    assert estimate_tokens("客厅的灯") == 4
    assert estimate_tokens("internationalization") == 3


def test_500_devices_stay_small(big):
    for text in ("turn on the kitchen lamp", "it's too dark in here", "make the study cosy"):
        context = build_context(big, [text], speaker_area="living_room")
        assert estimate_tokens(context.text) < 450, text
