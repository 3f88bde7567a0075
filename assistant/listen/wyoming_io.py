"""Wyoming framing with limits, for peers the daemon does not trust.

A Wyoming event is one JSON header line, then ``data_length`` bytes of JSON, then
``payload_length`` bytes of payload. ``wyoming.event.async_read_event`` believes every length
and turns any parse error into a silent end of stream; here a header over 64 KiB, extra data
over 64 KiB, a payload over 1 MiB or a header that is not a JSON object raises
``HubProtocolError`` naming what was wrong, so the caller can log it and drop the peer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from wyoming.event import Event, async_write_event

from assistant.listen.errors import BadAudioFormat, HubProtocolError
from assistant.messages import AudioFormat

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_DATA_BYTES",
    "MAX_PAYLOAD_BYTES",
    "read_event",
    "EventWriter",
    "parse_format",
]

MAX_HEADER_BYTES = 64 * 1024
"""Longest JSON header line accepted, bytes; also the stream reader's limit."""
MAX_DATA_BYTES = 64 * 1024
"""Longest extra JSON data (``data_length``), bytes."""
MAX_PAYLOAD_BYTES = 1024 * 1024
"""Longest payload (``payload_length``), bytes: 1 MiB is ~33 s of 16 kHz mono speech."""

_RATES = range(1000, 192_001)
_WIDTHS = (1, 2, 4)
_CHANNELS = range(1, 9)


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event, or None when the peer closed the stream (also mid-event)."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as err:
        raise HubProtocolError(f"header line longer than {MAX_HEADER_BYTES} bytes") from err
    if len(line) > MAX_HEADER_BYTES:
        raise HubProtocolError(f"header line longer than {MAX_HEADER_BYTES} bytes")
    header = _parse_header(line)
    data = header.get("data") or {}
    data_length = _length(header, "data_length", MAX_DATA_BYTES)
    payload_length = _length(header, "payload_length", MAX_PAYLOAD_BYTES)
    try:
        if data_length:
            extra = _json_object(await reader.readexactly(data_length), "data")
            data = {**data, **extra}
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        return None
    return Event(type=header["type"], data=data, payload=payload)


def _parse_header(line: bytes) -> dict[str, Any]:
    header = _json_object(line, "header")
    if not isinstance(header.get("type"), str) or not header["type"]:
        raise HubProtocolError("header has no event type")
    if not isinstance(header.get("data", {}), dict | None):
        raise HubProtocolError("header data is not a JSON object")
    return header


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise HubProtocolError(f"{what} is not JSON: {raw[:60]!r}") from err
    if not isinstance(value, dict):
        raise HubProtocolError(f"{what} is not a JSON object: {raw[:60]!r}")
    return value


def _length(header: Mapping[str, Any], key: str, cap: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise HubProtocolError(f"{key} is not a byte count: {value!r}")
    if value > cap:
        raise HubProtocolError(f"{key} {value} is over the limit of {cap} bytes")
    return value


class EventWriter:
    """Writes whole events to one peer, one at a time (pongs and replies may interleave)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._lock = asyncio.Lock()

    async def write(self, event: Event) -> None:
        """Send one event; raises ConnectionError when the peer is gone."""
        async with self._lock:
            if self._writer.is_closing():
                raise ConnectionResetError("connection closed")
            await async_write_event(event, self._writer)

    def abort(self) -> None:
        """Drop the connection now; the peer's reader sees the end of the stream."""
        self._writer.transport.abort()

    async def close(self) -> None:
        """Close the connection; never raises."""
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def parse_format(data: Mapping[str, Any]) -> AudioFormat:
    """``rate``/``width``/``channels`` of an audio event, or ``BadAudioFormat``."""
    rate, width, channels = data.get("rate"), data.get("width"), data.get("channels")
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (rate, width, channels))
    if not ints or rate not in _RATES or width not in _WIDTHS or channels not in _CHANNELS:
        raise BadAudioFormat(
            f"unusable audio format: rate={rate!r} Hz, width={width!r} bytes, "
            f"channels={channels!r} (want rate 1000-192000, width 1/2/4, channels 1-8)"
        )
    return AudioFormat(rate, width, channels)
