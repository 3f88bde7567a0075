"""Intent handlers, one module per domain, registered in one explicit dict."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from assistant.messages import Intent

from .climate import climate_get_temperature, climate_set_temperature
from .common import HandlerContext, Outcome
from .confirm import CONFIRM_INTENTS, cancel, confirm
from .covers_fans import fan_set_speed, set_position
from .lights import light_set
from .onoff import turn_off, turn_on
from .state import get_state
from .vacuum import vacuum_return, vacuum_start

__all__ = ["HANDLERS", "Handler", "HandlerContext", "Outcome", "CONFIRM_INTENTS"]

Handler = Callable[[HandlerContext, Intent], Awaitable[Outcome]]

HANDLERS: dict[str, Handler] = {
    "HassTurnOn": turn_on,
    "HassTurnOff": turn_off,
    "HassLightSet": light_set,
    "HassGetState": get_state,
    "HassSetPosition": set_position,
    "HassFanSetSpeed": fan_set_speed,
    "HassClimateSetTemperature": climate_set_temperature,
    "HassClimateGetTemperature": climate_get_temperature,
    "HassVacuumStart": vacuum_start,
    "HassVacuumReturnToBase": vacuum_return,
    "MimoConfirm": confirm,
    "MimoCancel": cancel,
    "HassNevermind": cancel,
}
