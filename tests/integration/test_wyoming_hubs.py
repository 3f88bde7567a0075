"""Hubs over the real Wyoming protocol on 127.0.0.1: the server, satellite links, the arbiter.

The voice handler here is a small real ``VoiceHandler``: it reads the audio, and answers with
generated tones; the speech models are wired in elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from blockbuster import blockbuster_ctx
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk as WyChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.satellite import RunSatellite
from wyoming.server import AsyncEventHandler, AsyncTcpServer
from wyoming.tts import Synthesize
from wyoming.wake import Detection

from assistant.listen.arbiter import Arbiter
from assistant.listen.base import HubInfo
from assistant.listen.errors import BadAudioFormat, HubDisconnected, HubError
from assistant.listen.satellites import SatelliteLink
from assistant.listen.wyoming_server import WyomingServer
from assistant.messages import SPEECH_FORMAT, AudioChunk, AudioFormat

VOICE_FORMAT = AudioFormat(22050, 2, 1)
"""The test voice's own format."""
CHUNK = 3200  # 0.1 s of 16 kHz mono speech


# -- a real VoiceHandler -------------------------------------------------------------------


def tone(fmt: AudioFormat, seconds: float, hz: float = 440.0) -> bytes:
    t = np.arange(int(fmt.rate * seconds)) / fmt.rate
    wave = np.sin(2 * math.pi * hz * t) * 0.3
    if fmt.width == 1:
        samples = (wave * 127 + 128).astype(np.uint8)
    else:
        samples = (wave * (2 ** (8 * fmt.width - 1) - 1)).astype(f"<i{fmt.width}")
    return np.repeat(samples, fmt.channels).tobytes()


@dataclass
class ToneReply:
    transcript: str
    text: str

    async def audio(self, fmt: AudioFormat | None = None) -> AsyncIterator[AudioChunk]:
        fmt = fmt or VOICE_FORMAT
        for _ in range(3):
            yield AudioChunk(tone(fmt, 0.1), fmt)


@dataclass
class Heard:
    hub: HubInfo
    nbytes: int
    formats: set[AudioFormat]


