"""HassTurnOn / HassTurnOff: lights, switches, fans, purifiers, climate; covers open/close;
locks lock/unlock (Home Assistant's "lock the front door" is HassTurnOn, "unlock" TurnOff).

Unlocking goes through the same ``act`` as everything else, so safety decides on it (PIN,
never in bulk): this module only plans the command.
"""

from __future__ import annotations

from assistant.messages import DeviceCommand, Intent
from integrations.base import DeviceKind, Trait

from .common import HandlerContext, Outcome, Plan, act, find_targets

__all__ = ["turn_on", "turn_off"]


def _plan(on: bool) -> Plan:
    def plan(device):  # type: ignore[no-untyped-def]
        if device.kind is DeviceKind.COVER:
            if Trait.COVER in device.traits:
                return [DeviceCommand(device.id, Trait.COVER, "open" if on else "close")]
            if Trait.POSITION in device.traits:
                return [DeviceCommand(device.id, Trait.POSITION, 100 if on else 0)]
            return None
        if device.kind is DeviceKind.LOCK:
            if Trait.LOCKED in device.traits:
                return [DeviceCommand(device.id, Trait.LOCKED, on)]
            return None
        if device.kind is DeviceKind.VACUUM and Trait.VACUUM in device.traits:
            return [DeviceCommand(device.id, Trait.VACUUM, "start" if on else "dock")]
        if Trait.ON_OFF in device.traits:
            return [DeviceCommand(device.id, Trait.ON_OFF, on)]
        return None

    return plan


def _group(intent: Intent, kinds: set[DeviceKind], on: bool) -> str:
    """The reply templates: "Opened ...", "Locked ...", else "Turned on ..."."""
    if kinds == {DeviceKind.COVER}:
        return "CoverOpen" if on else "CoverClose"
    if kinds == {DeviceKind.LOCK}:
        return "LockLock" if on else "LockUnlock"
    return intent.name


async def _turn(ctx: HandlerContext, intent: Intent, on: bool) -> Outcome:
    targets = find_targets(ctx, intent)
    if isinstance(targets, Outcome):
        return targets
    group = _group(intent, {d.kind for d in targets.devices}, on)
    return await act(ctx, group, targets, _plan(on))


async def turn_on(ctx: HandlerContext, intent: Intent) -> Outcome:
    return await _turn(ctx, intent, True)


async def turn_off(ctx: HandlerContext, intent: Intent) -> Outcome:
    return await _turn(ctx, intent, False)
