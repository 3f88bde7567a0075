"""Real speech both ways: piper (joe) speaks, faster-whisper (tiny.en) listens.

The voice runs with ``variation=False`` (piper's random noise off) so every run renders
the same audio and the exact-transcript assertions below are deterministic. With piper's
noise on, tiny.en with these hints gets about 97% of short commands word for word
(the report of the voice issue has the numbers); those are benchmarks, not tests.
Each model is loaded once for the module; the whole file takes ~10-15 s on 2 cores.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from blockbuster import blockbuster_ctx

from assistant.audio import write_wav
from assistant.messages import SPEECH_FORMAT, AudioChunk, AudioFormat
from assistant.speak.tts import Speaker, SpeakError, split_sentences
from assistant.transcribe import TranscribeError, Transcriber, TranscribeTimeout
from assistant.transcribe._prompt import normalize

pytestmark = pytest.mark.asyncio(loop_scope="module")

HINTS = (
    "living room lamp",
    "bedroom light",
    "air purifier",
    "porch light",
    "front door",
    "living room",
    "bedroom",
    "kitchen",
    "porch",
)
COMMANDS = (
    "turn on the living room lamp",
    "set the bedroom light to 30 percent",
    "is the air purifier on",
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def speaker():
    speaker = Speaker(variation=False)
    await speaker.load()
    yield speaker
    speaker.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def transcriber():
    transcriber = Transcriber()
    await transcriber.load()
    yield transcriber
    transcriber.close()


async def _speak(speaker: Speaker, text: str, fmt: AudioFormat | None = None) -> bytes:
    return b"".join([chunk.audio async for chunk in speaker.synthesize(text, fmt)])


@pytest.mark.parametrize("command", COMMANDS)
async def test_what_piper_says_whisper_hears(speaker, transcriber, command):
    pcm = await _speak(speaker, command)
    heard = await transcriber.transcribe(pcm, speaker.voice_format, hints=HINTS)
    # "30 percent" comes back as "30%": normalize() spells "%" out.
    assert normalize(heard.text) == command
    assert 0.7 < heard.confidence <= 1.0
    assert heard.audio_ms == pytest.approx(1000 * len(pcm) / 44100, abs=1.0)
    assert all(normalize(alt) != normalize(heard.text) for alt in heard.alternatives)


async def test_speech_resampled_to_16_khz_is_still_heard(speaker, transcriber):
    pcm = await _speak(speaker, "turn off the porch light", SPEECH_FORMAT)
    heard = await transcriber.transcribe(pcm, hints=HINTS)
    assert normalize(heard.text) == "turn off the porch light"


async def test_a_wav_at_44_khz_stereo_is_heard(speaker, transcriber, tmp_path):
    """A hub or a file in another format: converted, not refused."""
    from assistant.audio import convert, read_wav

    pcm = await _speak(speaker, "is the air purifier on")
    stereo = AudioFormat(44100, 2, 2)
    write_wav(tmp_path / "cmd.wav", convert(pcm, speaker.voice_format, stereo), stereo)
    pcm, fmt = read_wav(tmp_path / "cmd.wav")
    heard = await transcriber.transcribe(pcm, fmt, hints=HINTS)
    assert normalize(heard.text) == "is the air purifier on"


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(16000),
        np.random.default_rng(3).standard_normal(16000) * 0.1,
        np.clip(np.random.default_rng(4).standard_normal(32000) * 0.3, -1, 1),
    ],
    ids=["silence", "white-noise", "loud-white-noise"],
)
async def test_silence_and_noise_are_heard_as_nothing(transcriber, audio):
    """Without the filters whisper says "you" / "Thank you." here, and with device hints
    it makes up "Living room." or "Side door."."""
    pcm = (audio * 32767).astype("<i2").tobytes()
    for hints in ((), HINTS):
        heard = await transcriber.transcribe(pcm, hints=hints)
        assert (heard.text, heard.alternatives, heard.confidence) == ("", (), 0.0)
        assert heard.audio_ms == pytest.approx(1000 * len(audio) / 16000)


async def test_a_clear_thank_you_is_not_taken_for_a_hallucination(speaker, transcriber):
    pcm = await _speak(speaker, "thank you", SPEECH_FORMAT)
    assert normalize((await transcriber.transcribe(pcm)).text) == "thank you"


async def test_a_decode_past_its_deadline_is_a_timeout(speaker, transcriber):
    pcm = await _speak(speaker, "turn on the living room lamp", SPEECH_FORMAT)
    with pytest.raises(TranscribeTimeout) as caught:
        await transcriber.transcribe(pcm, timeout=0.001)
    assert isinstance(caught.value, TimeoutError) and caught.value.code == "transcribe-timeout"
    # The worker finishes the abandoned decode, then serves the next one.
    assert normalize((await transcriber.transcribe(pcm, hints=HINTS)).text).startswith("turn on")


# -- speaking -----------------------------------------------------------------------


async def test_the_first_sentence_is_sent_before_the_third_is_rendered(speaker):
    events: list[tuple[str, int]] = []
    speaker.on_sentence = lambda index, _text: events.append(("render", index))
    text = "The porch light is on. The front door is locked. It is 21 degrees in the bedroom."
    try:
        chunks = 0
        async for _chunk in speaker.synthesize(text, SPEECH_FORMAT):
            events.append(("chunk", chunks))
            chunks += 1
    finally:
        speaker.on_sentence = None
    assert [e for e in events if e[0] == "render"] == [("render", 0), ("render", 1), ("render", 2)]
    assert events[0] == ("render", 0)
    assert events.index(("chunk", 0)) < events.index(("render", 2))
    assert chunks > 30  # ~4 s of speech in ~100 ms chunks


async def test_stopping_early_stops_rendering(speaker):
    rendered: list[int] = []
    speaker.on_sentence = lambda index, _text: rendered.append(index)
    try:
        async with aclosing(speaker.synthesize("One. Two. Three. Four.")) as chunks:
            async for _chunk in chunks:
                break
        await _speak(speaker, "Next.")  # queued behind anything still rendering
    finally:
        speaker.on_sentence = None
    # The second sentence may have started rendering (then it finishes) or been dropped
    # from the queue; the third and fourth never start. The last 0 is "Next.".
    assert rendered in ([0, 0], [0, 1, 0])


async def test_chunks_are_about_100_ms_in_the_asked_format(speaker):
    fmt = AudioFormat(48000, 2, 2)
    chunks: list[AudioChunk] = [c async for c in speaker.synthesize("Done. All good.", fmt)]
    assert all(c.format == fmt for c in chunks)
    assert all(c.duration_ms == pytest.approx(100.0) for c in chunks[:-1])
    assert 0 < chunks[-1].duration_ms <= 100.0
    starts = [c.timestamp_ms for c in chunks]
    assert starts[0] == 0.0 and starts == sorted(starts)
    assert starts[-1] == pytest.approx(sum(c.duration_ms for c in chunks[:-1]))


async def test_the_voice_own_format_when_none_is_asked(speaker):
    assert speaker.voice_format == AudioFormat(22050, 2, 1)
    chunk = await anext(aiter(speaker.synthesize("Hello.")))
    assert chunk.format == speaker.voice_format


@pytest.mark.parametrize("text", ["", "   ", " ... ! "])
async def test_nothing_to_say_yields_no_audio(speaker, text):
    assert [c async for c in speaker.synthesize(text)] == []


async def test_sentences_split_where_a_reader_would_pause():
    assert split_sentences("It is 21.5 degrees. OK!  Next?\nDone") == [
        "It is 21.5 degrees.",
        "OK!",
        "Next?",
        "Done",
    ]


# -- loading ------------------------------------------------------------------------


async def test_models_load_once_and_never_on_the_loop(speaker):
    """Two turns at once on cold models: one load each, all of it off the event loop."""
    pcm = await _speak(speaker, "turn on the living room lamp", SPEECH_FORMAT)
    cold_ear, cold_voice = Transcriber(), Speaker()
    try:
        with blockbuster_ctx(["assistant"]):
            heard = await asyncio.gather(
                cold_ear.transcribe(pcm, hints=HINTS), cold_ear.transcribe(pcm, hints=HINTS)
            )
            spoken = await asyncio.gather(_speak(cold_voice, "One."), _speak(cold_voice, "Two."))
    finally:
        cold_ear.close()
        cold_voice.close()
    assert [normalize(h.text) for h in heard] == ["turn on the living room lamp"] * 2
    assert all(spoken)
    assert (cold_ear.load_count, cold_voice.load_count) == (1, 1)


async def test_a_missing_or_broken_model_is_a_clear_error(tmp_path: Path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(TranscribeError) as caught:
        await Transcriber(missing).load()
    assert str(missing) in str(caught.value) and caught.value.code == "transcribe-model-missing"

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.bin").write_bytes(b"not a model")
    with pytest.raises(TranscribeError) as caught:
        await Transcriber(broken).transcribe(bytes(3200))
    assert str(broken) in str(caught.value) and caught.value.code == "transcribe-model-bad"


async def test_a_missing_or_broken_voice_is_a_clear_error(tmp_path: Path):
    missing = tmp_path / "nobody.onnx"
    with pytest.raises(SpeakError) as caught:
        await anext(aiter(Speaker(missing).synthesize("Hello.")))
    assert str(missing) in str(caught.value)

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    (tmp_path / "broken.onnx.json").write_text('{"audio": {"sample_rate": 22050}}')
    with pytest.raises(SpeakError) as caught:
        await Speaker(broken).load()
    assert str(broken) in str(caught.value) and caught.value.code == "speak-voice-bad"
