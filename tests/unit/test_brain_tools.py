"""Tools = intents: the schemas the model sees and how its calls become Intents."""

from __future__ import annotations

import json

import pytest

from assistant.act.registry import Area, Device, Registry
from assistant.messages import Intent, IntentSource
from assistant.understand.brain import (
    LOOK_TOOL,
    TOOL_SPECS,
    Rejection,
    to_intent,
    tool_definitions,
)
from assistant.understand.brain.tools import is_query
from integrations.base import DeviceKind, DeviceSpec, Trait
from intents.handlers import HANDLERS

LIGHT = DeviceSpec(DeviceKind.LIGHT, frozenset({Trait.ON_OFF, Trait.BRIGHTNESS}))
FAN = DeviceSpec(DeviceKind.PURIFIER, frozenset({Trait.ON_OFF, Trait.FAN_SPEED}))
COVER = DeviceSpec(DeviceKind.COVER, frozenset({Trait.POSITION}))


@pytest.fixture
def registry() -> Registry:
    r = Registry()
    r.add_area(Area("kitchen", "Kitchen", "Ground", aliases=("cooking room",)))
    r.add_area(Area("bedroom", "Bedroom", "First"))
    r.add_area(Area("hallway", "Hallway", "Ground"))
    r.add_device(Device("v:k", "Kitchen light", LIGHT, "v", "kitchen", aliases=("lamp",)))
    r.add_device(Device("v:b", "Bed lamp", LIGHT, "v", "bedroom", aliases=("lamp",)))
    r.add_device(Device("v:p", "Air purifier", FAN, "v", "bedroom"))
    r.add_device(Device("v:c", "Bedroom curtain", COVER, "v", "bedroom"))
    r.add_device(Device("v:h", "Hall light", LIGHT, "v", "hallway"))
    r.add_device(Device("v:s", "Secret lamp", LIGHT, "v", "hallway", exposed=False))
    return r


def call(registry: Registry, tool: str, args: object, **kw: object) -> Intent | Rejection:
    text = args if isinstance(args, str) else json.dumps(args)
    return to_intent(tool, text, registry, supported=HANDLERS, text="said", **kw)  # type: ignore[arg-type]


def test_the_queries_are_the_intents_that_get():
    """Their answers go back to the model; a round of other calls ends the turn."""
    queries = {spec.intent for spec in TOOL_SPECS if is_query(spec.intent)}
    assert queries == {"HassGetState", "HassClimateGetTemperature"}
    assert is_query("HassGetWeather") and is_query("HassGetCurrentTime")
    assert not is_query("HassTurnOn") and not is_query(LOOK_TOOL)
    assert not is_query("HassGetaway")  # "Get" must be a whole word of the CamelCase name


def test_one_tool_per_supported_intent():
    tools = tool_definitions(HANDLERS)
    names = [t["function"]["name"] for t in tools]
    assert names == [spec.intent for spec in TOOL_SPECS]
    assert set(names) <= set(HANDLERS)
    assert {
        "HassTurnOn",
        "HassTurnOff",
        "HassLightSet",
        "HassGetState",
        "HassSetPosition",
        "HassFanSetSpeed",
        "HassClimateSetTemperature",
        "HassClimateGetTemperature",
        "HassVacuumStart",
        "HassVacuumReturnToBase",
    } == set(names)
    for tool in tools:
        assert tool["type"] == "function"
        params = tool["function"]["parameters"]
        assert params["type"] == "object"
        assert {"name", "area"} <= set(params["properties"])
        assert set(params.get("required", ())) <= set(params["properties"])
    assert tool_definitions({"HassTurnOn"})[0]["function"]["name"] == "HassTurnOn"


def test_confirmations_are_never_tools():
    names = {t["function"]["name"] for t in tool_definitions({*HANDLERS, "MimoConfirm"})}
    assert not names & {"MimoConfirm", "MimoCancel", "HassNevermind"}


def test_a_named_device_becomes_an_llm_intent(registry):
    intent = call(registry, "HassLightSet", {"name": "Kitchen light", "brightness": 40})
    assert intent == Intent(
        "HassLightSet",
        {"name": "kitchen light", "brightness": 40},
        source=IntentSource.LLM,
        text="said",
        slot_texts={"name": "Kitchen light"},
    )


@pytest.mark.parametrize("name", ["v:k", "kitchen LIGHT", "Kitchen light"])
def test_names_ids_and_case(registry, name):
    intent = call(registry, "HassTurnOn", {"name": name})
    assert isinstance(intent, Intent) and intent.slots == {"name": "kitchen light"}


