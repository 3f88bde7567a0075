"""HassSetPosition (covers) and HassFanSetSpeed (fans, purifiers)."""

from __future__ import annotations

from assistant.messages import DeviceCommand, Intent
from integrations.base import Trait

from .common import HandlerContext, Outcome, act, find_targets, refuse

__all__ = ["set_position", "fan_set_speed"]


async def set_position(ctx: HandlerContext, intent: Intent) -> Outcome:
    position = round(float(intent.slots["position"]))
    if not 0 <= position <= 100:
        return refuse(ctx, intent.name, "out_of_range", value=f"{position}%")
    targets = find_targets(ctx, intent, domain="cover")
    if isinstance(targets, Outcome):
        return targets

    def plan(device):  # type: ignore[no-untyped-def]
        if Trait.POSITION not in device.traits:
            return None
        return [DeviceCommand(device.id, Trait.POSITION, position)]

    return await act(ctx, intent.name, targets, plan, value=position)


async def fan_set_speed(ctx: HandlerContext, intent: Intent) -> Outcome:
    speed = min(max(round(float(intent.slots["percentage"])), 0), 100)
    targets = find_targets(ctx, intent, domain="fan")
    if isinstance(targets, Outcome):
        return targets

    def plan(device):  # type: ignore[no-untyped-def]
        if speed == 0 and Trait.ON_OFF in device.traits:
            return [DeviceCommand(device.id, Trait.ON_OFF, False)]
        if Trait.FAN_SPEED not in device.traits:
            return None
        return [
            DeviceCommand(device.id, Trait.ON_OFF, True),
            DeviceCommand(device.id, Trait.FAN_SPEED, speed),
        ]

    return await act(ctx, intent.name, targets, plan, value=speed)
