"""Command latency of a text turn: ``say`` -> the command on an MQTT device's topic, compared
with the same command to a miio device speaking the real encrypted protocol, in one run.

One home, built as ``say`` builds it without a daemon (``assistant.runtime.Home``), plus what
the daemon adds for MQTT (``assistant.daemon._start_mqtt``: every turn published on the
broker). Its devices:

- MQTT: a private Mosquitto on a free 127.0.0.1 port (``tests.mqtt_broker``) and a
  Zigbee2MQTT bridge with one IKEA bulb, "Hallway bulb" (``tests.mqtt_devices``): it answers
  ``zigbee2mqtt/Hallway bulb/set`` with its new state, which the driver waits for;
- miio: a ``VirtualMiioDevice`` (yeelink.light.color4, "Desk lamp") on 127.0.0.1, configured
  as a real ``miio:`` device (host, port, token), so the real driver and python-miio talk to it.

Each arm runs ``Pipeline.run_text`` ("turn on/off the hallway bulb" vs "... the desk lamp"),
alternating ABBA, ``--rounds`` measured turns each after ``--warmup`` discarded ones, with
``--gap`` seconds of quiet between turns. Measured with ``time.monotonic()`` in this process:

- command latency: from just before ``run_text`` to the command's arrival:
  MQTT: a separate plain paho client with its own network thread, subscribed to the set
  topic, stamps ``on_message`` (also shown: the simulated bulb's own client, which runs on
  the daemon's event loop); miio: ``VirtualMiioDevice.requests[i].received_at`` of the
  ``set_properties`` (stamped on the loop, after the frame is decrypted);
- turn time: until ``run_text`` returns. For MQTT that includes the broker's PUBACK and the
  bulb's state report (confirmation); for miio the device's answer and the read-back
  ``get_properties``. Also the turn's own stage timings (``timings_ms``, p50).

Included: recognition (grammar), safety, dispatch, the driver, the loopback network, the
broker. Not included: speech (STT/TTS), the control socket of ``say`` to a running daemon,
real radio (Zigbee, Wi-Fi) and real device firmware. Baseline: the miio arm, the protocol
the daemon was built around. No token or password is printed. Not part of the test run.

Read the MQTT turn time with care: on loopback most of it (~40 ms) is a Nagle x delayed-ACK
stall, not the daemon: the bulb's PUBLISH of its new state follows its PUBACK of the command
and waits for the broker's delayed ACK, and Mosquitto (``set_tcp_nodelay`` off by default)
holds the forwarded state behind its PUBACK to the daemon the same way. With TCP_NODELAY on
both clients' sockets and the broker, the two arms' turns come out about equal.

Garbage collection: a ``gc.callbacks`` hook times every collection of the measured phase
(the measured turns and the gaps after them). Printed after the tables: collections per
generation; the longest and the total generation 2 (full) pause, with each one's pause and
when it began (seconds into the measured phase) when there are at most 8; the longest and
total gen 0 + gen 1 pause; how many objects ``gc.freeze`` holds; and per arm how many
measured turns overlapped a full collection (and those turns' times). ``--freeze`` does what
the daemon does before READY (``assistant.daemon._freeze_startup_heap``: ``gc.collect()``,
then ``gc.freeze()``), once the home is started and warmed up and the bulb is up, before the
warm-up turns. Without it a full collection walks the start-up heap (~160k objects) and
takes ~75-105 ms, about one per 400 turns, and lands in a turn (a ~100 ms outlier); with it,
in two runs each (Python 3.11, 1000 rounds), full collections came about twice as often
(12 vs 5) but took ~3 ms each.

    python -m bench.mqtt_command_latency [--rounds 50] [--warmup 3] [--gap 0.1] [--freeze]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from assistant.config import parse_config
from assistant.daemon import _freeze_startup_heap, _start_mqtt
from assistant.runtime import Home
from integrations.miio.spec import load_spec
from integrations.virtual import VirtualMiioDevice
from tests.mqtt_broker import MosquittoBroker, start_broker
from tests.mqtt_devices import DeviceSimulator, z2m_bulb, z2m_coordinator

BASE = "zigbee2mqtt"
BULB = "0x000b57fffec6a5b2"
BULB_NAME = "Hallway bulb"
SET_TOPIC = f"{BASE}/{BULB_NAME}/set"
LAMP_MODEL = "yeelink.light.color4"
ARRIVAL_TIMEOUT = 2.0  # seconds to wait for a command still in flight when the turn returned
CONFIG = """
site: {{name: bench, area: Hallway}}
state_dir: {state_dir}
miio: {{deadline: 2.0, poll_interval: 3600}}
areas:
  - {{name: Hallway}}
  - {{name: Office}}
