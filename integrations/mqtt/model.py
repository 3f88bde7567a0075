"""Vocabulary of the MQTT integration: settings, received messages, publish outcomes."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Delivery", "Message", "TlsSettings", "ssl_context"]


@dataclass(frozen=True, slots=True)
class Message:
    """One received MQTT message."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    """True when the broker sent a retained message (state from before we subscribed)."""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS towards the broker. The server certificate is always verified."""

    ca_file: Path | str | None = None
    """CA bundle that signed the broker's certificate (None: the system store)."""
    certfile: Path | str | None = None
    """Optional client certificate (PEM)."""
    keyfile: Path | str | None = None
    """Key of the client certificate (PEM)."""


class Delivery:
    """Outcome of one publish; ``wait`` returns True once the broker acknowledged it (QoS 1/2)
    or it was written to the socket (QoS 0)."""

    __slots__ = ("mid", "queued", "_done")

    def __init__(self, mid: int, queued: bool, done: asyncio.Future[None]) -> None:
        self.mid = mid
        self.queued = queued
        """True when the connection was down: paho holds the message until reconnect."""
        self._done = done

    @property
    def delivered(self) -> bool:
        return self._done.done() and not self._done.cancelled()

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for delivery; False when it has not happened yet."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._done)
        except TimeoutError:
            return False
        return True


def ssl_context(tls: TlsSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=str(tls.ca_file) if tls.ca_file is not None else None
    )
    if tls.certfile is not None:
        context.load_cert_chain(
            str(tls.certfile), str(tls.keyfile) if tls.keyfile is not None else None
        )
    return context
