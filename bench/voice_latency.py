"""End of speech -> device command, streamed in real time over a real Wyoming connection.

Each command (piper's joe voice, pre-rendered once, the same audio for both) is streamed by
a Wyoming client playing a satellite: 20 ms chunks at microphone pace (a chunk leaves when
its last sample would have been recorded), then silence until the transcript comes back
(at most ``--silence`` seconds), then ``audio-stop``. Two Wyoming servers on 127.0.0.1 share
one home (demo config, both models loaded once):

- daemon: ``home.voice`` (the daemon's VoiceHandler, whatever it does to be quick);
- baseline: Home Assistant's default behaviour on the same models: the same Segmenter
  settings wait for END (0.7 s of silence), only then the whole utterance is transcribed
  (same Transcriber, same hints), then the text turn runs (``Pipeline.run_text``).

Measured: from the moment the chunk holding the last speech sample is written (corrected
to that sample) to the moment the virtual device receives its ``set_properties``/``action``
(``VirtualMiioDevice.requests[i].received_at``, ``time.monotonic()``). The two are
interleaved command by command (ABBA), after one warm-up turn each. Also: time from that
device command to the first reply audio chunk at the client, and the RSS of this process
(the daemon's parts: home, both models) after warm-up and at the end. Not part of the test run.

    python bench/voice_latency.py [--commands 24] [--silence 3.0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _voice_data as vd  # noqa: E402
from wyoming.asr import Transcript as WyTranscript  # noqa: E402
from wyoming.audio import AudioChunk as WyChunk  # noqa: E402
from wyoming.audio import AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.error import Error  # noqa: E402
from wyoming.pipeline import PipelineStage, RunPipeline  # noqa: E402
from wyoming.tts import Synthesize  # noqa: E402

from assistant.audio import convert  # noqa: E402
from assistant.listen.base import HubInfo  # noqa: E402
from assistant.listen.segmenter import (  # noqa: E402
    Segmenter,
    SegmenterEventType,
    SegmenterSettings,
)
from assistant.listen.wyoming_server import WyomingServer  # noqa: E402
from assistant.messages import SPEECH_FORMAT, AudioChunk  # noqa: E402
from assistant.runtime import Home  # noqa: E402
from assistant.voice import VoiceTurn  # noqa: E402

CHUNK_MS = 20
LEAD_S = 0.5
"""Silence streamed before the speech (a satellite streams from the wake word on)."""
ACT_METHODS = frozenset({"set_properties", "action"})


@dataclass
class Sent:
    """What the satellite saw, in ``time.monotonic()`` seconds."""

    started: float = 0.0
    speech_end: float = math.nan
    stopped: float = math.nan
    transcript_at: float = math.nan
    first_audio: float = math.nan
    done: float = math.nan
    transcript: str = ""
    reply: str = ""
    error: str | None = None
    got_transcript: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Seen:
    """What a handler saw of its last turn, in ``time.monotonic()`` seconds."""

    entered: float = 0.0
    end_of_speech: float = math.nan
    stt_done: float = math.nan
    turn: VoiceTurn | None = None


class Recording:
    """Wraps the daemon's VoiceHandler to keep its VoiceTurn and when it was called."""

    def __init__(self, home: Home) -> None:
        assert home.voice is not None
        self._voice = home.voice
        self.seen = Seen()

    async def __call__(self, audio: AsyncIterator[AudioChunk], hub: HubInfo) -> VoiceTurn:
        self.seen = Seen(entered=time.monotonic())
        turn = await self._voice(audio, hub)
        self.seen.turn = turn
        eos = turn.timings_ms.get("end_of_speech")
        if eos is not None:
            self.seen.end_of_speech = self.seen.entered + eos / 1000
            self.seen.stt_done = self.seen.end_of_speech + turn.timings_ms.get("stt", 0) / 1000
        return turn


