"""State updates processed per second with 1000 MQTT devices publishing, and the event-loop
lag while it happens.

A private Mosquitto on 127.0.0.1 holds a retained Zigbee2MQTT ``bridge/devices`` with
``--devices`` bulbs. The daemon's MQTT side starts as the daemon starts it (``start_mqtt``
from a config with an ``mqtt:`` section, default sources; ``startup_wait: 0`` so this script
times discovery itself): discovery -> driver -> state parser -> ``registry.update_state``.

A separate publisher process (a plain paho client driven by its own ``loop()``, QoS 0) then
sends ``--per-device`` state messages per bulb, round-robin over ``<base>/<friendly name>``,
as fast as it can, then a marker. Measured in the daemon's process, from the first message
processed to the marker: registry state updates per second (a registry listener counts
them) and how late a task that sleeps 10 ms wakes up (loop lag).

Baseline, same run, same process and loop: the same publisher against a bare
``MqttConnection.listen()`` callback that only counts (no parsing, no registry) on a second
namespace, the raw rate of the connection layer here. The two alternate, ``--rounds`` times
each. Also the loop lag with no traffic, and during discovery. ``--profile`` prints where
the daemon's time goes (cProfile; it slows both). Not part of the test run.

    python -m bench.mqtt_state_updates [--devices 1000] [--per-device 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import multiprocessing
import os
import pstats
import random
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from assistant.act.registry import Registry
from assistant.config import parse_config
from assistant.mqtt_home import start_mqtt
from integrations.mqtt import MqttConnection
from integrations.mqtt.model import Message
from tests.mqtt_broker import MosquittoBroker, start_broker
from tests.mqtt_devices import DeviceSimulator, z2m_bulb, z2m_coordinator

BASE = "zigbee2mqtt"
RAW_BASE = "zigbee2mqtt/raw"
"""The baseline's state topics: the same names under a namespace the driver ignores."""
DRIVER_MARKER = "mimo-assistant/bench/driver-done"
RAW_MARKER = "mimo-assistant/bench/raw-done"
ROOMS = ("kitchen", "bedroom", "office", "hallway", "garage", "attic", "porch", "study")
LAG_INTERVAL = 0.010  # seconds the probe sleeps
CONFIG = """
mqtt:
  host: {host}
  port: {port}
  username: assistant
  password: !env MQTT_PASSWORD
  protocol: "{protocol}"
  startup_wait: 0
"""
ONLY_ZIGBEE2MQTT = """  discovery: false
  tasmota: {enabled: false}
"""


# -- the publisher process -------------------------------------------------------------------


def state_messages(topics: list[str], per_device: int) -> list[tuple[str, bytes]]:
    """Zigbee2MQTT bulb states, round-robin over ``topics`` (compact JSON, as Z2M sends)."""
    rng = random.Random(7)
    messages = []
    for _ in range(per_device):
        for topic in topics:
            state = {
                "brightness": rng.randint(1, 254),
                "color_temp": rng.randint(250, 454),
                "linkquality": rng.randint(20, 255),
                "state": rng.choice(("ON", "OFF")),
            }
            messages.append((topic, json.dumps(state, separators=(",", ":")).encode()))
    return messages


def publisher_main(host: str, port: int, password: str, pipe: Any) -> None:
    """Runs in its own process: publish each job's messages, then its marker; reply with
    the seconds it took to hand them all to the socket."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-publisher-{os.getpid()}")
    client.username_pw_set("assistant", password)
    client.connect(host, port, keepalive=600)
    while not client.is_connected():
        client.loop(0.05)
    pipe.send("ready")
    while (job := pipe.recv()) is not None:
        topics, per_device, marker = job
        messages = state_messages(topics, per_device)
        started = time.perf_counter()
        for topic, payload in messages:
            client.publish(topic, payload, qos=0)  # writes at once; queues if the socket is full
        client.publish(marker, b"done", qos=0)
        while client.want_write():
            client.loop(0.01)
        pipe.send(time.perf_counter() - started)
    client.disconnect()


class Publisher:
    """The parent's handle on the publisher process."""

    def __init__(self, broker: MosquittoBroker) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        args = (broker.host, broker.port, broker.assistant_password, child)
        self._process = context.Process(target=publisher_main, args=args, daemon=True)

    async def start(self) -> None:
        self._process.start()
        assert await asyncio.to_thread(self._pipe.recv) == "ready"

    async def send(self, topics: list[str], per_device: int, marker: str) -> float:
        self._pipe.send((topics, per_device, marker))
        return await asyncio.to_thread(self._pipe.recv)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send(None)
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()


# -- the daemon's side -----------------------------------------------------------------------


