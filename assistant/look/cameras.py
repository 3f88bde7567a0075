"""The cameras of the home: which ones an utterance is about, and a fresh frame from each.

``Cameras`` is built once from the settings and used as ``async with`` (that subscribes the
MQTT image topics). ``find(text, area)`` names the cameras an utterance mentions; ``frame(name)``
fetches, decodes, scales and re-encodes one picture within the camera's ``timeout``, or
raises a :class:`LookError` with a short, speakable message. Nothing here blocks the loop:
network I/O is asyncio, FFmpeg runs in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from assistant.act.registry import slugify
from assistant.config import AreaSettings, CameraSettings, Settings
from integrations.mqtt.connection import MqttConnection

from ._url import Login, mask_url, with_login
from .errors import Kind, LookError, SourceError, camera_error, unknown_camera
from .frames import Frame, to_frame
from .mjpeg import fetch_mjpeg
from .mqtt_image import MqttImages
from .snapshot import fetch_snapshot
from .video import grab_video_frame

__all__ = ["Camera", "Cameras"]

_LOGGER = logging.getLogger(__name__)
_GENERIC = frozenset({"camera", "cameras", "cam", "cams", "webcam"})
"""Words that ask for "the camera" without naming one."""
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Camera:
    """One camera as the rest of the daemon sees it (no URLs, no secrets)."""

    name: str
    area: str | None
    """The area's name (an area alias in the config is resolved to the name)."""
    aliases: tuple[str, ...]
    source: str
    """``snapshot_url``, ``mjpeg_url``, ``rtsp_url``, ``file`` or ``mqtt_topic``."""


class Cameras:
    """The configured cameras: ``find`` them in an utterance, take a ``frame`` of one."""

    def __init__(
        self,
        cameras: Sequence[CameraSettings] = (),
        *,
        areas: Sequence[AreaSettings] = (),
        mqtt: MqttConnection | None = None,
    ) -> None:
        self._areas = _area_names(areas)
        self._area_ids = {slugify(area.name): area.name for area in areas}
        self._settings = {camera.name: camera for camera in cameras}
        self.cameras = tuple(self._describe(camera) for camera in cameras)
        """Every camera, in config order."""
        self._by_name = {
            _key(name): camera
            for camera in self.cameras
            for name in (*camera.aliases, camera.name)  # a name wins over an alias
        }
        self._phrases = [
            (phrase, camera) for camera in self.cameras for phrase in self._phrases_of(camera)
        ]
        topics = [c.mqtt_topic for c in cameras if c.mqtt_topic is not None]
        self._images = MqttImages(topics)
        self._mqtt = mqtt

    @classmethod
    def from_settings(cls, settings: Settings, *, mqtt: MqttConnection | None = None) -> Cameras:
        """``settings.cameras`` with ``settings.areas`` (for area names and aliases)."""
        return cls(settings.cameras, areas=settings.areas, mqtt=mqtt)

    async def __aenter__(self) -> Cameras:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    async def start(self) -> None:
        """Subscribe to the MQTT image topics (when there are any and a connection)."""
        if self._mqtt is not None and self._images.topics:
            await self._images.start(self._mqtt)

    def close(self) -> None:
        self._images.close()

    def __len__(self) -> int:
        return len(self.cameras)

    def get(self, name: str) -> Camera | None:
        """The camera called ``name`` or with that alias (any case), or None."""
        return self._by_name.get(_key(name))

    def in_area(self, area: str) -> tuple[Camera, ...]:
        """The cameras in ``area``: its name, an alias (any case) or its id (``front_door``)."""
        wanted = _key(self._areas.get(_key(area)) or self._area_ids.get(area) or area)
        return tuple(c for c in self.cameras if c.area is not None and _key(c.area) == wanted)

    def find(self, text: str, area: str | None = None) -> tuple[Camera, ...]:
        """The cameras ``text`` is about, in the order it mentions them.

        A camera is mentioned by its name, an alias, its name without a trailing "camera",
        or its area ("is anyone at the front door?"); the longest mention wins ("front door
        camera" over "front door"). When no camera is mentioned but a word such as "camera"
        is, the cameras in ``area`` (the speaker's: a name, alias or id), else the only
        camera there is.
        """
        words = _words(text)
        spans = [
            (start, start + len(phrase), camera)
            for phrase, camera in self._phrases
            for start in _occurrences(words, phrase)
        ]
        kept = [s for s in spans if not any(_inside(s, other) for other in spans)]
        found = dict.fromkeys(camera for _, _, camera in sorted(kept, key=lambda s: s[0]))
        if found or not _GENERIC.intersection(words):
            return tuple(found)
        nearby = self.in_area(area) if area is not None else ()
        return nearby or (self.cameras if len(self.cameras) == 1 else ())

    async def frame(self, name: str, *, turn_id: str | None = None) -> Frame:
        """A fresh frame of the camera called ``name`` (or with that alias).

        Raises :class:`LookError` (``look-timeout``, ``look-unreachable``, ``look-denied``,
        ``look-http``, ``look-too-large``, ``look-not-image``, ``look-no-image``,
        ``look-unknown-camera``) with a speakable message; the log gets the detail.
        """
        camera = self.get(name)
        if camera is None:
            raise unknown_camera(name)
        settings = self._settings[camera.name]
        started = time.monotonic()
        try:
            async with asyncio.timeout(settings.timeout):
                frame = await self._fetchers[camera.source](self, settings)
        except SourceError as err:
            self._log_failure(turn_id, settings, err.detail)
            raise camera_error(camera.name, err.kind) from err
        except TimeoutError as err:
            self._log_failure(turn_id, settings, f"no frame within {settings.timeout:g} s")
            kind: Kind = "no-image" if camera.source == "mqtt_topic" else "timeout"
            raise camera_error(camera.name, kind) from err
        elapsed = (time.monotonic() - started) * 1000
        _LOGGER.info(
            "[%s] Camera %s: %dx%d, %d bytes in %.0f ms",
            turn_id or "-",
            camera.name,
            frame.width,
            frame.height,
            len(frame.jpeg),
            elapsed,
        )
        return frame

    async def frames(
        self, names: Sequence[str], *, turn_id: str | None = None
    ) -> tuple[list[Frame], list[LookError]]:
        """Frames of several cameras at once: the ones taken, and the failures (in order)."""
        results = await asyncio.gather(
            *(self.frame(name, turn_id=turn_id) for name in names), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, LookError):
                raise result
        frames = [r for r in results if isinstance(r, Frame)]
        return frames, [r for r in results if isinstance(r, LookError)]

    # -- sources -----------------------------------------------------------------------------

    async def _snapshot(self, settings: CameraSettings) -> Frame:
        assert settings.snapshot_url is not None
        data = await fetch_snapshot(settings.snapshot_url.reveal(), login=_login(settings))
        return await _decode(settings, data, time.time())

    async def _mjpeg(self, settings: CameraSettings) -> Frame:
        assert settings.mjpeg_url is not None
        data = await fetch_mjpeg(settings.mjpeg_url.reveal(), login=_login(settings))
        return await _decode(settings, data, time.time())

    async def _rtsp(self, settings: CameraSettings) -> Frame:
        assert settings.rtsp_url is not None
        url = with_login(settings.rtsp_url.reveal(), _login(settings))
        return await _video(settings, url, live=True)

    async def _file(self, settings: CameraSettings) -> Frame:
        assert settings.file is not None
        return await _video(settings, str(settings.file), live=False)

    async def _mqtt_image(self, settings: CameraSettings) -> Frame:
        assert settings.mqtt_topic is not None
        payload, received = await self._images.latest(settings.mqtt_topic)
        return await _decode(settings, payload, received)

    _fetchers: dict[str, Callable[[Cameras, CameraSettings], Awaitable[Frame]]] = {
        "snapshot_url": _snapshot,
        "mjpeg_url": _mjpeg,
        "rtsp_url": _rtsp,
        "file": _file,
        "mqtt_topic": _mqtt_image,
    }

    # -- helpers -----------------------------------------------------------------------------

    def _describe(self, settings: CameraSettings) -> Camera:
        area = settings.area
        area = self._areas.get(_key(area), area) if area is not None else None
        return Camera(settings.name, area, settings.aliases, settings.source)

    def _phrases_of(self, camera: Camera) -> list[tuple[str, ...]]:
        """Word sequences that mention ``camera``: names, aliases, bare names, its area."""
        phrases = [_words(name) for name in (camera.name, *camera.aliases)]
        phrases += [p[:-1] for p in phrases if len(p) > 1 and p[-1] in _GENERIC]
        if camera.area is not None:
            phrases.append(_words(camera.area))
            phrases += [_words(a) for a, name in self._areas.items() if name == camera.area]
        return list(dict.fromkeys(p for p in phrases if p))

    def _log_failure(self, turn_id: str | None, settings: CameraSettings, detail: str) -> None:
        _LOGGER.warning(
            "[%s] Camera %s (%s): %s", turn_id or "-", settings.name, _where(settings), detail
        )