mqtt:
  host: {host}
  port: {port}
  username: assistant
  password: !env MQTT_PASSWORD
  prefix: mimo-assistant/bench
  confirm_timeout: 2.0
devices:
  - {{name: {bulb_name}, area: Hallway, mqtt: {{discovered: '{bulb}'}}}}
  - {{name: Desk lamp, area: Office, miio: {{host: 127.0.0.1, port: {lamp_port},
      token: !env MIIO_TOKEN, model: {lamp_model}}}}}
"""


class ArrivalClock:
    """A plain paho client on its own network thread, subscribed to one topic: when each
    message reached the other side of the broker (``time.monotonic()`` seconds)."""

    def __init__(self, broker: MosquittoBroker, topic: str) -> None:
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-arrival-clock")
        self._client.username_pw_set("assistant", broker.assistant_password)
        self._client.on_connect = lambda c, *_: c.subscribe(topic, qos=0)
        self._client.on_subscribe = lambda *_: self._ready.set()
        self._client.on_message = lambda *_: self._stamps.append(time.monotonic())
        self._broker, self._ready = broker, threading.Event()
        self._stamps: list[float] = []

    def stamps(self) -> list[float]:
        return list(self._stamps)  # list.append and list() are atomic under the GIL

    async def start(self) -> None:
        await asyncio.to_thread(self._client.connect, self._broker.host, self._broker.port, 60)
        self._client.loop_start()
        if not await asyncio.to_thread(self._ready.wait, 10):
            raise RuntimeError("the arrival clock did not subscribe")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class GcLog:
    """Every garbage collection while ``active``: (generation, start, stop), monotonic s."""

    def __init__(self) -> None:
        self.active = False
        self.since = 0.0  # when the measured phase began
        self.collections: list[tuple[int, float, float]] = []
        self._started = 0.0

    def begin(self) -> None:
        self.active, self.since = True, time.monotonic()

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.monotonic()
        elif self.active:
            self.collections.append((info["generation"], self._started, time.monotonic()))

    def __enter__(self) -> GcLog:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self)

    def full(self) -> list[tuple[float, float]]:
        return [(start, stop) for gen, start, stop in self.collections if gen == 2]


@dataclass
class Arm:
    """One way to reach a device, and what its measured turns took (milliseconds)."""

    name: str
    noun: str
    arrival: Callable[[float], float | None]
    """When (``time.monotonic()``) the command of a turn started at the argument arrived."""
    second: Callable[[float], float | None] | None = None
    """Another observer of the same arrival (MQTT: the simulated bulb's own client)."""
    turns: int = 0
    command: list[float] = field(default_factory=list)
    turn: list[float] = field(default_factory=list)
    seen_second: list[float] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)
    """(start, end) of each measured turn, ``time.monotonic()`` s, in ``turn``'s order."""
    stages: dict[str, list[float]] = field(default_factory=dict)


