"""Frozen, typed settings read from one YAML file.

``load_config(path)`` returns :class:`Settings` or raises :class:`ConfigError` whose
``problems`` are lines ``file:line:col: key.path: message``, all of them, not only the first.
Secrets (``!env``, ``!secret``, ``!credential``) become :class:`Secret` objects and never
appear in a problem or a ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from assistant import _config_checks as _checks
from assistant._config_errors import from_pydantic
from assistant._yaml import (
    Document,
    Loc,
    Problem,
    format_path,
    load_document,
)
from assistant.errors import ConfigError
from assistant.secrets import Secret, SecretResolver

__all__ = [
    "AreaSettings",
    "CameraSettings",
    "HubSettings",
    "LocalMicSettings",
    "LlmSettings",
    "MqttSettings",
    "MqttTlsSettings",
    "MqttDeviceSettings",
    "TasmotaSettings",
    "Zigbee2MqttSettings",
    "SatelliteSettings",
    "SttSettings",
    "TtsSettings",
    "VadSettings",
    "VoiceSettings",
    "WyomingServerSettings",
    "Check",
    "ConfigError",
    "ControlSettings",
    "DeviceSettings",
    "INLINE_TOKEN",
    "LoggingSettings",
    "MiioDeviceSettings",
    "MiioSettings",
    "SafetySettings",
    "Secret",
    "SecretValue",
    "Settings",
    "SiteSettings",
    "VirtualDeviceSettings",
    "default_config_path",
    "load_config",
    "parse_config",
    "resolve_control_socket",
    "resolve_state_dir",
]

SYSTEM_CONFIG = Path("/etc/mimo-assistant/config.yaml")
INLINE_TOKEN = "written inline; keep it in secrets.yaml with !secret (see README)"


# --- field types ---------------------------------------------------------------------------


def _non_empty_path(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("path_empty", "must not be empty")
    return value


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Expand ``~``; a relative path is taken from the config file's directory."""
    value = value.expanduser()
    base = (info.context or {}).get("base_dir")
    if base is not None and not value.is_absolute():
        value = Path(base) / value
    return value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


SecretValue: TypeAlias = Secret
"""A field holding a secret: accepts a ``Secret`` or a plain string (wrapped)."""
Name = Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
AnyPort = Annotated[StrictInt, Field(ge=0, le=65535)]
"""A port to listen on; 0 picks a free one."""
Host = Annotated[StrictStr, AfterValidator(_checks.check_host)]
LoopbackHost = Annotated[StrictStr, AfterValidator(_checks.check_loopback)]
MiioToken = Annotated[SecretValue, AfterValidator(_checks.check_token)]
ConfigPath = Annotated[Path, BeforeValidator(_non_empty_path), AfterValidator(_resolve_path)]
StateDir = Annotated[ConfigPath, AfterValidator(_checks.check_state_dir)]
Language = Annotated[Name, AfterValidator(_checks.check_language)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]


# --- models ----------------------------------------------------------------------------------


class _Section(BaseModel):
    """Base of every settings model: frozen, no unknown keys, inputs never echoed."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        """``key:`` with nothing after it means the default, for fields that have one."""
        if not isinstance(data, dict):
            return data
        return {key: value for key, value in data.items() if not _use_default(cls, key, value)}


def _use_default(model: type[BaseModel], key: str, value: Any) -> bool:
    field = model.model_fields.get(key)
    if value is not None or field is None or field.is_required():
        return False
    return field.default_factory is not None or field.default is not None


class AreaSettings(_Section):
    """A room or zone; devices and the site name areas by name or alias."""

    name: Name
    floor: Name | None = None
    aliases: tuple[Name, ...] = ()


class SiteSettings(_Section):
    """Where text turns come from."""

    name: Name = "default"
    area: Name | None = None
    """The speaker's area for text turns."""


