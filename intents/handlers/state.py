"""HassGetState: "is the air purifier on?", "which lights are on in the kitchen?"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistant.act.registry import Device
from assistant.messages import Intent, Reply
from assistant.speak.responses import domain_plural, join_words, the
from integrations.base import DeviceKind, Trait

from .common import HandlerContext, Outcome, find_targets, refuse

__all__ = ["get_state", "describe", "current_state"]


_OPENINGS = frozenset({"door", "garage_door", "window", "opening", "garage", "gate"})
"""Binary sensor classes whose "on" means open (Home Assistant's device classes)."""


def current_state(device: Device, values: Mapping[str, Any]) -> str | None:
    """The one word a state question is about: on/off, open/closed, locked/unlocked, a
    vacuum status."""
    if device.kind is DeviceKind.COVER and Trait.POSITION in values:
        return "open" if values[Trait.POSITION] > 0 else "closed"
    if device.kind is DeviceKind.COVER and isinstance(values.get(Trait.COVER), str):
        return str(values[Trait.COVER])
    if Trait.LOCKED in values:
        return "locked" if values[Trait.LOCKED] else "unlocked"
    if Trait.ACTIVE in values:
        if device.spec.device_class in _OPENINGS:
            return "open" if values[Trait.ACTIVE] else "closed"
        return "on" if values[Trait.ACTIVE] else "off"
    if Trait.ON_OFF in values:
        return "on" if values[Trait.ON_OFF] else "off"
    if device.kind is DeviceKind.VACUUM and Trait.VACUUM in values:
        return str(values[Trait.VACUUM])
    return None


def _is(device: Device, values: Mapping[str, Any], wanted: Any) -> bool:
    """Whether the device is in the state asked about. Home Assistant's sentences ask a
    binary sensor "open" as ``on``, so its raw on/off counts too."""
    if current_state(device, values) == wanted:
        return True
    active = values.get(Trait.ACTIVE)
    return isinstance(active, bool) and ("on" if active else "off") == wanted


def _reading(device: Device, values: Mapping[str, Any]) -> str | None:
    """A sensor's reading, as said: "21.5 degrees", "48% humidity", "350 lx"."""
    if Trait.CURRENT_TEMPERATURE in values:
        return f"{values[Trait.CURRENT_TEMPERATURE]:g} degrees"
    if Trait.HUMIDITY in values:
        return f"at {values[Trait.HUMIDITY]:g}% humidity"
    if Trait.VALUE in values:
        value, unit = values[Trait.VALUE], device.spec.unit
        text = f"{value:g}" if isinstance(value, int | float) else str(value)
        return f"{text} {unit}" if unit else text
    return None


def describe(device: Device, values: Mapping[str, Any]) -> str | None:
    """A short description: "on at 30% brightness", "open at 40%", "cleaning"."""
    word = current_state(device, values)
    if word is None:
        return _reading(device, values) if device.kind is DeviceKind.SENSOR else None
    extras: list[str] = []
    if word == "on":
        if Trait.BRIGHTNESS in values:
            extras.append(f"at {values[Trait.BRIGHTNESS]}% brightness")
        if Trait.TARGET_TEMPERATURE in values and device.kind is DeviceKind.CLIMATE:
            extras.append(f"set to {values[Trait.TARGET_TEMPERATURE]:g} degrees")
        if Trait.FAN_SPEED in values and device.kind in (DeviceKind.FAN, DeviceKind.PURIFIER):
            extras.append(f"at {values[Trait.FAN_SPEED]}% speed")
    if word == "open" and values.get(Trait.POSITION, 100) < 100:
        extras.append(f"at {values[Trait.POSITION]}%")
    return " ".join([word, *extras])


async def get_state(ctx: HandlerContext, intent: Intent) -> Outcome:
    targets = find_targets(ctx, intent)
    if isinstance(targets, Outcome):
        return targets
    devices = list(targets.devices)
    failed = await ctx.dispatcher.refresh([d.id for d in devices])
    wanted = intent.slots.get("state")
    if intent.response in (None, "one", "one_yesno", "default") and len(devices) == 1:
        return _one(ctx, intent, devices[0], wanted, failed[devices[0].id] is not None)
    values = {d.id: ctx.registry.state(d.id).values for d in devices}
    matched = [d.name for d in devices if _is(d, values[d.id], wanted) and failed[d.id] is None]
    unmatched = [d.name for d in devices if d.name not in matched]
    r = ctx.responses
    if intent.response == "all":
        if not unmatched:
            return Outcome(Reply(r.render(intent.name, "all_yes")))
        verb = "are" if len(unmatched) > 1 else "is"
        names = join_words([the(n) for n in unmatched])
        return Outcome(Reply(r.render(intent.name, "all_no", names=names, verb=verb, state=wanted)))
    if intent.response == "how_many":
        domain = str(intent.slots.get("domain", "device"))
        if len(matched) == 1:
            return Outcome(Reply(r.render(intent.name, "how_many_one", thing=domain, state=wanted)))
        return Outcome(
            Reply(
                r.render(
                    intent.name,
                    "how_many",
                    count=len(matched),
                    things=domain_plural(domain),
                    state=wanted,
                )
            )
        )
    if intent.response == "which":
        if not matched:
            return Outcome(Reply(r.render(intent.name, "which_none")))
        return Outcome(
            Reply(r.render(intent.name, "which", names=join_words([the(n) for n in matched])))
        )
    if matched:  # "any"
        return Outcome(
            Reply(r.render(intent.name, "any_yes", names=join_words([the(n) for n in matched])))
        )
    return Outcome(Reply(r.render(intent.name, "any_no")))


def _one(
    ctx: HandlerContext, intent: Intent, device: Device, wanted: Any, offline: bool
) -> Outcome:
    state = ctx.registry.state(device.id)
    actual = describe(device, state.values)
    name = the(device.name)
    if offline or not state.available:
        if actual is None:
            return refuse(ctx, intent.name, "offline_unknown", the_name=name)
        return refuse(ctx, intent.name, "offline_one", the_name=name, actual=actual)
    if actual is None and not state.values:
        return refuse(ctx, intent.name, "not_reported", the_name=name)
    if actual is None:
        return refuse(ctx, "errors", "unsupported", the_name=name)
    if wanted is None:
        return Outcome(
            Reply(ctx.responses.render(intent.name, "one", the_name=name, actual=actual))
        )
    if _is(device, state.values, wanted):
        return Outcome(
            Reply(ctx.responses.render(intent.name, "yes_one", the_name=name, state=actual))
        )
    return Outcome(Reply(ctx.responses.render(intent.name, "no_one", the_name=name, actual=actual)))
