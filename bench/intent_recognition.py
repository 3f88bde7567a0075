"""Grammar recognition latency with 10, 100 and 1000 devices in the registry.

Prints p50/p95 per registry size and the ratio against the 10-device baseline measured in
the same run. Not part of the test run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from assistant.act.registry import Area, Device, Registry
from assistant.understand.grammar import GrammarRecognizer
from integrations.base import DeviceKind, DeviceSpec, Trait

LIGHT = DeviceSpec(DeviceKind.LIGHT, frozenset({Trait.ON_OFF, Trait.BRIGHTNESS}))
FAN = DeviceSpec(DeviceKind.FAN, frozenset({Trait.ON_OFF, Trait.FAN_SPEED}))
ROOMS = [
    "kitchen",
    "bedroom",
    "office",
    "hallway",
    "garage",
    "attic",
    "porch",
    "study",
    "nursery",
    "pantry",
]
WORDS = [
    "desk",
    "ceiling",
    "floor",
    "reading",
    "wall",
    "corner",
    "strip",
    "spot",
    "window",
    "table",
    "shelf",
    "mirror",
    "bed",
    "sofa",
    "door",
    "stair",
    "hood",
    "cabinet",
    "lamp",
    "accent",
]
COMMANDS = [
    "turn on the {name}",
    "turn off the {name}",
    "set the {name} to 40 percent",
    "is the {name} on",
    "turn off the lights in the {room}",
    "turn on the lights",
]


def build(count: int) -> tuple[Registry, list[str]]:
    registry = Registry()
    for room in ROOMS:
        registry.add_area(Area(room, room.title(), "Ground floor"))
    names = []
    for i in range(count):
        room = ROOMS[i % len(ROOMS)]
        name = f"{room} {WORDS[(i // len(ROOMS)) % len(WORDS)]} light {i // 200 or ''}".strip()
        spec = LIGHT if i % 5 else FAN
        registry.add_device(Device(f"b:{i}", name, spec, "x", room))
        names.append(name)
    return registry, names


def measure(count: int, turns: int, rng: random.Random) -> list[float]:
    registry, names = build(count)
    recognizer = GrammarRecognizer(registry)
    recognizer.recognize("turn on the light", area_id="kitchen")  # compile once
    samples = []
    for _ in range(turns):
        text = rng.choice(COMMANDS).format(name=rng.choice(names), room=rng.choice(ROOMS))
        started = time.perf_counter()
        recognizer.recognize(text, area_id="kitchen")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    base_p50 = None
    print(f"{'devices':>8} {'p50 ms':>8} {'p95 ms':>8} {'p50 vs 10':>10}")
    for count in (10, 100, 1000):
        samples = measure(count, args.turns, rng)
        p50, p95 = pct(samples, 50), pct(samples, 95)
        base_p50 = base_p50 or p50
        print(f"{count:>8} {p50:>8.2f} {p95:>8.2f} {p50 / base_p50:>9.2f}x")


if __name__ == "__main__":
    main()
