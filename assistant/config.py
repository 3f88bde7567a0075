"""Frozen, typed settings read from one YAML file.

``load_config(path)`` returns :class:`Settings` or raises :class:`ConfigError` whose
``problems`` are lines ``file:line:col: key.path: message``, all of them, not only the first.
Secrets (``!env``, ``!secret``, ``!credential``) become :class:`Secret` objects and never
appear in a problem or a ``repr``.

The field types and the larger sections live in private modules (``_config_types``,
``_config_voice``, ``_config_mqtt``, ``_config_brain``); every public name is exported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StrictBool, StrictFloat, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from assistant import _config_checks as _checks
from assistant._config_brain import CameraSettings, LlmSettings, SafetySettings, check_cameras
from assistant._config_errors import from_pydantic
from assistant._config_mqtt import (
    MqttDeviceSettings,
    MqttSettings,
    MqttTlsSettings,
    TasmotaSettings,
    Zigbee2MqttSettings,
)
from assistant._config_types import (
    AnyPort,
    ConfigPath,
    Host,
    Language,
    LogLevel,
    LoopbackHost,
    MiioToken,
    Name,
    Port,
    SecretValue,
    StateDir,
    _Section,
)
from assistant._config_voice import (
    HubSettings,
    LocalMicSettings,
    SatelliteSettings,
    SttSettings,
    TtsSettings,
    VadSettings,
    VoiceSettings,
    WyomingServerSettings,
)
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
    "FloorSettings",
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


# --- models ----------------------------------------------------------------------------------


class FloorSettings(_Section):
    """A floor of the home, with the other names people use ("upstairs")."""

    name: Name
    aliases: tuple[Name, ...] = ()


class AreaSettings(_Section):
    """A room or zone; devices and the site name areas by name or alias."""

    name: Name
    floor: Name | None = None
    """A floor's name or alias (from ``floors`` when there is that list)."""
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


class MiioSettings(_Section):
    """Settings shared by every miio device."""

    spec_dirs: tuple[ConfigPath, ...] = ()
    """Extra folders of MIoT spec files."""
    deadline: Annotated[StrictFloat, Field(ge=0.2, le=30)] = 2.0
    """Time allowed for one device call, seconds."""
    poll_interval: Annotated[StrictFloat, Field(ge=1)] = 30.0
    """Time between state polls, seconds."""


class ControlSettings(_Section):
    """The local control socket (used by the CLI)."""

    socket: ConfigPath | None = None
    """Default: ``<state_dir>/control.sock``."""


class LoggingSettings(_Section):
    """Logging."""

    level: LogLevel = "INFO"


class Settings(_Section):
    """The whole configuration; ``Settings()`` is a valid, empty home."""

    state_dir: StateDir | None = None
    language: Language = "en"
    site: SiteSettings = Field(default_factory=SiteSettings)
    floors: tuple[FloorSettings, ...] = ()
    """Optional: floors with aliases; without it, an area's ``floor`` names its floor."""
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
    found = _checks.check_references(data) + check_cameras(data)
    references = [_at(doc, loc, message) for loc, message in found]
    try:
        settings = Settings.model_validate(data, context={"base_dir": base})
    except ValidationError as err:
        return None, from_pydantic(err, doc, Settings) + references
    extra = [_at(doc, loc, message) for check in checks for loc, message in check(settings)]
    return settings, extra + references


def _line(source: str, problem: Problem) -> str:
    return f"{source}:{problem.mark}: {problem.where}: {problem.message}"


def _at(doc: Document, loc: Loc, message: str) -> Problem:
    return Problem(doc.mark_for(loc), format_path(loc), message)
