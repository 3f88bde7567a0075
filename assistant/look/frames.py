"""Pictures to frames: decode any picture, scale it down, encode a small JPEG.

Everything here blocks (FFmpeg through PyAV) and is called in a worker thread; the one async
entry point, :func:`to_frame`, does that. The output is always a fresh baseline JPEG: no EXIF
(no GPS, no camera serial), the long side at most ``max_side`` pixels, aspect ratio kept.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error

from .errors import SourceError

__all__ = [
    "Frame",
    "JPEG_QSCALE",
    "MAX_IMAGE_BYTES",
    "MAX_PIXELS",
    "decode_image",
    "encode_frame",
    "image_to_frame",
    "scaled_size",
    "sniff",
    "to_frame",
]

MAX_IMAGE_BYTES = 10 * 1024 * 1024
"""The largest picture accepted from any source, bytes."""
MAX_PIXELS = 50_000_000
"""The largest picture decoded, pixels (8K video is 33 megapixels); guards against a small
file that claims a huge size."""
JPEG_QSCALE = 4
"""FFmpeg's JPEG quantiser scale (2 best .. 31 worst); 4 is about libjpeg quality 80."""

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "mjpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"WEBP", 8, "webp"),
    (b"BM", 0, "bmp"),
)
"""(signature, offset, FFmpeg decoder) of the picture formats accepted."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One camera picture, ready for the vision model."""

    jpeg: bytes
    """The picture as a JPEG file."""
    width: int
    """Pixels."""
    height: int
    """Pixels."""
    camera: str
    """The configured name of the camera it came from."""
    taken_at: float
    """When the assistant received it, UNIX time in seconds (a retained MQTT picture may be
    older than that)."""


def sniff(data: bytes) -> str | None:
    """The FFmpeg decoder for ``data`` by its first bytes: ``mjpeg``, ``png``, ``webp``,
    ``bmp``; None for anything else (HTML, text, video, ...)."""
    for magic, offset, codec in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if codec == "webp" and not data.startswith(b"RIFF"):
                continue
            return codec
    return None


def decode_image(data: bytes) -> av.VideoFrame:
    """Decode one picture; ``SourceError`` (``not-image``, ``too-large``) when it is none."""
    if len(data) > MAX_IMAGE_BYTES:
        raise SourceError("too-large", f"picture of {len(data)} bytes")
    codec = sniff(data)
    if codec is None:
        raise SourceError("not-image", f"not a JPEG, PNG, WebP or BMP picture ({len(data)} bytes)")
    if codec == "mjpeg" and not data.rstrip(b"\r\n\x00 ").endswith(b"\xff\xd9"):
        raise SourceError("not-image", f"a JPEG picture cut short ({len(data)} bytes)")
    decoder = av.CodecContext.create(codec, "r")
    decoder.options = {"max_pixels": str(MAX_PIXELS)}
    try:
        frames = decoder.decode(av.Packet(data))
        frames = frames or decoder.decode(None)
    except av.error.FFmpegError as err:
        raise SourceError("not-image", f"undecodable {codec} picture: {err.strerror}") from None
    if not frames:
        raise SourceError("not-image", f"undecodable {codec} picture")
    return frames[0]


def scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """``(width, height)`` scaled so that the long side is at most ``max_side`` (pixels),
    aspect ratio kept, never enlarged: 1920x1080 at 768 -> 768x432."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode_frame(picture: av.VideoFrame, max_side: int) -> tuple[bytes, int, int]:
    """Scale ``picture`` down to ``max_side`` and encode it: ``(jpeg, width, height)``."""
    width, height = scaled_size(picture.width, picture.height, max_side)
    scaled = picture.reformat(width, height, format="yuvj420p", interpolation="AREA")
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 1)
    encoder.qmin = encoder.qmax = JPEG_QSCALE
    packets = encoder.encode(scaled) + encoder.encode(None)
    return b"".join(bytes(packet) for packet in packets), width, height


def image_to_frame(data: bytes, *, camera: str, max_side: int, taken_at: float) -> Frame:
    """Decode, scale and re-encode one picture (blocking: call it in a thread)."""
    picture = decode_image(data)
    try:
        jpeg, width, height = encode_frame(picture, max_side)
    except (av.error.FFmpegError, ValueError) as err:
        raise SourceError("not-image", f"cannot re-encode the picture: {err}") from None
    return Frame(jpeg, width, height, camera, taken_at)


async def to_frame(data: bytes, *, camera: str, max_side: int, taken_at: float) -> Frame:
    """:func:`image_to_frame` in a worker thread, so the loop never waits on FFmpeg."""
    return await asyncio.to_thread(
        image_to_frame, data, camera=camera, max_side=max_side, taken_at=taken_at
    )
