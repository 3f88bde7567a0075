"""The local microphone hub with real models: piper speaks the wake word, openWakeWord (the
bundled okay_nabu model) hears it. The audio source and sink are this project's own
interfaces, played from and collected in memory (there is no sound card here)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import pytest_asyncio

from assistant.demo import speak_to_pcm
from assistant.listen.arbiter import Arbiter
from assistant.listen.base import HubInfo
from assistant.listen.local_mic import (
    LocalMicHub,
    MicState,
    MicUnavailable,
    SoundDeviceSink,
    SoundDeviceSource,
)
from assistant.listen.wakeword import WakeWordDetector, WakeWordError, available_models
from assistant.messages import SPEECH_FORMAT, AudioChunk, AudioFormat
from assistant.speak.tts import Speaker

pytestmark = pytest.mark.asyncio(loop_scope="module")

PHRASES = [
    "Okay Nabu, turn on the lamp.",
    "Okay Nabu.",
    "Okay, Nabu.",
    "OK Nabu, what time is it?",
    "Turn on the lamp.",
    "What time is it?",
    "Hey Jarvis.",
]
CHUNK = 2560  # 80 ms of 16 kHz mono 16-bit


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * 16000) * 2)


def noise(seconds: float, level: int = 3000) -> bytes:
    rng = np.random.default_rng(7)
    return rng.normal(0, level, int(seconds * 16000)).clip(-32768, 32767).astype("<i2").tobytes()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def said() -> dict[str, bytes]:
    """Each phrase spoken by piper (joe), 16 kHz mono 16-bit, the same every run."""
    speaker = Speaker(variation=False)
    return {text: await speak_to_pcm(speaker, text) for text in PHRASES}


def detections(detector: WakeWordDetector, pcm: bytes, step: int = 1000) -> list[float]:
    """Seconds into ``pcm`` at which the detector fired, fed ``step`` bytes at a time."""
    return [i / 32000 for i in range(0, len(pcm), step) if detector.process(pcm[i : i + step])]


# -- the detector ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Okay Nabu, turn on the lamp.", "Okay Nabu.", "Okay, Nabu."])
async def test_the_wake_word_fires_once(said, text):
    detector = WakeWordDetector()
    # 777 bytes: pieces that split samples and the model's 80 ms steps anywhere.
    hits = detections(detector, silence(1) + said[text] + silence(3), step=777)
    assert len(hits) == 1, hits
    assert 1.0 < hits[0] < 1.0 + len(said[text]) / 32000 + 0.5


async def test_the_detector_names_its_wake_word(said):
    detector = WakeWordDetector("okay_nabu")
    names = {detector.process(said["OK Nabu, what time is it?"] + silence(1))}
    assert names == {"okay_nabu"}
    jarvis = WakeWordDetector("hey_jarvis")
    assert jarvis.process(said["Hey Jarvis."] + silence(1)) == "hey_jarvis"


@pytest.mark.parametrize(
    "what", ["Turn on the lamp.", "What time is it?", "Hey Jarvis.", "silence", "noise"]
)
async def test_no_wake_word_no_detection(said, what):
    audio = {"silence": silence(6), "noise": noise(6)}.get(what) or silence(1) + said[what]
    detector = WakeWordDetector()
    assert detections(detector, audio + silence(2)) == []
    assert detector.peak_score < 0.1


async def test_two_wake_words_fire_twice_and_reset_forgets(said):
    detector = WakeWordDetector()
    wake = said["Okay Nabu."]
    assert len(detections(detector, silence(1) + wake + silence(2) + wake + silence(2))) == 2
    half = len(wake) // 4 * 2
    detector.process(silence(1) + wake[:half])
    detector.reset()
    assert detections(detector, wake[half:] + silence(2)) == []
    assert len(detections(detector, wake + silence(2))) == 1


async def test_models_by_name():
    assert {"okay_nabu", "hey_jarvis", "alexa"} <= set(available_models())
    assert WakeWordDetector.available_models() == available_models()
    with pytest.raises(WakeWordError, match="okay_nabu"):
        WakeWordDetector("okay_jarvis")
    with pytest.raises(WakeWordError, match="not found"):
        WakeWordDetector("/nowhere/hey.tflite")


# -- the hub ---------------------------------------------------------------------------------

Cue = Callable[[], Awaitable[None]]


class MemorySource:
    """Plays its parts in order: PCM (in 80 ms chunks) or a cue to await in between."""

    def __init__(self, *parts: bytes | Cue, pace: float = 0.001) -> None:
        self.parts, self.pace = parts, pace

    async def __aiter__(self) -> AsyncIterator[AudioChunk]:
        for part in self.parts:
            if not isinstance(part, bytes):
                await part()
                continue
            for i in range(0, len(part), CHUNK):
                yield AudioChunk(part[i : i + CHUNK], SPEECH_FORMAT)
                await asyncio.sleep(self.pace)


class MemorySink:
    """Collects what it is asked to play; ``hold`` keeps each reply "playing" until released."""

    def __init__(self, hold: bool = False) -> None:
        self.played: list[bytes] = []
        self.playing = asyncio.Event()
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def play(self, chunks: AsyncIterator[AudioChunk]) -> None:
        self.playing.set()
        self.played.append(b"".join([c.audio async for c in chunks]))
        await self.release.wait()


TONE = (3000 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)).astype("<i2").tobytes()


@dataclass
class ToneReply:
    transcript: str
    text: str = "Done"

    async def audio(self, fmt: AudioFormat | None = None) -> AsyncIterator[AudioChunk]:
        for i in range(0, len(TONE), CHUNK):
            yield AudioChunk(TONE[i : i + CHUNK], SPEECH_FORMAT)


@dataclass
class Handler:
    """Reads ``seconds`` of audio (or until it ends), answers with a tone."""

    seconds: float = 1.5
    fail_first: bool = False
    turns: list[tuple[HubInfo, int]] = field(default_factory=list)

    async def __call__(
        self, audio: AsyncIterator[AudioChunk], hub: HubInfo, *, activity=None
    ) -> ToneReply:
        heard = 0
        async for chunk in audio:
            heard += len(chunk.audio)
            if heard >= self.seconds * 32000:
                break
        self.turns.append((hub, heard))
        if self.fail_first and len(self.turns) == 1:
            raise RuntimeError("this turn breaks")
        return ToneReply(f"{heard} bytes")


def until(check: Callable[[], bool]) -> Cue:
    async def wait() -> None:
        async with asyncio.timeout(20):
            while not check():
                await asyncio.sleep(0.01)

    return wait


def waiting_after(hub_ref: list[LocalMicHub], turns: int) -> Cue:
    """Cue: the hub has had ``turns`` turns and waits for the wake word again."""
    return until(lambda: hub_ref[0].turns == turns and hub_ref[0].state is MicState.WAITING)


async def run_hub(hub: LocalMicHub) -> None:
    try:
        async with asyncio.timeout(60):
            await hub.run()  # returns when the source ends
    finally:
        hub.close()


async def test_one_wake_word_one_turn_and_the_reply_is_played(said):
    handler, sink, ref = Handler(), MemorySink(), []
    source = MemorySource(
        silence(1),
        said["Okay Nabu, turn on the lamp."],
        silence(2),
        waiting_after(ref, 1),
        silence(1),
        said["Turn on the lamp."],
        silence(1),
        noise(2),
        silence(1),
    )
    hub = LocalMicHub(handler, name="kitchen", area="Kitchen", source=source, sink=sink)
    ref.append(hub)
    await run_hub(hub)
    assert [hub_info for hub_info, _ in handler.turns] == [HubInfo("kitchen", "Kitchen")]
    assert handler.turns[0][1] >= 1.5 * 32000
    assert sink.played == [TONE]
    assert hub.turns == 1 and hub.state is MicState.STOPPED


async def test_the_wake_word_during_the_reply_is_ignored(said):
    handler, sink, ref = Handler(), MemorySink(hold=True), []

    async def release() -> None:
        sink.release.set()

    source = MemorySource(
        silence(1),
        said["Okay Nabu, turn on the lamp."],
        silence(2),
        until(sink.playing.is_set),
        said["Okay Nabu."],  # the speaker's own sound reaching the microphone
        silence(2),
        release,
        waiting_after(ref, 1),
        silence(1),
        said["OK Nabu, what time is it?"],
        silence(2),
        waiting_after(ref, 2),
    )
    hub = LocalMicHub(handler, name="hall", source=source, sink=sink)
    ref.append(hub)
    await run_hub(hub)
    assert len(handler.turns) == 2
    assert sink.played == [TONE, TONE]


async def test_a_failed_turn_is_logged_and_the_hub_listens_on(said, caplog):
    handler, sink, ref = Handler(fail_first=True), MemorySink(), []
    wake = said["Okay Nabu, turn on the lamp."]
    source = MemorySource(
        silence(1), wake, silence(2), waiting_after(ref, 1), silence(1), wake, silence(2),
        waiting_after(ref, 2),
    )  # fmt: skip
    hub = LocalMicHub(handler, name="den", source=source, sink=sink)
    ref.append(hub)
    with caplog.at_level(logging.ERROR, logger="assistant.listen.local_mic"):
        await run_hub(hub)
    assert len(handler.turns) == 2
    assert sink.played == [TONE]  # the failed turn had nothing to play
    assert "Turn on den failed" in caplog.text and "this turn breaks" in caplog.text


@pytest.mark.parametrize("shared", [True, False])
async def test_two_hubs_hear_one_wake_word(said, shared):
    arbiter = Arbiter() if shared else None
    handler = Handler()
    audio = silence(1) + said["Okay Nabu, turn on the lamp."] + silence(3)
    hubs = [
        LocalMicHub(handler, name=name, source=MemorySource(audio), sink=MemorySink(),
                    arbiter=arbiter)
        for name in ("kitchen", "hall")
    ]  # fmt: skip
    await asyncio.gather(*(run_hub(hub) for hub in hubs))
    if shared:
        assert len(handler.turns) == 1
        assert sorted(hub.refused for hub in hubs) == [0, 1]
    else:
        assert sorted(hub.name for hub, _ in handler.turns) == ["hall", "kitchen"]


async def test_stop_ends_run_and_cancel_propagates():
    def endless() -> MemorySource:
        return MemorySource(*[silence(1)] * 1000, pace=0.01)

    hub = LocalMicHub(Handler(), name="study", source=endless(), sink=MemorySink())
    task = asyncio.create_task(hub.run(), name="test-mic-stop")
    await until(lambda: hub.state is MicState.WAITING)()
    hub.stop()
    await asyncio.wait_for(task, 5)
    assert task.result() is None and hub.state is MicState.STOPPED

    task = asyncio.create_task(hub.run(), name="test-mic-cancel")
    await until(lambda: hub.state is MicState.WAITING)()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    hub.close()


async def test_no_sounddevice_or_no_device_is_a_clear_error(monkeypatch):
    # Here (no sound card; sounddevice or PortAudio possibly absent) the defaults cannot open.
    for make in (SoundDeviceSource, SoundDeviceSink, lambda: LocalMicHub(Handler(), name="x")):
        with pytest.raises(MicUnavailable) as err:
            make()
        message = str(err.value)
        assert "pip install 'mimo-assistant[mic]'" in message or "device" in message, message
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as if the extra were not installed
    with pytest.raises(MicUnavailable, match=r"mic extra: pip install 'mimo-assistant\[mic\]'"):
        SoundDeviceSource()