class Baseline:
    """Home Assistant's way: wait for the full silence, then transcribe all, then act."""

    def __init__(self, home: Home) -> None:
        assert home.pipeline is not None
        self._home = home
        # Home Assistant's defaults, whatever the daemon is configured to use.
        self._settings = SegmenterSettings(
            engine="micro", speech_seconds=0.3, silence_seconds=0.7, max_seconds=15.0
        )
        self.seen = Seen()

    async def __call__(self, audio: AsyncIterator[AudioChunk], hub: HubInfo) -> VoiceTurn:
        home = self._home
        pipeline = home.pipeline
        assert pipeline is not None
        self.seen = seen = Seen(entered=time.monotonic())
        area = home.area_id(hub.area)
        turn = pipeline.new_turn(area_id=area, site=hub.name)
        segmenter = Segmenter(self._settings)
        ended = False
        async for chunk in audio:
            pcm = chunk.audio
            if chunk.format != SPEECH_FORMAT:
                pcm = convert(pcm, chunk.format, SPEECH_FORMAT)
            for event in segmenter.process(pcm):
                if event.type in (SegmenterEventType.END, SegmenterEventType.TIMEOUT):
                    ended = True
            if ended:
                break
        seen.end_of_speech = time.monotonic()
        timings = {"end_of_speech": turn.elapsed_ms()}
        heard = await home.transcriber.transcribe(segmenter.speech_audio(), hints=home.hints())
        seen.stt_done = time.monotonic()
        timings["stt"] = (seen.stt_done - seen.end_of_speech) * 1000
        if heard.text:
            result = await pipeline.run_text(heard.text, area_id=area, turn=turn)
        else:
            result = pipeline.end_turn(turn, pipeline.reply("not_heard"))
        seen.turn = VoiceTurn(
            heard.text, result.reply.text, result, heard, home.speaker, turn, timings
        )
        return seen.turn


async def stream(port: int, pcm: bytes, speech_end_s: float, silence_s: float) -> Sent:
    """Play a satellite: ``pcm`` at microphone pace, then silence until the transcript."""
    sent = Sent()
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(
            RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS).event()
        )
        sender = asyncio.create_task(_send(client, pcm, speech_end_s, silence_s, sent))
        try:
            await _receive(client, sent)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender
    return sent


