"""Carry out device commands: one driver call per device, all devices at once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence

from assistant.act.registry import Registry
from assistant.messages import CommandResult, DeviceCommand
from integrations.base import Driver, DriverError, Refused

__all__ = ["Dispatcher"]

_LOGGER = logging.getLogger(__name__)

_SPOKEN_ERRORS = {
    "unreachable": "is not responding",
    "refused": "refused the command",
    "unsupported": "can't do that",
    "unavailable": "is offline",
}


class Dispatcher:
    """Routes commands to each device's driver; a failing device never stops the others."""

    def __init__(self, registry: Registry, drivers: Mapping[str, Driver]) -> None:
        self._registry = registry
        self._drivers = drivers

    async def execute(
        self, commands: Mapping[str, Sequence[DeviceCommand]], *, turn_id: str = "-"
    ) -> list[CommandResult]:
        """Run each device's commands concurrently; results in the order given."""
        jobs = [self._one(device_id, cmds, turn_id) for device_id, cmds in commands.items()]
        return list(await asyncio.gather(*jobs))

    async def refresh(self, device_ids: Sequence[str]) -> dict[str, str | None]:
        """Re-read devices' state; device id -> error code (None when fresh)."""

        async def one(device_id: str) -> str | None:
            device = self._registry.device(device_id)
            try:
                await self._drivers[device.driver].refresh(device_id)
            except DriverError as err:
                _LOGGER.info("refresh of %s failed: %s", device.name, err)
                return err.code
            return None

        codes = await asyncio.gather(*(one(d) for d in device_ids))
        return dict(zip(device_ids, codes, strict=True))

    async def _one(
        self, device_id: str, commands: Sequence[DeviceCommand], turn_id: str
    ) -> CommandResult:
        try:
            device = self._registry.device(device_id)
        except KeyError:  # removed (MQTT discovery) between planning and acting
            return CommandResult(device_id, device_id, False, "is gone", "unavailable")
        started = time.perf_counter()
        error: DriverError | None = None
        try:
            driver = self._drivers[device.driver]
            await driver.execute(device_id, commands)
        except DriverError as err:
            error = err
        except Exception:  # a driver bug must not stop the other devices
            _LOGGER.exception("[%s] %s: driver failed", turn_id, device.name)
            error = DriverError("failed", code="internal")
        elapsed = (time.perf_counter() - started) * 1000
        state = dict(self._registry.state(device_id).values)
        if error is None:
            _LOGGER.info(
                "[%s] %s: %s ok in %.0f ms", turn_id, device.name, _describe(commands), elapsed
            )
            return CommandResult(device_id, device.name, True, state=state, duration_ms=elapsed)
        _LOGGER.warning(
            "[%s] %s: %s failed (%s): %s",
            turn_id,
            device.name,
            _describe(commands),
            error.code,
            error,
        )
        return CommandResult(
            device_id,
            device.name,
            False,
            error=_spoken_error(error),
            error_code=error.code,
            state=state,
            duration_ms=elapsed,
        )


def _describe(commands: Sequence[DeviceCommand]) -> str:
    return ", ".join(f"{c.trait}={c.value!r}" for c in commands)


def _spoken_error(error: DriverError) -> str:
    text = _SPOKEN_ERRORS.get(error.code, "failed")
    if isinstance(error, Refused) and error.device_code is not None:
        text = f"{text} (error {error.device_code})"
    return text
