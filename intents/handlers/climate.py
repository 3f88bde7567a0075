"""HassClimateSetTemperature and HassClimateGetTemperature."""

from __future__ import annotations

from assistant.act.registry import Device
from assistant.messages import DeviceCommand, Intent, Reply
from assistant.speak.responses import spoken, the
from integrations.base import DeviceKind, Trait

from .common import HandlerContext, Outcome, act, find_targets, refuse

__all__ = ["climate_set_temperature", "climate_get_temperature"]

# Which reading to trust first for "what's the temperature in here".
_READING_ORDER = {DeviceKind.SENSOR: 0, DeviceKind.CLIMATE: 1}


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


async def climate_set_temperature(ctx: HandlerContext, intent: Intent) -> Outcome:
    wanted = float(intent.slots["temperature"])
    targets = find_targets(ctx, intent, domain="climate")
    if isinstance(targets, Outcome):
        return targets
    clamped: list[tuple[Device, float]] = []

    def plan(device):  # type: ignore[no-untyped-def]
        if Trait.TARGET_TEMPERATURE not in device.traits:
            return None
        low, high = device.spec.min_temperature, device.spec.max_temperature
        value = wanted
        if low is not None and value < low:
            value = low
        if high is not None and value > high:
            value = high
        if value != wanted:
            clamped.append((device, value))
        return [DeviceCommand(device.id, Trait.TARGET_TEMPERATURE, value)]

    outcome = await act(ctx, intent.name, targets, plan, value=_number(wanted))
    if len(clamped) == 1 and len(outcome.results) == 1 and outcome.results[0].ok:
        device, value = clamped[0]
        text = ctx.responses.render(
            intent.name,
            "clamped",
            the_name=the(device.name),
            low=_number(device.spec.min_temperature or value),
            high=_number(device.spec.max_temperature or value),
            value=_number(value),
        )
        return Outcome(Reply(text), outcome.results)
    return outcome


async def climate_get_temperature(ctx: HandlerContext, intent: Intent) -> Outcome:
    if "name" in intent.slots:
        targets = find_targets(ctx, intent, domain="climate")
    else:
        targets = find_targets(ctx, intent)
    if isinstance(targets, Outcome):
        return targets
    readers = sorted(
        (d for d in targets.devices if Trait.CURRENT_TEMPERATURE in d.traits),
        key=lambda d: _READING_ORDER.get(d.kind, 2),
    )
    area = targets.area_name or "here"
    if not readers:
        return refuse(ctx, intent.name, "unknown", area=spoken(area))
    await ctx.dispatcher.refresh([d.id for d in readers])
    for device in readers:
        state = ctx.registry.state(device.id)
        value = state.values.get(Trait.CURRENT_TEMPERATURE)
        if state.available and isinstance(value, int | float):
            if "name" in intent.slots:
                text = ctx.responses.render(
                    intent.name, "device", the_name=the(device.name), value=_number(round(value, 1))
                )
            else:
                text = ctx.responses.render(
                    intent.name, "one", area=spoken(area), value=_number(round(value, 1))
                )
            return Outcome(Reply(text))
    return refuse(ctx, intent.name, "unknown", area=spoken(area))
