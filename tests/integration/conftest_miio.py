"""Fixtures for the miIO driver and virtual devices: real UDP on 127.0.0.1, ephemeral ports.

Use from a test module with ``pytest_plugins = ["tests.integration.conftest_miio"]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from assistant.messages import DeviceCommand
from integrations.miio import MiioDriver, load_spec
from integrations.virtual import VirtualMiioDevice

TOKEN = "00112233445566778899aabbccddeeff"
"""The token every virtual device in these tests uses."""
OTHER_TOKEN = "ffeeddccbbaa99887766554433221100"


class RecordingSink:
    """A StateSink that remembers what the driver pushed."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}
        self.available: dict[str, bool] = {}
        self.updates: list[tuple[str, dict[str, Any]]] = []

    def update_state(
        self, device_id: str, values: Mapping[str, Any], *, available: bool = True
    ) -> None:
        self.values.setdefault(device_id, {}).update(values)
        self.available[device_id] = available
        self.updates.append((device_id, dict(values)))

    def set_available(self, device_id: str, available: bool) -> None:
        self.available[device_id] = available


MakeVirtual = Callable[..., Awaitable[VirtualMiioDevice]]


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def make_virtual() -> AsyncIterator[MakeVirtual]:
    """``await make_virtual(model, **kwargs)``: a started virtual device, stopped afterwards."""
    started: list[VirtualMiioDevice] = []

    async def make(model: str, **kwargs: Any) -> VirtualMiioDevice:
        kwargs.setdefault("token", TOKEN)
        kwargs.setdefault("did", 100_000 + len(started))
        device = VirtualMiioDevice(load_spec(model), **kwargs)
        await device.start()
        started.append(device)
        return device

    yield make
    await asyncio.gather(*(d.stop() for d in started))


@pytest.fixture
async def driver(sink: RecordingSink) -> AsyncIterator[MiioDriver]:
    """A driver with the default 2 s deadline and no background poll during a test."""
    drv = MiioDriver(sink, deadline=2.0, poll_interval=3600)
    yield drv
    await drv.stop()


def attach(
    driver: MiioDriver, device_id: str, device: VirtualMiioDevice, *, token: str = TOKEN
) -> str:
    """Add ``device`` to ``driver`` under ``device_id``; returns the id."""
    host, port = device.address
    driver.add_device(device_id, host=host, token=token, spec=device.spec, port=port)
    return device_id


def closed_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


__all__ = [
    "OTHER_TOKEN",
    "TOKEN",
    "RecordingSink",
    "attach",
    "closed_udp_port",
]


def cmd(device_id: str, trait: str, value: object) -> DeviceCommand:
    return DeviceCommand(device_id, trait, value)


def raw(device: VirtualMiioDevice, trait: str) -> object:
    """The virtual device's raw value behind a trait (found through the spec, not by iid)."""
    binding = device.spec.binding(trait)
    prop = binding.read or binding.write
    assert prop is not None
    return device.value(*prop.key)


def methods(device: VirtualMiioDevice) -> list[str]:
    return [r.method for r in device.requests]
