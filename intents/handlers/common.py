"""What every handler shares: the context it runs in, its outcome, target lookup, acting."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.act.dispatch import Dispatcher
from assistant.act.registry import Device, Registry
from assistant.act.targets import Targets, resolve_targets
from assistant.messages import CommandResult, DeviceCommand, Intent, Reply
from assistant.speak.responses import Responses, domain_plural, join_words, spoken, the

__all__ = [
    "HandlerContext",
    "Outcome",
    "find_targets",
    "act",
    "refuse",
    "Plan",
]

Plan = Callable[[Device], list[DeviceCommand] | None]
"""Commands for one device, or None when the device cannot do it."""


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler may use; nothing else reaches devices."""

    registry: Registry
    dispatcher: Dispatcher
    responses: Responses
    speaker_area: str | None
    turn_id: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handler did and what to say about it."""

    reply: Reply
    results: tuple[CommandResult, ...] = ()


def refuse(ctx: HandlerContext, group: str, key: str, **values: Any) -> Outcome:
    return Outcome(Reply(ctx.responses.render(group, key, **values), ok=False))


def find_targets(
    ctx: HandlerContext, intent: Intent, *, domain: str | None = None
) -> Targets | Outcome:
    """The intent's devices, or an Outcome explaining why there are none."""
    slots = dict(intent.slots)
    if domain is not None and "name" not in slots:
        slots.setdefault("domain", domain)
    targets = resolve_targets(ctx.registry, slots, intent.slot_texts, speaker_area=ctx.speaker_area)
    if targets.problem is None:
        return targets
    details = targets.details
    if targets.problem == "no_device":
        key = "no_device_in_area" if details.get("area") else "no_device"
        return refuse(
            ctx, "errors", key, name=details["name"], area=spoken(details.get("area") or "")
        )
    if targets.problem == "ambiguous":
        names = join_words([the(n) for n in details["candidates"]])
        return refuse(ctx, "errors", "ambiguous", name=details["name"], candidates=names)
    things = domain_plural(str(details.get("domain", "device")))
    if targets.problem == "none_in_area":
        return refuse(ctx, "errors", "none_in_area", things=things, area=spoken(details["area"]))
    return refuse(ctx, "errors", "none_of_kind", things=things)


async def act(
    ctx: HandlerContext,
    group: str,
    targets: Targets,
    plan: Plan,
    **values: Any,
) -> Outcome:
    """Plan commands per device, run them all at once, and say what really happened."""
    commands: dict[str, list[DeviceCommand]] = {}
    unable: list[Device] = []
    for device in targets.devices:
        planned = plan(device)
        if planned is None:
            unable.append(device)
        else:
            commands[device.id] = planned
    if not commands:
        if len(unable) == 1:
            return refuse(ctx, "errors", "unsupported", the_name=the(unable[0].name))
        return refuse(ctx, "errors", "unsupported_all")
    results = await ctx.dispatcher.execute(commands, turn_id=ctx.turn_id)
    kinds = {d.id: d.kind for d in targets.devices}
    text = ctx.responses.summarize(group, results, kinds, area=targets.area_name, **values)
    return Outcome(Reply(text, ok=all(r.ok for r in results)), tuple(results))


def devices_with(devices: Sequence[Device], trait: str) -> list[Device]:
    return [d for d in devices if trait in d.traits]
