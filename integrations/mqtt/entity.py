"""What every MQTT device source produces: one ``Entity`` per device people can talk about.

A *source* (Home Assistant discovery, Zigbee2MQTT, Tasmota, hand-written config) reads the
broker's discovery messages and builds entities. An entity knows, for its device:

- which topics carry its state, and how to turn a payload there into trait values
  (``parse_state``), in the units of ``integrations.base``;
- which topics carry its availability, and what "online" / "offline" look like there;
- how to turn ``DeviceCommand``s into MQTT publishes (``encode``).

Everything a payload can get wrong raises ``PayloadError`` with a short reason; the driver
logs it (rate-limited, naming the topic) and keeps going. Nothing here does I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from integrations.base import DeviceSpec

if TYPE_CHECKING:
    from assistant.messages import DeviceCommand

__all__ = [
    "AvailabilityTopic",
    "Entity",
    "Encoder",
    "PayloadError",
    "Publish",
    "SourceUpdate",
    "StateParser",
    "decode_text",
    "parse_json",
    "MAX_PAYLOAD",
    "number",
    "scale",
    "mired_to_kelvin",
    "kelvin_to_mired",
]

MAX_PAYLOAD = 256 * 1024
"""Bytes; a state or discovery payload larger than this is refused (Zigbee2MQTT's
``bridge/devices`` list has its own, larger cap)."""


class PayloadError(ValueError):
    """A payload (or a discovery config) that cannot be used; ``str()`` says why, briefly.

    The driver adds the topic, so the message does not repeat it.
    """


@dataclass(frozen=True, slots=True)
class Publish:
    """One message to send for a command (always QoS 1)."""

    topic: str
    payload: str
    retain: bool = False


StateParser = Callable[[bytes], Mapping[str, Any]]
"""Payload on one state topic -> trait values (``{}`` when it says nothing we track);
raises PayloadError."""

Encoder = Callable[[Sequence["DeviceCommand"]], list[Publish]]
"""Commands for one device -> messages; raises ``integrations.base.Unsupported``."""


@dataclass(frozen=True, slots=True)
class AvailabilityTopic:
    """A topic that says whether the device is reachable."""

    topic: str
    available: str = "online"
    unavailable: str = "offline"
    value: Callable[[bytes], str] | None = None
    """Extracts the word to compare from the payload (a template, a JSON key); None: the
    payload itself, stripped."""


@dataclass(frozen=True, slots=True)
class Entity:
    """One device, as a source described it. Immutable: a new discovery config makes a new
    Entity that replaces the old one."""

    unique_id: str
    """Unique across all sources; the registry id is ``mqtt:<unique_id>``."""
    name: str
    spec: DeviceSpec
    source: Literal["hass", "zigbee2mqtt", "tasmota", "config"]
    encode: Encoder
    state: Mapping[str, StateParser] = field(default_factory=dict)
    """State topic -> parser. Empty: the device never reports state (optimistic)."""
    availability: tuple[AvailabilityTopic, ...] = ()
    availability_mode: Literal["all", "any", "latest"] = "latest"
    """How several availability topics combine (Home Assistant's ``availability_mode``)."""
    area: str | None = None
    """Suggested area name (HA's ``device.suggested_area``), matched to configured areas."""
    keys: tuple[str, ...] = ()
    """Other names a ``devices:`` entry in config.yaml may use to pick this entity: a
    friendly name, an IEEE address, a Tasmota topic, an object id."""
    query: tuple[Publish, ...] = ()
    """Messages that ask the device to report its state now (Zigbee2MQTT ``/get``, Tasmota
    ``STATE``); empty when the source has no such request."""

    @property
    def device_id(self) -> str:
        return f"mqtt:{self.unique_id}"

    @property
    def reports_state(self) -> bool:
        return bool(self.state)


@dataclass(frozen=True, slots=True)
class SourceUpdate:
    """What one discovery message changed: entities added or replaced, ids removed."""

    added: tuple[Entity, ...] = ()
    removed: tuple[str, ...] = ()
    """``unique_id``s that are gone (an empty retained config, a device left the network)."""


# -- payload helpers every source uses ------------------------------------------------------


def decode_text(payload: bytes, *, limit: int = MAX_PAYLOAD) -> str:
    """UTF-8 text of a payload, size-capped; PayloadError otherwise."""
    if len(payload) > limit:
        raise PayloadError(f"payload of {len(payload)} bytes is over the {limit} byte cap")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PayloadError(f"payload is not UTF-8 (byte {err.start})") from None


def parse_json(payload: bytes | str, *, limit: int = MAX_PAYLOAD) -> Any:
    """JSON from a payload: size-capped, no NaN/Infinity; PayloadError otherwise.

    Deep nesting (``[`` x 3000) makes ``json.loads`` raise ``RecursionError``, not
    ``ValueError``: that is a PayloadError too.
    """
    text = payload if isinstance(payload, str) else decode_text(payload, limit=limit)
    if len(text) > limit:
        raise PayloadError(f"payload of {len(text)} characters is over the {limit} cap")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:  # the C decoder counts its depth: refused cleanly, nothing crashes
        raise PayloadError("JSON nested too deeply") from None
    except ValueError as err:
        reason = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
        raise PayloadError(f"not valid JSON: {reason}") from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")


def number(value: Any, what: str) -> float:
    """A finite number from a payload value (numbers or numeric strings); PayloadError."""
    if isinstance(value, bool):
        raise PayloadError(f"{what} is a boolean, not a number")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise PayloadError(f"{what} {value[:40]!r} is not a number") from None
    else:
        raise PayloadError(f"{what} is {type(value).__name__}, not a number")
    if not math.isfinite(result):
        raise PayloadError(f"{what} is not a finite number")
    return result


def scale(value: float, source_max: float, target_max: float = 100.0) -> int:
    """``value`` on 0..source_max as a rounded 0..target_max integer, clamped."""
    if source_max <= 0 or not math.isfinite(value):
        return 0
    return round(max(0.0, min(target_max, value * target_max / source_max)))


def mired_to_kelvin(mired: float) -> int:
    """Colour temperature: mireds -> kelvin (mireds must be positive)."""
    if not 1 <= mired <= 100_000:
        raise PayloadError(f"colour temperature {mired:g} mired is out of range")
    return round(1_000_000 / mired)


def kelvin_to_mired(kelvin: float) -> int:
    return round(1_000_000 / kelvin)
