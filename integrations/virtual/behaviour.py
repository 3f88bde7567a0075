"""What a virtual device does beyond storing values: actions and the effects of some writes.

A vacuum starts cleaning on ``start-sweep`` and docks on ``start-charge``; a curtain's
``motor-control`` open moves it to 100 %, and ``target-position`` moves ``current-position``
at once (a real motor takes a few seconds). Everything is found by URN name, never by iid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from integrations.miio.model import MiotAction, MiotProperty, MiotService

from .state import BAD_ARGUMENTS, VirtualState

__all__ = ["after_write", "run_action"]

_CLEANING = ("sweeping", "cleaning", "sweeping and mopping")


def _words(text: str) -> str:
    return " ".join(text.lower().split())


def _service(state: VirtualState, name: str) -> MiotService | None:
    return next((s for s in state.spec.services if s.name == name), None)


def _prop(state: VirtualState, service: str, name: str) -> MiotProperty | None:
    found = _service(state, service)
    return found.property(name) if found is not None else None


def _put_choice(state: VirtualState, prop: MiotProperty | None, words: Sequence[str]) -> None:
    """Set a value-list property to the first entry whose description is one of ``words``."""
    if prop is None:
        return
    by_words = {_words(d): v for v, d in prop.value_list}
    for word in words:
        if word in by_words:
            state.put(prop, by_words[word])
            return


def _vacuum_status(state: VirtualState, words: Sequence[str], charging: Sequence[str]) -> None:
    _put_choice(state, _prop(state, "vacuum", "status"), words)
    _put_choice(state, _prop(state, "battery", "charging-state"), charging)


def _toggle(state: VirtualState, action: MiotAction) -> None:
    prop = _prop(state, action.service, "on")
    if prop is not None:
        state.put(prop, not state.values[prop.key])


_EFFECTS = {
    "start-sweep": lambda s, a: _vacuum_status(s, _CLEANING, ("not charging",)),
    "start-clean": lambda s, a: _vacuum_status(s, _CLEANING, ("not charging",)),
    "stop-sweeping": lambda s, a: _vacuum_status(s, ("idle", "paused"), ()),
    "stop-clean": lambda s, a: _vacuum_status(s, ("idle", "paused"), ()),
    "start-charge": lambda s, a: _vacuum_status(s, ("charging",), ("charging",)),
    "toggle": _toggle,
}


def run_action(state: VirtualState, action: MiotAction, params: Sequence[Any]) -> int:
    """Carry out ``action``; returns the MIoT code (0 when done)."""
    if len(params) != len(action.ins):
        return BAD_ARGUMENTS
    effect = _EFFECTS.get(action.name)
    if effect is not None:
        effect(state, action)
    return 0


def _move_curtain(state: VirtualState, service: str, position: int | None) -> None:
    for name in ("current-position", "target-position"):
        prop = _prop(state, service, name)
        if prop is not None and position is not None:
            state.put(prop, prop.clamp(position))
    _put_choice(state, _prop(state, service, "status"), ("stopped", "stop"))


def after_write(state: VirtualState, prop: MiotProperty, value: Any) -> None:
    """Side effects of a successful write of ``value`` to ``prop``."""
    if prop.name == "target-position":
        _move_curtain(state, prop.service, value)
    elif prop.name == "motor-control":
        word = next((_words(d) for v, d in prop.value_list if v == value), "")
        target = {"open": 100, "close": 0}.get(word)
        _move_curtain(state, prop.service, target)