@dataclass
class Recorder:
    """Reads until the stream ends (or ``stop_after`` bytes, like end of speech)."""

    stop_after: int | None = None
    heard: list[Heard] = field(default_factory=list)
    errors: list[HubError] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(
        self, audio: AsyncIterator[AudioChunk], hub: HubInfo, *, activity=None
    ) -> ToneReply:
        total, formats = 0, set()
        try:
            async for chunk in audio:
                total += len(chunk.audio)
                formats.add(chunk.format)
                if self.stop_after is not None and total >= self.stop_after:
                    break
        except HubError as err:
            self.errors.append(err)
            self.changed.set()
            raise
        self.heard.append(Heard(hub, total, formats))
        self.changed.set()
        return ToneReply(f"heard {total} bytes", f"Hello from {hub.name}")

    async def wait(self, predicate, timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


# -- client side helpers -------------------------------------------------------------------


def pcm(seconds: float, fmt: AudioFormat = SPEECH_FORMAT) -> bytes:
    return tone(fmt, seconds, hz=220.0)


def chunk_event(audio: bytes, fmt: AudioFormat = SPEECH_FORMAT) -> Event:
    return WyChunk(fmt.rate, fmt.width, fmt.channels, audio).event()


def run_pipeline(snd: AudioFormat | None = None, end: str = "tts", **extra) -> Event:
    data = {"start_stage": "asr", "end_stage": end, "restart_on_end": False, **extra}
    if snd is not None:  # wyoming 1.10's RunPipeline has no snd_format; satellites send it
        data["snd_format"] = {"rate": snd.rate, "width": snd.width, "channels": snd.channels}
    return Event("run-pipeline", data=data)


async def read_until(client: AsyncTcpClient, *last: str, timeout: float = 5.0) -> list[Event]:
    events: list[Event] = []
    async with asyncio.timeout(timeout):
        while True:
            event = await client.read_event()
            assert event is not None, f"connection closed after {[e.type for e in events]}"
            events.append(event)
            if event.type in last:
                return events


async def speak(
    port: int, audio: bytes, *, first: Event | None = None, fmt: AudioFormat = SPEECH_FORMAT
) -> list[Event]:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        if first is not None:
            await client.write_event(first)
        await client.write_event(AudioStart(fmt.rate, fmt.width, fmt.channels).event())
        step = CHUNK * fmt.bytes_per_second // SPEECH_FORMAT.bytes_per_second
        for start in range(0, len(audio), step):
            await client.write_event(chunk_event(audio[start : start + step], fmt))
        await client.write_event(AudioStop().event())
        return await read_until(client, "audio-stop", "error")


def assert_reply(
    events: list[Event], fmt: AudioFormat, transcript: str, text: str, *, pipeline: bool = False
) -> None:
    """``pipeline``: the turn came from run-pipeline, so it begins with ``transcribe`` (as Home
    Assistant sends it at STT start); a bare audio-start client gets none."""
    if pipeline:
        assert events[0].type == "transcribe", [e.type for e in events]
        events = events[1:]
    types = [e.type for e in events]
    assert types[:3] == ["transcript", "synthesize", "audio-start"], types
    assert types[-1] == "audio-stop" and set(types[3:-1]) == {"audio-chunk"}, types
    assert Transcript.from_event(events[0]).text == transcript
    assert Synthesize.from_event(events[1]).text == text
    start = AudioStart.from_event(events[2])
    assert AudioFormat(start.rate, start.width, start.channels) == fmt
    chunks = [WyChunk.from_event(e) for e in events[3:-1]]
    assert {AudioFormat(c.rate, c.width, c.channels) for c in chunks} == {fmt}
    assert b"".join(c.audio for c in chunks) == tone(fmt, 0.1) * 3


@pytest.fixture
def handler() -> Recorder:
    return Recorder()


@pytest.fixture
async def server(handler):
    async with WyomingServer(handler, port=0, name="desk", area="Office") as srv:
        yield srv


# -- the server ------------------------------------------------------------------------------


async def test_a_command_gets_transcript_synthesize_and_audio_in_the_asked_format(server, handler):
    wanted = AudioFormat(16000, 2, 1)
    events = await speak(server.port, pcm(1.0), first=run_pipeline(snd=wanted))
    assert_reply(events, wanted, "heard 32000 bytes", "Hello from desk", pipeline=True)
    assert handler.heard[0].hub == HubInfo("desk", "Office")
    assert handler.heard[0].formats == {SPEECH_FORMAT}


async def test_bare_audio_start_gets_the_voice_format_and_any_input_format(server, handler):
    stereo = AudioFormat(44100, 4, 2)  # passed through as is: the handler converts
    events = await speak(server.port, pcm(0.5, stereo), fmt=stereo)
    assert_reply(events, VOICE_FORMAT, "heard 176400 bytes", "Hello from desk")
    assert handler.heard[0].formats == {stereo}


async def test_end_stage_handle_gets_no_audio(server):
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(run_pipeline(end="handle"))
        await client.write_event(chunk_event(pcm(0.2)))
        await client.write_event(AudioStop().event())
        events = await read_until(client, "synthesize")
    assert [e.type for e in events] == ["transcribe", "transcript", "synthesize"]


async def test_describe_ping_and_asr_only_refused_without_a_transcriber(server):
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(Describe().event())
        info = Info.from_event((await read_until(client, "info"))[0])
        await client.write_event(Ping(text="hi").event())
        pong = Pong.from_event((await read_until(client, "pong"))[0])
        await client.write_event(Event("transcribe"))
        await client.write_event(AudioStart(16000, 2, 1).event())
        await client.write_event(chunk_event(pcm(0.2)))
        await client.write_event(AudioStop().event())
        error = Error.from_event((await read_until(client, "error"))[-1])
    assert info.asr[0].name == info.tts[0].name == "desk"
    assert info.intent and info.handle[0].supports_home_control
    assert all(p.installed for p in (*info.asr, *info.tts, *info.intent, *info.handle))
    assert pong.text == "hi"
    assert error.code == "asr-unsupported"


async def test_a_pipeline_from_intent_is_refused_clearly(server, handler):
    # From wake and from asr are served (see test_wyoming_wake); text in is not.
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(
            Event("run-pipeline", {"start_stage": "intent", "end_stage": "tts"})
        )
        error = Error.from_event((await read_until(client, "error"))[-1])
        await client.write_event(chunk_event(pcm(0.1)))  # no turn: ignored
        await client.write_event(Ping().event())
        assert [e.type for e in await read_until(client, "pong")] == ["pong"]
    assert error.code == "unsupported-pipeline" and handler.heard == []


async def test_asr_only_client_gets_the_transcript_only(handler):
    async def transcriber(audio: AsyncIterator[AudioChunk]) -> str:
        return f"{sum([len(c.audio) async for c in audio])} bytes of text"

    async with WyomingServer(handler, port=0, transcriber=transcriber) as srv:
        async with AsyncTcpClient("127.0.0.1", srv.port) as client:
            await client.write_event(Event("transcribe", data={"language": "en"}))
            await client.write_event(AudioStart(16000, 2, 1).event())
            await client.write_event(chunk_event(pcm(0.1)))
            await client.write_event(AudioStop().event())
            events = await read_until(client, "transcript")
            await client.write_event(Ping().event())
            events += await read_until(client, "pong")
    assert [e.type for e in events] == ["transcript", "pong"]  # no synthesize, no audio
    assert Transcript.from_event(events[0]).text == "3200 bytes of text"
    assert handler.heard == []  # nothing was acted on


async def test_two_clients_at_once_each_get_their_own_answer(server, handler):
    with blockbuster_ctx(["assistant"]):
        a, b = await asyncio.gather(speak(server.port, pcm(1.0)), speak(server.port, pcm(0.5)))
    assert Transcript.from_event(a[0]).text == "heard 32000 bytes"
    assert Transcript.from_event(b[0]).text == "heard 16000 bytes"
    assert len(handler.heard) == 2


async def test_handler_that_stops_early_gets_its_reply_out_and_the_rest_drained(handler):
    handler.stop_after = 8000
    async with WyomingServer(handler, port=0) as srv:
        async with AsyncTcpClient("127.0.0.1", srv.port) as client:
            for _ in range(2):  # two utterances on one connection
                await client.write_event(run_pipeline())
                await client.write_event(AudioStart(16000, 2, 1).event())
                for _ in range(10):
                    await client.write_event(chunk_event(pcm(0.1)))
                events = await read_until(client, "audio-stop")
                await client.write_event(chunk_event(pcm(0.1)))  # still streaming: drained
                await client.write_event(AudioStop().event())
                assert events[0].type == "transcribe"
                assert Transcript.from_event(events[1]).text == "heard 9600 bytes"
    assert [h.nbytes for h in handler.heard] == [9600, 9600]


@pytest.mark.parametrize(
    "junk, why",
    [
        (b'{"type": "audio-chunk", "payload_length": 999999999}\n', "payload_length"),
        (b'{"type": "audio-chunk", "data_length": 99999999}\n', "data_length"),
        (b'{"type": "audio-chunk", "payload_length": -5}\n', "payload_length"),
        (b"GET / HTTP/1.1\r\n", "not JSON"),
        (b'["audio-chunk"]\n', "not a JSON object"),
        (b"{" + b" " * 70_000, "header line longer"),
    ],
)
async def test_absurd_header_drops_only_that_connection(server, handler, caplog, junk, why):
    async with AsyncTcpClient("127.0.0.1", server.port) as good:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        local_port = writer.get_extra_info("sockname")[1]
        writer.write(junk)
        await writer.drain()
        async with asyncio.timeout(3):
            try:
                assert await reader.read() == b""
            except ConnectionResetError:
                pass  # closed with our junk unread: a reset is a close too
        writer.close()
        # The other connection, already open, and a new one are both still served.
        await good.write_event(Ping(text="still there").event())
        assert (await read_until(good, "pong"))[0].data["text"] == "still there"
    events = await speak(server.port, pcm(0.2))
    assert events[0].type == "transcript"
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"127.0.0.1:{local_port}" in line and why in line for line in lines), lines


