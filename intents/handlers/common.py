"""What every handler shares: the context it runs in, its outcome, target lookup, acting.

Every device command goes through :func:`act` (or :func:`carry_out` for a confirmed one),
and so through ``ctx.safety`` before the dispatcher: handlers never call the dispatcher's
``execute`` themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.act.dispatch import Dispatcher
from assistant.act.registry import Device, Registry
from assistant.act.safety import Action, Pending, Reason, Request, Review, Safety
from assistant.act.targets import Targets, resolve_targets
from assistant.messages import CommandResult, DeviceCommand, Intent, Reply
from assistant.speak.responses import Responses, domain_plural, join_words, spoken, the

__all__ = [
    "HandlerContext",
    "Outcome",
    "find_targets",
    "act",
    "carry_out",
    "refuse",
    "Plan",
    "REFER",
    "DEVICE_IDS",
]

REFER = "refer"
"""Slot of "turn it off": the pipeline replaces it with ``DEVICE_IDS``; never acted on."""
DEVICE_IDS = "device_ids"
"""Slot holding device ids chosen in code (the last turn's devices), not spoken names."""

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
    safety: Safety
    request: Request
    """Who asked (recognizer, site, named or bulk, PIN): what safety decides on."""
    pending: Pending | None = None
    """Actions waiting for this site's "yes" (only the confirm handlers use it)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handler did and what to say about it."""

    reply: Reply
    results: tuple[CommandResult, ...] = ()
    targets: tuple[str, ...] = ()
    """Ids of the devices acted on or asked about (what "it" means next turn)."""


def refuse(ctx: HandlerContext, group: str, key: str, **values: Any) -> Outcome:
    return Outcome(Reply(ctx.responses.render(group, key, **values), ok=False))


def find_targets(
    ctx: HandlerContext, intent: Intent, *, domain: str | None = None
) -> Targets | Outcome:
    """The intent's devices, or an Outcome explaining why there are none."""
    slots = dict(intent.slots)
    if REFER in slots:  # a reference the pipeline did not resolve: never "all devices"
        return refuse(ctx, "safety", "which_device")
    if DEVICE_IDS in slots:
        return _by_ids(ctx, slots[DEVICE_IDS], slots.get("domain") or domain)
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


def _by_ids(ctx: HandlerContext, ids: Sequence[str], domain: str | None) -> Targets | Outcome:
    known = {d.id: d for d in ctx.registry.devices()}
    devices = [known[i] for i in ids if i in known]
    if not devices:
        return refuse(ctx, "safety", "which_device")
    fitting = [d for d in devices if domain is None or d.domain == domain]
    if not fitting:
        if len(devices) == 1:
            return refuse(ctx, "errors", "unsupported", the_name=the(devices[0].name))
        return refuse(ctx, "errors", "unsupported_all")
    return Targets(tuple(fitting))


async def act(
    ctx: HandlerContext,
    group: str,
    targets: Targets,
    plan: Plan,
    **values: Any,
) -> Outcome:
    """Plan commands per device, pass them through safety, run what it allows all at once,
    and say what really happened (and what was left alone, or needs a "yes")."""
    actions: list[Action] = []
    unable: list[Device] = []
    for device in targets.devices:
        planned = plan(device)
        if planned is None:
            unable.append(device)
        else:
            actions.append(Action(device, tuple(planned)))
    if not actions:
        if len(unable) == 1:
            return refuse(ctx, "errors", "unsupported", the_name=the(unable[0].name))
        return refuse(ctx, "errors", "unsupported_all")
    review = ctx.safety.review(ctx.request, actions)
    if review.held:
        ctx.safety.hold(
            ctx.request, review.held, group=group, values=values, area_name=targets.area_name
        )
    return await carry_out(ctx, group, review, area=targets.area_name, **values)


async def carry_out(
    ctx: HandlerContext, group: str, review: Review, *, area: str | None = None, **values: Any
) -> Outcome:
    """Dispatch what ``review`` allows; one reply for the results, refusals and question."""
    results: list[CommandResult] = []
    if review.allowed:
        commands = {a.device.id: list(a.commands) for a in review.allowed}
        results = await ctx.dispatcher.execute(commands, turn_id=ctx.turn_id)
    parts: list[str] = []
    if results:
        kinds = {a.device.id: a.device.kind for a in review.allowed}
        parts.append(ctx.responses.summarize(group, results, kinds, area=area, **values))
    parts += _refusals(ctx, review.refused)
    if review.held:
        name = join_words([the(a.device.name) for a in review.held])
        parts.append(ctx.responses.render("confirm", group, the_name=name, **values))
    ok = bool(review.held) or (bool(results) and all(r.ok for r in results))
    if any(reason is not Reason.BULK_RISKY for _, reason in review.refused):
        ok = False
    targets = tuple(a.device.id for a in (*review.allowed, *review.held))
    text = ". ".join(parts)
    return Outcome(Reply(text, ok=ok), tuple(results), targets)


def _refusals(ctx: HandlerContext, refused: Sequence[tuple[Action, Reason]]) -> list[str]:
    """One clause per reason: "I left the front door alone", "that PIN is not right"."""
    by_reason: dict[Reason, list[str]] = {}
    for action, reason in refused:
        by_reason.setdefault(reason, []).append(the(action.device.name))
    parts = []
    for reason, names in by_reason.items():
        if reason is Reason.TOO_MANY:
            limit = ctx.safety.settings.max_actions_per_turn
            parts.append(ctx.responses.render("safety", str(reason), limit=limit))
        elif reason is Reason.NOT_EXPOSED and not ctx.request.named:
            continue  # the LLM never saw these devices: nothing to say about them
        else:
            parts.append(ctx.responses.render("safety", str(reason), the_name=join_words(names)))
    return parts


def devices_with(devices: Sequence[Device], trait: str) -> list[Device]:
    return [d for d in devices if trait in d.traits]
