"""Tools = intents: the JSON-schema tools the model may call, and their calls as Intents.

Each tool is one intent the handlers support, with the slots its handler reads. A call is
checked here (known tool, JSON object, known keys, types, ranges, a device or area that
exists and is exposed) before it becomes an ``Intent(source=LLM)``; anything else becomes a
:class:`Rejection` that is fed back to the model and never reaches a device.

``LookAtCamera`` is no intent: it only looks. The brain offers it when the turn has cameras
(and a vision model) to look through; :func:`camera_argument` checks its one argument, and
the brain answers it with what the vision model sees, as data. Timers are not tools yet: no
handler exists for them. Confirmation intents (``MimoConfirm``, ``MimoCancel``,
``HassNevermind``) never are: a confirmation must come from the person, not from the model.

Queries (:func:`is_query`) only read: their answer may be what the model needs to decide its
next call, so the brain always sends it back; a round of calls that only act ends the turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.act.registry import HA_DOMAINS, Device, Registry, normalize_name
from assistant.act.targets import resolve_targets
from assistant.messages import Intent, IntentSource
from intents.handlers.lights import COLORS

__all__ = [
    "LOOK_TOOL",
    "ToolSpec",
    "TOOL_SPECS",
    "Rejection",
    "camera_argument",
    "is_query",
    "look_tool",
    "tool_definitions",
    "to_intent",
]

_KIND_DOMAINS = {kind.value: domain for kind, domain in HA_DOMAINS.items()}
"""Our kinds (``purifier``) as the HA domains the handlers expect (``fan``)."""
_DOMAINS = frozenset(HA_DOMAINS.values())
_TARGET_SLOTS = ("name", "area")
MAX_ARGUMENT_CHARS = 2000
"""Longer argument text is refused unread."""
_QUERY = re.compile(r"Get(?![a-z])")


def _percent(what: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": 100, "description": what}


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One intent as a tool."""

    intent: str
    description: str
    slots: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Slot name -> JSON schema, besides the target slots (name, area)."""
    required: tuple[str, ...] = ()
    implied_domain: str | None = None
    """The domain the handler assumes when no device is named (``HassLightSet``: light)."""
    one_of: tuple[str, ...] = ()
    """At least one of these slots must be given."""


_DOMAIN = {"type": "string", "description": "a kind: light, fan, cover, ..."}
TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec("HassTurnOn", "Turn on; opens covers, starts vacuums", {"domain": _DOMAIN}),
    ToolSpec("HassTurnOff", "Turn off; closes covers, docks vacuums", {"domain": _DOMAIN}),
    ToolSpec(
        "HassLightSet",
        "Set lights' brightness, colour or colour temperature",
        {
            "brightness": _percent("percent"),
            "color": {"type": "string", "description": "a colour name, e.g. red"},
            "temperature": {"type": "integer", "minimum": 1000, "maximum": 10000},
        },
        implied_domain="light",
        one_of=("brightness", "color", "temperature"),
    ),
    ToolSpec(
        "HassGetState",
        "Ask whether devices are on/off/open/closed",
        {"domain": _DOMAIN, "state": {"type": "string", "enum": ["on", "off", "open", "closed"]}},
    ),
    ToolSpec(
        "HassSetPosition",
        "Move covers to a position",
        {"position": _percent("percent open")},
        required=("position",),
        implied_domain="cover",
    ),
    ToolSpec(
        "HassFanSetSpeed",
        "Set fan or purifier speed",
        {"percentage": _percent("percent")},
        required=("percentage",),
        implied_domain="fan",
    ),
    ToolSpec(
        "HassClimateSetTemperature",
        "Set the target temperature",
        {"temperature": {"type": "number", "minimum": 5, "maximum": 35}},
        required=("temperature",),
        implied_domain="climate",
    ),
    ToolSpec("HassClimateGetTemperature", "Read the temperature (°C)"),
    ToolSpec("HassVacuumStart", "Start vacuums", implied_domain="vacuum"),
    ToolSpec("HassVacuumReturnToBase", "Send vacuums to their dock", implied_domain="vacuum"),
)
"""Tool descriptions per intent; only those with a handler become tools."""
_SPECS = {spec.intent: spec for spec in TOOL_SPECS}


def tool_definitions(supported: Collection[str]) -> list[dict[str, Any]]:
    """The chat-completions ``tools`` for the intents in ``supported`` (e.g. ``HANDLERS``)."""
    return [_definition(spec) for spec in TOOL_SPECS if spec.intent in supported]


def is_query(intent: str) -> bool:
    """Whether ``intent`` only reads: Home Assistant names those ``...Get...``
    (``HassGetState``, ``HassClimateGetTemperature``; later ``HassGetWeather``, ...)."""
    return _QUERY.search(intent) is not None


LOOK_TOOL = "LookAtCamera"


def look_tool(cameras: Sequence[str]) -> dict[str, Any]:
    """The ``LookAtCamera`` tool for the cameras called ``cameras``."""
    name = {"type": "string", "enum": list(cameras), "description": "a camera name"}
    parameters = {"type": "object", "properties": {"name": name}, "required": ["name"]}
    description = "Take a fresh picture with a camera; you get a description of it"
    function = {"name": LOOK_TOOL, "description": description, "parameters": parameters}
    return {"type": "function", "function": function}


def camera_argument(arguments: str, cameras: Sequence[str]) -> str | Rejection:
    """The camera a ``LookAtCamera`` call names (as configured), or why it names none."""
    args = _arguments(LOOK_TOOL, arguments)
    if isinstance(args, Rejection):
        return args
    wanted = args.get("name")
    found = [c for c in cameras if isinstance(wanted, str) and c.casefold() == wanted.casefold()]
    if set(args) != {"name"} or not found:
        reason = f"give name, one of: {', '.join(cameras)}"
        return Rejection(LOOK_TOOL, reason, "bad_arguments")
    return found[0]


def _definition(spec: ToolSpec) -> dict[str, Any]:
    properties: dict[str, Any] = {slot: {"type": "string"} for slot in _TARGET_SLOTS}
    properties.update(spec.slots)
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if spec.required:
        parameters["required"] = list(spec.required)
    function = {"name": spec.intent, "description": spec.description, "parameters": parameters}
    return {"type": "function", "function": function}


@dataclass(frozen=True, slots=True)
class Rejection:
    """A tool call that was not carried out, and why."""

    tool: str
    reason: str
    """For the model (fed back as the tool's result)."""
    problem: str
    """Machine code: ``unknown_tool``, ``bad_arguments``, ``no_device``, ``no_area``,
    ``ambiguous``, ``not_exposed``, ``needs_area``."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Words for the spoken reply: ``name``, ``area``, ``candidates``."""


@dataclass(frozen=True, slots=True)
class _Call:
    """What a call needs besides its arguments."""

    registry: Registry
    speaker_area: str | None
    text: str


def to_intent(
    name: str,
    arguments: str,
    registry: Registry,
    *,
    supported: Collection[str],
    speaker_area: str | None = None,
    text: str = "",
) -> Intent | Rejection:
    """A tool call as an ``Intent(source=LLM)``, or why it cannot be one."""
    spec = _SPECS.get(name)
    if spec is None or name not in supported:
        return Rejection(name, f"unknown tool {name!r}", "unknown_tool")
    args = _arguments(name, arguments)
    if isinstance(args, Rejection):
        return args
    if isinstance(args.get("domain"), str):
        args["domain"] = _KIND_DOMAINS.get(args["domain"], args["domain"])
    problem = _check_types(spec, args)
    if problem is not None:
        return Rejection(name, problem, "bad_arguments")
    return _build(spec, args, _Call(registry, speaker_area, text))


def _arguments(tool: str, text: str) -> dict[str, Any] | Rejection:
    if len(text) > MAX_ARGUMENT_CHARS:
        return Rejection(tool, "arguments too long", "bad_arguments")
    try:
        args = json.loads(text or "{}")
    except ValueError:
        return Rejection(tool, "arguments are not valid JSON", "bad_arguments")
    if not isinstance(args, dict):
        return Rejection(tool, "arguments must be a JSON object", "bad_arguments")
    # Models send null for "not given".
    return {key: value for key, value in args.items() if value is not None}


def _check_types(spec: ToolSpec, args: Mapping[str, Any]) -> str | None:
    """The first problem with the arguments' keys, types and ranges, or None."""
    schema = _definition(spec)["function"]["parameters"]
    properties = schema["properties"]
    unknown = sorted(set(args) - set(properties))
    if unknown:
        return f"unknown argument(s): {', '.join(unknown)}"
    missing = [slot for slot in spec.required if slot not in args]
    if missing:
        return f"missing argument(s): {', '.join(missing)}"
    if spec.one_of and not any(slot in args for slot in spec.one_of):
        return f"give one of: {', '.join(spec.one_of)}"
    for key, value in args.items():
        problem = _check_value(properties[key], value)
        if problem is not None:
            return f"{key}: {problem}"
    if "color" in args and args["color"] not in COLORS:
        return f"color: one of {', '.join(sorted(COLORS))}"
    if "domain" in args and args["domain"] not in _DOMAINS:
        return f"domain: one of {', '.join(sorted(_DOMAINS))}"
    return None


def _check_value(schema: Mapping[str, Any], value: Any) -> str | None:
    kind = schema["type"]
    if kind == "string" and not isinstance(value, str):
        return "expected a string"
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "expected a number"
        if kind == "integer" and value != int(value):
            return "expected a whole number"
        if not schema.get("minimum", value) <= value <= schema.get("maximum", value):
            return f"must be from {schema['minimum']} to {schema['maximum']}"
    if "enum" in schema and value not in schema["enum"]:
        return f"must be one of {', '.join(schema['enum'])}"
    return None


def _build(spec: ToolSpec, args: dict[str, Any], call: _Call) -> Intent | Rejection:
    slots = dict(args)
    texts: dict[str, str] = {}
    problem = _place(spec, slots, texts, call)
    if problem is not None:
        return problem
    problem = _exposure(spec, slots, texts, call)
    if problem is not None:
        return problem
    for key in ("brightness", "position", "percentage", "temperature"):
        if key in slots and spec.slots.get(key, {}).get("type") == "integer":
            slots[key] = int(slots[key])
    return Intent(
        spec.intent,
        slots,
        source=IntentSource.LLM,
        text=call.text,
        slot_texts=texts,
    )


def _place(
    spec: ToolSpec, slots: dict[str, Any], texts: dict[str, str], call: _Call
) -> Rejection | None:
    """Resolve name and area to registry ids in ``slots``; default to the speaker's area."""
    registry = call.registry
    if "area" in slots:
        area = registry.find_area(str(slots["area"]))
        if area is None:
            return Rejection(spec.intent, f"no area {slots['area']!r}", "no_area", slots)
        slots["area"], texts["area"] = area.id, area.name
    if "name" in slots:
        return _place_device(spec, slots, texts, registry)
    if "area" not in slots:
        if call.speaker_area is None:
            return Rejection(spec.intent, "give a device name or an area", "needs_area")
        slots["area"] = call.speaker_area
    return None


def _place_device(
    spec: ToolSpec, slots: dict[str, Any], texts: dict[str, str], registry: Registry
) -> Rejection | None:
    """The ``name`` slot (a device id, name or alias) as the one exposed device it means."""
    wanted = str(slots["name"])
    found = _find_exposed(registry, wanted, slots.get("area"))
    if not found:
        reason = f"no device {wanted!r}; use an id from the device list"
        return Rejection(spec.intent, reason, "no_device", {"name": wanted})
    if len(found) > 1:
        ids = ", ".join(d.id for d in found)
        names = [d.name for d in found]
        reason = f"{wanted!r} may mean {ids}; call again with one id"
        return Rejection(spec.intent, reason, "ambiguous", {"name": wanted, "candidates": names})
    device = found[0]
    slots["name"] = normalize_name(device.name)
    texts["name"] = device.name
    namesakes = registry.find_by_name(device.name)
    if len(namesakes) > 1:
        # Another device answers to this name: pin the area, or refuse if that is not enough.
        slots["area"] = device.area_id
        if sum(d.area_id == device.area_id for d in namesakes) > 1 or device.area_id is None:
            reason = f"{device.id} shares its name with another device in its area"
            return Rejection(spec.intent, reason, "ambiguous", {"name": device.name})
    return None


def _find_exposed(registry: Registry, wanted: str, area_id: str | None) -> list[Device]:
    devices = [d for d in registry.devices() if d.exposed]
    by_id = [d for d in devices if d.id == wanted]
    if by_id:
        return by_id
    key = normalize_name(wanted)
    found = [d for d in devices if key in {normalize_name(n) for n in d.spoken_names()}]
    if area_id is not None:
        found = [d for d in found if d.area_id == area_id]
    return found


def _exposure(
    spec: ToolSpec, slots: Mapping[str, Any], texts: Mapping[str, str], call: _Call
) -> Rejection | None:
    """Refuse a call whose targets would include a device the LLM may not touch."""
    resolved = dict(slots)
    if spec.implied_domain is not None and "name" not in resolved:
        resolved.setdefault("domain", spec.implied_domain)
    targets = resolve_targets(call.registry, resolved, texts, speaker_area=call.speaker_area)
    hidden = [d for d in targets.devices if not d.exposed]
    if hidden:
        reason = "that would include devices you may not control; name exposed devices instead"
        return Rejection(spec.intent, reason, "not_exposed")
    return None
