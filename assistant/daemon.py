"""The daemon: one home, its hubs, the control socket and MQTT, until SIGTERM/SIGINT.

``serve`` builds a :class:`~assistant.runtime.Home` (with voice when a hub is on), starts
the Wyoming server, satellite links and the local microphone, answers the control socket,
publishes turns on MQTT, and tells systemd when it is ready (and pings its watchdog).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from assistant.config import Settings, resolve_control_socket
from assistant.control import ControlServer, daemon_alive
from assistant.errors import AssistantError, ControlError
from assistant.runtime import Home, device_rows
from assistant.turn import EventCallback

__all__ = ["serve"]

_LOGGER = logging.getLogger(__name__)


async def serve(settings: Settings, *, callback: EventCallback | None = None) -> None:
    """The daemon: build the home, serve hubs and the control socket until SIGTERM/SIGINT.

    ``callback`` receives every TurnEvent of every turn.
    """
    socket_path = resolve_control_socket(settings)
    if await daemon_alive(socket_path):  # before starting a second copy of every device
        raise ControlError(f"another daemon is already listening on {socket_path}")
    hubs = settings.hubs
    voice = hubs.wyoming.enabled or bool(hubs.satellites) or hubs.local_mic.enabled
    async with Home(settings, callback=callback, voice=voice) as home:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(ControlServer(socket_path, _control(home)))
            tasks = await stack.enter_async_context(asyncio.TaskGroup())
            links = await _start_hubs(home, stack, tasks)
            await _start_mqtt(home, stack)
            _freeze_startup_heap()
            _sd_notify("READY=1")
            _LOGGER.info(
                "mimo-assistant ready: %d devices in %d areas",
                len(home.registry.devices()),
                len(home.registry.areas()),
            )
            watchdog = tasks.create_task(_watchdog(), name="systemd-watchdog")
            await stop.wait()
            _sd_notify("STOPPING=1")
            for task in (watchdog, *links):
                task.cancel()
        _LOGGER.info("mimo-assistant stopping")


def _freeze_startup_heap() -> None:
    """What start-up built (models, grammar, registry) lives as long as the daemon: collect
    once, then keep it out of the collector's scans, so a full collection during a turn
    walks only what turns made (one over the start-up heap took ~70 ms, inside a turn)."""
    gc.collect()
    gc.freeze()


async def _start_hubs(
    home: Home, stack: contextlib.AsyncExitStack, tasks: asyncio.TaskGroup
) -> list[asyncio.Task[None]]:
    """The Wyoming server the daemon listens on, and a link task per satellite."""
    if home.voice is None:
        return []
    from assistant.listen.arbiter import Arbiter
    from assistant.listen.satellites import SatelliteLink
    from assistant.listen.wyoming_server import WyomingServer
    from assistant.listen.wyoming_wake import WakeSettings

    hubs = home.settings.hubs
    arbiter = Arbiter()
    if hubs.wyoming.enabled:
        server = WyomingServer(
            home.voice,
            host=hubs.wyoming.host,
            port=hubs.wyoming.port,
            name=home.settings.site.name,
            area=hubs.wyoming.area or home.settings.site.area,
            transcriber=home.voice.transcribe_only,
            arbiter=arbiter,
            wake=WakeSettings(hubs.wyoming.wake_word, hubs.wyoming.wake_threshold),
            max_connections=hubs.wyoming.max_connections,
            services=home.voice,
        )
        try:
            await stack.enter_async_context(server)
        except OSError as err:
            raise AssistantError(
                f"hubs.wyoming: cannot listen on {hubs.wyoming.host}:{hubs.wyoming.port}: "
                f"{err.strerror or err}",
                code="config-hub-port",
            ) from err
        _LOGGER.info("Wyoming server on %s:%d", hubs.wyoming.host, server.port)
    links = []
    for satellite in hubs.satellites:
        link = SatelliteLink(
            home.voice,
            uri=satellite.uri,
            name=satellite.name,
            area=satellite.area,
            arbiter=arbiter,
            transcriber=home.voice.transcribe_only,
            wake=WakeSettings(satellite.wake_word, satellite.wake_threshold),
        )
        links.append(tasks.create_task(link.run(), name=f"satellite-{satellite.name}"))
    if hubs.local_mic.enabled:
        links.append(tasks.create_task(_local_mic(home, arbiter), name="local-mic"))
    return links


async def _local_mic(home: Home, arbiter: Any) -> None:
    """The microphone on this machine; a missing sound card is logged, not fatal."""
    from assistant.listen.errors import HubError
    from assistant.listen.local_mic import LocalMicHub

    assert home.voice is not None
    mic = home.settings.hubs.local_mic
    try:
        hub = LocalMicHub(
            home.voice,
            name=mic.name,
            area=mic.area or home.settings.site.area,
            wake_word=mic.wake_word,
            threshold=mic.threshold,
            arbiter=arbiter,
        )
    except HubError as err:
        _LOGGER.error("hubs.local_mic: %s", err)
        return
    try:
        await hub.run()
    finally:
        hub.close()


async def _start_mqtt(home: Home, stack: contextlib.AsyncExitStack) -> None:
    """The assistant on the broker: every turn on its topic, the say topic, announcements."""
    settings = home.settings.mqtt
    if settings is None or home.pipeline is None or home.mqtt is None:
        return
    from integrations.mqtt.turns import SayTopic, TurnPublisher, announce, say_topic

    pipeline, site = home.pipeline, home.settings.site
    publisher = TurnPublisher(home.mqtt, settings.prefix)
    pipeline.result_listeners.append(publisher)
    stack.push_async_callback(publisher.drain)
    if settings.say_topic:

        async def run(text: str, area: str | None) -> None:
            try:
                area_id = home.area_id(area or site.area)
            except AssistantError as err:
                _LOGGER.warning("MQTT say: %s", err)
                return
            await pipeline.run_text(text, area_id=area_id, site=site.name)

        topic = say_topic(settings.prefix, site.name)
        await stack.enter_async_context(SayTopic(home.mqtt, topic, run))
        _LOGGER.info("MQTT: text turns from %s", topic)
    if settings.announce:
        await announce(
            home.mqtt, settings.discovery_prefix, settings.prefix, site.name, settings.client_id
        )


def _control(home: Home) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    """Answers control socket requests: ``say`` and ``devices``."""
    settings = home.settings
    assert home.pipeline is not None
    pipeline = home.pipeline

    async def handle(req: dict[str, Any]) -> dict[str, Any]:
        if req["op"] == "say":
            text = req.get("text")
            if not isinstance(text, str) or not text.strip():
                return {"ok": False, "error": "'text' must be a non-empty string"}
            area_name = req.get("area")
            if area_name is not None and not isinstance(area_name, str):
                return {"ok": False, "error": "'area' must be a string"}
            try:
                area = home.area_id(area_name or settings.site.area)
            except AssistantError as err:
                return {"ok": False, "error": str(err)}
            result = await pipeline.run_text(text, area_id=area, site=settings.site.name)
            return {"ok": True, "result": result.to_json()}
        if req["op"] == "devices":
            return {"ok": True, "devices": device_rows(home)}
        return {"ok": False, "error": f"unknown op {req['op']!r}"}

    return handle


async def _watchdog() -> None:
    """Ping systemd's watchdog at half its interval, while the loop is alive."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) <= 0:
        return
    interval = int(usec) / 1_000_000 / 2
    while True:
        _sd_notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def _sd_notify(message: str) -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), address)
