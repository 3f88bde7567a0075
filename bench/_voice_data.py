"""Shared by the voice benchmarks: spoken commands for the demo home, what each should do,
how to render them (piper, espeak-ng, sox noise), and how to judge a turn.

Not a benchmark itself; ``voice_accuracy.py`` and ``voice_latency.py`` import it.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.act.registry import Registry
from assistant.audio import read_wav
from assistant.config import Settings, load_config
from assistant.messages import SPEECH_FORMAT, AudioChunk
from assistant.speak.tts import Speaker
from assistant.turn import TurnResult

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "config.yaml"
RATE = SPEECH_FORMAT.rate

LAMP = "virtual:living_room_lamp"
FAN = "virtual:floor_fan"
VACUUM = "virtual:robot_vacuum"
CEILING = "virtual:kitchen_ceiling_light"
COUNTER = "virtual:kitchen_counter_light"
COFFEE = "virtual:coffee_machine"
HALL = "virtual:hall_light"
BEDROOM = "virtual:bedroom_light"
PURIFIER = "virtual:air_purifier"
CURTAIN = "virtual:bedroom_curtain"
AC = "virtual:air_conditioner"
KITCHEN_LIGHTS = (CEILING, COUNTER)
GROUND_LIGHTS = (LAMP, CEILING, COUNTER, HALL)


@dataclass(frozen=True)
class Command:
    """A spoken command and what it must end in (the hub is in the living room)."""

    text: str
    intent: str
    targets: tuple[str, ...]
    """Device ids acted on; for questions the device asked about, or ``area:<id>``."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """Slots that must also match (brightness, colour, temperature, ...)."""


def _c(text: str, intent: str, *targets: str, **values: Any) -> Command:
    return Command(text, intent, tuple(targets), values)


ON, OFF, LIGHT = "HassTurnOn", "HassTurnOff", "HassLightSet"
STATE, FAN_SPEED, POSITION = "HassGetState", "HassFanSetSpeed", "HassSetPosition"
SET_TEMP, GET_TEMP = "HassClimateSetTemperature", "HassClimateGetTemperature"
V_START, V_HOME = "HassVacuumStart", "HassVacuumReturnToBase"

COMMANDS: tuple[Command, ...] = (
    # on / off by name and by alias
    _c("Turn on the living room lamp.", ON, LAMP),
    _c("Turn off the big lamp.", OFF, LAMP),
    _c("Switch on the floor fan.", ON, FAN),
    _c("Switch off the floor fan.", OFF, FAN),
    _c("Turn on the coffee machine.", ON, COFFEE),
    _c("Turn off the coffee maker.", OFF, COFFEE),
    _c("Turn on the hall light.", ON, HALL),
    _c("Turn off the hall light.", OFF, HALL),
    _c("Turn on the kitchen ceiling light.", ON, CEILING),
    _c("Turn off the kitchen counter light.", OFF, COUNTER),
    _c("Turn the bedroom light off.", OFF, BEDROOM),
    _c("Turn the floor fan on.", ON, FAN),
    _c("Turn on the air purifier.", ON, PURIFIER),
    _c("Turn off the air purifier.", OFF, PURIFIER),
    _c("Turn on the air conditioner.", ON, AC),
    _c("Turn off the AC.", OFF, AC),
    _c("Turn on the fan.", ON, FAN),
    # brightness and colour
    _c("Set the bedroom light to 30 percent.", LIGHT, BEDROOM, brightness=30),
    _c("Set the living room lamp brightness to 80 percent.", LIGHT, LAMP, brightness=80),
    _c("Dim the big lamp to 10 percent.", LIGHT, LAMP, brightness=10),
    _c("Set the hall light to 25 percent.", LIGHT, HALL, brightness=25),
    _c("Brighten the kitchen ceiling light to 60 percent.", LIGHT, CEILING, brightness=60),
    _c(
        "Set the brightness of the kitchen counter light to 50 percent.",
        LIGHT,
        COUNTER,
        brightness=50,
    ),
    _c("Set the bedroom light to 100 percent.", LIGHT, BEDROOM, brightness=100),
    _c("Set the bedroom light to red.", LIGHT, BEDROOM, color="red"),
    _c("Make the living room lamp blue.", LIGHT, LAMP, color="blue"),
    _c("Set the kitchen counter light to green.", LIGHT, COUNTER, color="green"),
    _c("Set the big lamp to purple.", LIGHT, LAMP, color="purple"),
    # areas (by name and alias), the hub's own room, floors
    _c("Turn off all the lights in the kitchen.", OFF, *KITCHEN_LIGHTS),
    _c("Turn on the kitchen lights.", ON, *KITCHEN_LIGHTS),
    _c("Turn on the lights in the bedroom.", ON, BEDROOM),
    _c("Turn off the master bedroom lights.", OFF, BEDROOM),
    _c("Turn off the lights in the hall.", OFF, HALL),
    _c("Turn off the lights in the lounge.", OFF, LAMP),
    _c("Turn on the lights in the cooking area.", ON, *KITCHEN_LIGHTS),
    _c("Turn on the lights.", ON, LAMP),
    _c("Set the kitchen lights to 40 percent.", LIGHT, *KITCHEN_LIGHTS, brightness=40),
    _c("Set the lounge lights to 20 percent.", LIGHT, LAMP, brightness=20),
    _c("Make the lights in the bedroom yellow.", LIGHT, BEDROOM, color="yellow"),
    _c("Turn on the lights on the ground floor.", ON, *GROUND_LIGHTS),
    _c("Turn off the lights on the ground floor.", OFF, *GROUND_LIGHTS),
    _c("Turn off all the lights on the first floor.", OFF, BEDROOM),
    # state questions
    _c("Is the air purifier on?", STATE, PURIFIER, state="on"),
    _c("Is the coffee machine on?", STATE, COFFEE, state="on"),
    _c("Is the floor fan on?", STATE, FAN, state="on"),
    _c("Is the living room lamp on?", STATE, LAMP, state="on"),
    _c("Is the hall light off?", STATE, HALL, state="off"),
    _c("Is the AC on?", STATE, AC, state="on"),
    _c("Is the bedroom curtain open?", STATE, CURTAIN, state="open"),
    _c("Is the robot vacuum cleaning?", STATE, VACUUM, state="cleaning"),
    _c("What is the temperature in the bedroom?", GET_TEMP, "area:bedroom"),
    # fan speed, curtain, vacuum, air conditioner
    _c("Set the floor fan to 50 percent.", FAN_SPEED, FAN, percentage=50),
    _c("Set the floor fan speed to 75 percent.", FAN_SPEED, FAN, percentage=75),
    _c("Open the bedroom curtain.", ON, CURTAIN),
    _c("Close the curtains.", OFF, CURTAIN),
    _c("Set the bedroom curtain to 50 percent.", POSITION, CURTAIN, position=50),
    _c("Start the robot vacuum.", V_START, VACUUM),
    _c("Start the vacuum.", V_START, VACUUM),
    _c("Let the robot vacuum clean.", V_START, VACUUM),
    _c("Send the robot vacuum home.", V_HOME, VACUUM),
    _c("Dock the vacuum.", V_HOME, VACUUM),
    _c("Set the air conditioner to 22 degrees.", SET_TEMP, AC, temperature=22),
    _c("Set the AC to 24 degrees.", SET_TEMP, AC, temperature=24),
    _c("Set the AC to 19 degrees.", SET_TEMP, AC, temperature=19),
)
"""Against config.yaml's demo home, spoken to a hub in the living room."""

