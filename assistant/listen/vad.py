"""Voice activity: the probability that a short frame of 16 kHz, 16-bit mono PCM is speech.

Two engines, both streaming (state carried from one frame to the next), both pure CPU:

``SileroVadEngine``
    Silero VAD v6, the ONNX file faster-whisper ships (nothing is downloaded), run with
    onnxruntime on one thread. 32 ms frames (512 samples). Follows the audio closely: about
    one frame late at speech onset, ~0.1 s late at speech end; a pause between words of
    ~0.2 s or more reads as silence.
``MicroVadEngine``
    pymicro-vad (the microWakeWord VAD Home Assistant uses). 10 ms frames. Answers -1 for
    its first ~0.75 s (warm-up, reported here as 0) and follows the audio ~0.6 s late, at
    speech onset and end alike; smooths pauses shorter than ~0.5 s away.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from assistant.errors import AssistantError

__all__ = [
    "VadEngineName",
    "Vad",
    "VadError",
    "MicroVadEngine",
    "SileroVadEngine",
    "silero_model_path",
    "make_vad",
]

VadEngineName = Literal["silero", "micro"]


class VadError(AssistantError):
    """A VAD engine could not be set up (its model file is missing or unreadable)."""

    code = "vad-error"


class Vad(Protocol):
    """Speech probability of consecutive frames of one stream (16 kHz, 16-bit, mono)."""

    frame_samples: int
    """Samples in one frame; ``probability`` takes exactly this many (2 bytes each)."""

    def probability(self, frame: bytes) -> float:
        """0-1: how likely this frame, following the ones before it, is speech."""
        ...

    def reset(self) -> None:
        """Forget the stream: the next frame starts a new one."""
        ...


def _check(frame: bytes, samples: int) -> None:
    if len(frame) != 2 * samples:
        raise ValueError(f"a VAD frame is {samples} samples ({2 * samples} bytes): {len(frame)}")


class MicroVadEngine:
    """pymicro-vad, 10 ms frames; its warm-up answer (-1) counts as 0."""

    frame_samples = 160

    def __init__(self) -> None:
        from pymicro_vad import MicroVad

        self._vad = MicroVad()

    def probability(self, frame: bytes) -> float:
        _check(frame, self.frame_samples)
        return max(0.0, float(self._vad.process_10ms(frame)))

    def reset(self) -> None:
        self._vad.reset()


_SILERO_FILE = "silero_vad_v6.onnx"


@functools.cache
def silero_model_path() -> Path:
    """Where faster-whisper keeps its Silero VAD model (found without importing faster_whisper;
    looked up once: every voice turn asks)."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        raise VadError("the Silero VAD needs faster-whisper, which ships its model; not installed")
    for location in spec.submodule_search_locations:
        path = Path(location) / "assets" / _SILERO_FILE
        if path.is_file():
            return path
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / _SILERO_FILE


class SileroVadEngine:
    """Silero VAD v6 (faster-whisper's ONNX file) on onnxruntime, 512-sample frames.

    The model takes each 512-sample window prefixed with the last 64 samples of the window
    before (zeros at the stream's start) and carries an LSTM state (h, c) from window to window.
    """

    frame_samples = 512
    _CONTEXT = 64
    _STATE = (1, 1, 128)

    def __init__(self, model_path: str | Path | None = None) -> None:
        path = Path(model_path) if model_path is not None else silero_model_path()
        if not path.is_file():
            raise VadError(f"Silero VAD model not found: {path} (it comes with faster-whisper)")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own (unexported) error types
            raise VadError(f"Silero VAD model unreadable: {path}: {err}") from err
        self._window = np.zeros((1, self._CONTEXT + self.frame_samples), np.float32)
        self.reset()

    def probability(self, frame: bytes) -> float:
        _check(frame, self.frame_samples)
        window = self._window
        window[0, : self._CONTEXT] = window[0, -self._CONTEXT :]  # the previous frame's tail
        window[0, self._CONTEXT :] = np.frombuffer(frame, "<i2")
        window[0, self._CONTEXT :] *= 1 / 32768
        probs, self._h, self._c = self._session.run(
            None, {"input": window, "h": self._h, "c": self._c}
        )
        return float(probs.reshape(-1)[0])

    def reset(self) -> None:
        self._h = np.zeros(self._STATE, np.float32)
        self._c = np.zeros(self._STATE, np.float32)
        self._window[:] = 0


def make_vad(engine: VadEngineName) -> Vad:
    """A fresh VAD of that kind."""
    if engine == "silero":
        return SileroVadEngine()
    if engine == "micro":
        return MicroVadEngine()
    raise ValueError(f"unknown VAD engine: {engine!r}")
