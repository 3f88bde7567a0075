"""A virtual MIoT device on a UDP socket that speaks the real, encrypted miIO protocol.

Frames are parsed and built with python-miio's own ``miio.protocol.Message`` (AES-128-CBC with
key MD5(token), MD5 checksum over header + token + payload), so any miIO client, ours included,
talks to it exactly as to a real device:

* the 32-byte hello -> a hello reply carrying the device id and its uptime stamp;
* encrypted ``miIO.info``, ``get_properties``, ``set_properties`` and ``action`` -> answers with
  the request's id, per-item MIoT codes (-4001 not readable, -4002 not writable, -4003 not
  found, -4005 bad value, -4006 bad arguments);
* a frame that fails the checksum (wrong token) or does not parse -> silence, like a real device.

The attributes and methods under "test hooks" exist for tests and the demo: answer shapes,
injected errors, a delay before answering, silence, and a record of requests.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from miio.protocol import Message

from integrations.miio.spec import MiotSpec

from .behaviour import after_write, run_action
from .state import NOT_FOUND, VirtualState

__all__ = ["VirtualMiioDevice", "VirtualRequest"]

_LOGGER = logging.getLogger(__name__)

_MAGIC = b"\x21\x31"
_HEADER = struct.Struct(">HHI4sI")
_EPOCH = datetime.datetime(1970, 1, 1)
_STAMP_BASE = 1000
_METHOD_NOT_FOUND = {"code": -32601, "message": "Method not found."}
_INVALID_PARAMS = {"code": -32602, "message": "Invalid params."}


@dataclass(slots=True)
class VirtualRequest:
    """One encrypted request the device received (test hook)."""

    method: str
    params: Any
    received_at: float
    """``time.monotonic()`` seconds."""
    answered_at: float | None = None
    """``time.monotonic()`` seconds when the answer was sent; None if never."""


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, device: VirtualMiioDevice) -> None:
        self._device = device

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._device._on_datagram(data, addr)


class _Failure:
    """An injected error: top-level (the whole request) or per item."""

    __slots__ = ("code", "per_item")

    def __init__(self, code: int, per_item: bool) -> None:
        self.code = code
        self.per_item = per_item


class VirtualMiioDevice:
    """One virtual device for ``spec``, reachable at :attr:`address` once started."""

    def __init__(
        self,
        spec: MiotSpec,
        *,
        token: str,
        did: int,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: Path | None = None,
        answer_shape: Literal["list", "zero"] = "list",
        action_shape: Literal["list", "dict"] = "list",
        delay: float = 0.0,
    ) -> None:
        """``token``: 32 hex characters; ``did``: device id (fits 32 bits); ``port`` 0: any."""
        if not re.fullmatch(r"[0-9a-fA-F]{32}", token):
            raise ValueError("a miIO token is 32 hex characters")
        self.spec = spec
        self.did = did
        self._token = bytes.fromhex(token)
        self._did_bytes = did.to_bytes(4, "big")
        self._bind = (host, port)
        self._state = VirtualState(spec, state_file)
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._save_lock = asyncio.Lock()
        self._started_at = time.monotonic()
        self._once: _Failure | None = None
        self._always: _Failure | None = None
        # Test hooks:
        self.answer_shape = answer_shape
        """``list``: set_properties answers per item; ``zero``: answers 0 when all succeed."""
        self.action_shape = action_shape
        """``list``: actions answer ``["ok"]``; ``dict``: ``{did, siid, aiid, code, out}``."""
        self.delay = delay
        """Seconds to wait before answering an encrypted request (hellos are not delayed)."""
        self.silent = False
        """When true, nothing is answered, not even hellos (a device gone offline)."""
        self.requests: list[VirtualRequest] = []
        """Every encrypted request understood, in order of arrival."""
        self.hellos = 0
        """How many handshakes were answered."""

    def __repr__(self) -> str:
        return f"<VirtualMiioDevice {self.spec.model} did={self.did} at {self._bind}>"

    # ------------------------------------------------------------------ lifecycle

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``; only after :meth:`start`."""
        if self._transport is None:
            raise RuntimeError("the virtual device is not started")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    async def start(self) -> None:
        """Load the state file (if any) and start answering on the UDP socket."""
        await asyncio.to_thread(self._state.load)
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(self), local_addr=self._bind
        )
        self._started_at = time.monotonic()
        _LOGGER.debug("virtual %s (did %s) on %s:%s", self.spec.model, self.did, *self.address)

    async def stop(self) -> None:
        """Stop answering; requests in flight are dropped, their state changes kept."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        async with self._save_lock:  # let a save in progress finish
            pass

    # ------------------------------------------------------------------ test hooks

    def fail_next(self, code: int, *, per_item: bool = False) -> None:
        """Answer the next request with error ``code`` (for every item when ``per_item``)."""
        self._once = _Failure(code, per_item)

    def set_error(self, code: int | None, *, per_item: bool = False) -> None:
        """Answer every request with error ``code`` until called with None."""
        self._always = None if code is None else _Failure(code, per_item)

    def go_silent(self, silent: bool = True) -> None:
        """Stop (or resume) answering anything, as an unplugged device."""
        self.silent = silent

    def value(self, siid: int, piid: int) -> Any:
        """The current raw value of one property."""
        return self._state.values[(siid, piid)]

    def set_value(self, siid: int, piid: int, value: Any) -> None:
        """Change a value as if someone used the device's own buttons (not persisted)."""
        prop = self.spec.property(siid, piid)
        if prop is None or prop.problem(value) is not None:
            raise ValueError(f"{siid}.{piid} cannot be {value!r}")
        self._state.values[(siid, piid)] = value

    # ------------------------------------------------------------------ frames

    def _stamp(self) -> int:
        return _STAMP_BASE + int(time.monotonic() - self._started_at)

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.silent or self._transport is None:
            return
        if len(data) < _HEADER.size + 16 or data[:2] != _MAGIC:
            _LOGGER.debug(
                "virtual %s: dropping a malformed datagram (%d bytes)", self.did, len(data)
            )
            return
        if len(data) == 32:
            self._answer_hello(addr)
            return
        task = asyncio.get_running_loop().create_task(self._answer(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _answer_hello(self, addr: tuple[str, int]) -> None:
        header = _HEADER.pack(0x2131, 32, 0, self._did_bytes, self._stamp())
        assert self._transport is not None
        self._transport.sendto(header + b"\xff" * 16, addr)
        self.hellos += 1

    def _decode(self, data: bytes) -> dict[str, Any] | None:
        try:
            payload = Message.parse(data, token=self._token).data.value
        except Exception:  # wrong token (checksum) or garbage: a real device stays silent
            _LOGGER.debug("virtual %s: dropping a frame that does not verify", self.did)
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("method"), str):
            _LOGGER.debug("virtual %s: dropping a frame without a method", self.did)
            return None
        return payload

    def _encode(self, reply: dict[str, Any]) -> bytes:
        header = {
            "length": 0,
            "unknown": 0,
            "device_id": self._did_bytes,
            "ts": _EPOCH + datetime.timedelta(seconds=self._stamp()),
        }
        msg = {"data": {"value": reply}, "header": {"value": header}, "checksum": 0}
        return Message.build(msg, token=self._token)

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        payload = self._decode(data)
        if payload is None:
            return
        record = VirtualRequest(payload["method"], payload.get("params"), time.monotonic())
        self.requests.append(record)
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        reply = {"id": payload.get("id"), **await self._dispatch(payload)}
        if self.silent or self._transport is None:
            return
        self._transport.sendto(self._encode(reply), addr)
        record.answered_at = time.monotonic()

    # ------------------------------------------------------------------ methods

    def _failure(self) -> _Failure | None:
        failure, self._once = self._once, None
        return failure or self._always

    async def _dispatch(self, payload: dict[str, Any]) -> dict[str, Any]:
        failure = self._failure()
        if failure is not None and not failure.per_item:
            return {"error": {"code": failure.code, "message": "virtual device error"}}
        item_code = failure.code if failure is not None else None
        method, params = payload["method"], payload.get("params", [])
        handler = {
            "miIO.info": self._info,
            "get_properties": self._get_properties,
            "set_properties": self._set_properties,
            "action": self._action,
        }.get(method)
        if handler is None:
            return {"error": _METHOD_NOT_FOUND}
        try:
            result, changed = handler(params, item_code)
        except (TypeError, ValueError, KeyError, AttributeError):
            return {"error": _INVALID_PARAMS}
        if changed:
            await self._persist()
        if isinstance(result, dict) and "error" in result and len(result) == 1:
            return result
        return {"result": result}

    def _info(self, params: Any, item_code: int | None) -> tuple[Any, bool]:
        host, _ = self.address
        mac = ":".join(f"{b:02X}" for b in (b"\x02\x00" + self._did_bytes))
        info = {
            "model": self.spec.model,
            "fw_ver": "0.1.0-virtual",
            "hw_ver": "virtual",
            "mac": mac,
            "life": self._stamp() - _STAMP_BASE,
            "netif": {"localIp": host, "mask": "255.0.0.0", "gw": host},
        }
        return info, False

    def _get_properties(self, params: Any, item_code: int | None) -> tuple[Any, bool]:
        out = []
        for item in params:
            siid, piid = int(item["siid"]), int(item["piid"])
            code, value = self._state.read(siid, piid)
            code = item_code if item_code is not None else code
            answer = {"did": item.get("did"), "siid": siid, "piid": piid, "code": code}
            if code == 0:
                answer["value"] = value
            out.append(answer)
        return out, False

    def _set_properties(self, params: Any, item_code: int | None) -> tuple[Any, bool]:
        out, changed = [], False
        for item in params:
            siid, piid, value = int(item["siid"]), int(item["piid"]), item["value"]
            code = item_code if item_code is not None else self._state.write(siid, piid, value)
            if code == 0 and item_code is None:
                changed = True
                prop = self.spec.property(siid, piid)
                assert prop is not None
                after_write(self._state, prop, value)
            out.append({"did": item.get("did"), "siid": siid, "piid": piid, "code": code})
        if self.answer_shape == "zero" and all(o["code"] == 0 for o in out):
            return 0, changed
        return out, changed

    def _action(self, params: Any, item_code: int | None) -> tuple[Any, bool]:
        siid, aiid = int(params["siid"]), int(params["aiid"])
        action = self.spec.action(siid, aiid)
        if item_code is not None:
            code = item_code
        elif action is None:
            code = NOT_FOUND
        else:
            code = run_action(self._state, action, list(params.get("in") or []))
        if self.action_shape == "dict":
            answer = {"did": params.get("did"), "siid": siid, "aiid": aiid, "code": code, "out": []}
            return answer, code == 0
        if code != 0:
            return {"error": {"code": code, "message": "action failed"}}, False
        return ["ok"], True

    async def _persist(self) -> None:
        if self._state.path is None:
            return
        snapshot = self._state.snapshot()
        async with self._save_lock:
            await asyncio.to_thread(self._state.save, snapshot)