async def _send(
    client: AsyncTcpClient, pcm: bytes, speech_end_s: float, silence_s: float, sent: Sent
) -> None:
    fmt = SPEECH_FORMAT
    step = fmt.bytes_per_second * CHUNK_MS // 1000
    audio = pcm + bytes(int(silence_s * fmt.bytes_per_second) // 2 * 2)
    last_speech_chunk = max(0, math.ceil(speech_end_s * 1000 / CHUNK_MS) - 1)
    await client.write_event(AudioStart(fmt.rate, fmt.width, fmt.channels).event())
    sent.started = start = time.monotonic()
    for n, offset in enumerate(range(0, len(audio), step)):
        if offset >= len(pcm) and sent.got_transcript.is_set():
            break  # the satellite stops streaming once the pipeline has moved on
        # a microphone hands over a chunk once its last sample has been recorded
        await asyncio.sleep(max(0.0, start + (n + 1) * CHUNK_MS / 1000 - time.monotonic()))
        chunk = WyChunk(fmt.rate, fmt.width, fmt.channels, audio[offset : offset + step])
        await client.write_event(chunk.event())
        if n == last_speech_chunk:
            # the chunk ends (n + 1) * 20 ms in; the speech ended a little before that
            sent.speech_end = time.monotonic() - ((n + 1) * CHUNK_MS / 1000 - speech_end_s)
    sent.stopped = time.monotonic()
    await client.write_event(AudioStop().event())


async def _receive(client: AsyncTcpClient, sent: Sent) -> None:
    while (event := await client.read_event()) is not None:
        if WyTranscript.is_type(event.type):
            sent.transcript_at = time.monotonic()
            sent.transcript = WyTranscript.from_event(event).text
            sent.got_transcript.set()
        elif Synthesize.is_type(event.type):
            sent.reply = Synthesize.from_event(event).text
        elif WyChunk.is_type(event.type):
            if math.isnan(sent.first_audio):
                sent.first_audio = time.monotonic()
        elif AudioStop.is_type(event.type):
            sent.done = time.monotonic()
            return
        elif Error.is_type(event.type):
            sent.error = Error.from_event(event).text
            return


@dataclass
class Sample:
    arm: str
    command: vd.Command
    sent: Sent
    seen: Seen
    act_at: float
    """When the expected device received its command (monotonic); nan if it never did."""
    ok: bool

    @property
    def latency_ms(self) -> float:
        return (self.act_at - self.sent.speech_end) * 1000

    def stage_ms(self) -> dict[str, float]:
        """Where the time went, ms: VAD end after speech end, STT wait, intent + act."""
        s = self.seen
        return {
            "eos": (s.end_of_speech - self.sent.speech_end) * 1000,
            "stt": (s.stt_done - s.end_of_speech) * 1000,
            "act": (self.act_at - s.stt_done) * 1000,
            "reply": (self.sent.first_audio - self.act_at) * 1000,
        }


async def one_turn(
    home: Home,
    arm: str,
    server: WyomingServer,
    handler: Recording | Baseline,
    clip: vd.Clip,
    silence_s: float,
) -> Sample:
    devices = home.virtual_devices
    marks = {device_id: len(device.requests) for device_id, device in devices.items()}
    sent = await stream(server.port, clip.pcm, clip.speech_end_s, silence_s)
    await asyncio.sleep(0.05)  # let a late request land
    target = clip.command.targets[0]
    new = [r for r in devices[target].requests[marks[target] :] if r.method in ACT_METHODS]
    act_at = new[0].received_at if new else math.nan
    turn = handler.seen.turn
    ok = bool(new) and turn is not None and vd.judge(clip.command, turn.result, home.registry).ok
    return Sample(arm, clip.command, sent, handler.seen, act_at, ok)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="voice-latency-") as tmp:
        settings = vd.demo_settings(Path(tmp) / "state")
        async with Home(settings, voice=True) as home:
            rss_loaded = vd.rss_mb()
            area = settings.site.area
            commands = vd.LATENCY_COMMANDS[: args.commands]
            clips = []
            for command in commands:  # rendered once, before anything is timed
                pcm = await vd.piper_pcm(home.speaker, command.text)
                end = LEAD_S + vd.speech_bounds(pcm)[1]
                clips.append(vd.Clip(command, "piper", vd.pad(pcm, LEAD_S, 0.0), end))
            daemon, baseline = Recording(home), Baseline(home)
            async with (
                WyomingServer(daemon, port=0, name="daemon", area=area) as d_server,
                WyomingServer(baseline, port=0, name="baseline", area=area) as b_server,
            ):
                arms = {"daemon": (d_server, daemon), "baseline": (b_server, baseline)}
                for name, (server, handler) in arms.items():  # warm-up, not counted
                    await one_turn(home, name, server, handler, clips[0], args.silence)
                rss_warm = vd.rss_mb()
                samples: list[Sample] = []
                started = time.perf_counter()
                for i, clip in enumerate(clips):
                    order = ("daemon", "baseline") if i % 2 == 0 else ("baseline", "daemon")
                    for name in order:
                        server, handler = arms[name]
                        samples.append(
                            await one_turn(home, name, server, handler, clip, args.silence)
                        )
                        await asyncio.sleep(0.2)
                    print(
                        f"  {i + 1}/{len(clips)} commands, {time.perf_counter() - started:.0f} s",
                        file=sys.stderr,
                    )
            rss_end = vd.rss_mb()
    report(samples, rss_loaded, rss_warm, rss_end, args)


def _p(values: list[float], q: float) -> str:
    values = [v for v in values if not math.isnan(v)]
    return f"{vd.pct(values, q):.0f}" if values else "-"


