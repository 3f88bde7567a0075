"""HassVacuumStart and HassVacuumReturnToBase."""

from __future__ import annotations

from assistant.messages import DeviceCommand, Intent
from integrations.base import Trait

from .common import HandlerContext, Outcome, act, find_targets

__all__ = ["vacuum_start", "vacuum_return"]


async def _vacuum(ctx: HandlerContext, intent: Intent, action: str) -> Outcome:
    targets = find_targets(ctx, intent, domain="vacuum")
    if isinstance(targets, Outcome):
        return targets

    def plan(device):  # type: ignore[no-untyped-def]
        if Trait.VACUUM not in device.traits:
            return None
        return [DeviceCommand(device.id, Trait.VACUUM, action)]

    return await act(ctx, intent.name, targets, plan)


async def vacuum_start(ctx: HandlerContext, intent: Intent) -> Outcome:
    return await _vacuum(ctx, intent, "start")


async def vacuum_return(ctx: HandlerContext, intent: Intent) -> Outcome:
    return await _vacuum(ctx, intent, "dock")
