"""The local control socket: ``say`` and ``devices`` reach a running daemon through it.

A unix socket in the state directory, owner-only (0600). One JSON object per line each
way; a request larger than ``MAX_REQUEST`` bytes or that is not JSON gets an error reply
and the daemon keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from assistant.errors import ControlError

__all__ = ["ControlServer", "request", "MAX_REQUEST"]

_LOGGER = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
"""Bytes one request line may have."""

RequestHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlServer:
    """Serves requests on a unix socket; ``async with`` binds and removes it."""

    def __init__(self, path: Path, handler: RequestHandler) -> None:
        self.path = path
        self._handler = handler
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ControlServer:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.path.exists():
            if await _is_alive(self.path):
                raise ControlError(f"another daemon is already listening on {self.path}")
            self.path.unlink()
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_REQUEST
            )
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        _LOGGER.info("control socket at %s", self.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await _send(writer, {"ok": False, "error": f"request larger than {MAX_REQUEST} bytes"})
                    return
                if not line:
                    return
                await _send(writer, await self._answer(line))
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(line)
        except (ValueError, RecursionError) as err:
            return {"ok": False, "error": f"request is not JSON: {err.__class__.__name__}"}
        if not isinstance(payload, dict) or not isinstance(payload.get("op"), str):
            return {"ok": False, "error": "request must be an object with an 'op' string"}
        try:
            return await self._handler(payload)
        except Exception as err:
            _LOGGER.exception("control request %r failed", payload.get("op"))
            return {"ok": False, "error": f"internal error: {err.__class__.__name__}"}


async def _send(writer: asyncio.StreamWriter, payload: dict[str, Any]) -> None:
    writer.write(json.dumps(payload).encode() + b"\n")
    await writer.drain()


async def _is_alive(path: Path) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def request(path: Path, payload: dict[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
    """Send one request to a daemon; raise ControlError when none answers."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(path), limit=16 * MAX_REQUEST), 2.0
        )
    except (OSError, TimeoutError) as err:
        raise ControlError(f"no daemon on {path}") from err
    try:
        writer.write(json.dumps(payload).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    except (OSError, TimeoutError) as err:
        raise ControlError(f"the daemon on {path} did not answer") from err
    finally:
        writer.close()
    if not line:
        raise ControlError(f"the daemon on {path} closed the connection")
    return json.loads(line)