def test_an_alias_shared_by_two_devices_is_ambiguous_unless_the_area_says(registry):
    rejection = call(registry, "HassTurnOn", {"name": "lamp"})
    assert isinstance(rejection, Rejection) and rejection.problem == "ambiguous"
    assert rejection.details["candidates"] == ["Kitchen light", "Bed lamp"]
    assert "v:k" in rejection.reason and "v:b" in rejection.reason
    intent = call(registry, "HassTurnOn", {"name": "lamp", "area": "bedroom"})
    assert isinstance(intent, Intent) and intent.slots == {"name": "bed lamp", "area": "bedroom"}


def test_areas_by_name_alias_or_id(registry):
    for area in ("Kitchen", "cooking room", "kitchen"):
        intent = call(registry, "HassTurnOff", {"area": area, "domain": "light"})
        assert isinstance(intent, Intent)
        assert intent.slots == {"area": "kitchen", "domain": "light"}
        assert intent.slot_texts == {"area": "Kitchen"}


def test_our_kinds_are_taken_for_domains(registry):
    intent = call(registry, "HassTurnOff", {"area": "bedroom", "domain": "purifier"})
    assert isinstance(intent, Intent) and intent.slots["domain"] == "fan"


def test_no_target_means_the_speakers_area(registry):
    intent = call(registry, "HassTurnOn", {"domain": "light"}, speaker_area="kitchen")
    assert isinstance(intent, Intent) and intent.slots == {"domain": "light", "area": "kitchen"}
    assert call(registry, "HassTurnOn", {"domain": "light"}).problem == "needs_area"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tool", "args", "problem"),
    [
        ("HassUnlock", {"name": "Kitchen light"}, "unknown_tool"),
        ("HassTurnOn", "{nope", "bad_arguments"),
        ("HassTurnOn", "[1, 2]", "bad_arguments"),
        ("HassTurnOn", {"name": 7}, "bad_arguments"),
        ("HassTurnOn", {"name": "Kitchen light", "floor": "Ground"}, "bad_arguments"),
        ("HassTurnOn", {"name": "Kitchen light", "domain": "toaster"}, "bad_arguments"),
        ("HassLightSet", {"name": "Kitchen light"}, "bad_arguments"),
        ("HassLightSet", {"name": "Kitchen light", "brightness": "50"}, "bad_arguments"),
        ("HassLightSet", {"name": "Kitchen light", "brightness": True}, "bad_arguments"),
        ("HassLightSet", {"name": "Kitchen light", "brightness": 150}, "bad_arguments"),
        ("HassLightSet", {"name": "Kitchen light", "brightness": 12.5}, "bad_arguments"),
        ("HassLightSet", {"name": "Kitchen light", "color": "plaid"}, "bad_arguments"),
        ("HassSetPosition", {"name": "Bedroom curtain"}, "bad_arguments"),
        ("HassClimateSetTemperature", {"area": "bedroom", "temperature": 80}, "bad_arguments"),
        ("HassTurnOn", {"name": "Garage lamp"}, "no_device"),
        ("HassTurnOn", {"name": "Kitchen light", "area": "bedroom"}, "no_device"),
        ("HassTurnOn", {"area": "Garden"}, "no_area"),
        ("HassTurnOn", {"name": "Secret lamp"}, "no_device"),
        ("HassTurnOn", {"name": "v:s"}, "no_device"),
        ("HassTurnOn", {"area": "hallway", "domain": "light"}, "not_exposed"),
        ("HassTurnOn", {"area": "hallway"}, "not_exposed"),
    ],
)
def test_bad_calls_are_refused(registry, tool, args, problem):
    rejection = call(registry, tool, args, speaker_area="kitchen")
    assert isinstance(rejection, Rejection), rejection
    assert rejection.problem == problem and rejection.tool == tool and rejection.reason


def test_refusals_never_name_hidden_devices(registry):
    rejection = call(registry, "HassTurnOn", {"name": "Secret lamp"})
    assert isinstance(rejection, Rejection) and "v:s" not in rejection.reason


def test_nulls_mean_not_given_and_whole_floats_are_whole(registry):
    intent = call(registry, "HassSetPosition", {"name": "Bedroom curtain", "position": 30.0})
    assert isinstance(intent, Intent) and intent.slots == {
        "name": "bedroom curtain",
        "position": 30,
    }
    assert isinstance(intent.slots["position"], int)
    intent = call(registry, "HassTurnOn", {"name": "Air purifier", "area": None})
    assert isinstance(intent, Intent) and intent.slots == {"name": "air purifier"}


def test_huge_arguments_are_refused_unread(registry):
    rejection = call(registry, "HassTurnOn", json.dumps({"name": "x" * 5000}))
    assert isinstance(rejection, Rejection) and rejection.reason == "arguments too long"
