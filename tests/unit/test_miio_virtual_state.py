"""The virtual device's state: valid defaults for every bundled model, per-item codes, effects."""

from __future__ import annotations

import pytest

from integrations.miio.spec import bundled_models, load_spec
from integrations.virtual.behaviour import after_write, run_action
from integrations.virtual.state import (
    BAD_ARGUMENTS,
    BAD_VALUE,
    NOT_FOUND,
    NOT_READABLE,
    NOT_WRITABLE,
    VirtualState,
)


@pytest.mark.parametrize("model", bundled_models())
def test_defaults_are_valid(model: str) -> None:
    spec = load_spec(model)
    state = VirtualState(spec)
    for prop in spec.properties():
        assert prop.problem(state.values[prop.key]) is None, (model, prop.name)


def test_sensible_defaults() -> None:
    vac = VirtualState(load_spec("dreame.vacuum.p2008"))
    spec = vac.spec
    assert spec.decode(vac.values) == {"vacuum": "docked", "battery": 100, "mode": "silent"}
    ac = load_spec("xiaomi.airc.r24r00")
    assert ac.decode(VirtualState(ac).values)["target_temperature"] == 24.0


def test_item_codes() -> None:
    spec = load_spec("dooya.curtain.m2")
    state = VirtualState(spec)
    motor = spec.binding("cover").write
    current = spec.binding("position").read
    assert motor is not None and current is not None
    assert state.read(*motor.key)[0] == NOT_READABLE
    assert state.write(*current.key, 50) == NOT_WRITABLE
    assert state.read(42, 1)[0] == NOT_FOUND
    target = spec.binding("position").write
    assert target is not None
    assert state.write(*target.key, 101) == BAD_VALUE
    assert state.write(*target.key, 50.5) == BAD_VALUE
    assert state.write(*target.key, True) == BAD_VALUE
    assert state.write(*target.key, 50) == 0


def test_curtain_and_vacuum_effects() -> None:
    curtain = load_spec("lumi.curtain.hagl08")
    state = VirtualState(curtain)
    motor = curtain.binding("cover").write
    assert motor is not None
    open_value = curtain.encode("cover", "open").value  # type: ignore[union-attr]
    assert state.write(*motor.key, open_value) == 0
    after_write(state, motor, open_value)
    assert curtain.decode(state.values)["position"] == 100

    vac = load_spec("dreame.vacuum.p2008")
    state = VirtualState(vac)
    start = dict(vac.binding("vacuum").actions)["start"]
    assert run_action(state, start, []) == 0
    assert vac.decode(state.values)["vacuum"] == "cleaning"
    assert run_action(state, start, [1]) == BAD_ARGUMENTS


def test_toggle_action() -> None:
    plug = load_spec("cuco.plug.cp1")
    state = VirtualState(plug)
    toggle = next(a for s in plug.services for a in s.actions if a.name == "toggle")
    run_action(state, toggle, [])
    assert plug.decode(state.values) == {"on_off": True}
