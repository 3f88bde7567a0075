"""Voice turns end to end: piper speech over a real Wyoming connection, real whisper,
virtual devices over real miio, and the spoken reply transcribed back."""

from __future__ import annotations

import asyncio
import difflib
import re
import shutil

import numpy as np
import pytest
import pytest_asyncio

from assistant.demo import speak_to_pcm, stream_command
from assistant.listen.wyoming_server import WyomingServer
from assistant.messages import SPEECH_FORMAT, AudioChunk, AudioFormat
from assistant.runtime import Home

from .home import device_values, load_home

pytestmark = pytest.mark.asyncio(loop_scope="module")


def words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9% ]", " ", text.lower()).split())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def voice_home(tmp_path_factory):
    settings = load_home(tmp_path_factory.mktemp("voice"))
    async with Home(settings, voice=True) as home:
        async with WyomingServer(home.voice, port=0, name="test-hub", area="Living room") as hub:
            yield home, hub


async def hear_back(home: Home, audio: bytes, rate: int) -> str:
    """What whisper makes of the reply audio."""
    return (await home.transcriber.transcribe(audio, AudioFormat(rate, 2, 1))).text


async def test_spoken_command_moves_the_device_and_the_reply_is_spoken(voice_home):
    home, hub = voice_home
    pcm = await speak_to_pcm(home.speaker, "Turn on the bedroom light.")
    got = await stream_command(hub.port, pcm, realtime=True)
    assert got.error is None
    assert words(got.transcript) == "turn on the bedroom light"
    assert got.reply == "Turned on the bedroom light"
    assert (await device_values(home, "virtual:bedroom_light"))["on_off"] is True
    # tiny.en hears piper's "Turned on" as "Turn on": allow one word in five to differ.
    heard = words(await hear_back(home, bytes(got.audio), got.rate)).split()
    assert difflib.SequenceMatcher(None, heard, words(got.reply).split()).ratio() >= 0.8, heard


async def test_brightness_by_voice(voice_home):
    home, hub = voice_home
    pcm = await speak_to_pcm(home.speaker, "Set the bedroom light to 30 percent.")
    got = await stream_command(hub.port, pcm, realtime=False)
    assert got.reply == "The bedroom light is set to 30%"
    assert (await device_values(home, "virtual:bedroom_light"))["brightness"] == 30


async def test_the_hubs_area_is_the_context(voice_home):
    home, hub = voice_home  # the hub is in the living room
    pcm = await speak_to_pcm(home.speaker, "Turn on the lights.")
    got = await stream_command(hub.port, pcm, realtime=False)
    assert got.reply == "Turned on the living room lamp"


async def test_two_satellites_at_once_each_get_their_answer(voice_home):
    home, hub = voice_home
    fan = await speak_to_pcm(home.speaker, "Turn on the floor fan.")
    plug = await speak_to_pcm(home.speaker, "Turn on the coffee machine.")
    first, second = await asyncio.gather(
        stream_command(hub.port, fan, realtime=True),
        stream_command(hub.port, plug, realtime=True),
    )
    assert first.reply == "Turned on the floor fan"
    assert second.reply == "Turned on the coffee machine"
    assert (await device_values(home, "virtual:floor_fan"))["on_off"] is True
    assert (await device_values(home, "virtual:coffee_machine"))["on_off"] is True


async def test_silence_only_acts_on_nothing(voice_home):
    home, hub = voice_home
    before = await device_values(home, "virtual:kitchen_ceiling_light")
    got = await stream_command(hub.port, bytes(SPEECH_FORMAT.bytes_per_second), realtime=False)
    assert got.reply == "Sorry, I didn't hear anything"
    assert await device_values(home, "virtual:kitchen_ceiling_light") == before


async def test_noise_only_acts_on_nothing(voice_home):
    home, hub = voice_home
    rng = np.random.default_rng(3)
    noise = (rng.normal(0, 3000, 2 * SPEECH_FORMAT.rate)).astype("<i2").tobytes()
    got = await stream_command(hub.port, noise, realtime=False)
    assert got.reply == "Sorry, I didn't hear anything"