async def test_one_connection_too_many_is_refused_and_the_others_keep_going(handler, caplog):
    caplog.set_level(logging.WARNING, logger="assistant.listen.wyoming_server")
    async with WyomingServer(handler, port=0, max_connections=2) as srv:
        async with (
            AsyncTcpClient("127.0.0.1", srv.port) as one,
            AsyncTcpClient("127.0.0.1", srv.port) as two,
        ):
            for client in (one, two):  # both served
                await client.write_event(Ping(text="here").event())
                assert (await read_until(client, "pong"))[0].data["text"] == "here"
            for _ in range(3):
                async with AsyncTcpClient("127.0.0.1", srv.port) as extra:
                    error = Error.from_event((await read_until(extra, "error"))[0])
                    assert error.code == "too-many-connections"
                    assert await extra.read_event() is None  # and closed
            await one.write_event(Ping(text="still").event())
            assert (await read_until(one, "pong"))[0].data["text"] == "still"
        async with asyncio.timeout(3):
            while srv.connections:
                await asyncio.sleep(0.01)
        events = await speak(srv.port, pcm(0.2))  # room again: a whole turn
    assert events[0].type == "transcript"
    warnings = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(warnings) == 1 and "max_connections" in warnings[0], warnings


async def test_disconnect_mid_utterance_voids_it_and_the_server_goes_on(server, handler):
    client = AsyncTcpClient("127.0.0.1", server.port)
    await client.connect()
    await client.write_event(run_pipeline())
    await client.write_event(AudioStart(16000, 2, 1).event())
    await client.write_event(chunk_event(pcm(0.3)))
    await client.disconnect()
    await handler.wait(lambda: handler.errors)
    assert isinstance(handler.errors[0], HubDisconnected) and handler.heard == []
    events = await speak(server.port, pcm(0.2))
    assert Transcript.from_event(events[0]).text == "heard 6400 bytes"


