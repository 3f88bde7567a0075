"""Zigbee2MQTT as a device source: the retained ``<base>/bridge/devices`` list -> entities.

Each device in the list carries its *exposes* (what it reports and accepts); they become one
``Entity`` per device (``bindings`` turns exposes into trait bindings). Decisions:

- Skipped: the coordinator, devices marked unsupported or disabled, devices without a
  definition (not interviewed yet) and devices with nothing we model (a remote's ``action``).
- A device entry that cannot be read is skipped and its reason kept in ``last_problems``; only
  a list that is not a JSON list fails the whole message.
- ``unique_id`` is the IEEE address (``0x00158d0001a2b3c4``); keys are the friendly name, the
  address and ``z2m:<address>``.
- Name: the friendly name's last ``/`` part, underscores read as spaces
  (``kitchen/ceiling_light`` -> "ceiling light"); with a ``/`` its first part is the area hint
  ("kitchen"). A device whose friendly name is still its address is named by its description.
- State from ``<base>/<friendly name>``, commands to ``<base>/<friendly name>/set`` (all of
  one batch in one JSON object), availability from ``<base>/<friendly name>/availability``
  (``{"state":"online"}`` or plain ``online``). That topic stays silent unless Zigbee2MQTT's
  availability feature is on, so ``bridge/info`` is read too: when it says the feature is
  off (globally or for a device), entities carry no availability topic at all.
- Only new or changed entities are reported (the list is republished on every join, rename
  or interview); a device missing from a new list is reported removed. A rename replaces the
  entity (same ``unique_id``, new topics). An empty payload (a cleared retained list) removes
  every device.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations.base import DeviceSpec, Unsupported

from .entity import (
    AvailabilityTopic,
    Encoder,
    Entity,
    PayloadError,
    Publish,
    SourceUpdate,
    StateParser,
    decode_text,
    parse_json,
)
from .z2m_exposes import READ, WRITE, Binding, device_bindings, read_value, write_value

if TYPE_CHECKING:
    from assistant.messages import DeviceCommand

__all__ = ["BRIDGE_DEVICES_LIMIT", "Zigbee2Mqtt"]

BRIDGE_DEVICES_LIMIT = 16 * 1024 * 1024
"""Bytes; the cap on a ``bridge/devices`` payload (hundreds of devices with full exposes)."""

_IEEE = re.compile(r"0x[0-9a-fA-F]{16}")
_GET = 4
"""``access`` bit: the property can be asked for with ``/get``."""
_MAX_NAME = 200
"""Characters; a longer friendly name is refused."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything an entity is built from; equal plans mean an unchanged entity."""

    unique_id: str
    friendly_name: str
    name: str
    area: str | None
    spec: DeviceSpec
    bindings: tuple[Binding, ...]


