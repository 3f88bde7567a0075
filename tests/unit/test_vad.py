"""The VAD engines: frame sizes, streaming state, Silero's model file."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.listen.vad import (
    MicroVadEngine,
    SileroVadEngine,
    VadError,
    make_vad,
    silero_model_path,
)

RATE = 16000


def tone_bursts(seconds: float = 3.0) -> np.ndarray:
    """Something with structure for the model to carry state over: noise in bursts."""
    rng = np.random.default_rng(3)
    samples = rng.standard_normal(int(seconds * RATE)) * 3000
    samples *= (np.arange(len(samples)) // 4000) % 2
    return samples.astype(np.int16)


def probabilities(vad, audio: np.ndarray) -> list[float]:
    n = vad.frame_samples
    return [vad.probability(audio[i : i + n].tobytes()) for i in range(0, len(audio) - n + 1, n)]


def test_frame_sizes():
    assert SileroVadEngine().frame_samples == 512
    assert MicroVadEngine().frame_samples == 160
    assert isinstance(make_vad("silero"), SileroVadEngine)
    assert isinstance(make_vad("micro"), MicroVadEngine)
    with pytest.raises(ValueError):
        make_vad("webrtc")  # type: ignore[arg-type]


def test_silero_model_comes_with_faster_whisper():
    path = silero_model_path()
    assert path.is_file() and path.name == "silero_vad_v6.onnx"
    assert path.parent.name == "assets" and path.parent.parent.name == "faster_whisper"


def test_missing_model_is_a_clear_error(tmp_path):
    missing = tmp_path / "silero_vad_v6.onnx"
    with pytest.raises(VadError, match="Silero VAD model not found") as err:
        SileroVadEngine(missing)
    assert str(missing) in str(err.value)


def test_unreadable_model_is_a_clear_error(tmp_path):
    broken = tmp_path / "silero_vad_v6.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(VadError, match="unreadable"):
        SileroVadEngine(broken)


def test_silero_streams_like_faster_whisper_batches():
    """Frame by frame, with state and context carried, equals faster-whisper's whole-file run."""
    from faster_whisper.vad import get_vad_model

    audio = tone_bursts()
    audio = audio[: len(audio) // 512 * 512]
    streamed = probabilities(SileroVadEngine(), audio)
    batched = get_vad_model()(audio.astype(np.float32) / 32768).reshape(-1)
    # one window at a time rounds differently from a batch of windows: ~1e-3 apart at most
    np.testing.assert_allclose(streamed, batched, atol=0.01)


@pytest.mark.parametrize("engine", ["silero", "micro"])
def test_reset_forgets_the_stream(engine):
    vad = make_vad(engine)
    audio = tone_bursts()
    first = probabilities(vad, audio)
    vad.reset()
    assert probabilities(vad, audio) == pytest.approx(first, abs=1e-6)
    assert all(0.0 <= p <= 1.0 for p in first)


def test_micro_warm_up_counts_as_not_speech():
    """pymicro-vad answers -1 while warming up; the engine says 0."""
    vad = MicroVadEngine()
    first = probabilities(vad, tone_bursts(0.5))
    assert first[0] == 0.0 and min(first) >= 0.0


@pytest.mark.parametrize("engine", ["silero", "micro"])
def test_a_frame_of_the_wrong_size_is_refused(engine):
    vad = make_vad(engine)
    with pytest.raises(ValueError, match="samples"):
        vad.probability(b"\0" * (2 * vad.frame_samples + 2))


def test_silero_runs_on_one_thread():
    options = SileroVadEngine()._session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
