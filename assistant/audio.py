"""Pure PCM helpers: sample width, channels and rate conversion; WAV files in and out.

Conventions: width 1 is unsigned 8-bit (as in WAV), widths 2, 3 and 4 are signed
little-endian integers. Rate conversion uses libswresample through PyAV (``av`` comes with
faster-whisper): a proper band-limited resampler, fast, and stateful, so a stream resampled
chunk by chunk has no clicks at the chunk edges.
"""

from __future__ import annotations

import logging
import struct
import wave
from pathlib import Path

import av
import numpy as np

from assistant.errors import AssistantError
from assistant.messages import SPEECH_FORMAT, AudioChunk, AudioFormat

__all__ = [
    "AudioError",
    "Resampler",
    "ToSpeech",
    "convert",
    "duration_ms",
    "from_float",
    "read_wav",
    "rms",
    "to_float",
    "write_wav",
]

_LOGGER = logging.getLogger(__name__)

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_FORMAT_NAMES = {
    0x0002: "MS ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MP3",
}
_STREAMING_SIZES = (0, 0xFFFFFFFF)
"""Data-chunk sizes that streaming writers leave behind: read to the end of the file."""


class AudioError(AssistantError):
    """Audio that cannot be used: not a WAV, compressed, empty, truncated, bad format."""

    code = "audio-invalid"


def _check_format(fmt: AudioFormat) -> None:
    if fmt.width not in (1, 2, 3, 4) or fmt.channels < 1 or fmt.rate < 1:
        raise AudioError(f"unsupported audio format {fmt} (widths 1-4, channels >= 1)")


def _samples(pcm: bytes, fmt: AudioFormat) -> np.ndarray:
    """PCM bytes -> int32 array (frames, channels), scaled to the 16-bit range x 2**16."""
    _check_format(fmt)
    frame = fmt.width * fmt.channels
    pcm = pcm[: len(pcm) - len(pcm) % frame]
    if fmt.width == 1:
        out = (np.frombuffer(pcm, np.uint8).astype(np.int32) - 128) << 24
    elif fmt.width == 2:
        out = np.frombuffer(pcm, "<i2").astype(np.int32) << 16
    elif fmt.width == 3:
        raw = np.frombuffer(pcm, np.uint8).reshape(-1, 3).astype(np.int32)
        out = (raw[:, 0] << 8) | (raw[:, 1] << 16) | (raw[:, 2] << 24)
    else:
        out = np.frombuffer(pcm, "<i4").astype(np.int32)
    return out.reshape(-1, fmt.channels)


def _to_int16(samples: np.ndarray) -> np.ndarray:
    """int32 full-scale samples -> int16, rounding to nearest."""
    return np.clip((samples.astype(np.int64) + (1 << 15)) >> 16, -32768, 32767).astype(np.int16)


def _from_int16(samples: np.ndarray, width: int) -> bytes:
    """int16 array -> PCM bytes of ``width``."""
    if width == 2:
        return samples.astype("<i2").tobytes()
    wide = samples.astype(np.int32)
    if width == 1:
        return ((wide >> 8) + 128).astype(np.uint8).tobytes()
    if width == 4:
        return (wide << 16).astype("<i4").tobytes()
    b = (wide << 8).astype("<i4").view(np.uint8).reshape(-1, 4)
    return b[:, :3].tobytes()


def _mix(samples: np.ndarray, channels: int) -> np.ndarray:
    """Mix (frames, n) down or up to (frames, channels): average, then copy."""
    if samples.shape[1] == channels:
        return samples
    mono = samples if samples.shape[1] == 1 else samples.mean(axis=1, keepdims=True)
    return np.repeat(mono.astype(samples.dtype), channels, axis=1)


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