class Zigbee2Mqtt:
    """Reads one Zigbee2MQTT instance's device list; pure, no I/O."""

    def __init__(self, base_topic: str = "zigbee2mqtt") -> None:
        base = base_topic.strip("/")
        if not base or any(char in base for char in "+#\0"):
            raise ValueError(f"not a usable Zigbee2MQTT base topic: {base_topic!r}")
        self.base_topic = base
        self.topics: tuple[str, ...] = (f"{base}/bridge/devices", f"{base}/bridge/info")
        """Subscription filters for the discovery messages ``handle`` reads."""
        self.last_problems: list[str] = []
        """Why devices of the last list were skipped, one line each (for the driver's log)."""
        self._plans: dict[str, _Plan] = {}
        self._availability = True
        """Whether devices publish availability; True until ``bridge/info`` says otherwise."""
        self._silent: frozenset[str] = frozenset()
        """IEEE addresses whose availability is turned off one by one."""

    def handle(self, topic: str, payload: bytes) -> SourceUpdate:
        """One ``bridge/devices`` message -> entities added or replaced, ids removed; one
        ``bridge/info`` message -> the entities whose availability was turned on or off.

        Raises PayloadError (nothing changes) when the payload is not a JSON list (object).
        """
        if topic == self.topics[1]:
            return self._info(payload)
        if topic != self.topics[0]:
            raise PayloadError(f"not a Zigbee2MQTT discovery topic: {topic[:80]!r}")
        self.last_problems = []
        if not payload:
            return self._replace({})
        devices = parse_json(payload, limit=BRIDGE_DEVICES_LIMIT)
        if not isinstance(devices, list):
            raise PayloadError(f"bridge/devices is a JSON {type(devices).__name__}, not a list")
        plans: dict[str, _Plan] = {}
        for index, entry in enumerate(devices):
            try:
                plan = _plan(entry)
            except PayloadError as err:
                self.last_problems.append(f"device {index} ({_label(entry)}): {err}")
                continue
            if plan is None:
                continue
            if plan.unique_id in plans:
                self.last_problems.append(f"device {index}: {plan.unique_id} is listed twice")
                continue
            plans[plan.unique_id] = plan
        return self._replace(plans)

    def _info(self, payload: bytes) -> SourceUpdate:
        """``bridge/info``: whether devices publish ``/availability`` at all (off by default
        in Zigbee2MQTT; an entity waiting for a word that never comes would look offline)."""
        if not payload:
            return SourceUpdate()
        info = parse_json(payload, limit=BRIDGE_DEVICES_LIMIT)
        config = info.get("config") if isinstance(info, dict) else None
        devices = config.get("devices", {}) if isinstance(config, dict) else None
        if not isinstance(config, dict) or not isinstance(devices, dict):
            raise PayloadError("bridge/info has no config object with a devices object")
        enabled = _switched_on(config.get("availability"))
        silent = frozenset(
            ieee.lower()
            for ieee, options in devices.items()
            if isinstance(options, dict) and options.get("availability") is False
        )
        before = {key: self._watches(key) for key in self._plans}
        self._availability, self._silent = enabled, silent
        changed = [plan for key, plan in self._plans.items() if self._watches(key) != before[key]]
        return SourceUpdate(added=tuple(self._entity(plan) for plan in changed))

    def _watches(self, unique_id: str) -> bool:
        return self._availability and unique_id not in self._silent

    def _replace(self, plans: dict[str, _Plan]) -> SourceUpdate:
        added = tuple(
            self._entity(plan) for key, plan in plans.items() if self._plans.get(key) != plan
        )
        removed = tuple(key for key in self._plans if key not in plans)
        self._plans = plans
        return SourceUpdate(added=added, removed=removed)

    def _entity(self, plan: _Plan) -> Entity:
        device_topic = f"{self.base_topic}/{plan.friendly_name}"
        readable = tuple(binding for binding in plan.bindings if binding.access & READ)
        return Entity(
            unique_id=plan.unique_id,
            name=plan.name,
            spec=plan.spec,
            source="zigbee2mqtt",
            encode=_encoder(f"{device_topic}/set", plan.bindings),
            state={device_topic: _parser(readable)} if readable else {},
            availability=(AvailabilityTopic(f"{device_topic}/availability", value=_word),)
            if self._watches(plan.unique_id)
            else (),
            area=plan.area,
            keys=(plan.friendly_name, plan.unique_id, f"z2m:{plan.unique_id}"),
            query=_query(f"{device_topic}/get", plan.bindings),
        )


def _query(topic: str, bindings: Sequence[Binding]) -> tuple[Publish, ...]:
    """``<base>/<name>/get`` with every gettable property (access bit 4), if any."""
    gettable = sorted({b.prop for b in bindings if b.access & _GET})
    if not gettable:
        return ()
    return (Publish(topic, json.dumps(dict.fromkeys(gettable, ""))),)


# -- one device entry ------------------------------------------------------------------------


def _plan(entry: Any) -> _Plan | None:
    """A ``bridge/devices`` entry -> its plan; None for a device we leave out on purpose."""
    if not isinstance(entry, dict):
        raise PayloadError("the entry is not a JSON object")
    ieee = entry.get("ieee_address")
    if not isinstance(ieee, str) or not _IEEE.fullmatch(ieee):
        raise PayloadError(f"ieee_address {_show(ieee)} is not a 64-bit hex address")
    if entry.get("type") == "Coordinator":
        return None
    friendly_name = _friendly_name(entry.get("friendly_name"))
    supported = entry.get("supported", True)
    disabled = entry.get("disabled", False)
    if not isinstance(supported, bool) or not isinstance(disabled, bool):
        raise PayloadError("supported/disabled are not booleans")
    definition = entry.get("definition")
    if not supported or disabled or definition is None:
        return None
    if not isinstance(definition, dict):
        raise PayloadError("definition is not a JSON object")
    model = _optional_text(definition, "model")
    description = _optional_text(definition, "description")
    found = device_bindings(definition.get("exposes", []))
    if found is None:
        return None
    kind, bindings, extra = found
    name, area = _names(friendly_name, ieee.lower(), description or model)
    spec = DeviceSpec(kind=kind, traits=frozenset(b.trait for b in bindings), model=model, **extra)
    return _Plan(ieee.lower(), friendly_name, name, area, spec, bindings)