class MiioDeviceSettings(_Section):
    """A device spoken to with the miio protocol on the LAN."""

    host: Host
    token: MiioToken
    model: Name | None = None
    port: Port = 54321


class VirtualDeviceSettings(_Section):
    """A virtual device that speaks the real miio protocol on the loopback interface."""

    model: Name
    host: LoopbackHost | None = None
    """Default: 127.0.0.1."""
    port: AnyPort | None = None
    """Default (or 0): any free port."""


def _quoted_id(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise PydanticCustomError(
            "quote_id", "YAML read this as a number; put the id in quotes ('0x00158d...')"
        )
    return value


def _false_is_none(value: object) -> object:
    return None if value is False else value


MqttKind = Literal["light", "switch", "fan", "cover", "climate", "lock", "sensor", "binary_sensor"]


class MqttDeviceSettings(_Section):
    """An MQTT device: a discovered one named here, a Tasmota device, or one written by hand.

    ``discovered``: the unique id, friendly name, IEEE address or Tasmota topic of a device a
    discovery source found (to give it a name, an area, aliases, or to hide it).
    ``tasmota``: the topic of a Tasmota device without discovery.
    ``kind``: a device written by hand with Home Assistant's MQTT keys (``state_topic``,
    ``command_topic``, ``payload_on``, ``brightness_command_topic``, templates, ...); those
    extra keys are checked when the daemon builds the device.
    """

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    discovered: Annotated[Name, BeforeValidator(_quoted_id)] | None = None
    hidden: StrictBool = False
    """Leave a discovered device out of the assistant entirely."""
    tasmota: Name | None = None
    kind: MqttKind | None = None
    unique_id: Name | None = None
    """For hand-written devices; default: the device name as a slug."""

    @model_validator(mode="after")
    def _one_way(self) -> MqttDeviceSettings:
        ways = [k for k in ("discovered", "tasmota", "kind") if getattr(self, k) is not None]
        if len(ways) != 1:
            raise PydanticCustomError("mqtt_device", _checks.ONE_MQTT_WAY)
        if self.hidden and self.discovered is None:
            raise PydanticCustomError("mqtt_hidden", "hidden applies to discovered devices")
        extra = set(self.model_extra or {})
        if self.discovered is not None and extra:
            raise PydanticCustomError(
                "mqtt_extra",
                "a discovered device takes no topic settings: {keys}",
                {"keys": ", ".join(sorted(extra))},
            )
        return self

    def extra(self) -> dict[str, Any]:
        """The hand-written device's own keys (topics, payloads, templates)."""
        return dict(self.model_extra or {})


class DeviceSettings(_Section):
    """One device: its name, where it is, and how it is reached (miio, virtual or mqtt)."""

    name: Name | None = None
    """Required, except for a discovered MQTT device (which keeps its own name)."""
    area: Name | None = None
    aliases: tuple[Name, ...] = ()
    exposed: StrictBool = True
    """The LLM may see and act on it."""
    sensitive: StrictBool = False
    """Acting on it needs a confirmation."""
    miio: MiioDeviceSettings | None = None
    virtual: VirtualDeviceSettings | None = None
    mqtt: MqttDeviceSettings | None = None

    @model_validator(mode="after")
    def _one_transport(self) -> DeviceSettings:
        if sum(t is not None for t in (self.miio, self.virtual, self.mqtt)) != 1:
            raise PydanticCustomError("device_transport", _checks.ONE_TRANSPORT)
        if self.name is None and (self.mqtt is None or self.mqtt.discovered is None):
            raise PydanticCustomError("device_name", "a device needs a name")
        return self

    @property
    def label(self) -> str:
        """The name, or for a discovered MQTT device the id it was picked by."""
        return self.name or (self.mqtt.discovered if self.mqtt else None) or "unnamed"


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


class MiioSettings(_Section):
    """Settings shared by every miio device."""

    spec_dirs: tuple[ConfigPath, ...] = ()
    """Extra folders of MIoT spec files."""
    deadline: Annotated[StrictFloat, Field(ge=0.2, le=30)] = 2.0
    """Time allowed for one device call, seconds."""
    poll_interval: Annotated[StrictFloat, Field(ge=1)] = 30.0
    """Time between state polls, seconds."""


class SttSettings(_Section):
    """Speech to text (faster-whisper)."""

    model: ConfigPath | None = None
    """A CTranslate2 Whisper model folder; default: the bundled tiny.en."""
    language: Name = "en"
    beam_size: Annotated[StrictInt, Field(ge=1, le=10)] = 5
    min_confidence: Annotated[StrictFloat, Field(ge=0, le=1)] = 0.3
    """Below this (0-1) the daemon asks again instead of acting."""


class TtsSettings(_Section):
    """Text to speech (piper)."""

    voice: ConfigPath | None = None
    """A piper ``.onnx`` voice, its ``.onnx.json`` beside it; default: en_US-joe-medium."""


class VadSettings(_Section):
    """End of speech: Home Assistant's defaults."""

    engine: Literal["micro", "silero"] = "silero"
    """``silero``: Silero (faster-whisper's copy), which follows speech ~0.5 s more closely
    than ``micro`` (pymicro-vad, Home Assistant's), whose lag and smoothing make it wait
    ~1.3 s after the last word at a 0.7 s setting."""
    speech_seconds: Annotated[StrictFloat, Field(gt=0, le=5)] = 0.3
    """Speech this long starts an utterance, seconds."""
    silence_seconds: Annotated[StrictFloat, Field(gt=0, le=5)] = 1.0
    """Silence this long ends it, seconds (a whole command ends after ``early_seconds``).
    Home Assistant's 0.7 s with pymicro-vad tolerates ~1.25 s pauses; Silero takes it
    literally, so 1.0 s keeps a mid-sentence pause from cutting a command."""
    max_seconds: Annotated[StrictFloat, Field(gt=0, le=60)] = 15.0
    """No utterance is longer, seconds."""
    early_seconds: Annotated[StrictFloat, Field(ge=0, le=5)] = 0.3
    """Silence this long ends an utterance already transcribed as a whole command, seconds
    (0: always wait for ``silence_seconds``)."""


class VoiceSettings(_Section):
    """Hearing and speaking."""

    stt: SttSettings = Field(default_factory=SttSettings)
    tts: TtsSettings = Field(default_factory=TtsSettings)
    vad: VadSettings = Field(default_factory=VadSettings)


class WyomingServerSettings(_Section):
    """The Wyoming server the daemon listens on: any Wyoming client can speak to it."""

    enabled: StrictBool = True
    host: Host = "127.0.0.1"
    """Bind address; the default takes connections from this machine only."""
    port: AnyPort = 10700
    area: Name | None = None
    """The room its clients are in."""
    wake_word: Name = "okay_nabu"
    """The daemon's wake word for clients that stream without their own (run-pipeline from
    wake): a bundled pyopen-wakeword model or a ``.tflite`` path; a bundled model named in
    the client's ``wake_word_names`` wins."""
    wake_threshold: Annotated[StrictFloat, Field(gt=0, lt=1)] = 0.5


class SatelliteSettings(_Section):
    """A Wyoming satellite (microphone hub) the daemon connects to."""

    name: Name
    uri: Annotated[StrictStr, AfterValidator(_checks.check_tcp_uri)]
    """``tcp://host:port``."""
    area: Name | None = None
    """The room it is in: "turn on the lights" there means that room's lights."""
    wake_word: Name = "okay_nabu"
    """The daemon's wake word when the satellite has none of its own (as hubs.wyoming)."""
    wake_threshold: Annotated[StrictFloat, Field(gt=0, lt=1)] = 0.5


class LocalMicSettings(_Section):
    """A microphone and speaker on this machine (needs the ``mic`` extra and PortAudio)."""

    enabled: StrictBool = False
    name: Name = "local"
    area: Name | None = None
    """The room the microphone is in (default: site.area)."""
    wake_word: Name = "okay_nabu"
    """A pyopen-wakeword bundled model (okay_nabu, hey_jarvis, alexa, hey_mycroft,
    hey_rhasspy) or a ``.tflite`` path."""
    threshold: Annotated[StrictFloat, Field(gt=0, lt=1)] = 0.5


class HubSettings(_Section):
    """Where voice comes from."""

    wyoming: WyomingServerSettings = Field(default_factory=WyomingServerSettings)
    satellites: tuple[SatelliteSettings, ...] = ()
    local_mic: LocalMicSettings = Field(default_factory=LocalMicSettings)


class MqttTlsSettings(_Section):
    """TLS to the broker."""

    ca_file: ConfigPath
    certfile: ConfigPath | None = None
    keyfile: ConfigPath | None = None


class Zigbee2MqttSettings(_Section):
    """Zigbee2MQTT devices."""

    enabled: StrictBool = True
    base_topic: Name = "zigbee2mqtt"


class TasmotaSettings(_Section):
    """Tasmota devices announced with Tasmota's own discovery."""

    enabled: StrictBool = True
    discovery_prefix: Name = "tasmota"


class MqttSettings(_Section):
    """The MQTT broker (Mosquitto) the daemon shares with Home Assistant, Zigbee2MQTT, ..."""

    host: Host
    port: Port = 1883
    username: Name | None = None
    password: SecretValue | None = None
    tls: MqttTlsSettings | None = None
    protocol: Literal["5", "3.1.1"] = "5"
    client_id: Name = "mimo-assistant"
    prefix: Name = "mimo-assistant"
    """Topics of the assistant itself: ``<prefix>/status``, ``<prefix>/<site>/turn``."""
    discovery: StrictBool = True
    """Devices from Home Assistant MQTT discovery (under ``discovery_prefix``)."""
    discovery_prefix: Name = "homeassistant"
    zigbee2mqtt: Zigbee2MqttSettings = Field(default_factory=Zigbee2MqttSettings)
    tasmota: TasmotaSettings = Field(default_factory=TasmotaSettings)
    startup_wait: Annotated[StrictFloat, Field(ge=0, le=30)] = 2.0
    """Seconds, at most, to wait for retained discovery and state before the first turn."""
    confirm_timeout: Annotated[StrictFloat, Field(gt=0, le=30)] = 2.0
    """Seconds a device has to report the state a command asked for."""
    say_topic: StrictBool = True
    """Run a text turn for every message on ``<prefix>/<site>/say`` (guard it with an ACL)."""
    announce: StrictBool = False
    """Publish Home Assistant discovery for the assistant's own status, last transcript and
    last reply, so a dashboard shows them."""


class ControlSettings(_Section):
    """The local control socket (used by the CLI)."""

    socket: ConfigPath | None = None
    """Default: ``<state_dir>/control.sock``."""


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


class LoggingSettings(_Section):
    """Logging."""

    level: LogLevel = "INFO"


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


class Settings(_Section):
    """The whole configuration; ``Settings()`` is a valid, empty home."""

    state_dir: StateDir | None = None
    language: Language = "en"
    site: SiteSettings = Field(default_factory=SiteSettings)
    areas: tuple[AreaSettings, ...] = ()
    devices: tuple[DeviceSettings, ...] = ()
    cameras: tuple[CameraSettings, ...] = ()
    """What the brain may look through (``assistant.look``)."""
    miio: MiioSettings = Field(default_factory=MiioSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    hubs: HubSettings = Field(default_factory=HubSettings)
    mqtt: MqttSettings | None = None
    """No ``mqtt`` section: no broker."""
    llm: LlmSettings | None = None
    """No ``llm`` section: the daemon is local only."""
    control: ControlSettings = Field(default_factory=ControlSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)


# --- loading ---------------------------------------------------------------------------------


def default_config_path() -> Path:
    """``./config.yaml`` if it exists, else ``/etc/mimo-assistant/config.yaml``."""
    local = Path("config.yaml")
    return local if local.is_file() else SYSTEM_CONFIG


def resolve_state_dir(settings: Settings, environ: Mapping[str, str] | None = None) -> Path:
    """``state_dir``, else ``$STATE_DIRECTORY`` (first entry), else the XDG state home."""
    if settings.state_dir is not None:
        return settings.state_dir
    env = os.environ if environ is None else environ
    first = env.get("STATE_DIRECTORY", "").split(":")[0]
    if first:
        return Path(first)
    return Path("~/.local/state/mimo-assistant").expanduser()


def resolve_control_socket(settings: Settings, environ: Mapping[str, str] | None = None) -> Path:
    """``control.socket``, else ``<state_dir>/control.sock``."""
    if settings.control.socket is not None:
        return settings.control.socket
    return resolve_state_dir(settings, environ) / "control.sock"


Check = Callable[["Settings"], Iterable[tuple[Loc, str]]]
"""An extra check run on valid settings: yields (key path, message) problems."""


def load_config(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    checks: Sequence[Check] = (),
    warn: Callable[[str], None] | None = None,
) -> Settings:
    """Read and validate the configuration file at ``path``; raise ``ConfigError``.

    See :func:`parse_config` for ``environ``, ``checks`` and ``warn``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError([f"{path}: cannot read the configuration: {reason}"]) from None
    base_dir = path.absolute().parent
    return parse_config(
        text, source=str(path), base_dir=base_dir, environ=environ, checks=checks, warn=warn
    )


def parse_config(
    text: str,
    *,
    source: str = "<string>",
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    checks: Sequence[Check] = (),
    warn: Callable[[str], None] | None = None,
) -> Settings:
    """Validate configuration text; raise ``ConfigError`` with every problem found.

    ``base_dir`` (default: cwd) anchors relative paths and ``secrets.yaml``; ``environ``
    (default: ``os.environ``) serves ``!env``/``!credential``; ``checks`` run on settings that
    passed validation; ``warn`` gets one ``file:line:col: key.path: message`` line per
    warning (e.g. a token written inline), in file order, before any ``ConfigError``.
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    resolver = SecretResolver(base, os.environ if environ is None else environ)
    doc = load_document(text, resolver.tags())
    problems = list(doc.problems)
    settings: Settings | None = None
    if not any(problem.where == "<syntax>" for problem in problems):
        data = {} if doc.data is None else doc.data
        if warn is not None:
            for loc in _checks.inline_tokens(data):
                warn(_line(source, _at(doc, loc, INLINE_TOKEN)))
        settings, found = _validate(data, doc, base, checks)
        problems += found
    if problems or settings is None:
        problems.sort(key=lambda problem: (problem.mark.line, problem.mark.col))
        raise ConfigError(list(dict.fromkeys(_line(source, p) for p in problems)))
    return settings


def _validate(
    data: Any, doc: Document, base: Path, checks: Sequence[Check]
) -> tuple[Settings | None, list[Problem]]:
    """Settings (None if invalid) and the problems: schema, extra checks, references."""
    found = _checks.check_references(data) + _check_cameras(data)
    references = [_at(doc, loc, message) for loc, message in found]
    try:
        settings = Settings.model_validate(data, context={"base_dir": base})
    except ValidationError as err:
        return None, from_pydantic(err, doc, Settings) + references
    extra = [_at(doc, loc, message) for check in checks for loc, message in check(settings)]
    return settings, extra + references


def _check_cameras(data: Any) -> list[tuple[Loc, str]]:
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


def _line(source: str, problem: Problem) -> str:
    return f"{source}:{problem.mark}: {problem.where}: {problem.message}"


def _at(doc: Document, loc: Loc, message: str) -> Problem:
    return Problem(doc.mark_for(loc), format_path(loc), message)