class Resampler:
    """Streaming rate conversion of 16-bit PCM (1 or 2 channels), chunk edges click-free.

    ``feed`` may return fewer samples than it got (the filter's delay); ``flush`` returns
    the rest at the end of the stream. After a flush the resampler can start a new stream.
    """

    def __init__(self, src_rate: int, dst_rate: int, channels: int = 1) -> None:
        """``src_rate``, ``dst_rate`` in Hertz; ``channels``: 1 or 2."""
        if channels not in (1, 2):
            raise AudioError(f"the resampler takes 1 or 2 channels, not {channels}")
        self.src_rate, self.dst_rate, self.channels = src_rate, dst_rate, channels
        self._resampler: av.AudioResampler | None = None
        self._pts = 0

    def _frames(self, frames: list[av.AudioFrame]) -> bytes:
        return b"".join(bytes(f.to_ndarray().tobytes()) for f in frames)

    def feed(self, pcm: bytes) -> bytes:
        """16-bit PCM at ``src_rate`` in -> 16-bit PCM at ``dst_rate`` out (possibly less)."""
        if self.src_rate == self.dst_rate:
            return pcm
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % (2 * self.channels)], "<i2")
        if samples.size == 0:
            return b""
        if self._resampler is None:
            self._resampler = av.AudioResampler(
                format="s16", layout=_layout(self.channels), rate=self.dst_rate
            )
        frame = av.AudioFrame.from_ndarray(
            samples.reshape(1, -1), format="s16", layout=_layout(self.channels)
        )
        frame.sample_rate = self.src_rate
        frame.pts = self._pts
        self._pts += samples.size // self.channels
        return self._frames(self._resampler.resample(frame))

    def flush(self) -> bytes:
        """The samples still held in the filter; resets for a new stream."""
        if self._resampler is None:
            return b""
        out = self._frames(self._resampler.resample(None))
        self._resampler, self._pts = None, 0
        return out


class ToSpeech:
    """A stream of any PCM -> 16 kHz mono 16-bit (``SPEECH_FORMAT``), for VAD, speech to
    text and wake words; one resampler per stream, so chunk edges make no clicks."""

    def __init__(self) -> None:
        self._format: AudioFormat | None = None
        self._resampler: Resampler | None = None

    def feed(self, chunk: AudioChunk) -> bytes:
        fmt = chunk.format
        if fmt == SPEECH_FORMAT:
            return chunk.audio
        if fmt != self._format:
            self._format = fmt
            rate = SPEECH_FORMAT.rate
            self._resampler = Resampler(fmt.rate, rate) if fmt.rate != rate else None
        mono = convert(chunk.audio, fmt, AudioFormat(fmt.rate, 2, 1))
        return self._resampler.feed(mono) if self._resampler is not None else mono


def convert(audio: AudioChunk | bytes, src: AudioFormat, dst: AudioFormat) -> bytes:
    """Convert a whole piece of PCM audio from ``src`` to ``dst`` (width, channels, rate).

    For a stream, use a :class:`Resampler` per stream instead of calling this per chunk.
    More than two channels are mixed to mono before rate conversion.
    """
    pcm = audio.audio if isinstance(audio, AudioChunk) else audio
    if src == dst:
        return bytes(pcm)
    _check_format(dst)
    samples = _samples(pcm, src)
    if src.rate == dst.rate:
        return _from_int16(_to_int16(_mix(samples, dst.channels)).reshape(-1), dst.width)
    mid = min(src.channels, dst.channels)
    mid = mid if mid <= 2 else 1
    narrowed = _to_int16(_mix(samples, mid))
    resampler = Resampler(src.rate, dst.rate, mid)
    out = resampler.feed(narrowed.tobytes()) + resampler.flush()
    resampled = np.frombuffer(out, "<i2").reshape(-1, mid)
    return _from_int16(_mix(resampled, dst.channels).reshape(-1), dst.width)


def to_float(pcm: bytes, fmt: AudioFormat) -> np.ndarray:
    """PCM -> mono float32 samples in [-1, 1] (channels averaged), rate unchanged."""
    samples = _samples(pcm, fmt).astype(np.float32) / 2**31
    return samples.mean(axis=1) if fmt.channels > 1 else samples.reshape(-1)