class LagProbe:
    """Sleeps ``LAG_INTERVAL`` in a loop and records how late it wakes: (when, lag ms)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []

    async def run(self) -> None:
        while True:
            due = time.perf_counter() + LAG_INTERVAL
            await asyncio.sleep(LAG_INTERVAL)
            now = time.perf_counter()
            self.samples.append((now, (now - due) * 1000))

    def between(self, start: float, end: float) -> list[float]:
        return [lag for when, lag in self.samples if start <= when <= end]


@dataclass
class Tally:
    """Counts what one round processed, from the first message to the marker."""

    received: int = 0
    first: float = 0.0
    last: float = 0.0
    done: asyncio.Future[float] | None = None

    def arm(self) -> None:
        self.received, self.first = 0, 0.0
        self.done = asyncio.get_running_loop().create_future()

    def hit(self, *_: object) -> None:
        self.last = time.perf_counter()
        if not self.received:
            self.first = self.last
        self.received += 1

    def marker(self, _message: Message) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(time.perf_counter())


@dataclass
class Kind:
    """One way of receiving (the driver, or the bare baseline) and its rounds."""

    name: str
    topics: list[str]
    marker: str
    tally: Tally = field(default_factory=Tally)
    profiler: cProfile.Profile | None = None
    rates: list[float] = field(default_factory=list)
    """Messages processed per second, one per round."""
    lost: list[int] = field(default_factory=list)
    sent_rates: list[float] = field(default_factory=list)
    """Messages per second the publisher handed to its socket, one per round."""
    lags: list[float] = field(default_factory=list)
    """Milliseconds, every probe sample of every round."""


@dataclass
class Discovery:
    found: float = 0.0
    """Seconds from ``start_mqtt`` until every device was in the registry."""
    ready: float = 0.0
    """Seconds from ``start_mqtt`` until the last device's first state update was processed."""
    lags: list[float] = field(default_factory=list)
    profiler: cProfile.Profile | None = None


async def start_daemon(
    broker: MosquittoBroker,
    stack: contextlib.AsyncExitStack,
    bridge: DeviceSimulator,
    devices: list[dict[str, Any]],
    probe: LagProbe,
    args: argparse.Namespace,
) -> tuple[Registry, MqttConnection, Discovery]:
    """The daemon's MQTT side, timed until its devices are in and their state flows."""
    text = CONFIG.format(host=broker.host, port=broker.port, protocol=args.protocol)
    text += ONLY_ZIGBEE2MQTT if args.only_zigbee2mqtt else ""
    settings = parse_config(text, environ={"MQTT_PASSWORD": broker.assistant_password})
    assert settings.mqtt is not None
    registry = Registry()
    discovery = Discovery(profiler=cProfile.Profile() if args.profile else None)
    started = time.perf_counter()
    if discovery.profiler:
        discovery.profiler.enable()
    connection, _driver = await start_mqtt(settings.mqtt, registry, settings.devices, stack)
    while len(registry.devices()) < len(devices):
        await asyncio.sleep(0.002)
    discovery.found = time.perf_counter() - started
    await wait_flowing(bridge, registry, devices[-1])
    discovery.ready = time.perf_counter() - started
    if discovery.profiler:
        discovery.profiler.disable()
    discovery.lags = probe.between(started, time.perf_counter())
    return registry, connection, discovery


async def wait_flowing(bridge: DeviceSimulator, registry: Registry, device: dict) -> None:
    """Publish a state to ``device`` until the registry takes it (its topic is subscribed)."""
    device_id = f"mqtt:{device['ieee_address']}"
    before = registry.state(device_id)
    while True:
        await bridge.publish(f"{BASE}/{device['friendly_name']}", {"state": "ON"})
        for _ in range(10):
            if registry.state(device_id) is not before:
                return
            await asyncio.sleep(0.002)


async def start_raw(
    broker: MosquittoBroker, stack: contextlib.AsyncExitStack, kind: Kind, protocol: str
) -> None:
    """The baseline: a second connection whose callback only counts."""
    connection = MqttConnection(
        broker.host,
        broker.port,
        username="assistant",
        password=broker.assistant_password,
        prefix="mimo-assistant/bench-raw",
        protocol=protocol,
    )
    await stack.enter_async_context(connection)
    await connection.wait_connected(10)
    tally = kind.tally

    def on_message(message: Message) -> None:
        if message.topic == RAW_MARKER:
            tally.marker(message)
        else:
            tally.hit()

    await connection.listen([*kind.topics, RAW_MARKER], on_message)


async def run_round(kind: Kind, publisher: Publisher, per_device: int, probe: LagProbe) -> None:
    tally = kind.tally
    tally.arm()
    assert tally.done is not None
    if kind.profiler:
        kind.profiler.enable()
    sent_s = await publisher.send(kind.topics, per_device, kind.marker)
    while not tally.done.done():  # a lost marker: stop once nothing came for 1 s
        await asyncio.wait([tally.done], timeout=1.0)
        if time.perf_counter() - tally.last > 1.0:
            break
    if kind.profiler:
        kind.profiler.disable()
    end = tally.done.result() if tally.done.done() else tally.last
    expected = len(kind.topics) * per_device
    kind.rates.append(tally.received / max(end - tally.first, 1e-9))
    kind.lost.append(expected - tally.received)
    kind.sent_rates.append(expected / sent_s)
    kind.lags += probe.between(tally.first, end)


