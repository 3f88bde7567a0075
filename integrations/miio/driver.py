"""The miIO driver: MIoT devices on the LAN through python-miio, without blocking the loop.

Every request runs in a worker thread of the driver's own small pool, one device at a time
(one ``asyncio.Lock`` per device), under our own deadline: python-miio would wait 5-20 s for a
silent device, we answer ``Unreachable`` within ``deadline`` seconds. A request that overran the
deadline keeps its device's slot until its thread returns, so threads never pile up on a device.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from integrations.base import DriverError, StateSink, Unreachable, Unsupported

from .model import CallAction, Operation, SetProperty
from .spec import MiotSpec
from .transport import NO_ANSWER, MiioTransport

if TYPE_CHECKING:
    from assistant.messages import DeviceCommand

__all__ = ["MAX_BATCH", "MiioDriver"]

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_BATCH = 15
"""Most properties per get/set request; real devices answer -9999 to more."""
_TOKEN_RE = re.compile(r"[0-9a-fA-F]{32}")
# Share of the deadline for one socket wait: a handshake plus one retry fit inside it.
_SOCKET_SHARE = 0.45
_MAX_WORKERS = 32
"""Worker threads for blocking python-miio calls; each mostly waits on a socket, so a
whole-house command ("turn off all lights") runs in one wave (see bench/bulk_commands.py)."""


@dataclass(slots=True)
class _Device:
    device_id: str
    spec: MiotSpec
    transport: MiioTransport
    lock: asyncio.Lock
    straggler: asyncio.Future[Any] | None = None
    """A request that overran the deadline and whose thread still runs."""
    available: bool | None = None


def _chunks(items: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not warn about it


class MiioDriver:
    """Driver for miIO/MIoT devices. Call :meth:`add_device` for each device, then start."""

    def __init__(
        self, sink: StateSink, *, deadline: float = 2.0, poll_interval: float = 30.0
    ) -> None:
        """``deadline``: seconds one request may take; ``poll_interval``: seconds between polls."""
        self._sink = sink
        self._deadline = deadline
        self._poll_interval = poll_interval
        self._devices: dict[str, _Device] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._poll_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ setup

    def add_device(
        self, device_id: str, *, host: str, token: str, spec: MiotSpec, port: int = 54321
    ) -> None:
        """Register a device before :meth:`start`. ``token``: 32 hex characters (never logged)."""
        if device_id in self._devices:
            raise ValueError(f"{device_id}: added twice")
        if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
            raise ValueError(f"{device_id}: a miIO token is 32 hex characters")
        timeout = self._deadline * _SOCKET_SHARE
        transport = MiioTransport(host, token, port=port, timeout=timeout, retries=1)
        self._devices[device_id] = _Device(device_id, spec, transport, asyncio.Lock())
        _LOGGER.debug("%s: %s at %s:%s", device_id, spec.model, host, port)

    def spec(self, device_id: str) -> MiotSpec:
        """The MIoT spec a device was added with."""
        return self._device(device_id).spec

    @property
    def device_ids(self) -> tuple[str, ...]:
        return tuple(self._devices)

    # ------------------------------------------------------------------ Driver protocol

    async def start(self) -> None:
        """Poll every device once (concurrently), then keep polling in the background."""
        if self._poll_task is not None:
            return
        await self._poll_all()
        self._poll_task = asyncio.create_task(self._poll_forever(), name="miio-poll")

    async def stop(self) -> None:
        """Stop polling and release the worker threads."""
        task, self._poll_task = self._poll_task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    async def execute(self, device_id: str, commands: Sequence[DeviceCommand]) -> None:
        """Carry out ``commands`` in order on one device, then push its new state."""
        dev = self._device(device_id)
        ops = [self._plan(dev, command) for command in commands]
        _LOGGER.debug("%s: execute %s", device_id, [(c.trait, c.value) for c in commands])
        async with dev.lock:
            written = await self._guarded(dev, self._apply(dev, ops))
            values = await self._read_back(dev, written)
        self._push(dev, values)

    async def refresh(self, device_id: str) -> None:
        """Read the device's state and push it; Unreachable also marks it unavailable."""
        dev = self._device(device_id)
        keys = [p.key for p in dev.spec.state_properties()]
        async with dev.lock:
            raw = await self._guarded(dev, self._read(dev, keys))
        self._push(dev, dev.spec.decode(raw))

    # ------------------------------------------------------------------ extras

    async def read_properties(
        self, device_id: str, keys: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], Any]:
        """Raw values of any properties by ``(siid, piid)``, read in batches of 15."""
        dev = self._device(device_id)
        async with dev.lock:
            return await self._guarded(dev, self._read(dev, list(keys)))

    async def info(self, device_id: str) -> dict[str, Any]:
        """The device's ``miIO.info`` answer (model, firmware, network), without any token."""
        dev = self._device(device_id)
        async with dev.lock:
            return await self._guarded(dev, self._run(dev, dev.transport.info))

    # ------------------------------------------------------------------ internals

    def _device(self, device_id: str) -> _Device:
        try:
            return self._devices[device_id]
        except KeyError:
            raise Unsupported(f"unknown device {device_id}") from None

    def _plan(self, dev: _Device, command: DeviceCommand) -> Operation:
        if command.device_id != dev.device_id:
            raise DriverError("that command is for another device", code="wrong-device")
        try:
            return dev.spec.encode(command.trait, command.value)
        except ValueError as err:
            raise DriverError(str(err), code="invalid-value") from err

    async def _guarded(self, dev: _Device, work: Any) -> Any:
        """Await ``work``; on Unreachable mark the device unavailable, then re-raise."""
        try:
            result = await work
        except Unreachable as err:
            self._mark(dev, False, err)
            raise
        return result

    async def _apply(self, dev: _Device, ops: Sequence[Operation]) -> dict[tuple[int, int], Any]:
        written: dict[tuple[int, int], Any] = {}
        pending: list[SetProperty] = []
        for op in [*ops, None]:
            if isinstance(op, SetProperty):
                pending.append(op)
                continue
            for chunk in _chunks(pending, MAX_BATCH):
                items = [(s.prop.siid, s.prop.piid, s.value) for s in chunk]
                await self._run(dev, dev.transport.set_properties, items)
                written.update({s.prop.key: s.value for s in chunk})
            pending = []
            if isinstance(op, CallAction):
                siid, aiid = op.action.key
                await self._run(dev, dev.transport.call_action, siid, aiid, op.params)
        return written

    async def _read(
        self, dev: _Device, keys: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], Any]:
        values: dict[tuple[int, int], Any] = {}
        for chunk in _chunks(keys, MAX_BATCH):
            values.update(await self._run(dev, dev.transport.get_properties, chunk))
        return values

    async def _read_back(self, dev: _Device, written: dict[tuple[int, int], Any]) -> dict[str, Any]:
        """The state after a write: read back, or the confirmed values when that fails."""
        keys = [p.key for p in dev.spec.state_properties()]
        try:
            return dev.spec.decode(await self._read(dev, keys))
        except DriverError as err:
            _LOGGER.warning("%s: command done, state not read back: %s", dev.device_id, err)
            return dev.spec.decode(written)

    async def _run(self, dev: _Device, fn: Callable[..., _T], *args: Any) -> _T:
        """One blocking request in a worker thread, within the deadline. Hold ``dev.lock``."""
        if dev.straggler is not None:
            await asyncio.wait([dev.straggler])
            dev.straggler = None
        if self._executor is None:
            self._executor = ThreadPoolExecutor(_MAX_WORKERS, thread_name_prefix="miio")
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, functools.partial(fn, *args))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._deadline)
        except TimeoutError:
            dev.straggler = future
            future.add_done_callback(_consume)
            raise Unreachable(NO_ANSWER) from None
        except asyncio.CancelledError:
            if not future.done():
                dev.straggler = future
                future.add_done_callback(_consume)
            raise

    def _push(self, dev: _Device, values: dict[str, Any]) -> None:
        self._mark(dev, True)
        self._sink.update_state(dev.device_id, values, available=True)

    def _mark(self, dev: _Device, available: bool, why: object = None) -> None:
        if dev.available is not available:
            if available:
                _LOGGER.info("%s: available", dev.device_id)
            else:
                _LOGGER.warning("%s: unavailable: %s", dev.device_id, why)
        dev.available = available
        if not available:
            self._sink.set_available(dev.device_id, False)

    async def _poll_all(self) -> None:
        await asyncio.gather(*(self._poll_one(d) for d in self._devices))

    async def _poll_one(self, device_id: str) -> None:
        try:
            await self.refresh(device_id)
        except DriverError as err:
            _LOGGER.debug("%s: poll failed: %s", device_id, err)
        except Exception:  # a poll must never end the poll task
            _LOGGER.exception("%s: poll failed", device_id)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            await self._poll_all()
