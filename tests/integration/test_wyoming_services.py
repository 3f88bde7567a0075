"""The Wyoming server's tts, intent and handle programs, as Home Assistant's integration uses
them: a real ``wyoming`` AsyncTcpClient against the daemon's server on a real home (piper,
the grammar, virtual devices over real miio).

What Home Assistant sends (homeassistant/components/wyoming): tts.py writes ``synthesize``
(text, voice) and reads audio-chunk until audio-stop; conversation.py writes ``transcript``
(text, context, language) and reads intent | not-recognized | handled | not-handled | error.
"""

from __future__ import annotations

import pytest
import pytest_asyncio
from blockbuster import blockbuster_ctx
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.handle import Handled, NotHandled
from wyoming.intent import Intent, NotRecognized, Recognize
from wyoming.tts import Synthesize, SynthesizeVoice

from assistant.listen.wyoming_server import WyomingServer
from assistant.listen.wyoming_services import MAX_TEXT_CHARS
from assistant.runtime import Home

from .home import device_values, load_home
from .test_wyoming_hubs import read_until

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def daemon(tmp_path_factory):
    """The test home with voice, and its Wyoming server serving tts, intent and handle."""
    settings = load_home(tmp_path_factory.mktemp("services"))
    async with Home(settings, voice=True) as home:
        async with WyomingServer(
            home.voice, port=0, name="hub", area="Living room", services=home.voice
        ) as server:
            yield home, server


async def synthesize(client: AsyncTcpClient, text: str) -> tuple[AudioStart, bytes]:
    await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name="default")).event())
    events = await read_until(client, "audio-stop", "error", timeout=30.0)
    assert events[0].type == "audio-start", [e.type for e in events]
    start = AudioStart.from_event(events[0])
    chunks = [AudioChunk.from_event(e) for e in events if e.type == "audio-chunk"]
    assert all(
        (c.rate, c.width, c.channels) == (start.rate, start.width, start.channels) for c in chunks
    )
    return start, b"".join(c.audio for c in chunks)


async def test_synthesize_speaks_in_the_announced_format_and_an_error_ends_the_connection(
    daemon,
):
    _, server = daemon
    with blockbuster_ctx(["assistant"]):  # piper renders off the loop
        async with AsyncTcpClient("127.0.0.1", server.port) as client:
            start, audio = await synthesize(client, "Turned on the coffee machine.")
            seconds = len(audio) / (start.rate * start.width * start.channels)
            assert (start.width, start.channels) == (2, 1)
            assert 0.8 < seconds < 6.0, seconds
            _, again = await synthesize(client, "Hello.")  # one connection, two requests
            assert len(again) > 0.2 * start.rate * start.width

        for text, code in (("  ", "empty-text"), ("a" * (MAX_TEXT_CHARS + 1), "text-too-long")):
            async with AsyncTcpClient("127.0.0.1", server.port) as client:
                await client.write_event(Synthesize(text=text).event())
                error = Error.from_event((await read_until(client, "error"))[-1])
                assert error.code == code
                # Closed, as wyoming-piper does: HA's TTS reads to audio-stop or the end.
                assert await client.read_event() is None


async def test_recognize_names_the_intent_and_acts_on_nothing(daemon):
    home, server = daemon
    await home.pipeline.run_text("turn off the bedroom light", area_id=None)
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(Recognize(text="turn on the bedroom light").event())
        intent = Intent.from_event((await read_until(client, "intent", "not-recognized"))[-1])
        await client.write_event(Recognize(text="purple monkey dishwasher").event())
        missed = (await read_until(client, "intent", "not-recognized"))[-1]
    assert intent.name == "HassTurnOn"
    assert {e.name: e.value for e in intent.entities}["name"] == "bedroom light"
    assert intent.text == "turn on the bedroom light"
    assert NotRecognized.is_type(missed.type) and NotRecognized.from_event(missed).text
    assert (await device_values(home, "virtual:bedroom_light"))["on_off"] is False


async def test_transcript_is_a_text_turn_answered_handled_or_not_handled(daemon, caplog):
    home, server = daemon
    caplog.set_level("DEBUG")
    await home.pipeline.run_text("turn off the coffee machine", area_id=None)
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        # as HA's conversation agent sends it
        context = {"conversation_id": "01JTEST"}
        await client.write_event(
            Transcript("turn on the coffee machine", context=context, language="en").event()
        )
        handled = (await read_until(client, "handled", "not-handled", timeout=15.0))[-1]
        await client.write_event(Transcript("purple monkey dishwasher", language="en").event())
        not_handled = (await read_until(client, "handled", "not-handled", timeout=15.0))[-1]
        await client.write_event(Transcript("unlock the front door 4711").event())
        with_pin = (await read_until(client, "handled", "not-handled", timeout=15.0))[-1]
    assert Handled.is_type(handled.type)
    assert Handled.from_event(handled).text == "Turned on the coffee machine"
    assert (await device_values(home, "virtual:coffee_machine"))["on_off"] is True
    assert NotHandled.is_type(not_handled.type)
    assert NotHandled.from_event(not_handled).text.startswith("Sorry")
    assert "4711" not in caplog.text and "4711" not in with_pin.data.get("text", "")