async def _decode(settings: CameraSettings, data: bytes, taken_at: float) -> Frame:
    return await to_frame(data, camera=settings.name, max_side=settings.max_side, taken_at=taken_at)


async def _video(settings: CameraSettings, source: str, *, live: bool) -> Frame:
    size, timeout = settings.max_side, settings.timeout
    return await grab_video_frame(
        source, live=live, camera=settings.name, max_side=size, timeout=timeout
    )


def _login(settings: CameraSettings) -> Login | None:
    if settings.username is None:
        return None
    password = settings.password.reveal() if settings.password is not None else ""
    return Login(settings.username, password)


def _where(settings: CameraSettings) -> str:
    """The camera's source for a log line, with any password masked."""
    url = settings.snapshot_url or settings.mjpeg_url or settings.rtsp_url
    if url is not None:
        return mask_url(url.reveal())
    if settings.file is not None:
        return str(settings.file)
    return f"mqtt {settings.mqtt_topic}"


def _area_names(areas: Sequence[AreaSettings]) -> dict[str, str]:
    """Every area name and alias (folded) -> the area's name."""
    names: dict[str, str] = {}
    for area in areas:
        names.update((_key(alias), area.name) for alias in area.aliases)
        names[_key(area.name)] = area.name
    return names


def _key(name: str) -> str:
    return " ".join(_words(name))


def _words(text: str) -> tuple[str, ...]:
    """Folded words, apostrophes dropped: ``"Kid's room"`` -> ``("kids", "room")``."""
    return tuple(_WORD.findall(text.casefold().replace("'", "").replace("\u2019", "")))


def _occurrences(words: tuple[str, ...], phrase: tuple[str, ...]) -> list[int]:
    size = len(phrase)
    return [i for i in range(len(words) - size + 1) if words[i : i + size] == phrase]


def _inside(span: tuple[int, int, Camera], other: tuple[int, int, Camera]) -> bool:
    """True when ``span`` lies within ``other`` and is shorter (a longer mention wins)."""
    (start, end, _), (other_start, other_end, _) = span, other
    return other_start <= start and end <= other_end and other_end - other_start > end - start
