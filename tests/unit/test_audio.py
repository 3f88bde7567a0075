"""PCM conversions and WAV reading: real numbers, real files."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from assistant.audio import (
    AudioError,
    Resampler,
    convert,
    duration_ms,
    read_wav,
    rms,
    to_float,
    write_wav,
)
from assistant.messages import SPEECH_FORMAT, AudioChunk, AudioFormat

VOICE = AudioFormat(22050, 2, 1)


def _sine(freq: float, rate: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def _pcm16(samples: np.ndarray) -> bytes:
    return (samples * 32767).round().astype("<i2").tobytes()


def _peak_hz(pcm: bytes, fmt: AudioFormat) -> float:
    samples = to_float(pcm, fmt)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * fmt.rate / samples.size)


@pytest.mark.parametrize(
    ("src_rate", "dst_rate", "freq"),
    [(22050, 16000, 1000.0), (22050, 16000, 3500.0), (16000, 22050, 440.0), (16000, 48000, 2000.0)],
)
def test_resampling_keeps_frequency_and_length(src_rate, dst_rate, freq):
    src, dst = AudioFormat(src_rate, 2, 1), AudioFormat(dst_rate, 2, 1)
    out = convert(_pcm16(_sine(freq, src_rate)), src, dst)
    assert len(out) == 2 * dst_rate  # one second in, one second out
    assert _peak_hz(out, dst) == pytest.approx(freq, abs=2.0)
    assert rms(out, dst) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_resampling_removes_what_the_new_rate_cannot_hold():
    """9 kHz is above 16 kHz's Nyquist limit: a real resampler filters it, no alias."""
    out = convert(_pcm16(_sine(9000.0, 22050)), VOICE, SPEECH_FORMAT)
    assert rms(out, SPEECH_FORMAT) < 0.01


def test_streaming_resampler_matches_one_shot_and_does_not_click():
    pcm = _pcm16(_sine(1000.0, 22050, seconds=2.0))
    resampler = Resampler(22050, 16000)
    step = 2 * 2205  # 100 ms chunks of 16-bit samples
    streamed = b"".join(resampler.feed(pcm[i : i + step]) for i in range(0, len(pcm), step))
    streamed += resampler.flush()
    assert len(streamed) == 2 * 32000
    assert streamed == convert(pcm, VOICE, SPEECH_FORMAT)
    samples = np.frombuffer(streamed, "<i2").astype(float)
    max_step = 0.5 * 32767 * 2 * np.pi * 1000 / 16000  # steepest slope of the sine
    assert np.abs(np.diff(samples[100:-100])).max() <= max_step * 1.05


def test_convert_accepts_a_chunk_and_same_format_is_a_copy():
    pcm = _pcm16(_sine(440.0, 16000, 0.1))
    assert convert(AudioChunk(pcm, SPEECH_FORMAT), SPEECH_FORMAT, SPEECH_FORMAT) == pcm


def test_stereo_to_mono_averages_and_mono_to_stereo_copies():
    left, right = np.full(100, 1000, "<i2"), np.full(100, 3000, "<i2")
    stereo = np.stack([left, right], axis=1).tobytes()
    mono = np.frombuffer(convert(stereo, AudioFormat(16000, 2, 2), SPEECH_FORMAT), "<i2")
    assert mono.tolist() == [2000] * 100
    back = np.frombuffer(convert(mono.tobytes(), SPEECH_FORMAT, AudioFormat(16000, 2, 2)), "<i2")
    assert back.tolist() == [2000] * 200


def test_stereo_44100_to_speech_format_keeps_frequency():
    tone = _sine(700.0, 44100)
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    out = convert(_pcm16(stereo), AudioFormat(44100, 2, 2), SPEECH_FORMAT)
    assert len(out) == 32000
    assert _peak_hz(out, SPEECH_FORMAT) == pytest.approx(700.0, abs=2.0)


def test_8_bit_is_unsigned_and_round_trips():
    u8 = bytes([128, 255, 0, 192])
    pcm = np.frombuffer(convert(u8, AudioFormat(16000, 1, 1), SPEECH_FORMAT), "<i2")
    assert pcm.tolist() == [0, 32512, -32768, 16384]
    assert convert(pcm.tobytes(), SPEECH_FORMAT, AudioFormat(16000, 1, 1)) == u8