@pytest.mark.parametrize("rate, width, channels", [(0, 2, 1), (16000, 3, 1), (16000, 2, 0)])
async def test_impossible_audio_format_gets_an_error_and_drops_the_utterance(
    server, handler, rate, width, channels
):
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(AudioStart(16000, 2, 1).event())
        await client.write_event(chunk_event(pcm(0.1)))
        await client.write_event(
            Event("audio-chunk", {"rate": rate, "width": width, "channels": channels}, b"\0" * 960)
        )
        error = Error.from_event((await read_until(client, "error"))[-1])
        await client.write_event(chunk_event(pcm(0.1)))  # the rest of it: dropped
        await client.write_event(AudioStop().event())
        # The connection still works for the next utterance.
        await client.write_event(AudioStart(16000, 2, 1).event())
        await client.write_event(chunk_event(pcm(0.1)))
        await client.write_event(AudioStop().event())
        events = await read_until(client, "audio-stop")
    assert error.code == "bad-audio-format" and f"rate={rate}" in error.text
    assert isinstance(handler.errors[0], BadAudioFormat)
    assert Transcript.from_event(events[0]).text == "heard 3200 bytes"


# -- satellites ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeSatellite:
    """The satellite's side, like wyoming-satellite with a local wake word: on ``speak()`` it
    sends ``detection``, ``run-pipeline`` and audio chunks (no audio-start) until it gets a
    transcript or an error, then collects the reply."""

    def __init__(self, *, pongs: int | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.pongs = pongs  # answer this many pings per connection (None: all)
        self.connections = 0
        self.pings = 0
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.run_satellite = asyncio.Event()
        self.handler: _SatelliteSide | None = None
        self._server = AsyncTcpServer("127.0.0.1", self.port)

    async def __aenter__(self) -> FakeSatellite:
        await self._server.start(lambda r, w: _SatelliteSide(r, w, self))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.stop()

    async def speak(self, wake_word: str | None = "ok_nabu", seconds: float = 2.0) -> list[Event]:
        side = self.handler
        assert side is not None
        if wake_word is not None:
            await side.write_event(Detection(name=wake_word, timestamp=0).event())
        await side.write_event(run_pipeline(snd=SPEECH_FORMAT))
        replies: list[Event] = []
        async with asyncio.timeout(5):
            for _ in range(int(seconds * 10)):
                await side.write_event(chunk_event(pcm(0.1)))
                await asyncio.sleep(0.01)
                while not self.events.empty():
                    replies.append(self.events.get_nowait())
                if any(e.type in ("transcript", "error") for e in replies):
                    break
            while replies[-1].type not in ("audio-stop", "error"):
                replies.append(await self.events.get())
        if replies[0].type != "error":  # an answered run-pipeline starts with transcribe
            assert replies.pop(0).type == "transcribe", [e.type for e in replies]
        return replies


class _SatelliteSide(AsyncEventHandler):
    def __init__(self, reader, writer, satellite: FakeSatellite) -> None:
        super().__init__(reader, writer)
        self.satellite = satellite
        satellite.connections += 1
        satellite.handler = self
        self.pings = 0

    async def handle_event(self, event: Event) -> bool:
        sat = self.satellite
        if Ping.is_type(event.type):
            self.pings += 1
            sat.pings += 1
            if sat.pongs is None or self.pings <= sat.pongs:
                await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif RunSatellite.is_type(event.type):
            sat.run_satellite.set()
        else:
            sat.events.put_nowait(event)
        return True


@pytest.fixture
async def links():
    """Start SatelliteLinks as tasks; stop and check they end cleanly."""
    made: list[tuple[SatelliteLink, asyncio.Task[None]]] = []

    def start(link: SatelliteLink) -> SatelliteLink:
        made.append((link, asyncio.create_task(link.run(), name=f"link {link.hub.name}")))
        return link

    yield start
    for link, _ in made:
        link.stop()
    async with asyncio.timeout(3):
        await asyncio.gather(*(task for _, task in made))


async def test_satellite_turn_answers_on_the_satellite(handler, links):
    handler.stop_after = 16000  # end of speech after 0.5 s
    async with FakeSatellite() as sat:
        link = links(
            SatelliteLink(
                handler, uri=f"tcp://127.0.0.1:{sat.port}", name="kitchen", area="Kitchen"
            )
        )
        async with asyncio.timeout(3):
            await sat.run_satellite.wait()
        replies = await sat.speak()
    assert_reply(replies, SPEECH_FORMAT, "heard 16000 bytes", "Hello from kitchen")
    assert handler.heard[0].hub == HubInfo("kitchen", "Kitchen")
    assert link.connections == 1


async def test_satellite_that_stops_answering_pings_is_reconnected(handler, links):
    async with FakeSatellite(pongs=2) as sat:
        link = links(
            SatelliteLink(
                handler,
                uri=f"tcp://127.0.0.1:{sat.port}",
                name="hall",
                ping_seconds=0.05,
                pong_timeout=0.2,
                reconnect_seconds=0.05,
            )
        )
        async with asyncio.timeout(3):
            while sat.connections < 2 or not link.connected.is_set():
                await asyncio.sleep(0.02)
        assert sat.pings >= 3  # two answered on the first connection, then one missed
        handler.stop_after = 3200
        sat.pongs = None
        replies = await sat.speak()  # the new connection works
    assert replies[0].type == "transcript"


async def test_unreachable_satellite_is_logged_once_and_connected_when_it_comes(
    handler, links, caplog
):
    caplog.set_level(logging.INFO, logger="assistant.listen.satellites")
    port = free_port()
    link = links(
        SatelliteLink(
            handler,
            uri=f"tcp://127.0.0.1:{port}",
            name="attic",
            reconnect_seconds=0.01,
            max_reconnect_seconds=0.04,
        )
    )
    await asyncio.sleep(0.3)  # several attempts
    async with FakeSatellite(port=port) as sat:
        async with asyncio.timeout(3):
            await sat.run_satellite.wait()
    assert link.connections == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "assistant.listen.satellites"]
    assert sum("unreachable" in line for line in lines) == 1, lines
    assert any("back after" in line for line in lines), lines


