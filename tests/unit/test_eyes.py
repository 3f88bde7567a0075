"""Which questions need eyes (the grammar's reading, seeing words, cameras named or nearby),
and how a ``LookAtCamera`` call names its camera. No camera is contacted here."""

from __future__ import annotations

import json

import pytest

from assistant.act.registry import Area, Device, Registry
from assistant.config import parse_config
from assistant.look import Cameras
from assistant.messages import Intent
from assistant.understand.brain.tools import Rejection, camera_argument, look_tool
from assistant.understand.eyes import Eyes
from assistant.understand.grammar import NoMatch
from integrations.base import DeviceKind, DeviceSpec, Trait

CONFIG = """
areas: [{name: Hallway, aliases: [front door]}, {name: Garden}, {name: Kitchen}]
cameras:
  - {name: Doorbell, area: Hallway, file: /nonexistent/doorbell.mp4}
  - {name: Garden camera, area: Garden, file: /nonexistent/garden.mp4}
"""


@pytest.fixture
def eyes() -> Eyes:
    registry = Registry()
    for area_id, name, aliases in (
        ("hallway", "Hallway", ("front door",)),
        ("garden", "Garden", ()),
        ("kitchen", "Kitchen", ()),
    ):
        registry.add_area(Area(area_id, name, aliases=aliases))
    lock = DeviceSpec(DeviceKind.LOCK, frozenset({Trait.LOCKED}))
    registry.add_device(Device("m:lock", "Front door lock", lock, "m", "hallway"))
    return Eyes(Cameras.from_settings(parse_config(CONFIG, environ={})), registry)


def state(slots: dict[str, str], text: str = "") -> Intent:
    return Intent("HassGetState", slots, text=text, slot_texts={"state": slots.get("state", "")})


def names(found) -> list[str]:
    return [camera.name for camera in found]


@pytest.mark.parametrize(
    ("text", "area", "expected"),
    [
        ("is anyone at the front door?", "kitchen", ["Doorbell"]),  # an area alias
        ("what's happening in the garden", "kitchen", ["Garden camera"]),
        ("look at the garden camera", None, ["Garden camera"]),
        ("show me the doorbell", "garden", ["Doorbell"]),
        ("did the parcel arrive", "hallway", ["Doorbell"]),  # the hub's own camera
        ("did the parcel arrive", "kitchen", []),  # no camera in the kitchen
        ("did the parcel arrive in the garden", "hallway", ["Garden camera"]),
        ("is anyone in the kitchen", "hallway", []),  # another place, without a camera
        ("water the garden please", "garden", []),  # nothing about seeing
        ("any camera", "garden", ["Garden camera"]),  # "camera" near the hub
    ],
)
def test_no_match_questions(eyes, text, area, expected):
    assert names(eyes.cameras_for(text, NoMatch(text), area)) == expected


def test_the_grammars_reading_decides_first(eyes):
    text = "is anyone at the front door?"
    nobody = state({"state": "front door", "domain": "person"}, text)
    assert names(eyes.cameras_for(text, nobody, "kitchen")) == ["Doorbell"]  # no person devices
    locked = state({"name": "front door lock", "state": "locked"}, "is the front door locked")
    assert eyes.cameras_for("is the front door lock locked", locked, "kitchen") == ()
    command = Intent("HassTurnOn", {"area": "garden"}, text="look at the garden lights on")
    assert eyes.cameras_for(command.text, command, "garden") == ()
    refer = state({"refer": "it"}, "who is it")
    assert eyes.cameras_for(refer.text, refer, "hallway") == ()


def test_no_cameras_no_eyes():
    eyes = Eyes(Cameras(), Registry())
    assert eyes.cameras_for("is anyone there, camera?", NoMatch("x"), None) == ()


def test_the_look_tool_and_its_argument():
    cameras = ["Doorbell", "Garden camera"]
    tool = look_tool(cameras)["function"]
    assert tool["name"] == "LookAtCamera" and tool["parameters"]["required"] == ["name"]
    assert tool["parameters"]["properties"]["name"]["enum"] == cameras
    assert camera_argument(json.dumps({"name": "garden CAMERA"}), cameras) == "Garden camera"
    for bad in ({"name": "Attic"}, {"name": "Doorbell", "zoom": 2}, {}, {"name": 3}, "[1]", "{"):
        text = bad if isinstance(bad, str) else json.dumps(bad)
        rejection = camera_argument(text, cameras)
        assert isinstance(rejection, Rejection) and rejection.problem == "bad_arguments"