def bulbs(count: int) -> list[dict[str, Any]]:
    return [
        z2m_bulb(f"0x{0x000B57FFFE000000 + i:016x}", f"{ROOMS[i % len(ROOMS)]}/bulb_{i:04d}")
        for i in range(count)
    ]


async def bench(broker: MosquittoBroker, args: argparse.Namespace) -> None:
    devices = bulbs(args.devices)
    names = [d["friendly_name"] for d in devices]
    raw = Kind("raw listen() count", [f"{RAW_BASE}/{n}" for n in names], RAW_MARKER)
    driver = Kind("driver -> registry", [f"{BASE}/{n}" for n in names], DRIVER_MARKER)
    probe = LagProbe()
    probe_task = asyncio.create_task(probe.run(), name="lag-probe")
    async with contextlib.AsyncExitStack() as stack:
        bridge = await stack.enter_async_context(DeviceSimulator(broker))
        await bridge.retain(f"{BASE}/bridge/info", {"config": {"availability": False}})
        await bridge.retain(f"{BASE}/bridge/devices", [z2m_coordinator(), *devices])
        registry, connection, discovery = await start_daemon(
            broker, stack, bridge, devices, probe, args
        )
        registry.add_listener(driver.tally.hit)
        await connection.listen([DRIVER_MARKER], driver.tally.marker)
        await start_raw(broker, stack, raw, args.protocol)
        publisher = Publisher(broker)
        stack.callback(publisher.stop)
        await publisher.start()
        idle_start = time.perf_counter()
        await asyncio.sleep(args.idle)
        idle_lag = probe.between(idle_start, time.perf_counter())
        for kind in (raw, driver) if args.profile else ():
            kind.profiler = cProfile.Profile()
        for _ in range(args.rounds):
            for kind in (raw, driver):
                await run_round(kind, publisher, args.per_device, probe)
        probe_task.cancel()
        await asyncio.gather(probe_task, return_exceptions=True)
    version = subprocess.run([broker.executable, "-h"], capture_output=True, text=True)
    report(args, version.stdout.split("\n")[0], discovery, idle_lag, raw, driver)
    profiles = [("discovery", discovery.profiler), (raw.name, raw.profiler)]
    for title, profiler in [*profiles, (driver.name, driver.profiler)]:
        if profiler is not None:
            print(f"\ncProfile, {title} (daemon process), top 20 by own and by total time:")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(20)


# -- report ----------------------------------------------------------------------------------


def lag_cells(lags: list[float]) -> str:
    if len(lags) < 2:
        return f"{'-':>7} {'-':>7} {'-':>7} {'-':>7}"
    q = statistics.quantiles(lags, n=100, method="inclusive")
    return f"{q[49]:>7.2f} {q[94]:>7.2f} {q[98]:>7.2f} {max(lags):>7.2f}"


def report(
    args: argparse.Namespace,
    version: str,
    discovery: Discovery,
    idle_lag: list[float],
    raw: Kind,
    driver: Kind,
) -> None:
    total = args.devices * args.per_device
    print(
        f"{args.devices} Zigbee2MQTT bulbs, {total} state messages per round "
        f"({args.per_device} per device), QoS 0, MQTT {args.protocol}, {args.rounds} rounds; "
        f"{version} on 127.0.0.1; {len(os.sched_getaffinity(0))} CPUs"
    )
    sources = "Zigbee2MQTT only" if args.only_zigbee2mqtt else "default sources"
    print(
        f"discovery ({sources}): {args.devices} devices in the registry "
        f"{discovery.found:.2f} s after start_mqtt; first state update of the last one "
        f"processed at {discovery.ready:.2f} s"
    )
    print(
        f"\n{'':22} {'msg/s p50':>10} {'min':>8} {'max':>8} {'vs raw':>7} {'lost':>6} "
        f"{'pub msg/s':>10}"
    )
    base = statistics.median(raw.rates)
    for kind in (raw, driver):
        rate = statistics.median(kind.rates)
        print(
            f"{kind.name:22} {rate:>10.0f} {min(kind.rates):>8.0f} {max(kind.rates):>8.0f} "
            f"{rate / base:>6.2f}x "
            f"{sum(kind.lost):>6} {statistics.median(kind.sent_rates):>10.0f}"
        )
    print(f"\nloop lag (ms, 10 ms sleeps) {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'n':>6}")
    rows = [("idle, no traffic", idle_lag), ("during discovery", discovery.lags)]
    rows += [(f"during {raw.name}", raw.lags), (f"during {driver.name}", driver.lags)]
    for name, lags in rows:
        print(f"{name:27} {lag_cells(lags)} {len(lags):>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--per-device", type=int, default=20, help="state messages per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each kind, alternating")
    parser.add_argument("--idle", type=float, default=2.0, help="seconds of idle loop lag")
    parser.add_argument("--protocol", choices=("5", "3.1.1"), default="5", help="MQTT version")
    parser.add_argument(
        "--only-zigbee2mqtt",
        action="store_true",
        help="turn off the Home Assistant and Tasmota discovery sources (their wildcards)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the daemon's side")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_broker(Path(tmp) / "mosquitto")
        try:
            asyncio.run(bench(broker, args))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
