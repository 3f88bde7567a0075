"""A small home for turn tests: virtual devices on 127.0.0.1, driven through real miio."""

from __future__ import annotations

import socket
from pathlib import Path

from assistant.config import load_config

HOME_YAML = """
site: {{name: test, area: Living room}}
state_dir: {state_dir}
miio: {{deadline: 0.6, poll_interval: 3600}}
hubs: {{wyoming: {{port: 0}}, local_mic: {{enabled: {local_mic}}}}}
areas:
  - {{name: Living room, floor: Ground floor, aliases: [lounge]}}
  - {{name: Kitchen, floor: Ground floor}}
  - {{name: Bedroom, floor: First floor}}
  - {{name: Hallway, floor: Ground floor}}
devices:
  - {{name: Living room lamp, area: Living room, aliases: [big lamp, lamp], virtual: {{model: yeelink.light.color4}}}}
  - {{name: Bedroom light, area: Bedroom, aliases: [lamp], virtual: {{model: yeelink.light.color4}}}}
  - {{name: Kitchen ceiling light, area: Kitchen, virtual: {{model: philips.light.bulb}}}}
  - {{name: Kitchen counter light, area: Kitchen, virtual: {{model: yeelink.light.color4}}}}
  - {{name: Coffee machine, area: Kitchen, virtual: {{model: chuangmi.plug.212a01}}}}
  - {{name: Floor fan, area: Living room, virtual: {{model: dmaker.fan.p5}}}}
  - {{name: Air purifier, area: Bedroom, virtual: {{model: zhimi.airp.mb5}}}}
  - {{name: Bedroom curtain, area: Bedroom, virtual: {{model: dooya.curtain.m2}}}}
  - {{name: Robot vacuum, area: Living room, virtual: {{model: dreame.vacuum.p2008}}}}
  - {{name: Air conditioner, area: Bedroom, virtual: {{model: xiaomi.airc.r24r00}}}}
{extra}
"""


def closed_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_home(directory: Path, extra: str = "", *, local_mic: bool = False) -> Path:
    """Write the test home's config (and a secrets file) under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(
        HOME_YAML.format(
            state_dir=directory / "state", extra=extra, local_mic=str(local_mic).lower()
        )
    )
    secrets = directory / "secrets.yaml"
    secrets.write_text("hall_token: 00112233445566778899aabbccddeeff\n")
    secrets.chmod(0o600)
    return path


def offline_hall_light() -> str:
    """A config entry for a real-protocol light that does not answer."""
    port = closed_udp_port()
    return (
        "  - {name: Hall light, area: Kitchen, miio: {host: 127.0.0.1, "
        f"port: {port}, token: !secret hall_token, model: philips.light.bulb}}}}"
    )


def load_home(directory: Path, extra: str = ""):
    return load_config(write_home(directory, extra))


async def device_values(home, device_id: str) -> dict:
    """The device's state as read back from the device over miio right now."""
    await home._drivers["miio"].refresh(device_id)
    return dict(home.registry.state(device_id).values)