async def test_a_hub_that_hangs_up_mid_command_changes_nothing(voice_home):
    from wyoming.audio import AudioChunk as WyChunk
    from wyoming.audio import AudioStart
    from wyoming.client import AsyncTcpClient
    from wyoming.pipeline import PipelineStage, RunPipeline

    home, hub = voice_home
    await home.pipeline.run_text("turn off the kitchen counter light", area_id=None)
    pcm = await speak_to_pcm(home.speaker, "Turn on the kitchen counter light.")
    fmt = SPEECH_FORMAT
    async with AsyncTcpClient("127.0.0.1", hub.port) as client:
        await client.write_event(
            RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS).event()
        )
        await client.write_event(AudioStart(fmt.rate, fmt.width, fmt.channels).event())
        half = pcm[: len(pcm) // 2 // 2 * 2]
        await client.write_event(WyChunk(fmt.rate, fmt.width, fmt.channels, half).event())
    await asyncio.sleep(0.3)
    assert (await device_values(home, "virtual:kitchen_counter_light"))["on_off"] is False
    # and the hub keeps serving
    got = await stream_command(
        hub.port, await speak_to_pcm(home.speaker, "Turn off the floor fan."), realtime=False
    )
    assert got.reply == "Turned off the floor fan"


async def test_the_grammar_picks_among_the_decoders_readings(voice_home):
    from assistant.messages import Transcript

    home, _ = voice_home
    turn = home.pipeline.new_turn()
    misheard = Transcript(
        "Is the air purifier one?", 0.8, ("Is the air purifier won?", "Is the air purifier on?")
    )
    assert await home.voice._best_reading(misheard, None, turn) == "Is the air purifier on?"
    clear = Transcript("Turn on the floor fan.", 0.9, ("Turn on the floor fans.",))
    assert await home.voice._best_reading(clear, None, turn) == "Turn on the floor fan."
    nothing = Transcript("Purple monkey.", 0.9, ("Purple monkeys.",))
    assert await home.voice._best_reading(nothing, None, turn) == "Purple monkey."


ESPEAK = shutil.which("espeak-ng")


@pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed (.ci/run installs it)")
@pytest.mark.parametrize(
    ("said", "reply"),
    [
        ("turn on the coffee machine", "Turned on the coffee machine"),
        ("turn off the coffee machine", "Turned off the coffee machine"),
        ("open the bedroom curtain", "Opened the bedroom curtain"),
    ],
)
async def test_a_second_voice_espeak(voice_home, tmp_path, said, reply):
    from assistant.audio import convert, read_wav

    home, hub = voice_home
    wav = tmp_path / "espeak.wav"
    proc = await asyncio.create_subprocess_exec(
        ESPEAK, "-v", "en-us", "-s", "150", "-w", str(wav), said
    )
    assert await proc.wait() == 0
    pcm, fmt = read_wav(wav)
    got = await stream_command(hub.port, convert(pcm, fmt, SPEECH_FORMAT), realtime=False)
    assert got.reply == reply, got.transcript


async def test_a_whole_command_ends_early(voice_home):
    """Fed chunk by chunk: once the speculative transcript is in and is a whole command,
    early_seconds of silence end the utterance, before the full silence_seconds."""
    from assistant.voice import _EARLY

    home, _ = voice_home
    speech = await speak_to_pcm(home.speaker, "Turn off the bedroom light.")
    heard = home.voice.utterance(None)
    step = SPEECH_FORMAT.bytes_per_second // 50  # 20 ms
    silence = bytes(step)
    chunks = [speech[i : i + step] for i in range(0, len(speech), step)]
    reasons = [await heard.feed(AudioChunk(c, SPEECH_FORMAT)) for c in chunks]
    while heard.speculation is None:  # trailing silence until the segmenter starts one
        reasons.append(await heard.feed(AudioChunk(silence, SPEECH_FORMAT)))
    assert set(reasons) == {None}
    transcript = await heard.speculation  # let the transcription finish, whatever the load
    assert words(transcript.text) == "turn off the bedroom light"
    fed_ms = 0
    while (why := await heard.feed(AudioChunk(silence, SPEECH_FORMAT))) is None:
        fed_ms += 20
    assert why == _EARLY
    settings = home.settings.voice.vad
    assert fed_ms < settings.silence_seconds * 1000  # sooner than the full end of speech


async def test_a_pause_inside_a_command_is_no_end(voice_home):
    home, hub = voice_home
    # "Turn on the ... bedroom light": the pause is no end, "turn on the" no command.
    first = await speak_to_pcm(home.speaker, "Turn on the")
    rest = await speak_to_pcm(home.speaker, "bedroom light.")
    pause = bytes(int(0.6 * SPEECH_FORMAT.bytes_per_second))
    got = await stream_command(hub.port, first + pause + rest, realtime=True)
    assert got.reply == "Turned on the bedroom light", got.transcript


async def test_a_minute_of_speech_is_capped(voice_home):
    home, hub = voice_home
    sentence = await speak_to_pcm(home.speaker, "Turn on the lamp and then turn it off again.")
    long = sentence * (20 * SPEECH_FORMAT.bytes_per_second // len(sentence) + 1)  # ~20 s
    got = await stream_command(hub.port, long, realtime=False, silence_s=0.5)
    assert got.error is None and got.reply  # answered after the 15 s cap, nothing crashed
    pcm = await speak_to_pcm(home.speaker, "Turn off the floor fan.")
    assert (await stream_command(hub.port, pcm, realtime=False)).reply == "Turned off the floor fan"


async def test_a_spoken_pin_is_masked_in_the_transcript_and_logs(voice_home, caplog):
    import logging

    home, hub = voice_home
    # Masking is keyed on the verb ("unlock" / "disarm" ...), so whisper must hear it.
    # piper's speech varies from one synthesis to the next (its noise is random) and tiny.en
    # sometimes hears "disarm" as "this arm": speak it again until the verb is heard.
    heard, logged = [], []
    for _ in range(4):
        pcm = await speak_to_pcm(home.speaker, "Disarm the alarm 2468.")  # (piper logs it)
        with caplog.at_level(logging.DEBUG):
            caplog.clear()
            got = await stream_command(hub.port, pcm, realtime=False)
            logged = [r.getMessage() for r in caplog.records]
        heard.append(got.transcript)
        if words(got.transcript).startswith("disarm the alarm"):
            break
    assert words(got.transcript).startswith("disarm the alarm"), heard
    spoken_pin = re.compile(r"2\W?4\W?6\W?8|two four six eight", re.IGNORECASE)
    assert not re.search(r"\d", got.transcript), got.transcript
    assert logged and not spoken_pin.search("\n".join(logged))
