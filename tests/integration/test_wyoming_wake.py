"""The daemon's own wake word for Wyoming satellites that stream without one.

Real protocol and real models: a ``wyoming`` AsyncTcpClient plays an always-streaming
satellite (``run-pipeline`` from ``wake``), piper says "Okay Nabu" and then a command,
pyopen-wakeword's bundled okay_nabu hears it on the daemon's side, whisper hears the command,
a virtual device over real miio changes. Audio is streamed faster than real time where
nothing depends on the clock (the detector and the end of speech count audio, not seconds).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import time
import tracemalloc
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio
from blockbuster import blockbuster_ctx
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk as WyChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.ping import Ping
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import RunSatellite
from wyoming.server import AsyncEventHandler, AsyncTcpServer
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStarted, VoiceStopped
from wyoming.wake import Detect, Detection

from assistant.demo import speak_to_pcm
from assistant.listen.arbiter import Arbiter
from assistant.listen.satellites import SatelliteLink
from assistant.listen.wyoming_server import WyomingServer
from assistant.listen.wyoming_wake import WakeSettings
from assistant.messages import SPEECH_FORMAT
from assistant.runtime import Home
from assistant.speak.tts import Speaker

from .home import device_values, load_home
from .test_wyoming_hubs import read_until as hub_read_until

pytestmark = pytest.mark.asyncio(loop_scope="module")

SAMPLES_PER_CHUNK = 1024  # what wyoming-satellite sends
CHUNK = 2 * SAMPLES_PER_CHUNK
CHUNK_S = SAMPLES_PER_CHUNK / SPEECH_FORMAT.rate
PHRASES = [
    "Okay Nabu.",
    "Hey Jarvis.",
    "Turn on the bedroom light.",
    "Turn off the bedroom light.",
    "Turn on the floor fan.",
    "Turn on the coffee machine.",
]


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * SPEECH_FORMAT.rate) * 2)


def noise(seconds: float, level: int = 2000, seed: int = 5) -> bytes:
    rng = np.random.default_rng(seed)
    samples = rng.normal(0, level, int(seconds * SPEECH_FORMAT.rate))
    return samples.clip(-32768, 32767).astype("<i2").tobytes()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def said() -> dict[str, bytes]:
    """Each phrase spoken by piper (joe, no variation), 16 kHz mono 16-bit."""
    speaker = Speaker(variation=False)
    return {text: await speak_to_pcm(speaker, text) for text in PHRASES}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def daemon(tmp_path_factory):
    """The test home with both speech models, and its Wyoming server with an arbiter."""
    settings = load_home(tmp_path_factory.mktemp("wake"))
    async with Home(settings, voice=True) as home:
        async with WyomingServer(
            home.voice, port=0, name="hub", area="Living room", arbiter=Arbiter()
        ) as server:
            yield home, server


def from_wake(restart: bool = False, end: str = "tts", names: list[str] | None = None) -> Event:
    """What wyoming-satellite sends when it has no wake word of its own."""
    return RunPipeline(
        start_stage=PipelineStage.WAKE,
        end_stage=PipelineStage(end),
        restart_on_end=restart,
        wake_word_names=names,
    ).event()


async def stream(client: AsyncTcpClient, audio: bytes, pace: float = 0.0) -> None:
    """Audio chunks as a satellite's microphone sends them (no audio-start: it never stops).
    ``pace``: 1.0 streams in real time, 0 as fast as the connection takes it."""
    started = time.perf_counter()
    for n, offset in enumerate(range(0, len(audio), CHUNK)):
        piece = audio[offset : offset + CHUNK]
        await client.write_event(
            WyChunk(16000, 2, 1, piece, timestamp=int(n * CHUNK_S * 1000)).event()
        )
        if pace:
            await asyncio.sleep(max(0.0, started + (n + 1) * CHUNK_S * pace - time.perf_counter()))


read_until = functools.partial(hub_read_until, timeout=30.0)
"""Events up to one of the given types (a wake stream takes longer than a plain turn)."""


def types(events: list[Event]) -> list[str]:
    kinds = [e.type for e in events]
    return [k for i, k in enumerate(kinds) if k != "audio-chunk" or kinds[i - 1] != "audio-chunk"]


async def bedroom_light(home: Home, on: bool) -> None:
    await home.pipeline.run_text(f"turn {'on' if on else 'off'} the bedroom light", area_id=None)
    assert (await device_values(home, "virtual:bedroom_light"))["on_off"] is on


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def one_wake_word_per_test():
    """The server's arbiter remembers each wake word for its window: one said at the start
    of the next test, on another connection, would count as this test's heard again (and be
    refused as a duplicate). Let the window pass after every test."""
    yield
    await asyncio.sleep(Arbiter().window)


async def test_the_wake_word_then_a_command(daemon, said):
    home, server = daemon
    await bedroom_light(home, False)
    wake = said["Okay Nabu."]
    audio = silence(1) + wake + silence(0.5) + said["Turn on the bedroom light."] + silence(2)
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(from_wake())
        sender = asyncio.create_task(stream(client, audio), name="satellite mic")
        events = await read_until(client, "audio-stop", "error")
        await sender
    assert types(events) == [
        "detect", "detection", "transcribe", "voice-started", "voice-stopped", "transcript",
        "synthesize", "audio-start", "audio-chunk", "audio-stop",
    ], types(events)  # fmt: skip
    assert Detect.from_event(events[0]).names == ["okay_nabu"]
    detection = Detection.from_event(events[1])
    assert detection.name == "okay_nabu"
    # Heard at the end of the wake word: within it, or just after (ms of audio streamed).
    assert 1000 < detection.timestamp < 1000 + len(wake) / 32 + 500, detection.timestamp
    # voice-started/-stopped: ms of the command's audio (it starts at the wake word's end).
    started, stopped = (VoiceStarted.from_event(events[3]), VoiceStopped.from_event(events[4]))
    command_ms = len(said["Turn on the bedroom light."]) / 32
    assert 0 < started.timestamp < 500 + 300, started.timestamp  # 0.5 s of silence first
    assert stopped.timestamp - started.timestamp > command_ms / 2, (started, stopped)
    assert Transcript.from_event(events[5]).text.lower().strip(" .") == "turn on the bedroom light"
    assert Synthesize.from_event(events[6]).text == "Turned on the bedroom light"
    assert sum(len(WyChunk.from_event(e).audio) for e in events if e.type == "audio-chunk") > 0
    assert (await device_values(home, "virtual:bedroom_light"))["on_off"] is True


async def test_no_wake_word_no_turn(daemon, said):
    home, server = daemon
    await bedroom_light(home, False)
    command = said["Turn on the bedroom light."]  # a command without the wake word
    audio = silence(1) + command + silence(1) + noise(2) + said["Hey Jarvis."] + silence(1)
    # Listening for the wake word never blocks the loop (model loading and inference run
    # in the connection's own thread).
    with blockbuster_ctx(["assistant"]):
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            await client.write_event(from_wake())
            await stream(client, audio)
            await client.write_event(AudioStop().event())  # a VAD satellite giving up
            await client.write_event(Ping(text="after").event())
            events = await read_until(client, "pong")
    assert types(events) == ["detect", "pong"]
    assert (await device_values(home, "virtual:bedroom_light"))["on_off"] is False


async def test_two_satellites_hear_one_wake_word_one_answers(daemon, said):
    home, server = daemon
    await home.pipeline.run_text("turn off the floor fan", area_id=None)
    audio = silence(0.5) + said["Okay Nabu."] + silence(0.3) + said["Turn on the floor fan."]

    async def satellite() -> list[Event]:
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            await client.write_event(from_wake())
            await read_until(client, "detect")
            # In real time, as two microphones in one room hear one person.
            sender = asyncio.create_task(stream(client, audio + silence(3), pace=1.0))
            try:
                return await read_until(client, "audio-stop", "error")
            finally:
                sender.cancel()

    first, second = await asyncio.gather(satellite(), satellite())
    answered = [e for e in (first, second) if e[-1].type == "audio-stop"]
    refused = [e for e in (first, second) if e[-1].type == "error"]
    assert len(answered) == len(refused) == 1, (types(first), types(second))
    assert types(refused[0]) == ["detection", "error"]
    assert Error.from_event(refused[0][-1]).code == "duplicate_wake_up_detected"
    assert types(answered[0])[:5] == [
        "detection", "transcribe", "voice-started", "voice-stopped", "transcript"
    ]  # fmt: skip
    assert Synthesize.from_event(answered[0][5]).text == "Turned on the floor fan"
    assert (await device_values(home, "virtual:floor_fan"))["on_off"] is True


async def test_an_always_streaming_satellite_is_heard_again_after_each_turn(daemon, said):
    home, server = daemon
    await bedroom_light(home, False)
    wake = silence(0.5) + said["Okay Nabu."] + silence(0.4)
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(from_wake(restart=True))
        await stream(client, wake + said["Turn on the bedroom light."] + silence(2))
        first = await read_until(client, "audio-stop")
        await stream(client, silence(0.5))  # the reply playing: heard by nobody
        second_detect = await read_until(client, "detect")
        await stream(client, wake + said["Turn off the bedroom light."] + silence(2))
        second = await read_until(client, "audio-stop")
    heard = ["transcribe", "voice-started", "voice-stopped", "transcript", "synthesize"]
    assert types(first)[:7] == ["detect", "detection", *heard]
    assert Synthesize.from_event(first[6]).text == "Turned on the bedroom light"
    assert types(second_detect) == ["detect"]  # listening again, on the same pipeline
    assert types(second)[:6] == ["detection", *heard]
    assert Synthesize.from_event(second[5]).text == "Turned off the bedroom light"
    assert (await device_values(home, "virtual:bedroom_light"))["on_off"] is False


async def test_wake_word_names_choose_the_model(daemon, said):
    _, server = daemon
    audio = silence(0.5) + said["Okay Nabu."] + silence(1) + said["Hey Jarvis."] + silence(1)
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        # Home Assistant spells it "hey_jarvis_v0.1"; end_stage wake: the detection only.
        await client.write_event(from_wake(end="wake", names=["hey_jarvis_v0.1"]))
        await stream(client, audio)
        events = await read_until(client, "detection")
        await client.write_event(Ping().event())
        events += await read_until(client, "pong")
    assert types(events) == ["detect", "detection", "pong"]
    assert Detect.from_event(events[0]).names == ["hey_jarvis"]
    detection = Detection.from_event(events[1])
    assert detection.name == "hey_jarvis"
    start_ms = (0.5 + len(said["Okay Nabu."]) / 32000 + 1) * 1000  # "Okay Nabu" went unheard
    assert detection.timestamp > start_ms


async def test_a_long_stream_without_the_wake_word_holds_no_audio(daemon, said):
    """A satellite streaming on and on, never saying the wake word: nothing is kept beyond
    the detector's small backlog, no blocking call runs on the loop, and the connection still
    works."""
    home, server = daemon
    await bedroom_light(home, False)
    talk = said["Turn on the bedroom light."] + noise(1) + silence(1) + said["Hey Jarvis."]
    minute = (talk * (60 * 32000 // len(talk) + 1))[: 60 * 32000]
    tracemalloc.start()
    try:
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            await client.write_event(from_wake(restart=True))
            # More than the backlog: the pong comes once the detector is loaded and scanning.
            await stream(client, silence(3))
            await client.write_event(Ping().event())
            assert types(await read_until(client, "pong")) == ["detect", "pong"]
            gc.collect()  # count what is kept, not garbage the collector has not reached yet
            baseline, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            with blockbuster_ctx(["assistant"]):  # scanning happens off the loop
                await stream(client, minute)  # 1.9 MB
                await client.write_event(Ping(text="still there").event())
                events = await read_until(client, "pong", timeout=120)
            _, peak = tracemalloc.get_traced_memory()
            gc.collect()
            held, _ = tracemalloc.get_traced_memory()
            # The connection still hears a wake word after all that.
            await stream(client, said["Okay Nabu."] + silence(0.5))
            events += await read_until(client, "detection")
    finally:
        tracemalloc.stop()
    assert types(events) == ["pong", "detection"], types(events)
    assert held - baseline < 200_000, f"{held - baseline} bytes kept of 1.9 MB of audio"
    assert peak - baseline < 1_000_000, f"{peak - baseline} bytes held at once"
    assert (await device_values(home, "virtual:bedroom_light"))["on_off"] is False


# -- the daemon connects out to a satellite that streams from wake --------------------------


class StreamingSatellite:
    """wyoming-satellite without a wake word of its own: on ``run-satellite`` it sends
    ``run-pipeline`` from wake (restart_on_end) and streams its microphone."""

    def __init__(self, audio: bytes, port: int) -> None:
        self.audio, self.port = audio, port
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self._server = AsyncTcpServer("127.0.0.1", port)

    async def __aenter__(self) -> StreamingSatellite:
        await self._server.start(lambda r, w: _Side(r, w, self))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.stop()

    async def received(self, last: str) -> AsyncIterator[Event]:
        async with asyncio.timeout(30):
            while True:
                event = await self.events.get()
                yield event
                if event.type == last:
                    return


class _Side(AsyncEventHandler):
    def __init__(self, reader, writer, satellite: StreamingSatellite) -> None:
        super().__init__(reader, writer)
        self.satellite = satellite
        self.mic: asyncio.Task[None] | None = None

    async def handle_event(self, event: Event) -> bool:
        if RunSatellite.is_type(event.type):
            await self.write_event(from_wake(restart=True))
            self.mic = asyncio.create_task(self._mic(), name="satellite mic")
        elif event.type == "ping":
            await self.write_event(Event("pong", event.data))
        else:
            self.satellite.events.put_nowait(event)
        return True

    async def _mic(self) -> None:
        audio = self.satellite.audio
        for offset in range(0, len(audio), CHUNK):
            await self.write_event(WyChunk(16000, 2, 1, audio[offset : offset + CHUNK]).event())


async def test_a_satellite_the_daemon_connects_to_streams_from_wake(daemon, said):
    import socket

    home, _ = daemon
    await home.pipeline.run_text("turn off the coffee machine", area_id=None)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    audio = silence(1) + said["Okay Nabu."] + silence(0.4) + said["Turn on the coffee machine."]
    async with StreamingSatellite(audio + silence(3), port) as sat:
        link = SatelliteLink(
            home.voice,
            uri=f"tcp://127.0.0.1:{port}",
            name="kitchen",
            area="Kitchen",
            wake=WakeSettings(model="okay_nabu", threshold=0.5),
        )
        task = asyncio.create_task(link.run(), name="link kitchen")
        try:
            events = [e async for e in sat.received("audio-stop")]
        finally:
            link.stop()
            await asyncio.wait_for(task, 5)
    assert types(events)[:7] == [
        "detect", "detection", "transcribe", "voice-started", "voice-stopped", "transcript",
        "synthesize",
    ]  # fmt: skip
    assert Synthesize.from_event(events[6]).text == "Turned on the coffee machine"
    assert (await device_values(home, "virtual:coffee_machine"))["on_off"] is True
    assert AudioStart.from_event(events[7]).rate > 0


async def test_a_model_that_cannot_load_is_a_clear_error(said):
    async def never(audio, hub, *, activity=None):  # no turn may start
        raise AssertionError("no turn without a wake word")

    wake = WakeSettings(model="/nowhere/hey_computer.tflite")
    async with WyomingServer(never, port=0, wake=wake) as server:
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            await client.write_event(from_wake())
            await stream(client, silence(0.5))
            events = await read_until(client, "error", timeout=10)
            await client.write_event(Ping().event())
            events += await read_until(client, "pong")
    assert types(events) == ["detect", "error", "pong"]
    assert Detect.from_event(events[0]).names == ["hey_computer"]
    error = Error.from_event(events[1])
    assert error.code == "wake-word-failed" and "not found" in error.text