def report(
    samples: list[Sample],
    rss_loaded: tuple[float, float],
    rss_warm: tuple[float, float],
    rss_end: tuple[float, float],
    args: argparse.Namespace,
) -> None:
    arms = {a: [s for s in samples if s.arm == a] for a in ("baseline", "daemon")}
    n = len(arms["daemon"])
    print(
        f"\nEnd of speech -> device command: {n} commands (piper), streamed in real time "
        "over Wyoming on 127.0.0.1, same audio for both, interleaved.\n"
        "baseline = wait for END (0.7 s silence), then transcribe the whole utterance, then "
        "the text turn; daemon = home.voice.\n"
    )
    head = (
        f"{'':<10}{'acted':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
        f"   {'stages p50 (ms): VAD end after speech / STT wait / intent+act':<}"
    )
    print(head)
    print("-" * len(head))
    p50 = {}
    for arm, group in arms.items():
        good = [s for s in group if not math.isnan(s.act_at)]
        lat = [s.latency_ms for s in good]
        p50[arm] = vd.pct(lat, 50) if lat else math.nan
        stages = {k: [s.stage_ms()[k] for s in good] for k in ("eos", "stt", "act")}
        print(
            f"{arm:<10}{f'{len(good)}/{len(group)}':>7}{_p(lat, 50):>9}{_p(lat, 95):>9}"
            f"{_p(lat, 100):>9}   {_p(stages['eos'], 50)} / {_p(stages['stt'], 50)} / "
            f"{_p(stages['act'], 50)}"
        )
    b = [s.latency_ms for s in arms["baseline"] if not math.isnan(s.act_at)]
    d = [s.latency_ms for s in arms["daemon"] if not math.isnan(s.act_at)]
    if b and d:
        r50 = vd.pct(d, 50) / vd.pct(b, 50)
        r95 = vd.pct(d, 95) / vd.pct(b, 95)
        print(
            f"\ndaemon / baseline: p50 {r50:.2f}x, p95 {r95:.2f}x (target <= 0.50x: "
            f"{'met' if r50 <= 0.5 else 'NOT met'})"
        )
    wrong = [s for s in samples if not s.ok]
    print(f"turns not ending in the right intent and targets: {len(wrong)}")
    for s in wrong:
        print(f"  [{s.arm}] said {s.command.text!r}, heard {s.sent.transcript!r}")
    late = [s for s in samples if s.act_at > s.sent.stopped]
    if late:
        print(
            f"WARNING: {len(late)} turns acted only after audio-stop (the silence streamed "
            "was too short to reach END): their latency is not the END path's"
        )
    print("\nfirst reply audio at the client, after the device command (ms):")
    for arm, group in arms.items():
        reply = [s.stage_ms()["reply"] for s in group if not math.isnan(s.act_at)]
        server = [
            s.seen.turn.timings_ms["first_audio"]
            for s in group
            if s.seen.turn is not None and "first_audio" in s.seen.turn.timings_ms
        ]
        print(
            f"  {arm:<10} p50 {_p(reply, 50)}, p95 {_p(reply, 95)}   (server-side "
            f"timings_ms['first_audio'] p50 {_p(server, 50)}, p95 {_p(server, 95)})"
        )
    print(
        "\nRSS of this process (home, whisper tiny.en and the piper voice loaded; the "
        "bench's own client is small):\n"
        f"  after loading {rss_loaded[0]:.0f} MiB; after one turn each {rss_warm[0]:.0f} MiB; "
        f"at the end {rss_end[0]:.0f} MiB (peak {rss_end[1]:.0f} MiB)"
    )
    if args.verbose:
        print("\nper turn (ms): arm, latency, VAD end, STT wait, intent+act, reply; said")
        for s in samples:
            st = s.stage_ms()
            print(
                f"  {s.arm:<9}{s.latency_ms:>7.0f}{st['eos']:>7.0f}{st['stt']:>7.0f}"
                f"{st['act']:>7.0f}{st['reply']:>7.0f}  {s.command.text}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=24, help="how many (>= 20)")
    parser.add_argument(
        "--silence", type=float, default=3.0, help="most silence streamed after speech, s"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="every turn's numbers")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