def _friendly_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PayloadError("friendly_name is missing")
    if len(value) > _MAX_NAME or any(char in value for char in "+#\0"):
        raise PayloadError(f"friendly_name {_show(value)} cannot be used in a topic")
    if value.startswith("/") or value.endswith("/"):
        raise PayloadError(f"friendly_name {_show(value)} starts or ends with '/'")
    return value


def _names(friendly_name: str, ieee: str, fallback: str | None) -> tuple[str, str | None]:
    """Spoken name and area hint from a friendly name (``kitchen/ceiling_light``)."""
    if friendly_name.lower() == ieee and fallback:
        return _spoken(fallback), None
    parts = [_spoken(part) for part in friendly_name.split("/")]
    parts = [part for part in parts if part]
    if not parts:
        return friendly_name, None
    return parts[-1], (parts[0] if len(parts) > 1 else None)


def _spoken(text: str) -> str:
    return " ".join(text.replace("_", " ").split())


def _optional_text(mapping: dict[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{key} is not a string")
    return value.strip()[:_MAX_NAME] or None


def _switched_on(availability: Any) -> bool:
    """``config.availability``: absent or false (off), true, or an object (1.x: on; 2.x: its
    ``enabled``)."""
    if availability is None or isinstance(availability, bool):
        return bool(availability)
    if isinstance(availability, dict):
        enabled = availability.get("enabled", True)
        if isinstance(enabled, bool):
            return enabled
    raise PayloadError("bridge/info config.availability is neither a boolean nor an object")


def _label(entry: Any) -> str:
    if isinstance(entry, dict):
        for key in ("friendly_name", "ieee_address"):
            if isinstance(entry.get(key), str):
                return entry[key][:60]
    return "?"


def _show(value: Any) -> str:
    return repr(value)[:60]


# -- topics ----------------------------------------------------------------------------------


def _parser(bindings: Sequence[Binding]) -> StateParser:
    """State parser for ``<base>/<friendly name>``: only the declared properties are read."""

    def parse(payload: bytes) -> dict[str, Any]:
        document = parse_json(payload)
        if not isinstance(document, dict):
            raise PayloadError(f"state is a JSON {type(document).__name__}, not an object")
        values: dict[str, Any] = {}
        for binding in bindings:
            raw = document.get(binding.prop)
            if raw is None:  # absent, or null before the device first reported it
                continue
            value = read_value(binding, raw)
            if value is not None:
                values[binding.trait.value] = value
        return values

    return parse


def _encoder(set_topic: str, bindings: Sequence[Binding]) -> Encoder:
    """Commands -> one JSON object on ``<base>/<friendly name>/set``."""
    writable: dict[str, Binding] = {}
    for binding in bindings:
        if binding.access & WRITE:
            writable.setdefault(binding.trait.value, binding)

    def encode(commands: Sequence[DeviceCommand]) -> list[Publish]:
        body: dict[str, Any] = {}
        for command in commands:
            binding = writable.get(str(command.trait))
            if binding is None:
                raise Unsupported(f"this device cannot set {command.trait}")
            body[binding.prop] = write_value(binding, command.value)
        if not body:
            return []
        return [Publish(set_topic, json.dumps(body, separators=(",", ":")))]

    return encode


def _word(payload: bytes) -> str:
    """Availability word from ``{"state":"online"}`` (the current format) or plain ``online``
    (Zigbee2MQTT's ``legacy_availability_payload``)."""
    text = decode_text(payload).strip()
    if not text.startswith("{"):
        return text
    document = parse_json(text)
    state = document.get("state") if isinstance(document, dict) else None
    if not isinstance(state, str):
        raise PayloadError("availability has no state string")
    return state.strip()