async def test_two_satellites_at_once_each_answer_their_own(handler, links):
    handler.stop_after = 8000
    async with FakeSatellite() as kitchen, FakeSatellite() as bedroom:
        for sat, name in ((kitchen, "kitchen"), (bedroom, "bedroom")):
            links(SatelliteLink(handler, uri=f"tcp://127.0.0.1:{sat.port}", name=name))
        async with asyncio.timeout(3):
            await kitchen.run_satellite.wait()
            await bedroom.run_satellite.wait()
        a, b = await asyncio.gather(kitchen.speak("hey_k"), bedroom.speak("hey_b"))
    assert Synthesize.from_event(a[1]).text == "Hello from kitchen"
    assert Synthesize.from_event(b[1]).text == "Hello from bedroom"


async def test_same_wake_word_on_two_satellites_is_answered_once(handler, links):
    handler.stop_after = 8000
    arbiter = Arbiter(window=2.0)
    async with FakeSatellite() as kitchen, FakeSatellite() as hall:
        for sat, name in ((kitchen, "kitchen"), (hall, "hall")):
            links(
                SatelliteLink(
                    handler, uri=f"tcp://127.0.0.1:{sat.port}", name=name, arbiter=arbiter
                )
            )
        async with asyncio.timeout(3):
            await kitchen.run_satellite.wait()
            await hall.run_satellite.wait()
        replies = await asyncio.gather(kitchen.speak("ok_nabu"), hall.speak("ok_nabu"))
    kinds = sorted(r[0].type for r in replies)
    assert kinds == ["error", "transcript"]
    error = next(Error.from_event(r[0]) for r in replies if r[0].type == "error")
    assert error.code == "duplicate_wake_up_detected"
    assert len(handler.heard) == 1