LATENCY_COMMANDS: tuple[Command, ...] = tuple(
    c for c in COMMANDS if c.intent not in (STATE, GET_TEMP)
)
"""Commands that send a device a command (the latency benchmark times that command)."""


# -- settings -----------------------------------------------------------------------------


def demo_settings(state_dir: Path) -> Settings:
    """config.yaml's demo home, with its state kept in ``state_dir`` (not the user's)."""
    os.environ["STATE_DIRECTORY"] = str(state_dir)  # belt and braces
    settings = load_config(DEMO_CONFIG)
    return settings.model_copy(update={"state_dir": state_dir})


# -- rendering ----------------------------------------------------------------------------


@dataclass
class Clip:
    """One rendering of one command: 16 kHz mono 16-bit PCM, silence included."""

    command: Command
    voice: str
    pcm: bytes
    speech_end_s: float
    """Where the last speech sample is, seconds from the start of ``pcm``."""


def speech_bounds(pcm: bytes, floor_db: float = -40.0) -> tuple[float, float]:
    """(first, last) second with 10 ms of audio above ``floor_db`` dBFS (0, 0 if none)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    frame = RATE // 100
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    level = np.sqrt(np.mean(frames**2, axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(level) > floor_db)
    if loud.size == 0:
        return 0.0, 0.0
    return loud[0] / 100, (loud[-1] + 1) / 100


def pad(pcm: bytes, lead_s: float, trail_s: float) -> bytes:
    """``pcm`` with digital silence before and after (whole samples)."""
    return bytes(int(lead_s * RATE) * 2) + pcm + bytes(int(trail_s * RATE) * 2)


async def piper_pcm(speaker: Speaker, text: str) -> bytes:
    chunks = [chunk.audio async for chunk in speaker.synthesize(text, SPEECH_FORMAT)]
    return b"".join(chunks)


def have_tools() -> list[str]:
    """The command line tools these benchmarks need that are missing."""
    return [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]


def espeak_pcm(text: str, voice: str = "en-us", speed: int = 160) -> bytes:
    """``text`` spoken by espeak-ng, resampled to 16 kHz mono 16-bit by sox."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "espeak.wav", Path(tmp) / "16k.wav"
        subprocess.run(
            ["espeak-ng", "-w", str(raw), "-v", voice, "-s", str(speed), text], check=True
        )
        subprocess.run(
            ["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True
        )
        pcm, fmt = read_wav(out)
    assert fmt == SPEECH_FORMAT, fmt
    return pcm


def add_noise(pcm: bytes, snr_db: float, kind: str = "whitenoise", seed: int = 1) -> bytes:
    """``pcm`` with sox-made ``kind`` noise (whitenoise, pinknoise, brownnoise) over all of
    it, at ``snr_db`` below the speech's level (RMS of its loud 10 ms frames)."""
    seconds = len(pcm) / 2 / RATE
    with tempfile.TemporaryDirectory() as tmp:
        noise_wav = Path(tmp) / "noise.wav"
        subprocess.run(
            ["sox", "-R", "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(noise_wav)]
            + ["synth", f"{seconds + 0.1:.3f}", kind, "vol", "0.5"],
            check=True,
        )
        noise_pcm, _ = read_wav(noise_wav)
    speech = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    noise = np.frombuffer(noise_pcm, dtype="<i2").astype(np.float64)[: len(speech)]
    noise = np.roll(noise, seed * 997)  # a different stretch of noise per clip
    frame = RATE // 100
    frames = speech[: len(speech) // frame * frame].reshape(-1, frame)
    level = np.sqrt(np.mean(frames**2, axis=1))
    loud = level[level > 32768 * 10 ** (-40 / 20)]
    speech_rms = float(np.sqrt(np.mean(loud**2))) if loud.size else 1000.0
    noise_rms = float(np.sqrt(np.mean(noise**2))) or 1.0
    mixed = speech + noise * (speech_rms / noise_rms) * 10 ** (-snr_db / 20)
    return np.clip(mixed, -32768, 32767).astype("<i2").tobytes()


async def chunks(pcm: bytes, chunk_ms: int = 20) -> AsyncIterator[AudioChunk]:
    """``pcm`` as a hub hands it over, as fast as it is read."""
    step = SPEECH_FORMAT.bytes_per_second * chunk_ms // 1000
    for offset in range(0, len(pcm), step):
        yield AudioChunk(pcm[offset : offset + step], SPEECH_FORMAT)


# -- judging ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    ok: bool
    """Right intent and targets (what the issue counts)."""
    exact: bool
    """... and the values too (brightness, colour, temperature, state asked about)."""
    acted: bool
    """An intent with targets came out (right or wrong); False: nothing done / asked again."""
    got: str


def outcome(result: TurnResult | None, registry: Registry) -> tuple[str | None, set[str]]:
    """(intent name, targets) of a turn: devices acted on, else the slots' device/area."""
    if result is None or result.intent is None:
        return None, set()
    intent = result.intent
    targets = {r.device_id for r in result.results}
    if not targets:
        name = intent.slots.get("name")
        if isinstance(name, str):
            targets = {d.id for d in registry.find_by_name(name)} or {f"name:{name}"}
        area = intent.slots.get("area")
        if isinstance(area, str) and intent.name == GET_TEMP:
            targets.add(f"area:{area}")
    return intent.name, targets


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, int | float) and isinstance(got, int | float):
        return math.isclose(float(want), float(got), abs_tol=0.5)
    return str(want).lower() == str(got).lower()


def judge(command: Command, result: TurnResult | None, registry: Registry) -> Verdict:
    name, targets = outcome(result, registry)
    ok = name == command.intent and targets == set(command.targets)
    slots = result.intent.slots if result is not None and result.intent is not None else {}
    exact = ok and all(_same(v, slots.get(k)) for k, v in command.values.items())
    values = {k: slots[k] for k in command.values if k in slots}
    got = f"{name or '-'} {sorted(targets) if targets else ''} {values or ''}".strip()
    return Verdict(ok, exact, name is not None and bool(targets), got)


def want(command: Command) -> str:
    return f"{command.intent} {sorted(command.targets)} {dict(command.values) or ''}".strip()


# -- numbers ------------------------------------------------------------------------------


def pct(samples: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (inclusive method; exact for the median)."""
    data = sorted(samples)
    if len(data) == 1 or q >= 100:
        return data[-1] if q >= 100 else data[0]
    return statistics.quantiles(data, n=100, method="inclusive")[int(q) - 1]


def rss_mb() -> tuple[float, float]:
    """(current VmRSS, peak VmHWM) of this process, MiB."""
    now = peak = 0.0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return now, peak
