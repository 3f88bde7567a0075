"""Blocking miIO requests through python-miio, with errors translated to ours.

python-miio 0.5.12 quirks handled here:

* ``MiIOProtocol.send_handshake`` always says hello to port 54321 (``discover`` ignores
  ``protocol.port``) and waits a fixed 5 s; :class:`_Protocol` says hello to ``port`` and waits
  the request timeout instead.
* Errors -9999 and -30001 are "recoverable": python-miio retries, then raises a bare
  ``DeviceException`` with the ``DeviceError`` as its cause; the code is recovered from there.
* It logs ``Got error when receiving`` at ERROR for every silent device; that line is
  filtered out (the driver logs availability changes itself).
* ``Device.__repr__`` contains the token, so no ``Device`` is ever built; only the lower
  ``MiIOProtocol``, whose log lines carry payloads but not the token.

Everything here blocks: call it from a worker thread, one call at a time per device.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from typing import Any

import construct
from miio.exceptions import DeviceError, DeviceException, PayloadDecodeException
from miio.miioprotocol import MiIOProtocol
from miio.protocol import Message

from integrations.base import DriverError, Refused, Unreachable

__all__ = ["HELLO", "MiioTransport", "check_action_result", "check_set_result", "parse_get_result"]

_LOGGER = logging.getLogger(__name__)

HELLO = bytes.fromhex("21310020" + "ff" * 28)
"""The 32-byte handshake request every miIO device answers."""

NO_ANSWER = "not responding: wrong token or offline"
NO_HELLO = "not responding: offline or wrong address"
_HELLO_TRIES = 2


class _QuietTimeouts(logging.Filter):
    """Drop python-miio's ERROR line for a device that did not answer.

    The driver reports the same condition itself, once per change of availability; without
    this, an unplugged device would log an ERROR on every poll.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Got error when receiving")


logging.getLogger("miio.miioprotocol").addFilter(_QuietTimeouts())


class _NoHello(DeviceException):
    """The device did not answer the handshake."""


class _Protocol(MiIOProtocol):
    """``MiIOProtocol`` whose handshake goes to ``self.port`` within ``self._timeout``."""

    def send_handshake(self, *, retry_count: int = 0) -> Any:
        data = self._hello()
        try:
            reply = Message.parse(data)
        except Exception as err:  # arbitrary bytes can fail anywhere in construct
            raise _NoHello(f"unreadable handshake reply from {self.ip}:{self.port}") from err
        header = reply.header.value
        self._device_id = header.device_id
        self._device_ts = header.ts
        self._discovered = True
        _LOGGER.debug("%s:%s handshake ok, stamp %s", self.ip, self.port, header.ts)
        return reply

    def _hello(self) -> bytes:
        """Say hello twice within the timeout (a lost datagram costs half of it, not all)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(self._timeout / _HELLO_TRIES)
            for _ in range(_HELLO_TRIES):
                try:
                    sock.sendto(HELLO, (self.ip, self.port))
                    return sock.recvfrom(1024)[0]
                except TimeoutError:
                    continue
                except OSError as err:
                    raise _NoHello(f"cannot reach {self.ip}:{self.port}: {err}") from err
        raise _NoHello(f"no handshake reply from {self.ip}:{self.port}")


class MiioTransport:
    """One device's miIO connection (blocking). Never logs or shows the token."""

    def __init__(
        self, host: str, token: str, *, port: int = 54321, timeout: float = 1.0, retries: int = 1
    ) -> None:
        """``timeout``: seconds per socket wait; ``retries``: extra tries after no answer."""
        self._proto = _Protocol(host, token, timeout=timeout)  # type: ignore[arg-type]
        self._proto.port = port
        self._retries = retries
        self.host = host
        self.port = port

    def __repr__(self) -> str:
        return f"<MiioTransport {self.host}:{self.port}>"

    def request(self, method: str, params: Any = None) -> Any:
        """Send one request and return its ``result``; raises a DriverError."""
        try:
            return self._proto.send(method, params, retry_count=self._retries)
        except DeviceError as err:
            raise _refused(err) from err
        except _NoHello as err:
            raise Unreachable(NO_HELLO) from err
        except PayloadDecodeException as err:
            raise DriverError("the device's answer could not be read", code="bad-answer") from err
        except DeviceException as err:
            cause = err.__cause__
            if isinstance(cause, DeviceError):
                raise _refused(cause) from err
            if isinstance(cause, construct.ChecksumError):
                raise Unreachable("answer failed its checksum: wrong token") from err
            raise Unreachable(NO_ANSWER) from err
        except (construct.ConstructError, ValueError, TypeError, KeyError) as err:
            raise DriverError("the device's answer could not be read", code="bad-answer") from err

    def get_properties(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], Any]:
        """One ``get_properties`` request for ``keys`` (at most 15, real devices' limit)."""
        params = [{"did": f"{s}-{p}", "siid": s, "piid": p} for s, p in keys]
        return parse_get_result(self.request("get_properties", params))

    def set_properties(self, items: Sequence[tuple[int, int, Any]]) -> None:
        """One ``set_properties`` request; Refused when the device or any item refuses."""
        params = [{"did": f"{s}-{p}", "siid": s, "piid": p, "value": v} for s, p, v in items]
        check_set_result(self.request("set_properties", params))

    def call_action(self, siid: int, aiid: int, params: Sequence[Any] = ()) -> list[Any]:
        """One ``action`` request; returns the action's ``out`` values."""
        payload = {"did": f"call-{siid}-{aiid}", "siid": siid, "aiid": aiid, "in": list(params)}
        return check_action_result(self.request("action", payload))

    def info(self) -> dict[str, Any]:
        """``miIO.info``: model, firmware, network, ... (the token field, if any, removed)."""
        result = self.request("miIO.info")
        if not isinstance(result, dict):
            raise DriverError("the device's answer could not be read", code="bad-answer")
        return {k: v for k, v in result.items() if k != "token"}