async def test_cancelling_a_link_ends_it(handler):
    async with FakeSatellite() as sat:
        link = SatelliteLink(handler, uri=f"tcp://127.0.0.1:{sat.port}", name="porch")
        task = asyncio.create_task(link.run(), name="link porch")
        async with asyncio.timeout(3):
            await sat.run_satellite.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not link.connected.is_set()


def test_satellite_uri_must_be_tcp(handler):
    with pytest.raises(ValueError, match="tcp://host:port"):
        SatelliteLink(handler, uri="unix:///tmp/sat", name="x")


# -- the arbiter -----------------------------------------------------------------------------


def test_arbiter_first_claim_in_the_window_wins():
    arbiter = Arbiter(window=2.0)
    assert arbiter.claim("kitchen", "ok_nabu", at=100.0)
    assert not arbiter.claim("hall", "ok_nabu", at=101.5)
    assert arbiter.claim("hall", "hey_jarvis", at=101.7)  # another wake word
    assert arbiter.claim("hall", "ok_nabu", at=102.1)  # window over
    assert arbiter.claim("hall", "ok_nabu", at=102.5)  # the winner again: its own business
    assert not arbiter.claim("kitchen", "ok_nabu", at=103.0)
    assert not arbiter.claim("bedroom", None, at=104.0)  # unnamed conflicts with any
    assert arbiter.claim("bedroom", None, at=104.6)
