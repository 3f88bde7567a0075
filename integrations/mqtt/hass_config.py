"""Reading one Home Assistant MQTT component config: typed keys, command senders, state parsers.

``Conf`` reads a config with full keys (``hass_abbreviations.expand``) with Home Assistant's
defaults and types, raising PayloadError with a short reason naming the key. Nothing here does
I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from integrations.base import DriverError

from .entity import PayloadError, Publish, StateParser, number
from .templates import CommandTemplate, Payload, ValueTemplate

__all__ = [
    "Conf",
    "PartParser",
    "Sender",
    "StateParsers",
    "is_none",
    "to_celsius",
    "from_celsius",
]

_LOGGER = logging.getLogger(__name__)


def is_none(text: str) -> bool:
    """Home Assistant's "no value" words (``None``; an empty payload)."""
    return text == "" or text == "None"


def to_celsius(value: float, unit: str) -> float:
    """Degrees in ``unit`` ("C", "F" or "K") -> degrees Celsius, to 0.01."""
    if unit == "F":
        value = (value - 32) * 5 / 9
    elif unit == "K":
        value = value - 273.15
    return round(value, 2)


def from_celsius(value: float, unit: str) -> float:
    if unit == "F":
        return value * 9 / 5 + 32
    if unit == "K":
        return value + 273.15
    return value


_UNITS = {"C": "C", "°C": "C", "F": "F", "°F": "F", "K": "K"}


# -- typed reads --------------------------------------------------------------------------


class Conf:
    """One component's config (after ``expand``): typed reads that name the key on error."""

    __slots__ = ("data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise PayloadError(f"{key} must be a string, not {_kind(value)}")
        return value

    def payload(self, key: str, default: str) -> str:
        """A payload word (``payload_on``, ``state_locked``...): a string or a number."""
        value = self.optional_payload(key, default)
        if value is None:
            raise PayloadError(f"{key} must be a string, not null")
        return value

    def optional_payload(self, key: str, default: str) -> str | None:
        """A payload word that may be null (the action is disabled: ``payload_stop: null``).

        Numbers and booleans become text as Home Assistant makes them: ``true`` is "True",
        which is what ``{{ value_json.contact }}`` renders (Zigbee2MQTT's binary sensors).
        """
        if key not in self.data:
            return default
        value = self.data[key]
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float):
            return str(value)
        raise PayloadError(f"{key} must be a string, not {_kind(value)}")

    def topic(self, key: str, *, required: bool = False) -> str | None:
        """An exact topic (no ``+``/``#``: every topic here is one to publish or to read)."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise PayloadError(f"{key} is missing")
            return None
        if not isinstance(value, str) or not value:
            raise PayloadError(f"{key} must be a non-empty string, not {_kind(value)}")
        if "+" in value or "#" in value:
            raise PayloadError(f"{key} {value[:60]!r} has an MQTT wildcard")
        if "\0" in value or len(value.encode()) > 65535:
            raise PayloadError(f"{key} is not a valid MQTT topic")
        return value

    def real(self, key: str, default: float) -> float:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise PayloadError(f"{key} must be a number, not {_kind(value)}")
        return number(value, key)

    def positive(self, key: str, default: float) -> float:
        value = self.real(key, default)
        if value <= 0:
            raise PayloadError(f"{key} must be positive, not {value:g}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower() if isinstance(value, str | int) else None
        if word in ("true", "yes", "on", "1"):
            return True
        if word in ("false", "no", "off", "0"):
            return False
        raise PayloadError(f"{key} must be true or false, not {_kind(value)}")

    def words(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise PayloadError(f"{key} must be a list of strings")
        return tuple(value)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise PayloadError(f"{key} must be one of {', '.join(choices)}, not {value[:40]!r}")
        return value

    def unit(self, key: str, default: str = "C") -> str:
        value = self.text(key, default)
        if value not in _UNITS:
            raise PayloadError(f"{key} must be C or F, not {value[:20]!r}")
        return _UNITS[value]

    def value_template(self, key: str) -> ValueTemplate | None:
        source = self.text(key)
        return None if source is None else ValueTemplate(source, key)

    def command_template(self, key: str) -> CommandTemplate | None:
        source = self.text(key)
        return None if source is None else CommandTemplate(source, key)

    def sender(self, topic_key: str, template_key: str | None = None) -> Sender | None:
        """What publishes to ``topic_key`` (None when the config has no such topic)."""
        topic = self.topic(topic_key)
        if topic is None:
            return None
        template = self.command_template(template_key) if template_key else None
        return Sender(topic, template, self.flag("retain", False))

    def required_sender(self, topic_key: str, template_key: str | None = None) -> Sender:
        """Like ``sender``, for a topic the component cannot do without."""
        self.topic(topic_key, required=True)
        sender = self.sender(topic_key, template_key)
        assert sender is not None
        return sender

    def reader(self, template_key: str | None) -> Callable[[Payload], str]:
        """Payload -> the text to interpret: through the template when there is one."""
        template = self.value_template(template_key) if template_key else None
        if template is None:
            return lambda payload: payload.text.strip()
        return lambda payload: template.render(payload).strip()


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return repr(value[:40])
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


@dataclass(frozen=True, slots=True)
class Sender:
    """Publishes a command value on one topic, through its command template if any."""

    topic: str
    template: CommandTemplate | None = None
    retain: bool = False

    def __call__(self, value: Any, **variables: Any) -> Publish:
        if self.template is None:
            text = value if isinstance(value, str) else str(value)
        else:
            try:
                text = self.template.render(value, **variables)
            except PayloadError as err:
                raise DriverError(f"its {err}") from err
        return Publish(self.topic, text, self.retain)


# -- state parsers --------------------------------------------------------------------------

PartParser = Callable[[Payload], Mapping[str, Any]]
"""One feature's reading of a payload (the on/off state, the brightness, ...)."""


class StateParsers:
    """Collects feature parsers by topic; builds one ``StateParser`` per topic.

    Several features often share a topic (Zigbee2MQTT's JSON state, a Tasmota ``STATE``
    message read through templates). The combined parser decodes the payload once, runs every
    feature and returns what they read; a feature that fails is skipped (logged at debug) as
    long as another one read something, otherwise its PayloadError is raised.
    """

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: dict[str, list[PartParser]] = {}

    def add(self, topic: str | None, part: PartParser) -> None:
        if topic is not None:
            self._parts.setdefault(topic, []).append(part)

    def build(self) -> dict[str, StateParser]:
        return {topic: _combined(tuple(parts)) for topic, parts in self._parts.items()}


def _combined(parts: tuple[PartParser, ...]) -> StateParser:
    def parse(raw: bytes) -> Mapping[str, Any]:
        payload = Payload(raw)
        if len(parts) == 1:
            return parts[0](payload)
        values: dict[str, Any] = {}
        failure: PayloadError | None = None
        for part in parts:
            try:
                values.update(part(payload))
            except PayloadError as err:
                failure = failure or err
        if failure is not None:
            if not values:
                raise failure
            _LOGGER.debug("Partly read a payload: %s", failure)
        return values

    return parse
