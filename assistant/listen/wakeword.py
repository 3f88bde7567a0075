"""Wake word detection with pyopen-wakeword's bundled openWakeWord models (nothing downloaded).

A :class:`WakeWordDetector` takes a stream of 16 kHz mono 16-bit PCM in pieces of any size
and says when its wake word was spoken. Inference is blocking but light (a few milliseconds
per 80 ms of audio); call it where the caller decides: the local microphone hub runs it in a
worker thread of its own. One detector is used by one thread at a time.

After a detection the detector stays quiet for ``refractory_seconds`` of audio, so one spoken
wake word triggers once however many of the model's windows score above the threshold.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError

if TYPE_CHECKING:
    from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures

__all__ = [
    "WakeWordDetector",
    "WakeWordError",
    "available_models",
    "bundled_model",
    "wake_word_key",
]

_LOGGER = logging.getLogger(__name__)

_RATE = 16000
_CHUNK_SAMPLES = 1280
"""80 ms: what openWakeWord's feature model advances by; pieces are fed in this size."""
_CHUNK_BYTES = 2 * _CHUNK_SAMPLES


class WakeWordError(AssistantError):
    """The wake word model could not be loaded (unknown name, missing file or runtime)."""

    code = "wake-word-unavailable"


def available_models() -> list[str]:
    """Names of the wake word models bundled with pyopen-wakeword (``okay_nabu``, ...)."""
    from pyopen_wakeword import Model

    return [m.value for m in Model]


_MODEL_SUFFIXES = (".tflite", ".onnx")
_VERSION = re.compile(r"[\s_\-]+v\d+(?:\.\d+)*$")
_WORDS = re.compile(r"[^\W_]+")
_SPELLINGS = {"ok": "okay"}
"""Words spelled two ways in wake word names ("ok_nabu", "okay_nabu")."""


def wake_word_key(name: str | None) -> str | None:
    """One spelling for one wake word, to compare names that different hubs report.

    "okay_nabu", "ok_nabu", "Okay Nabu", "OK, Nabu", "okay_nabu_v0.1" and
    ".../okay_nabu.tflite" all give ``okay_nabu``: the file name without folder, extension
    or version, lower case, words joined by ``_``, "ok" spelled "okay". None, or a name with
    no letters or digits, gives None (a wake word without a name).
    """
    if name is None:
        return None
    text = re.split(r"[\\/]", name.strip())[-1].lower()
    for suffix in _MODEL_SUFFIXES:
        text = text.removesuffix(suffix)
    text = _VERSION.sub("", text)
    words = [_SPELLINGS.get(word, word) for word in _WORDS.findall(text)]
    return "_".join(words) or None


_KNOWN_BUNDLED = frozenset({"okay_nabu", "hey_jarvis", "hey_mycroft", "alexa", "hey_rhasspy"})
"""pyopen-wakeword 1.x's models, so checking a usual config needs no import of it."""


