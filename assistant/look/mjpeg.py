"""MJPEG streams (``multipart/x-mixed-replace``): the newest complete picture (``mjpeg_url``).

The stream is read from its start to the end of the first whole part; parts that were
already on their way (arriving within ``DRAIN_WAIT`` of each other, as a buffered backlog
does) are read too and the last one wins. Then the connection is closed. A part is framed
by its ``Content-Length`` when it has one, else by the JPEG's end marker at the end of what
has arrived, or by the next boundary. Tolerated quirks:
a boundary parameter that already starts with ``--``, a picture served without multipart.
"""

from __future__ import annotations

import asyncio

from ._http import Body, get
from ._url import Login, mask_url
from .errors import SourceError
from .frames import MAX_IMAGE_BYTES

__all__ = ["DRAIN_MAX", "DRAIN_WAIT", "fetch_mjpeg"]

DRAIN_WAIT = 0.01
"""A part that arrives within this after the previous one was already buffered, seconds."""
DRAIN_MAX = 10
"""Buffered parts read past the first, at most."""
_PART_HEAD_LIMIT = 8 * 1024
"""The largest part header, bytes."""
_ACCEPT = "multipart/x-mixed-replace, image/jpeg;q=0.9, */*;q=0.1"


async def fetch_mjpeg(
    url: str, *, login: Login | None = None, limit: int = MAX_IMAGE_BYTES
) -> bytes:
    """The newest complete picture of the MJPEG stream at ``url``, as bytes.

    Raises :class:`SourceError`: ``unreachable``, ``denied``, ``http`` (a status other than
    200, a stream that ends), ``too-large`` (a part over ``limit`` bytes), ``not-image``
    (not multipart, or no boundary within ``limit`` bytes).
    """
    where = mask_url(url)
    async with get(url, login=login, accept=_ACCEPT) as response:
        if response.status != 200:
            raise SourceError("http", f"{where}: HTTP {response.status} {response.reason}")
        kind = response.header("content-type") or ""
        try:
            if kind.lower().startswith("image/"):
                return await response.body.read_all(limit)
            token = _boundary(kind)
            picture = await _part(response.body, token, limit)
            return await _drain(response.body, token, limit, picture)
        except SourceError as err:
            raise SourceError(err.kind, f"{where}: {err.detail}") from None


async def _drain(body: Body, token: bytes, limit: int, picture: bytes) -> bytes:
    """The last of the parts that follow ``picture`` without a wait."""
    for _ in range(DRAIN_MAX):
        try:
            async with asyncio.timeout(DRAIN_WAIT):
                picture = await _part(body, token, limit)
        except (TimeoutError, SourceError):
            break
    return picture


def _boundary(content_type: str) -> bytes:
    """The boundary token, without the ``--`` that precedes it on the delimiter line."""
    media, _, params = content_type.partition(";")
    if not media.strip().lower().startswith("multipart/"):
        raise SourceError("not-image", f"not an MJPEG stream ({media.strip() or 'no type'})")
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            token = value.strip().strip('"').lstrip("-")
            if token:
                return token.encode("latin-1", "replace")
    raise SourceError("not-image", "a multipart stream without a boundary")


async def _part(body: Body, token: bytes, limit: int) -> bytes:
    """The content of the next part."""
    try:
        await body.read_until(token, limit)  # skip to the delimiter, and past it
    except SourceError as err:
        if err.kind == "too-large":
            raise SourceError("not-image", f"no boundary within {limit} bytes") from None
        raise
    head = await body.read_until(b"\r\n\r\n", _PART_HEAD_LIMIT)
    if head.startswith(b"--"):
        raise SourceError("http", "the stream ended")
    length = _content_length(head)
    if length is not None:
        if length > limit:
            raise SourceError("too-large", f"a part of {length} bytes")
        return await body.read_exactly(length)
    data = await body.read_until(token, limit, consume=False, complete=_whole_jpeg)
    return data.rstrip(b"-").rstrip(b"\r\n")


def _whole_jpeg(data: bytearray) -> bool:
    """True when ``data`` is a JPEG up to its end marker (and maybe a line break): a part
    without a length is then complete before the next boundary comes with the next frame."""
    return data.startswith(b"\xff\xd8") and data.endswith((b"\xff\xd9", b"\xff\xd9\r\n"))


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None
