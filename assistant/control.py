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

__all__ = ["ControlServer", "request", "daemon_alive", "MAX_REQUEST", "NO_DAEMON"]

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
            if await daemon_alive(self.path):
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
                    await _send(
                        writer, {"ok": False, "error": f"request larger than {MAX_REQUEST} bytes"}
                    )
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


async def daemon_alive(path: Path) -> bool:
    """Whether a daemon accepts connections on ``path``."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


NO_DAEMON = "no-daemon"
"""ControlError code: nothing was sent, so running the request elsewhere is safe."""


async def request(path: Path, payload: dict[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:
    """Send one request to a daemon and return its answer.

    Raises ControlError with code ``no-daemon`` when no daemon could be reached (nothing
    was sent), any other code when the request was sent but no answer came back: the
    daemon may have carried it out, so it must not be run a second time.
    """
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(path), limit=16 * MAX_REQUEST), 2.0
        )
    except (FileNotFoundError, ConnectionRefusedError) as err:
        raise ControlError(f"no daemon on {path}", code=NO_DAEMON) from err
    except PermissionError as err:
        raise ControlError(f"no permission to use the daemon's socket {path}") from err
    except (OSError, TimeoutError) as err:
        raise ControlError(f"the daemon on {path} is not accepting connections: {err}") from err
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