def check_wake_words(settings: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Config check: every configured wake word is a bundled model or an existing file.

    Yields ``(key path, message)`` for ``assistant.config.load_config(checks=...)``; without
    it a misspelt model would only show up at the first wake word pipeline.
    """
    hubs = settings.hubs
    wanted: list[tuple[tuple[str | int, ...], str]] = [
        (("hubs", "wyoming", "wake_word"), hubs.wyoming.wake_word),
        (("hubs", "local_mic", "wake_word"), hubs.local_mic.wake_word),
    ]
    wanted += [
        (("hubs", "satellites", index, "wake_word"), satellite.wake_word)
        for index, satellite in enumerate(hubs.satellites)
    ]
    for loc, name in wanted:
        if name.endswith(".tflite") or "/" in name:
            if not Path(name).expanduser().is_file():
                yield loc, f"no wake word model file {name}"
        elif wake_word_key(name) not in _KNOWN_BUNDLED and bundled_model([name]) is None:
            known = ", ".join(available_models())
            yield loc, f"unknown wake word {name!r}; bundled: {known}, or a .tflite file"


def bundled_model(names: Iterable[str]) -> str | None:
    """The first of ``names`` that is a bundled model (in any spelling), by its model name."""
    models = {wake_word_key(model): model for model in available_models()}
    for name in names:
        model = models.get(wake_word_key(name))
        if model is not None:
            return model
    return None


class WakeWordDetector:
    """Streaming detector for one wake word.

    ``model``: a bundled model's name (see :func:`available_models`) or the path of an
    openWakeWord ``.tflite`` file. ``threshold``: the model's probability (0-1) above which
    the wake word counts as spoken. ``refractory_seconds``: audio after a detection during
    which no other detection is reported.
    """

    def __init__(
        self,
        model: str = "okay_nabu",
        threshold: float = 0.5,
        *,
        refractory_seconds: float = 2.0,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise WakeWordError(f"wake word threshold must be between 0 and 1, not {threshold}")
        self.model = str(model)
        """The model asked for: a bundled model's name or a ``.tflite`` path."""
        self.threshold = threshold
        self.refractory_samples = int(refractory_seconds * _RATE)
        self._features, self._model = _load(model)
        self.name: str = self._model.id
        """The wake word's name (the model's file name without ``.tflite``)."""
        self.peak_score = 0.0
        """Highest probability seen since the last detection or reset (for diagnostics)."""
        self._pending = b""
        self._samples = 0
        self._quiet_until = 0
        self._prime()

    @staticmethod
    def available_models() -> list[str]:
        """Names of the bundled models."""
        return available_models()

    def process(self, pcm16k_mono_s16: bytes) -> str | None:
        """Feed audio; the wake word's name if it was detected in it, else None."""
        data = self._pending + pcm16k_mono_s16
        whole = len(data) - len(data) % _CHUNK_BYTES
        self._pending = data[whole:]
        detected: str | None = None
        for start in range(0, whole, _CHUNK_BYTES):
            self._samples += _CHUNK_SAMPLES
            for embedding in self._features.process_streaming(data[start : start + _CHUNK_BYTES]):
                for probability in self._model.process_streaming(embedding):
                    if self._fires(probability) and detected is None:
                        detected = self.name
        return detected

    def _fires(self, probability: float) -> bool:
        self.peak_score = max(self.peak_score, probability)
        if probability <= self.threshold or self._samples < self._quiet_until:
            return False
        _LOGGER.debug(
            "Wake word %s at %.2f s (probability %.3f)",
            self.name,
            self._samples / _RATE,
            probability,
        )
        self._quiet_until = self._samples + self.refractory_samples
        self.peak_score = 0.0
        return True

    def reset(self) -> None:
        """Forget all audio heard so far (after a turn: the next wake word starts afresh).

        Takes about a second of CPU (the feature model is primed with silence here, not on
        the next :meth:`process`): call it where blocking is fine.
        """
        self._features.reset()
        self._model.reset()
        self._pending = b""
        self._samples = 0
        self._quiet_until = 0
        self.peak_score = 0.0
        self._prime()

    def _prime(self) -> None:
        """Run the feature model over its initial silence now, so ``process`` stays light."""
        for embedding in self._features.process_streaming(bytes(_CHUNK_BYTES)):
            for _ in self._model.process_streaming(embedding):
                pass

    def close(self) -> None:
        """Release the models' interpreters."""
        self._model.close()
        self._features.close()


def _load(model: str | Path) -> tuple[OpenWakeWordFeatures, OpenWakeWord]:
    try:
        from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise WakeWordError(f"pyopen-wakeword is not installed: {err}") from err
    text = str(model)
    names = [m.value for m in Model]
    if text not in names and not text.endswith(".tflite"):
        text = bundled_model([text]) or text  # "Hey Jarvis", "ok_nabu", ...
    try:
        detector: Any
        if text in names:
            detector = OpenWakeWord.from_builtin(Model(text))
        elif text.endswith(".tflite"):
            path = Path(text).expanduser()
            if not path.is_file():
                raise WakeWordError(f"wake word model not found at {text}")
            detector = OpenWakeWord.from_model(str(path))
        else:
            raise WakeWordError(
                f"unknown wake word model {text!r}: use one of {', '.join(names)} "
                "or the path of an openWakeWord .tflite file"
            )
        features = OpenWakeWordFeatures.from_builtin()
    except (OSError, ValueError, RuntimeError) as err:
        raise WakeWordError(f"cannot load the wake word model {text!r}: {err}") from err
    return features, detector