async def wait_for(probe: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while not (found := probe()) and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    return found


async def run_turn(home: Home, arm: Arm, warmup: int) -> None:
    """One text turn; on/off alternate, so every turn changes the device."""
    assert home.pipeline is not None
    text = f"turn {'on' if arm.turns % 2 == 0 else 'off'} the {arm.noun}"
    started = time.monotonic()
    result = await home.pipeline.run_text(text, area_id=None, site="bench")
    ended = time.monotonic()
    arrived = await wait_for(lambda: arm.arrival(started), ARRIVAL_TIMEOUT)
    if not result.reply.ok or not arrived:
        raise RuntimeError(f"{text!r}: reply {result.reply.text!r}, command seen: {bool(arrived)}")
    arm.turns += 1
    if arm.turns <= warmup:
        return
    arm.command.append((arrived - started) * 1000)
    arm.turn.append((ended - started) * 1000)
    arm.spans.append((started, ended))
    for stage, ms in result.timings_ms.items():
        arm.stages.setdefault(stage, []).append(ms)
    if arm.second is not None:
        second = arm.second
        seen = await wait_for(lambda: second(started), ARRIVAL_TIMEOUT)
        if seen:
            arm.seen_second.append((seen - started) * 1000)


def first_since(stamps: Callable[[], list[float]]) -> Callable[[float], float | None]:
    return lambda start: next((t for t in stamps() if t >= start), None)


async def bench(
    broker: MosquittoBroker, tmp: Path, args: argparse.Namespace, gclog: GcLog
) -> list[str]:
    token = secrets.token_hex(16)
    lamp = VirtualMiioDevice(load_spec(LAMP_MODEL), token=token, did=123_456_789)
    await lamp.start()
    text = CONFIG.format(
        state_dir=tmp / "state",
        host=broker.host,
        port=broker.port,
        bulb_name=BULB_NAME,
        bulb=BULB,
        lamp_port=lamp.address[1],
        lamp_model=LAMP_MODEL,
    )
    environ = {"MQTT_PASSWORD": broker.assistant_password, "MIIO_TOKEN": token}
    settings = parse_config(text, base_dir=tmp, environ=environ)
    clock = ArrivalClock(broker, SET_TOPIC)
    own: list[float] = []
    mqtt = Arm(
        "MQTT",
        "hallway bulb",
        first_since(clock.stamps),
        second=first_since(lambda: own),
    )

    def sets() -> list[float]:
        return [r.received_at for r in lamp.requests if r.method == "set_properties"]

    miio = Arm("miio", "desk lamp", first_since(sets))
    try:
        async with contextlib.AsyncExitStack() as stack:
            sim = await stack.enter_async_context(DeviceSimulator(broker))
            state = {"state": "OFF", "brightness": 10, "color_temp": 300, "linkquality": 80}
            await sim.zigbee2mqtt(
                BASE, [z2m_coordinator(), z2m_bulb(BULB, BULB_NAME)], {BULB_NAME: state}
            )
            await sim.on(SET_TOPIC, lambda _message: own.append(time.monotonic()))
            await clock.start()
            stack.callback(clock.stop)
            home = await stack.enter_async_context(Home(settings))
            await _start_mqtt(home, stack)
            if not await wait_for(lambda: home.registry.state(f"mqtt:{BULB}").available, 10):
                raise RuntimeError("the bulb did not come up")
            if args.freeze:
                _freeze_startup_heap()  # as the daemon does, before READY
            order = (mqtt, miio, miio, mqtt)  # ABBA: neither arm always goes first
            for index in range(2 * (args.warmup + args.rounds)):
                if index == 2 * args.warmup:  # each pair of turns is one per arm
                    gclog.begin()
                await run_turn(home, order[index % 4], args.warmup)
                await asyncio.sleep(args.gap)
    finally:
        gclog.active = False
        await lamp.stop()
    lines = report(args, mqtt, miio) + gc_report(gclog, mqtt, miio)
    leaked = [s for s in (token, *broker.passwords.values()) if any(s in x for x in lines)]
    assert not leaked, "a secret would be printed"
    return lines


# -- report ----------------------------------------------------------------------------------


def pcts(values: list[float]) -> tuple[float, float, float, float]:
    if len(values) < 2:
        return (values or [float("nan")])[0], float("nan"), float("nan"), max(values or [0.0])
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94], q[98], max(values)


