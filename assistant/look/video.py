"""Video through PyAV (FFmpeg): a live stream (``rtsp_url``) or a file (``file``).

A live stream gives its first decodable picture, from the first key frame on: that is the
newest one. A file gives its last picture: the decoder starts a couple of seconds before the
end. A file may also be a single picture (JPEG, PNG) that another program keeps rewriting.

All of it runs in one worker thread. FFmpeg's own I/O timeout bounds each blocking open or
read; a stop flag, set when the caller gives up, ends the decoding loop at the next packet,
so an abandoned thread does not run on.
"""

from __future__ import annotations

import asyncio
import threading
import time

import av
import av.container
import av.error

from ._url import mask_url
from .errors import SourceError
from .frames import MAX_PIXELS, Frame, encode_frame

__all__ = ["grab_video_frame", "TAIL_SECONDS"]

TAIL_SECONDS = 2.0
"""How far before a file's end decoding starts, seconds."""
_MAX_PACKETS = 600
"""Packets read from a live stream while looking for a picture, at most (about 20 s of
30 fps video)."""


async def grab_video_frame(
    source: str, *, live: bool, camera: str, max_side: int, timeout: float
) -> Frame:
    """The newest picture of ``source`` (a URL when ``live``, else a file path) as a frame.

    ``timeout`` (seconds) bounds each network open and read inside FFmpeg; the caller bounds
    the whole. Raises :class:`SourceError`: ``unreachable`` (refused, no such file, silent),
    ``denied`` (401/403), ``not-image`` (no video, nothing decodable), ``too-large``.
    """
    stop = threading.Event()
    try:
        return await asyncio.to_thread(_grab, source, live, camera, max_side, timeout, stop)
    finally:
        stop.set()


def _grab(
    source: str, live: bool, camera: str, max_side: int, timeout: float, stop: threading.Event
) -> Frame:
    where = mask_url(source) if live else source
    options = {"rtsp_transport": "tcp"} if live else {}
    try:
        with av.open(source, options=options, timeout=(timeout, timeout)) as container:
            if not container.streams.video:
                raise SourceError("not-image", f"{where}: no video stream")
            stream = container.streams.video[0]
            picture = _first(container, stream, stop) if live else _last(container, stream, stop)
            if picture is None:
                raise SourceError("not-image", f"{where}: no picture could be decoded")
            if picture.width * picture.height > MAX_PIXELS:
                raise SourceError("too-large", f"{where}: {picture.width}x{picture.height}")
            jpeg, width, height = encode_frame(picture, max_side)
    except av.error.FFmpegError as err:
        raise _translate(err, where, live) from None
    except ValueError as err:  # an odd pixel format that cannot be converted
        raise SourceError("not-image", f"{where}: {err}") from None
    return Frame(jpeg, width, height, camera, time.time())


def _first(
    container: av.container.InputContainer, stream: av.VideoStream, stop: threading.Event
) -> av.VideoFrame | None:
    """The first picture decoded from the first key frame on."""
    keyed = False
    for count, packet in enumerate(container.demux(stream)):
        if stop.is_set() or count >= _MAX_PACKETS:
            return None
        keyed = keyed or packet.is_keyframe
        if not keyed:
            continue
        for picture in packet.decode():
            return picture
    return None


def _last(
    container: av.container.InputContainer, stream: av.VideoStream, stop: threading.Event
) -> av.VideoFrame | None:
    """The last picture, decoding from ``TAIL_SECONDS`` before the end."""
    if container.duration and container.duration > TAIL_SECONDS * av.time_base:
        try:
            container.seek(container.duration - int(TAIL_SECONDS * av.time_base))
        except av.error.FFmpegError:
            container.seek(0)
    last = None
    for picture in container.decode(stream):
        if stop.is_set():
            return None
        last = picture
    return last


def _translate(err: av.error.FFmpegError, where: str, live: bool) -> SourceError:
    """An FFmpeg error as a source error; FFmpeg's message names the URL, this never does."""
    reason = err.strerror or type(err).__name__
    if isinstance(err, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return SourceError("denied", f"{where}: {reason}")
    if isinstance(err, av.error.InvalidDataError) and not live:
        return SourceError("not-image", f"{where}: {reason}")
    if isinstance(err, OSError | av.error.InvalidDataError | av.error.ExitError):
        return SourceError("unreachable", f"{where}: {reason}")
    return SourceError("not-image", f"{where}: {reason}")
