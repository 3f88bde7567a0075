"""``mimo-assistant demo``: spoken commands into the daemon through a real Wyoming connection.

The embedded default home starts in this process (virtual devices on loopback, both speech
models), a Wyoming server listens on a free loopback port, and a Wyoming client plays the
satellite: it streams each command, made with piper, in real time, then reads back the
transcript, the reply text and the reply audio (written to WAV files).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wyoming.asr import Transcript
from wyoming.audio import AudioChunk as WyChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.tts import Synthesize

from assistant.audio import write_wav
from assistant.config import Settings
from assistant.listen.base import HubInfo, VoiceActivity
from assistant.listen.wyoming_server import WyomingServer
from assistant.messages import SPEECH_FORMAT, AudioChunk, AudioFormat
from assistant.runtime import Home
from assistant.speak.tts import Speaker
from assistant.voice import VoiceTurn

__all__ = ["DEMO_COMMANDS", "describe", "run_demo", "speak_to_pcm", "stream_command"]

DEMO_COMMANDS = (
    "Turn on the living room lamp.",
    "Set the bedroom light to 30 percent.",
    "Is the air purifier on?",
    "Turn off all the lights in the kitchen.",
    "Start the robot vacuum.",
)
CHUNK_MS = 20
"""Audio per Wyoming chunk, milliseconds (what satellites send)."""
TRAILING_SILENCE_S = 1.2
"""Silence streamed after each command, seconds: more than the end-of-speech timeout."""


@dataclass
class ServerSide:
    """What the daemon side saw of each turn (the handler wrapped by the demo)."""

    turns: list[VoiceTurn] = field(default_factory=list)


@dataclass
class ClientSide:
    """What the satellite received."""

    transcript: str = ""
    reply: str = ""
    audio: bytearray = field(default_factory=bytearray)
    rate: int = 22050
    error: str | None = None


async def speak_to_pcm(speaker: Speaker, text: str) -> bytes:
    """``text`` spoken by piper, as 16 kHz mono 16-bit PCM (what satellites stream)."""
    return b"".join([chunk.audio async for chunk in speaker.synthesize(text, SPEECH_FORMAT)])


async def stream_command(
    port: int, pcm: bytes, *, realtime: bool = True, silence_s: float = TRAILING_SILENCE_S
) -> ClientSide:
    """Play a satellite: stream ``pcm`` (then silence) and collect what comes back."""
    got = ClientSide()
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(
            RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS).event()
        )
        sender = asyncio.create_task(_send(client, pcm, realtime, silence_s), name="demo-send")
        try:
            await _receive(client, got)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender
    return got


async def _send(client: AsyncTcpClient, pcm: bytes, realtime: bool, silence_s: float) -> None:
    fmt = SPEECH_FORMAT
    await client.write_event(AudioStart(fmt.rate, fmt.width, fmt.channels).event())
    audio = pcm + bytes(int(silence_s * fmt.bytes_per_second) // 2 * 2)
    step = fmt.bytes_per_second * CHUNK_MS // 1000
    started = time.perf_counter()
    for n, offset in enumerate(range(0, len(audio), step)):
        chunk = WyChunk(fmt.rate, fmt.width, fmt.channels, audio[offset : offset + step])
        await client.write_event(chunk.event())
        if realtime:  # a microphone cannot send faster than people speak
            await asyncio.sleep(max(0.0, started + (n + 1) * CHUNK_MS / 1000 - time.perf_counter()))
    await client.write_event(AudioStop().event())


async def _receive(client: AsyncTcpClient, got: ClientSide) -> None:
    while (event := await client.read_event()) is not None:
        if Transcript.is_type(event.type):
            got.transcript = Transcript.from_event(event).text
        elif Synthesize.is_type(event.type):
            got.reply = Synthesize.from_event(event).text
        elif AudioStart.is_type(event.type):
            got.rate = AudioStart.from_event(event).rate
        elif WyChunk.is_type(event.type):
            got.audio.extend(WyChunk.from_event(event).audio)
        elif AudioStop.is_type(event.type):
            return
        elif Error.is_type(event.type):
            got.error = Error.from_event(event).text
            return


async def run_demo(
    settings: Settings, out_dir: Path, commands: Sequence[str] = DEMO_COMMANDS
) -> list[dict[str, Any]]:
    """Run every command through a real Wyoming connection; one record per command."""
    seen = ServerSide()
    records = []
    async with Home(settings, voice=True) as home:
        assert home.voice is not None
        voice = home.voice

        async def recording(
            audio: AsyncIterator[AudioChunk], hub: HubInfo, *, activity: VoiceActivity | None = None
        ) -> VoiceTurn:
            turn = await voice(audio, hub, activity=activity)
            seen.turns.append(turn)
            return turn

        area = settings.hubs.wyoming.area or settings.site.area
        async with WyomingServer(recording, port=0, name="demo", area=area) as server:
            for number, text in enumerate(commands, 1):
                pcm = await speak_to_pcm(home.speaker, text)
                got = await stream_command(server.port, pcm)
                wav = out_dir / f"reply-{number}.wav"
                await asyncio.to_thread(_save, wav, got)
                records.append(_record(number, text, got, seen.turns[-1], wav))
    return records


def _save(path: Path, got: ClientSide) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, bytes(got.audio), AudioFormat(got.rate, 2, 1))


def _record(number: int, said: str, got: ClientSide, turn: VoiceTurn, wav: Path) -> dict[str, Any]:
    data = turn.to_json()
    return {
        "number": number,
        "said": said,
        "heard": got.transcript,
        "confidence": data["confidence"],
        "intent": data["intent"],
        "results": data["results"],
        "reply": got.reply,
        "reply_wav": str(wav),
        "reply_audio_s": round(len(got.audio) / (2 * got.rate), 2),
        "timings_ms": data["timings_ms"],
        "error": got.error,
    }


def describe(record: dict[str, Any]) -> str:
    """A record as a few readable lines."""
    intent = record["intent"]
    devices = (
        ", ".join(f"{r['name']}: {'ok' if r['ok'] else r['error']}" for r in record["results"])
        or "-"
    )
    t = record["timings_ms"]
    stages = ", ".join(
        f"{label} {t[key]:.0f} ms"
        for key, label in (
            ("stt", "transcribe after end of speech"),
            ("understand", "intent"),
            ("act", "act"),
            ("first_audio", "first reply audio"),
        )
        if key in t
    )
    return "\n".join(
        [
            f"[{record['number']}] said:    {record['said']}",
            f"    heard:   {record['heard']!r} (confidence {record['confidence']})",
            f"    intent:  {intent['name'] if intent else '-'} {intent['slots'] if intent else ''}",
            f"    devices: {devices}",
            f"    reply:   {record['reply']!r} -> {record['reply_wav']}",
            f"    timings: {stages}",
        ]
    )