def test_32_bit_and_24_bit_widths():
    values = np.array([0, 12345, -12345, 32767, -32768], "<i2")
    for width in (3, 4):
        wide = AudioFormat(16000, width, 1)
        out = convert(values.tobytes(), SPEECH_FORMAT, wide)
        assert len(out) == width * values.size
        assert np.frombuffer(convert(out, wide, SPEECH_FORMAT), "<i2").tolist() == values.tolist()
    as_i32 = np.frombuffer(
        convert(values.tobytes(), SPEECH_FORMAT, AudioFormat(16000, 4, 1)), "<i4"
    )
    assert as_i32.tolist() == [v << 16 for v in values.tolist()]


def test_rms_and_duration():
    silence = bytes(3200)
    assert rms(silence, SPEECH_FORMAT) == 0.0
    assert rms(b"", SPEECH_FORMAT) == 0.0
    assert duration_ms(silence, SPEECH_FORMAT) == 100.0


def test_unsupported_format_is_refused():
    with pytest.raises(AudioError):
        convert(b"\0" * 10, AudioFormat(16000, 5, 1), SPEECH_FORMAT)


# -- WAV files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt",
    [
        AudioFormat(22050, 2, 1),
        AudioFormat(44100, 2, 2),
        AudioFormat(8000, 1, 1),
        AudioFormat(48000, 4, 2),
        AudioFormat(16000, 3, 1),
    ],
)
def test_wav_round_trip(tmp_path, fmt):
    pcm = bytes(range(256)) * (fmt.width * fmt.channels)
    path = tmp_path / "command.wav"
    write_wav(path, pcm, fmt)
    assert read_wav(path) == (pcm, fmt)


def _wav_header(tag: int, channels: int, rate: int, bits: int, data_size: int) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    return (
        b"RIFF"
        + struct.pack("<I", min(36 + data_size, 0xFFFFFFFF))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data_size)
    )


def test_float_wav_comes_back_as_16_bit(tmp_path):
    floats = np.array([0.0, 0.5, -0.5, 1.0], "<f4")
    path = tmp_path / "float.wav"
    path.write_bytes(_wav_header(3, 1, 16000, 32, 16) + floats.tobytes())
    pcm, fmt = read_wav(path)
    assert fmt == SPEECH_FORMAT
    assert np.frombuffer(pcm, "<i2").tolist() == [0, 16384, -16384, 32767]


def test_streaming_wav_with_unknown_length_is_read_to_the_end(tmp_path):
    path = tmp_path / "stream.wav"
    path.write_bytes(_wav_header(1, 1, 16000, 16, 0xFFFFFFFF) + bytes(640))
    assert read_wav(path) == (bytes(640), SPEECH_FORMAT)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        (
            "noise.wav",
            bytes(np.random.default_rng(7).integers(0, 256, 4000, dtype=np.uint8)),
            "not a WAV file",
        ),
        ("notes.wav", b"turn on the lamp\nthen the porch light\n", "not a WAV file"),
        ("empty.wav", b"", "empty"),
        ("short.wav", b"RIFF\x24\x00\x00\x00WA", "truncated"),
        ("header.wav", _wav_header(1, 1, 16000, 16, 3200)[:30], "truncated"),
        ("cut.wav", _wav_header(1, 1, 16000, 16, 3200) + bytes(1000), "truncated"),
        ("song.wav", b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(500), "MP3"),
        ("frames.wav", b"\xff\xfb\x90\x64" + bytes(500), "MP3"),
        ("mp3.wav", _wav_header(0x55, 1, 16000, 0, 100) + bytes(100), "compressed WAV (MP3)"),
        ("alaw.wav", _wav_header(6, 1, 8000, 8, 100) + bytes(100), "compressed WAV (A-law)"),
        ("nodata.wav", _wav_header(1, 1, 16000, 16, 0)[:-8], "no data chunk"),
        ("silent.wav", _wav_header(1, 1, 16000, 16, 0) + b"", "no audio"),
    ],
)
def test_bad_wavs_are_refused_naming_the_file_and_why(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioError) as caught:
        read_wav(path)
    assert name in str(caught.value)
    assert reason in str(caught.value)
    assert caught.value.code == "audio-invalid"


def test_missing_file_is_an_audio_error(tmp_path):
    with pytest.raises(AudioError, match="gone.wav: cannot read"):
        read_wav(tmp_path / "gone.wav")
