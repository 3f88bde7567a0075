"""Several virtual devices started and stopped together (tests and the demo home)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from types import TracebackType

from .device import VirtualMiioDevice

__all__ = ["VirtualHome"]


class VirtualHome:
    """A group of :class:`VirtualMiioDevice`, started concurrently; an async context manager."""

    def __init__(self, devices: Sequence[VirtualMiioDevice] = ()) -> None:
        self.devices: list[VirtualMiioDevice] = list(devices)

    def add(self, device: VirtualMiioDevice) -> VirtualMiioDevice:
        """Add a device (before :meth:`start`) and return it."""
        self.devices.append(device)
        return device

    async def start(self) -> None:
        """Start every device; if one fails, stop those that started and re-raise."""
        results = await asyncio.gather(*(d.start() for d in self.devices), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.stop()
            raise errors[0]

    async def stop(self) -> None:
        """Stop every device."""
        await asyncio.gather(*(d.stop() for d in self.devices))

    async def __aenter__(self) -> VirtualHome:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __iter__(self) -> Iterator[VirtualMiioDevice]:
        return iter(self.devices)

    def __len__(self) -> int:
        return len(self.devices)
