"""Builds the home from settings: registry, drivers, virtual devices, pipeline.

``Home`` is an async context manager used both by the daemon (``assistant.daemon.serve``)
and by a one-shot ``say`` when no daemon is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import logging
import secrets
from typing import TYPE_CHECKING, Any

from assistant.act.dispatch import Dispatcher
from assistant.act.registry import Area, Device, Registry, slugify
from assistant.act.safety import Safety
from assistant.config import DeviceSettings, Settings, resolve_state_dir
from assistant.errors import AssistantError
from assistant.pipeline import Pipeline
from assistant.turn import EventCallback, jsonable

if TYPE_CHECKING:
    from assistant.look import Cameras
    from assistant.understand.brain import Brain
    from assistant.voice import VoiceAssistant
    from integrations.mqtt.connection import MqttConnection
from integrations.base import Driver
from integrations.miio.driver import MiioDriver
from integrations.miio.spec import MODEL_REQUIRED, MiotSpec, SpecError, load_spec
from integrations.virtual import VirtualMiioDevice

__all__ = ["Home", "device_rows"]

_LOGGER = logging.getLogger(__name__)


class Home:
    """Everything a turn needs, started and stopped together."""

    def __init__(
        self, settings: Settings, *, callback: EventCallback | None = None, voice: bool = False
    ) -> None:
        """``voice``: also load speech-to-text and text-to-speech (``self.voice``)."""
        self.settings = settings
        self.state_dir = resolve_state_dir(settings)
        self.registry = Registry()
        self._callback = callback
        self.virtual_devices: dict[str, VirtualMiioDevice] = {}
        """Device id -> the virtual device serving it (demo home and tests)."""
        self._drivers: dict[str, Driver] = {}
        self.pipeline: Pipeline | None = None
        self.brain: Brain | None = None
        """The LLM, when config has an ``llm`` section."""
        self.cameras: Cameras | None = None
        """What the LLM may look through, when config has a ``cameras`` section."""
        self._want_voice = voice
        self._stack = contextlib.AsyncExitStack()
        self.mqtt: MqttConnection | None = None
        """The broker connection, when config has an ``mqtt`` section."""
        self.voice: VoiceAssistant | None = None
        """The VoiceHandler hubs hand their audio to (when built with ``voice=True``)."""

    async def __aenter__(self) -> Home:
        try:
            await self._build()
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    def area_id(self, name: str | None) -> str | None:
        """The id of the area called ``name`` (or an alias); AssistantError if unknown."""
        if not name:
            return None
        area = self.registry.find_area(name)
        if area is None:
            known = ", ".join(a.name for a in self.registry.areas()) or "none"
            raise AssistantError(f"unknown area {name!r}; known areas: {known}", code="no-area")
        return area.id

    def _prepare(self) -> list[MiotSpec]:
        """The blocking part of starting (files): state folder, each device's spec."""
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as err:
            raise AssistantError(
                f"state directory {self.state_dir} cannot be created: {err.strerror or err}",
                code="config-state-dir",
            ) from err
        specs = []
        for index, entry in enumerate(self.settings.devices):
            if entry.mqtt is not None:
                continue
            model = (entry.virtual or entry.miio).model  # type: ignore[union-attr]
            try:
                if model is None:
                    raise SpecError(MODEL_REQUIRED)
                specs.append(load_spec(model, self.settings.miio.spec_dirs))
            except SpecError as err:
                raise AssistantError(
                    f"devices[{index}] ({entry.label}): {err}", code="config-spec"
                ) from err
        return specs

    async def _build(self) -> None:
        s = self.settings
        specs = await asyncio.to_thread(self._prepare)
        floors = {n.casefold(): f.name for f in s.floors for n in (f.name, *f.aliases)}
        for floor in s.floors:
            self.registry.add_floor_aliases(floor.name, floor.aliases)
        for area in s.areas:
            floor_name = floors.get(area.floor.casefold(), area.floor) if area.floor else None
            self.registry.add_area(
                Area(slugify(area.name), area.name, floor_name, tuple(area.aliases))
            )
        miio = MiioDriver(
            self.registry, deadline=s.miio.deadline, poll_interval=s.miio.poll_interval
        )
        self._drivers["miio"] = miio
        miio_entries = [e for e in s.devices if e.mqtt is None]
        for entry, spec in zip(miio_entries, specs, strict=True):
            device_id = await self._connect(entry, spec, miio)
            self.registry.add_device(
                Device(
                    id=device_id,
                    name=entry.label,
                    spec=spec.device_spec(),
                    driver="miio",
                    area_id=self.area_id(entry.area),
                    aliases=tuple(entry.aliases),
                    exposed=entry.exposed,
                    sensitive=entry.sensitive,
                )
            )
        await miio.start()
        if s.mqtt is not None:
            from assistant.mqtt_home import start_mqtt

            mqtt_entries = [e for e in s.devices if e.mqtt is not None]
            self.mqtt, self._drivers["mqtt"] = await start_mqtt(
                s.mqtt, self.registry, mqtt_entries, self._stack
            )
        dispatcher = Dispatcher(self.registry, self._drivers)
        self.brain = await self._build_brain() if s.llm is not None else None
        self.cameras = await self._build_cameras() if s.cameras else None
        self.pipeline = await asyncio.to_thread(
            Pipeline,
            self.registry,
            dispatcher,
            language=s.language,
            callback=self._callback,
            safety=Safety(s.safety, self.registry),
            brain=self.brain,
            cameras=self.cameras,
        )
        await asyncio.to_thread(self.pipeline.warm_up)
        if self._want_voice:
            self.voice = await self._build_voice(self.pipeline)

    async def _build_brain(self) -> Brain:
        """The LLM for what the grammar cannot place; closed with the home."""
        llm, language = self.settings.llm, self.settings.language
        assert llm is not None
        # The brain needs the openai SDK: import it off the loop, and only when configured.
        await asyncio.to_thread(importlib.import_module, "assistant.understand.brain")
        from assistant.speak.responses import Responses
        from assistant.understand.brain import Brain
        from intents.handlers import HANDLERS

        brain = await asyncio.to_thread(  # the reply templates are read from disk
            lambda: Brain(
                llm,
                self.registry,
                supported=HANDLERS,
                state_dir=self.state_dir,
                responses=Responses(language),
            )
        )
        await self._stack.enter_async_context(brain)
        _LOGGER.info("LLM: %r (local commands first)", brain)
        return brain

    async def _build_cameras(self) -> Cameras:
        """The cameras (an ``mqtt_topic`` one reads ``self.mqtt``); closed with the home."""
        # PyAV (FFmpeg) comes with them: import it off the loop, and only when configured.
        await asyncio.to_thread(importlib.import_module, "assistant.look")
        from assistant.look import Cameras

        cameras = Cameras.from_settings(self.settings, mqtt=self.mqtt)
        await self._stack.enter_async_context(cameras)
        _LOGGER.info("Cameras: %s", ", ".join(c.name for c in cameras.cameras))
        return cameras

    async def _build_voice(self, pipeline: Pipeline) -> VoiceAssistant:
        from assistant.speak.tts import Speaker
        from assistant.transcribe import Transcriber
        from assistant.voice import VoiceAssistant

        stt, tts = self.settings.voice.stt, self.settings.voice.tts
        self.transcriber = Transcriber(stt.model, language=stt.language, beam_size=stt.beam_size)
        self.speaker = Speaker(tts.voice)
        await asyncio.gather(self.transcriber.load(), self.speaker.load())
        return VoiceAssistant(
            pipeline,
            self.transcriber,
            self.speaker,
            self.settings.voice,
            area_id=self._hub_area,
            hints=self.hints,
        )

    def _hub_area(self, name: str | None) -> str | None:
        """A hub's area (or the site's), as an area id; unknown names are caught by config."""
        area = self.registry.find_area(name or self.settings.site.area or "")
        return area.id if area else None

    def hints(self) -> list[str]:
        """Words speech-to-text should expect: device names, aliases, areas, floors."""
        words = [n for d in self.registry.devices() for n in d.spoken_names()]
        words += [n for a in self.registry.areas() for n in (a.name, *a.aliases)]
        words += [n for floor in self.registry.floor_names().values() for n in floor]
        return list(dict.fromkeys(words))

    async def _connect(self, entry: DeviceSettings, spec: MiotSpec, miio: MiioDriver) -> str:
        if entry.miio is not None:
            device_id = f"miio:{slugify(entry.label)}"
            miio.add_device(
                device_id,
                host=entry.miio.host,
                token=entry.miio.token.reveal(),
                spec=spec,
                port=entry.miio.port,
            )
            return device_id
        assert entry.virtual is not None
        device_id = f"virtual:{slugify(entry.label)}"
        token = secrets.token_hex(16)
        virtual = VirtualMiioDevice(
            spec,
            token=token,
            host=entry.virtual.host or "127.0.0.1",
            port=entry.virtual.port or 0,
            did=_did(device_id),
            state_file=self.state_dir / "virtual" / f"{slugify(entry.label)}.json",
        )
        try:
            await virtual.start()
        except OSError as err:
            where = f"{entry.virtual.host or '127.0.0.1'}:{entry.virtual.port or 0}"
            raise AssistantError(
                f"virtual device {entry.label!r} cannot listen on {where}: "
                f"{err.strerror or err}; choose another virtual.port",
                code="config-virtual-port",
            ) from err
        self.virtual_devices[device_id] = virtual
        host, port = virtual.address
        miio.add_device(device_id, host=host, token=token, spec=spec, port=port)
        return device_id

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self._stack.aclose()
        for driver in self._drivers.values():
            with contextlib.suppress(Exception):
                await driver.stop()
        for virtual in self.virtual_devices.values():
            with contextlib.suppress(Exception):
                await virtual.stop()


def _did(device_id: str) -> int:
    """A stable miio device id for a virtual device (9 digits, from a hash of its id)."""
    digest = hashlib.sha256(device_id.encode()).digest()
    return 100_000_000 + int.from_bytes(digest[:8], "big") % 800_000_000


def device_rows(home: Home) -> list[dict[str, Any]]:
    """One row per device, as ``devices`` prints them."""
    rows = []
    for device in home.registry.devices():
        state = home.registry.state(device.id)
        area = home.registry.area(device.area_id).name if device.area_id else None
        rows.append(
            {
                "id": device.id,
                "name": device.name,
                "area": area,
                "kind": str(device.kind),
                "available": state.available,
                "state": jsonable(dict(state.values)),
                "traits": sorted(str(t) for t in device.traits),
            }
        )
    return rows
