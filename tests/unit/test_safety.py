"""Safety decisions: exposure, bulk, PIN, confirmation, the per-turn cap, the audit log."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from assistant.act.registry import Area, Device, Registry
from assistant.act.safety import (
    PIN_ATTEMPTS,
    PIN_LOCKOUT,
    Action,
    Reason,
    Request,
    Safety,
    is_risky,
    redact_pin,
    remember_pin,
    spoken_pin,
)
from assistant.config import SafetySettings, Secret
from assistant.messages import DeviceCommand, IntentSource
from integrations.base import DeviceKind, DeviceSpec, Trait

GRAMMAR, LLM = IntentSource.GRAMMAR, IntentSource.LLM
PIN = "4711"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def device(
    name: str,
    kind: DeviceKind,
    traits: set[Trait],
    *,
    device_class: str | None = None,
    exposed: bool = True,
    sensitive: bool = False,
) -> Device:
    spec = DeviceSpec(kind, frozenset(traits), device_class=device_class)
    label = name.replace("_", " ").capitalize()
    return Device(f"t:{name}", label, spec, "t", "home", exposed=exposed, sensitive=sensitive)


LOCK = device("front_door", DeviceKind.LOCK, {Trait.LOCKED})
GARAGE = device("garage_door", DeviceKind.COVER, {Trait.COVER}, device_class="garage")
CURTAIN = device("curtain", DeviceKind.COVER, {Trait.COVER, Trait.POSITION})
LAMP = device("desk_lamp", DeviceKind.LIGHT, {Trait.ON_OFF})
HIDDEN = device("safe_plug", DeviceKind.SWITCH, {Trait.ON_OFF}, exposed=False)
HEATER = device("heater", DeviceKind.SWITCH, {Trait.ON_OFF}, sensitive=True)
PLUGS = [device(f"plug_{i}", DeviceKind.SWITCH, {Trait.ON_OFF}) for i in range(5)]
LAMPS = [device(f"lamp_{i}", DeviceKind.LIGHT, {Trait.ON_OFF}) for i in range(30)]


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    registry.add_area(Area("home", "Home"))
    for d in (LOCK, GARAGE, CURTAIN, LAMP, HIDDEN, HEATER, *PLUGS, *LAMPS):
        registry.add_device(d)
    return registry


@pytest.fixture
def clock() -> Clock:
    return Clock()


def safety(registry: Registry, clock: Clock | None = None, **settings: Any) -> Safety:
    return Safety(SafetySettings(**settings), registry, clock=clock or Clock())


def act(d: Device, trait: Trait, value: object) -> Action:
    return Action(d, (DeviceCommand(d.id, trait, value),))


def request(
    source: IntentSource = GRAMMAR, *, named: bool = True, pin: str | None = None, site="hall"
) -> Request:
    return Request("turn1", site, source, named, pin)


UNLOCK = act(LOCK, Trait.LOCKED, False)
LOCK_IT = act(LOCK, Trait.LOCKED, True)
OPEN_GARAGE = act(GARAGE, Trait.COVER, "open")
UNLOCKING = {"allow_unlock": True, "pin": Secret(PIN)}


def test_ordinary_actions_are_allowed(registry: Registry) -> None:
    review = safety(registry).review(request(), [act(LAMP, Trait.ON_OFF, True)])
    assert [a.device for a in review.allowed] == [LAMP]
    assert review.held == () and review.refused == ()


def test_risky_devices() -> None:
    assert is_risky(LOCK) and is_risky(GARAGE) and is_risky(HEATER)
    assert not is_risky(CURTAIN) and not is_risky(LAMP) and not is_risky(HIDDEN)


def test_llm_may_not_touch_unexposed_devices(registry: Registry) -> None:
    s = safety(registry)
    action = act(HIDDEN, Trait.ON_OFF, True)
    assert s.review(request(LLM), [action]).refused == ((action, Reason.NOT_EXPOSED),)
    assert s.review(request(GRAMMAR), [action]).allowed == (action,)


def test_unlock_is_refused_by_default_even_with_a_pin(registry: Registry) -> None:
    review = safety(registry).review(request(pin=PIN), [UNLOCK])
    assert review.refused == ((UNLOCK, Reason.UNLOCK_DISABLED),)


def test_locking_is_fine(registry: Registry) -> None:
    assert safety(registry).review(request(), [LOCK_IT]).allowed == (LOCK_IT,)


@pytest.mark.parametrize(
    ("spoken", "reason"),
    [
        (None, Reason.PIN_MISSING),
        ("please", Reason.PIN_MISSING),
        ("1234", Reason.PIN_WRONG),
        ("47 11 and more", Reason.PIN_WRONG),
        ("4711", Reason.PIN_OK),
        ("4 7 1 1", Reason.PIN_OK),
        ("four seven one one", Reason.PIN_OK),
        ("pin 4-7-1-1.", Reason.PIN_OK),
    ],
)
def test_unlock_with_the_spoken_pin(registry: Registry, spoken: str | None, reason: Reason) -> None:
    review = safety(registry, **UNLOCKING).review(request(pin=spoken), [UNLOCK])
    if reason is Reason.PIN_OK:
        assert review.allowed == (UNLOCK,)
    else:
        assert review.refused == ((UNLOCK, reason),)


def test_the_llm_can_never_unlock(registry: Registry) -> None:
    # A PIN the model read somewhere (a camera frame, a note) is not a PIN that was said.
    review = safety(registry, **UNLOCKING).review(request(LLM, pin=PIN), [UNLOCK])
    assert review.refused == ((UNLOCK, Reason.PIN_NOT_SPOKEN),)


def test_wrong_pins_pause_unlocking(registry: Registry, clock: Clock) -> None:
    s = safety(registry, clock, **UNLOCKING)
    for _ in range(PIN_ATTEMPTS):
        assert s.review(request(pin="0000"), [UNLOCK]).refused[0][1] is Reason.PIN_WRONG
    assert s.review(request(pin=PIN), [UNLOCK]).refused[0][1] is Reason.PIN_LOCKED_OUT
    clock.now += PIN_LOCKOUT + 1
    assert s.review(request(pin=PIN), [UNLOCK]).allowed == (UNLOCK,)


def test_bulk_commands_leave_risky_devices_alone(registry: Registry) -> None:
    actions = [LOCK_IT, act(GARAGE, Trait.COVER, "close"), act(HEATER, Trait.ON_OFF, False)]
    actions.append(act(LAMP, Trait.ON_OFF, False))
    review = safety(registry, **UNLOCKING).review(request(named=False, pin=PIN), actions)
    assert [a.device for a in review.allowed] == [LAMP]
    assert [(a.device, r) for a, r in review.refused] == [
        (LOCK, Reason.BULK_RISKY),
        (GARAGE, Reason.BULK_RISKY),
        (HEATER, Reason.BULK_RISKY),
    ]


def test_opening_a_garage_door_is_held_closing_is_not(registry: Registry) -> None:
    s = safety(registry)
    assert s.review(request(), [OPEN_GARAGE]).held == (OPEN_GARAGE,)
    close = act(GARAGE, Trait.COVER, "close")
    assert s.review(request(), [close]).allowed == (close,)
    opened = act(GARAGE, Trait.POSITION, 30)
    assert s.review(request(), [opened]).held == (opened,)
    curtain = act(CURTAIN, Trait.COVER, "open")
    assert s.review(request(), [curtain]).allowed == (curtain,)


def test_sensitive_devices_need_a_confirmation(registry: Registry) -> None:
    action = act(HEATER, Trait.ON_OFF, True)
    assert safety(registry).review(request(LLM), [action]).held == (action,)


def test_yes_runs_exactly_the_held_actions(registry: Registry) -> None:
    s = safety(registry)
    s.hold(request(), [OPEN_GARAGE], group="CoverOpen", values={})
    pending = s.take_pending("hall")
    assert pending is not None and s.take_pending("hall") is None
    review = s.confirm(pending, Request("turn2", "hall", GRAMMAR, named=False))
    assert review.allowed == (OPEN_GARAGE,)


def test_a_yes_from_the_llm_or_another_site_confirms_nothing(registry: Registry) -> None:
    s = safety(registry)
    for who in (Request("t2", "hall", LLM, True), Request("t2", "kitchen", GRAMMAR, True)):
        pending = s.hold(request(), [OPEN_GARAGE], group="CoverOpen", values={})
        review = s.confirm(pending, who)
        assert review.allowed == ()
        assert review.refused == ((OPEN_GARAGE, Reason.CONFIRMATION_NOT_SPOKEN),)


def test_a_question_waits_per_site_and_expires(registry: Registry, clock: Clock) -> None:
    s = safety(registry, clock, confirm_timeout=30)
    s.hold(request(site="hall"), [OPEN_GARAGE], group="CoverOpen", values={})
    assert s.take_pending("kitchen") is None
    assert s.pending("hall") is not None
    clock.now += 31
    assert s.pending("hall") is None and s.take_pending("hall") is None


def test_a_removed_device_is_not_confirmed(registry: Registry) -> None:
    s = safety(registry)
    pending = s.hold(request(), [OPEN_GARAGE], group="CoverOpen", values={})
    registry.remove_device(GARAGE.id)
    assert s.confirm(pending, request()).allowed == ()


def test_cap_per_turn_counts_all_but_lights(registry: Registry) -> None:
    s = safety(registry, max_actions_per_turn=3)
    lamps = [act(d, Trait.ON_OFF, False) for d in LAMPS]
    assert len(s.review(request(named=False), lamps).allowed) == 30
    plugs = [act(d, Trait.ON_OFF, False) for d in PLUGS]
    review = s.review(request(named=False), plugs)
    assert review.allowed == () and {r for _, r in review.refused} == {Reason.TOO_MANY}
    assert len(s.review(request(named=False), plugs[:3]).allowed) == 3
    # the same turn has used its three; another turn has its own
    assert s.review(request(named=False), plugs[3:4]).allowed == ()
    s.end_turn("turn1")
    assert len(s.review(request(named=False), plugs[3:4]).allowed) == 1


def test_every_decision_is_audited_without_the_pin(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    s = safety(registry, **UNLOCKING)
    caplog.set_level(logging.INFO, logger="assistant.audit")
    s.review(request(pin=PIN), [UNLOCK])
    s.review(request(LLM), [act(HIDDEN, Trait.ON_OFF, True)])
    s.review(request(), [OPEN_GARAGE])
    lines = [r.getMessage() for r in caplog.records if r.name == "assistant.audit"]
    assert lines == [
        "turn=turn1 source=grammar site=hall device=t:front_door command=locked=False "
        "decision=allowed reason=pin-ok",
        "turn=turn1 source=llm site=hall device=t:safe_plug command=on_off=True "
        "decision=refused reason=not-exposed",
        "turn=turn1 source=grammar site=hall device=t:garage_door command=cover='open' "
        "decision=held reason=needs-confirmation",
    ]
    assert all(PIN not in line for line in caplog.text.splitlines())


def test_request_repr_hides_the_pin() -> None:
    assert PIN not in repr(request(pin=PIN))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("unlock the front door 4711", "unlock the front door ****"),
        ("Unlock the door with pin four seven one one", "Unlock the door with pin * * * *"),
        ("set the lamp to 50 percent", "set the lamp to 50 percent"),
    ],
)
def test_redact_pin(text: str, expected: str) -> None:
    assert redact_pin(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the door code is 8642", "the door code is ****"),
        ("remember 8 6 4 2, it's the code", "remember * * * *, it's the code"),
        ("Eight, six, four, two.", "*, *, *, *."),
        ("eight six four two", "* * * *"),
        ("86420 or 18642 are not it", "86420 or 18642 are not it"),
        ("set the lamp to 86 percent", "set the lamp to 86 percent"),
    ],
)
def test_a_configured_pin_is_masked_wherever_it_is_said(text: str, expected: str) -> None:
    Safety(SafetySettings(allow_unlock=True, pin=Secret("8642")), Registry())
    assert redact_pin(text) == expected


def test_a_remembered_pin_is_masked_every_time_it_is_said() -> None:
    remember_pin("97531")
    remember_pin("97531")
    assert redact_pin("97531 97531") == "***** *****"


def test_spoken_pin() -> None:
    assert spoken_pin("0 1 2 3") == "0123"
    assert spoken_pin("oh one two three") == "0123"
    assert spoken_pin("now") is None
    assert spoken_pin("12 and 34") == "?"


def test_every_refusal_and_question_has_words() -> None:
    from assistant.speak.responses import Responses

    responses = Responses("en")
    internal = responses.render("errors", "internal")
    refusals = set(Reason) - {Reason.OK, Reason.PIN_OK, Reason.CONFIRMED}
    for reason in refusals:
        assert responses.render("safety", str(reason), the_name="x", limit=3) != internal
    groups = ["HassTurnOn", "HassTurnOff", "CoverOpen", "CoverClose", "LockLock", "LockUnlock"]
    groups += ["HassSetPosition", "HassLightSet", "HassFanSetSpeed", "HassClimateSetTemperature"]
    groups += ["HassVacuumStart", "HassVacuumReturnToBase"]
    for group in groups:
        assert responses.render("confirm", group, the_name="x", value=1).startswith("Do you")
