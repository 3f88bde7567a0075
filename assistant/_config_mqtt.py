"""MQTT settings: the broker, its discovery sources, and MQTT devices."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    model_validator,
)
from pydantic_core import PydanticCustomError

from assistant import _config_checks as _checks
from assistant._config_types import ConfigPath, Host, Name, Port, SecretValue, _Section

__all__ = [
    "MqttDeviceSettings",
    "MqttKind",
    "MqttSettings",
    "MqttTlsSettings",
    "TasmotaSettings",
    "Zigbee2MqttSettings",
]


def _quoted_id(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise PydanticCustomError(
            "quote_id", "YAML read this as a number; put the id in quotes ('0x00158d...')"
        )
    return value


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