def row(name: str, values: list[float]) -> str:
    p50, p95, p99, top = pcts(values)
    return f"{name:44} {p50:>8.2f} {p95:>8.2f} {p99:>8.2f} {top:>8.2f} {len(values):>5}"


def report(args: argparse.Namespace, mqtt: Arm, miio: Arm) -> list[str]:
    lines = [
        f"{args.rounds} measured turns per arm (+{args.warmup} warm-up), ABBA, "
        f"gc.freeze after start-up: {'yes' if args.freeze else 'no'}, "
        f"{args.gap:g} s between turns; Mosquitto and the virtual miio device on 127.0.0.1; "
        f"{len(os.sched_getaffinity(0))} CPUs",
        "",
        f"{'ms':44} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'n':>5}",
        row("MQTT  say -> set topic (paho thread client)", mqtt.command),
        row("MQTT  say -> set topic (bulb's client, loop)", mqtt.seen_second),
        row("miio  say -> set_properties at the device", miio.command),
        row("MQTT  full turn (incl. state confirmation)", mqtt.turn),
        row("miio  full turn (incl. answer, read-back)", miio.turn),
        "",
    ]
    for what, a, b in (("command", mqtt.command, miio.command), ("turn", mqtt.turn, miio.turn)):
        (a50, a95, *_), (b50, b95, *_) = pcts(a), pcts(b)
        lines.append(f"MQTT/miio {what:8} p50 {a50 / b50:>5.2f}x   p95 {a95 / b95:>5.2f}x")
    lines += ["", "turn stages, p50 ms (timings_ms): " + ", ".join(sorted(mqtt.stages))]
    for arm in (mqtt, miio):
        cells = (f"{k} {statistics.median(v):.2f}" for k, v in arm.stages.items())
        lines.append(f"  {arm.name:5} " + ", ".join(cells))
    return lines


def gc_report(gclog: GcLog, *arms: Arm) -> list[str]:
    counts = [sum(1 for c in gclog.collections if c[0] == gen) for gen in range(3)]
    pauses = [(stop - start) * 1000 for start, stop in gclog.full()]
    young = [(stop - start) * 1000 for gen, start, stop in gclog.collections if gen < 2]
    each = ", ".join(f"{(b - a) * 1000:.1f} at {a - gclog.since:.0f} s" for a, b in gclog.full())
    lines = [
        "",
        "GC in the measured phase (turns and gaps): collections gen0 {}, gen1 {}, gen2 {}".format(
            *counts
        ),
        f"  gen2 pause ms: max {max(pauses, default=0.0):.2f}, total {sum(pauses):.2f}"
        + (f" (each: {each})" if 0 < len(pauses) <= 8 else ""),
        f"  gen0+gen1 pause ms: max {max(young, default=0.0):.2f}, total {sum(young):.2f}",
        f"  frozen objects (gc.get_freeze_count) {gc.get_freeze_count()}",
    ]
    for arm in arms:
        hit = [
            ms
            for ms, (start, end) in zip(arm.turn, arm.spans, strict=True)
            if any(b > start and a < end for a, b in gclog.full())
        ]
        cells = ", ".join(f"{ms:.1f}" for ms in hit[:8])
        lines.append(
            f"  {arm.name:5} turns overlapping a gen2 collection: {len(hit)} of {len(arm.turn)}"
            + (f" (full turn ms: {cells})" if hit else "")
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50, help="measured turns per arm")
    parser.add_argument("--warmup", type=int, default=3, help="discarded turns per arm first")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds of quiet between turns")
    parser.add_argument(
        "--freeze",
        action="store_true",
        help="gc.collect() + gc.freeze() after start-up, as the daemon does before READY",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_broker(Path(tmp) / "mosquitto")
        try:
            with GcLog() as gclog:
                lines = asyncio.run(bench(broker, Path(tmp), args, gclog))
        finally:
            broker.stop()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