def from_float(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] -> 16-bit mono PCM (clipped)."""
    return (np.clip(samples, -1.0, 1.0) * 32767).round().astype("<i2").tobytes()


def rms(pcm: bytes, fmt: AudioFormat) -> float:
    """Root mean square level, 0-1 of full scale (0 for no audio)."""
    samples = to_float(pcm, fmt)
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0


def duration_ms(pcm: bytes, fmt: AudioFormat) -> float:
    """Length of ``pcm`` in milliseconds."""
    return 1000 * len(pcm) / fmt.bytes_per_second


def write_wav(path: str | Path, pcm: bytes, fmt: AudioFormat) -> None:
    """Write ``pcm`` as a plain PCM WAV file."""
    _check_format(fmt)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(fmt.channels)
        wav.setsampwidth(fmt.width)
        wav.setframerate(fmt.rate)
        wav.writeframes(pcm)


def read_wav(path: str | Path) -> tuple[bytes, AudioFormat]:
    """Read a PCM WAV file of any rate, width and channels -> (pcm, format).

    32-bit float WAVs come back as 16-bit PCM. Anything else (not a RIFF/WAVE file,
    compressed audio, an empty or truncated file, no samples) raises :class:`AudioError`
    naming the file and the reason.
    """
    name = Path(path).name
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise AudioError(f"{name}: cannot read the file ({err.strerror or err})") from err
    try:
        return _parse_wav(data)
    except AudioError as err:
        raise AudioError(f"{name}: {err.message}") from None


def _parse_wav(data: bytes) -> tuple[bytes, AudioFormat]:
    if not data:
        raise AudioError("the file is empty")
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        raise AudioError(f"not a WAV file ({_sniff(data)})")
    if data[:4] == b"RIFX":
        raise AudioError("big-endian (RIFX) WAV files are not supported")
    fmt_chunk, pcm = _chunks(data)
    tag, fmt = _parse_fmt(fmt_chunk)
    pcm = pcm[: len(pcm) - len(pcm) % (fmt.width * fmt.channels)]
    if not pcm:
        raise AudioError("the WAV file holds no audio samples")
    if tag == _FLOAT:
        floats = np.frombuffer(pcm, "<f4").reshape(-1, fmt.channels)
        ints = (np.clip(floats, -1.0, 1.0) * 32767).round().astype("<i2")
        return ints.tobytes(), AudioFormat(fmt.rate, 2, fmt.channels)
    return pcm, fmt


def _sniff(data: bytes) -> str:
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "it looks like MP3"
    if data[:4] in (b"OggS", b"fLaC"):
        return f"it looks like {'Ogg' if data[:4] == b'OggS' else 'FLAC'}"
    if data[:4] in (b"RIFF", b"RIFX"):
        return "a RIFF file, but not WAVE" if len(data) >= 12 else "the header is truncated"
    return "no RIFF/WAVE header"


def _chunks(data: bytes) -> tuple[bytes, bytes]:
    """(fmt chunk body, data chunk body) of a RIFF/WAVE file."""
    fmt_body: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body_start = pos + 8
        if cid == b"data":
            if fmt_body is None:
                raise AudioError("the data chunk comes before the fmt chunk")
            if size in _STREAMING_SIZES:
                return fmt_body, data[body_start:]
            if body_start + size > len(data):
                have = len(data) - body_start
                raise AudioError(f"truncated: the data chunk says {size} bytes, {have} are left")
            return fmt_body, data[body_start : body_start + size]
        if body_start + size > len(data):
            raise AudioError(f"truncated inside the {cid!r} chunk")
        if cid == b"fmt ":
            fmt_body = data[body_start : body_start + size]
        pos = body_start + size + (size & 1)
    if fmt_body is None:
        raise AudioError("truncated: no fmt chunk")
    raise AudioError("truncated: no data chunk")


def _parse_fmt(body: bytes) -> tuple[int, AudioFormat]:
    """(format tag, format) from a fmt chunk; refuses what is not PCM or 32-bit float."""
    if len(body) < 16:
        raise AudioError("the fmt chunk is truncated")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the sub-format GUID
    if tag not in (_PCM, _FLOAT):
        name = _FORMAT_NAMES.get(tag, f"format tag {tag:#06x}")
        raise AudioError(f"compressed WAV ({name}); only PCM is supported")
    if tag == _FLOAT and bits != 32:
        raise AudioError(f"{bits}-bit float WAV; only 32-bit float is supported")
    if channels < 1 or rate < 1 or bits % 8 or not 8 <= bits <= 32:
        raise AudioError(f"bad fmt chunk: {channels} channels, {rate} Hz, {bits} bits")
    return tag, AudioFormat(rate, bits // 8, channels)