def _refused(err: DeviceError) -> Refused:
    code = err.code if isinstance(err.code, int) else None
    return Refused(f"the device refused (error {code})", code)


def _item_key(item: dict[str, Any]) -> tuple[int, int] | None:
    siid, piid = item.get("siid"), item.get("piid")
    if isinstance(siid, int) and isinstance(piid, int):
        return siid, piid
    did = str(item.get("did", ""))
    parts = did.split("-")
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def parse_get_result(result: Any) -> dict[tuple[int, int], Any]:
    """``(siid, piid) -> value`` from a ``get_properties`` answer; failed items left out."""
    if not isinstance(result, list):
        raise DriverError("the device's answer could not be read", code="bad-answer")
    values: dict[tuple[int, int], Any] = {}
    for item in result:
        key = _item_key(item) if isinstance(item, dict) else None
        if key is None:
            continue
        if item.get("code", 0) != 0 or "value" not in item:
            _LOGGER.debug("property %s.%s not read: code %s", *key, item.get("code"))
            continue
        values[key] = item["value"]
    return values


def _ok_word(result: Any) -> bool:
    return result in (0, "ok", ["ok"], [])


def check_set_result(result: Any) -> None:
    """Accept ``0``, ``"ok"``, ``["ok"]`` or a per-item list whose codes are all 0."""
    if _ok_word(result):
        return
    if isinstance(result, list):
        for item in result:
            code = item.get("code", 0) if isinstance(item, dict) else 0
            if code != 0:
                key = _item_key(item)
                where = f"property {key[0]}.{key[1]}" if key else "a property"
                raise Refused(f"the device refused {where} (error {code})", code)
        return
    _LOGGER.debug("unusual set_properties answer accepted: %r", result)


def check_action_result(result: Any) -> list[Any]:
    """Accept ``["ok"]`` / ``"ok"`` / ``0`` or ``{code, out}``; return ``out``."""
    if _ok_word(result):
        return []
    if isinstance(result, dict):
        code = result.get("code", 0)
        if code != 0:
            raise Refused(f"the device refused the action (error {code})", code)
        out = result.get("out", [])
        return list(out) if isinstance(out, list) else [out]
    _LOGGER.debug("unusual action answer accepted: %r", result)
    return []
