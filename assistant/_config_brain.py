"""Settings of the brain: the LLM, the cameras it looks through, and what it may do.

The camera cross-checks run on the raw data (``check_cameras``), beside type errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from assistant._config_types import ConfigPath, Name, SecretValue, _Section
from assistant._yaml import Loc
from assistant.secrets import Secret

__all__ = ["CameraSettings", "LlmSettings", "SafetySettings", "check_cameras"]


ONE_CAMERA_SOURCE = (
    "a camera needs exactly one of: snapshot_url, mjpeg_url, rtsp_url, file, mqtt_topic"
)
_CAMERA_SOURCES = ("snapshot_url", "mjpeg_url", "rtsp_url", "file", "mqtt_topic")


def _camera_url(*schemes: str) -> Callable[[Secret], Secret]:
    """A check that a URL has one of ``schemes`` and a host. The URL stays a ``Secret`` (it
    may hold ``user:password@``); the message never repeats it."""
    wanted = " or ".join(f"{scheme}://" for scheme in schemes)

    def check(value: Secret) -> Secret:
        text = value.reveal().strip()
        try:
            parts = urlsplit(text)
            ok = parts.scheme.lower() in schemes and bool(parts.hostname)
            ok = ok and parts.port != 0
        except ValueError:
            ok = False
        if not ok:
            message = "expected an {wanted} URL with a host"
            raise PydanticCustomError("url", message, {"wanted": wanted})
        return Secret(text)

    return check


def _check_image_topic(value: str) -> str:
    if "+" in value or "#" in value:
        raise PydanticCustomError("image_topic", "an image topic takes no + or # wildcards")
    return value


HttpCameraUrl = Annotated[SecretValue, AfterValidator(_camera_url("http", "https"))]
RtspCameraUrl = Annotated[SecretValue, AfterValidator(_camera_url("rtsp", "rtsps"))]


class CameraSettings(_Section):
    """A camera the brain may look through, with exactly one source."""

    name: Name
    area: Name | None = None
    aliases: tuple[Name, ...] = ()
    snapshot_url: HttpCameraUrl | None = None
    """Answers one JPEG (or PNG, WebP, BMP) picture per request."""
    mjpeg_url: HttpCameraUrl | None = None
    """A ``multipart/x-mixed-replace`` stream of JPEG pictures."""
    rtsp_url: RtspCameraUrl | None = None
    """A live video stream, opened with PyAV (FFmpeg) over TCP."""
    file: ConfigPath | None = None
    """A video or picture file PyAV opens; its last frame is used."""
    mqtt_topic: Annotated[Name, AfterValidator(_check_image_topic)] | None = None
    """A topic whose payload is a picture (raw JPEG bytes, as Frigate and Home Assistant
    publish them); the newest one is kept. Needs the ``mqtt`` section."""
    username: Name | None = None
    """For ``snapshot_url``/``mjpeg_url`` (HTTP basic or digest) and ``rtsp_url``."""
    password: SecretValue | None = None
    max_side: Annotated[StrictInt, Field(ge=64, le=4096)] = 768
    """Frames are scaled down so that their longer side is at most this, pixels."""
    timeout: Annotated[StrictFloat, Field(gt=0, le=60)] = 5.0
    """Time one frame may take (connect, download, decode), seconds."""

    @model_validator(mode="after")
    def _one_source(self) -> CameraSettings:
        if sum(getattr(self, key) is not None for key in _CAMERA_SOURCES) != 1:
            raise PydanticCustomError("camera_source", ONE_CAMERA_SOURCE)
        if self.password is not None and self.username is None:
            raise PydanticCustomError("camera_login", "a password needs a username")
        if self.username is not None and (self.file is not None or self.mqtt_topic is not None):
            raise PydanticCustomError("camera_login", "username and password apply to URLs only")
        return self

    @property
    def source(self) -> str:
        """The source key that is set: ``snapshot_url``, ``mjpeg_url``, ``rtsp_url``, ..."""
        return next(key for key in _CAMERA_SOURCES if getattr(self, key) is not None)


def _check_pin(value: Secret) -> Secret:
    """4 to 10 digits, as they are spoken; the message never repeats the PIN."""
    pin = value.reveal()
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 10):
        raise PydanticCustomError("pin", "a PIN must be 4 to 10 digits (0-9)")
    return value


class SafetySettings(_Section):
    """What may be done by voice; enforced in code by ``assistant.act.safety``."""

    allow_unlock: StrictBool = False
    """Unlock locks (and disarm alarms) by voice, only with ``pin`` said in the same
    sentence ("unlock the front door 1234"); never for a request an LLM made."""
    pin: Annotated[SecretValue, AfterValidator(_check_pin)] | None = None
    """The spoken PIN, 4-10 digits; keep it in secrets.yaml: ``pin: !secret door_pin``."""
    confirm_timeout: Annotated[StrictFloat, Field(ge=5, le=300)] = 30.0
    """How long a question such as "Do you want me to open the garage door?" waits for
    "yes" from the same hub, seconds."""
    max_actions_per_turn: Annotated[StrictInt, Field(ge=1, le=1000)] = 50
    """Devices one turn may act on, lights not counted (they are harmless in bulk)."""

    @model_validator(mode="after")
    def _unlock_needs_pin(self) -> SafetySettings:
        if self.allow_unlock and self.pin is None:
            raise PydanticCustomError(
                "unlock_pin", "allow_unlock needs a pin (e.g. pin: !secret door_pin)"
            )
        return self


def _check_http_url(value: str) -> str:
    """An ``http://`` or ``https://`` URL with a host; the message never repeats it."""
    try:
        parts = urlsplit(value.strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise PydanticCustomError("url", "expected an http:// or https:// URL with a host")
    return value.strip()


def _false_is_none(value: object) -> object:
    return None if value is False else value


Price = Annotated[StrictFloat, Field(ge=0)]
"""Money per million tokens, in the currency of ``daily_budget``."""


class LlmSettings(_Section):
    """An OpenAI-compatible LLM for what the grammar cannot place (Xiaomi MiMo by default;
    Ollama, llama.cpp's server and vLLM work too). No ``llm`` section: local only."""

    base_url: Annotated[StrictStr, AfterValidator(_check_http_url)] = (
        "https://api.xiaomimimo.com/v1"
    )
    model: Name = "mimo-v2-flash"
    """The text model: it reads the device list and calls tools."""
    vision_model: Annotated[Name | None, BeforeValidator(_false_is_none)] = "mimo-v2-omni"
    """Describes camera frames (no tools); ``false``: the brain has no eyes (an empty value
    means the default, like every other key)."""
    api_key: SecretValue | None = None
    """Use ``!secret``; may be left out for a local server."""
    timeout: Annotated[StrictFloat, Field(gt=0, le=120)] = 8.0
    """Time one turn may spend waiting for the LLM, all calls and the retry together, seconds."""
    max_tool_rounds: Annotated[StrictInt, Field(ge=1, le=20)] = 5
    """Requests with tool results per turn, at most."""
    max_completion_tokens: Annotated[StrictInt, Field(ge=16, le=131072)] = 1024
    """Tokens one answer may use (reasoning included when ``thinking`` is on)."""
    thinking: StrictBool = False
    """MiMo's thinking mode (slower, dearer): ``thinking: {type: enabled|disabled}``."""
    stream: StrictBool = False
    """Ask for server-sent events instead of one JSON answer."""
    price_in: Price = 0.1
    """Per million prompt tokens; default: MiMo-V2-Flash's list price in US dollars."""
    price_out: Price = 0.3
    """Per million completion tokens; default: MiMo-V2-Flash's list price in US dollars."""
    vision_price_in: Price | None = None
    """Per million prompt tokens of ``vision_model``; default: ``price_in``."""
    vision_price_out: Price | None = None
    """Per million completion tokens of ``vision_model``; default: ``price_out``."""
    daily_budget: Annotated[StrictFloat, Field(ge=0)] = 0.0
    """Money per local day, in the prices' currency; then local commands only. 0: no limit."""

    @model_validator(mode="after")
    def _key_for_mimo(self) -> LlmSettings:
        if self.api_key is None and "api.xiaomimimo.com" in self.base_url:
            raise PydanticCustomError(
                "llm_key", "api_key is needed for api.xiaomimimo.com (use !secret)"
            )
        return self


def check_cameras(data: Any) -> list[tuple[Loc, str]]:
    """Cameras: one source each, names unique (and no device's name), known areas, a broker
    for ``mqtt_topic``. Run on the raw data, so these show beside type errors."""
    items = data.get("cameras") if isinstance(data, dict) else None
    cameras = [(i, c) for i, c in enumerate(items or []) if isinstance(c, dict)]
    if not isinstance(items, list) or not cameras:
        return []
    found: list[tuple[Loc, str]] = [
        (("cameras", index), ONE_CAMERA_SOURCE)
        for index, camera in cameras
        if sum(camera.get(key) is not None for key in _CAMERA_SOURCES) != 1
    ]
    found += [
        (("cameras", index, "mqtt_topic"), "mqtt_topic needs the mqtt section (a broker)")
        for index, camera in cameras
        if camera.get("mqtt_topic") is not None and not isinstance(data.get("mqtt"), dict)
    ]
    return found + _check_camera_names(data, cameras) + _check_camera_areas(data, cameras)


def _raw_names(items: Any, *, aliases: bool = False) -> Iterable[tuple[int, str]]:
    """``(index, name)`` of the list items' names (and aliases), stripped, for raw checks."""
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        names = [item.get("name")]
        if aliases and isinstance(item.get("aliases"), list):
            names += item["aliases"]
        yield from ((index, n.strip()) for n in names if isinstance(n, str) and n.strip())


def _check_camera_names(data: dict[str, Any], cameras: list[tuple[int, Any]]) -> list[Any]:
    """Camera names unique, none a device's name; no alias another camera's name."""
    devices = {name.casefold(): name for _, name in _raw_names(data.get("devices"))}
    names: dict[str, tuple[int, str]] = {}
    found: list[tuple[Loc, str]] = []
    for index, name in _raw_names(data["cameras"]):
        key, loc = name.casefold(), ("cameras", index, "name")
        if key in devices:
            found.append((loc, f"'{name}' is already the name of device '{devices[key]}'"))
        elif key in names:
            found.append((loc, f"duplicate camera name '{name}' (cameras[{names[key][0]}])"))
        names.setdefault(key, (index, name))
    for index, camera in cameras:
        aliases = camera.get("aliases") if isinstance(camera.get("aliases"), list) else []
        for number, alias in enumerate(aliases):
            other = names.get(alias.strip().casefold()) if isinstance(alias, str) else None
            if other is not None and other[0] != index:
                message = f"alias '{alias.strip()}' is already the name of camera '{other[1]}'"
                found.append((("cameras", index, "aliases", number), message))
    return found


def _check_camera_areas(data: dict[str, Any], cameras: list[tuple[int, Any]]) -> list[Any]:
    known = {name.casefold(): name for _, name in _raw_names(data.get("areas"), aliases=True)}
    names = sorted({name for _, name in _raw_names(data.get("areas"))}, key=str.casefold)
    listing = f"known: {', '.join(names)}" if names else "no areas are defined"
    return [
        (("cameras", index, "area"), f"unknown area '{area.strip()}'; {listing}")
        for index, camera in cameras
        if isinstance(area := camera.get("area"), str)
        and area.strip()
        and area.strip().casefold() not in known
    ]
