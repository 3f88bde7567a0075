"""'Turn off all lights' over 20 virtual lights: all at once vs one by one, in one run.

Each light is a virtual device speaking the real encrypted miio protocol on 127.0.0.1,
driven by the real miio driver. ``--device-delay`` makes each device take that long to
answer, like a real device on Wi-Fi (tens of milliseconds). Prints p50/p95 of each way
and the ratio. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from assistant.act.dispatch import Dispatcher
from assistant.act.registry import Device, Registry
from assistant.messages import DeviceCommand
from integrations.base import Trait
from integrations.miio.driver import MiioDriver
from integrations.miio.spec import load_spec
from integrations.virtual import VirtualMiioDevice


async def run(count: int, rounds: int, delay: float) -> None:
    spec = load_spec("yeelink.light.color4")
    registry = Registry()
    driver = MiioDriver(registry, deadline=5.0, poll_interval=3600)
    lights = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            token = secrets.token_hex(16)
            light = VirtualMiioDevice(
                spec, token=token, did=1000 + i, state_file=Path(tmp) / f"{i}.json"
            )
            light.delay = delay
            await light.start()
            lights.append(light)
            host, port = light.address
            driver.add_device(f"v:{i}", host=host, token=token, spec=spec, port=port)
            registry.add_device(Device(f"v:{i}", f"light {i}", spec.device_spec(), "miio"))
        await driver.start()
        dispatcher = Dispatcher(registry, {"miio": driver})
        ids = [d.id for d in registry.devices()]
        concurrent, serial = [], []
        for r in range(rounds):
            plan = {i: [DeviceCommand(i, Trait.ON_OFF, r % 2 == 0)] for i in ids}
            started = time.perf_counter()
            results = await dispatcher.execute(plan)
            concurrent.append((time.perf_counter() - started) * 1000)
            assert all(x.ok for x in results), results
            started = time.perf_counter()
            for device_id in ids:
                await dispatcher.execute({device_id: plan[device_id]})
            serial.append((time.perf_counter() - started) * 1000)
        await driver.stop()
        for light in lights:
            await light.stop()
    c50, s50 = statistics.median(concurrent), statistics.median(serial)
    c95 = statistics.quantiles(concurrent, n=20)[-1]
    s95 = statistics.quantiles(serial, n=20)[-1]
    print(f"device delay {delay * 1000:.0f} ms, {count} lights, {rounds} rounds")
    print(f"  concurrent  p50 {c50:8.1f} ms  p95 {c95:8.1f} ms")
    print(f"  one by one  p50 {s50:8.1f} ms  p95 {s95:8.1f} ms")
    print(f"  one-by-one / concurrent (p50): {s50 / c50:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lights", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--device-delay",
        type=float,
        nargs="*",
        default=[0.0, 0.03],
        help="seconds each virtual device waits before answering",
    )
    args = parser.parse_args()
    for delay in args.device_delay:
        asyncio.run(run(args.lights, args.rounds, delay))


if __name__ == "__main__":
    main()
