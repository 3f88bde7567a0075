"""HassLightSet: brightness, colour temperature, colour."""

from __future__ import annotations

from assistant.messages import DeviceCommand, Intent
from integrations.base import Trait

from .common import HandlerContext, Outcome, act, find_targets, refuse

__all__ = ["light_set", "COLORS"]

COLORS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "red": (255, 0, 0),
    "orange": (255, 165, 0),
    "yellow": (255, 255, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "purple": (128, 0, 128),
    "brown": (165, 42, 42),
    "pink": (255, 192, 203),
    "turquoise": (64, 224, 208),
}
"""Colour names Home Assistant's sentences know, as RGB."""


async def light_set(ctx: HandlerContext, intent: Intent) -> Outcome:
    slots = intent.slots
    targets = find_targets(ctx, intent, domain="light")
    if isinstance(targets, Outcome):
        return targets
    if "brightness" in slots:
        level = round(float(slots["brightness"]))
        if not 0 <= level <= 100:
            return refuse(ctx, intent.name, "brightness_out_of_range", value=f"{level}%")

        def plan(device):  # type: ignore[no-untyped-def]
            if level == 0:
                return (
                    [DeviceCommand(device.id, Trait.ON_OFF, False)]
                    if Trait.ON_OFF in device.traits
                    else None
                )
            if Trait.BRIGHTNESS not in device.traits:
                return None
            return [
                DeviceCommand(device.id, Trait.ON_OFF, True),
                DeviceCommand(device.id, Trait.BRIGHTNESS, level),
            ]

        return await act(ctx, intent.name, targets, plan, value=f"{level}%")
    if "color" in slots:
        name = str(slots["color"])
        rgb = COLORS.get(name)
        if rgb is None:
            return refuse(ctx, intent.name, "unknown_color", value=name)
        return await act(ctx, intent.name, targets, _needs(Trait.RGB, rgb), value=name)
    if "temperature" in slots:
        kelvin = int(float(slots["temperature"]))

        def plan_ct(device):  # type: ignore[no-untyped-def]
            if Trait.COLOR_TEMP not in device.traits:
                return None
            low = device.spec.min_color_temp or kelvin
            high = device.spec.max_color_temp or kelvin
            return [
                DeviceCommand(device.id, Trait.ON_OFF, True),
                DeviceCommand(device.id, Trait.COLOR_TEMP, min(max(kelvin, low), high)),
            ]

        return await act(ctx, intent.name, targets, plan_ct, value=f"{kelvin} kelvin")
    return refuse(ctx, "errors", "not_handled")


def _needs(trait: Trait, value: object):  # type: ignore[no-untyped-def]
    def plan(device):  # type: ignore[no-untyped-def]
        if trait not in device.traits:
            return None
        return [
            DeviceCommand(device.id, Trait.ON_OFF, True),
            DeviceCommand(device.id, trait, value),
        ]

    return plan
