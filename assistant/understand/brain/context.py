"""The compact home description the model reads: only exposed devices, only relevant ones.

A device is relevant when the utterance (or a decoder alternative) names it, an alias of it,
its area or its floor; when a recent turn named it; when it is in the speaker's area; when
its kind is mentioned ("lights", "too dark"); or when it shares a distinctive word with the
utterance (a misheard "porch white" still finds the porch light). Strong reasons outrank weak
ones; only when nothing narrows the list is the whole (capped) list sent.

One line per device: ``name (aliases) | kind | area | state``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.act.registry import Device, Registry, normalize_name
from integrations.base import DeviceKind, DeviceState, Trait

__all__ = [
    "DeviceContext",
    "build_context",
    "device_line",
    "state_summary",
    "estimate_tokens",
    "estimate_request_tokens",
    "KIND_WORDS",
]

MAX_DEVICES = 20
"""Device lines sent when something narrowed the list."""
MAX_WEAK = 5
"""Of those, lines with only a weak reason (a kind mentioned elsewhere, the speaker's area)
when a strong one (a name, a recent turn, a distinctive word, an area and kind) matched."""
MAX_UNNARROWED = 25
"""Device lines sent when nothing narrowed the list."""
MAX_ALIASES = 2
"""Aliases shown per device."""

# Reasons and their weights; from _STRONG up a reason alone puts a device in the list.
_NAMED, _RECENT, _WORD, _FOCUS, _KIND, _HERE, _NEARBY = 10, 8, 5, 6, 2, 1, 1
_STRONG = 5

KIND_WORDS: Mapping[str, frozenset[str]] = {
    **dict.fromkeys(
        ("light", "lights", "lamp", "lamps", "bulb", "bulbs", "dark", "bright", "dim"),
        frozenset({"light"}),
    ),
    **dict.fromkeys(("fan", "fans", "purifier", "purifiers", "stuffy"), frozenset({"fan"})),
    **dict.fromkeys(
        ("curtain", "curtains", "blind", "blinds", "shade", "shades", "shutter", "shutters"),
        frozenset({"cover"}),
    ),
    **dict.fromkeys(("garage", "gate", "door", "doors"), frozenset({"cover", "lock"})),
    **dict.fromkeys(
        ("ac", "conditioner", "heater", "heating", "thermostat", "warm", "warmer", "cold"),
        frozenset({"climate"}),
    ),
    **dict.fromkeys(
        ("temperature", "hot", "cool", "cooler", "degrees", "humidity"),
        frozenset({"climate", "sensor"}),
    ),
    **dict.fromkeys(("vacuum", "robot", "hoover", "cleaning", "mop"), frozenset({"vacuum"})),
    **dict.fromkeys(("plug", "plugs", "socket", "outlet", "switch"), frozenset({"switch"})),
    **dict.fromkeys(("lock", "locked", "unlock"), frozenset({"lock"})),
    **dict.fromkeys(("camera", "cameras", "see", "look"), frozenset({"camera"})),
    **dict.fromkeys(("tv", "television", "music", "speaker"), frozenset({"media_player"})),
    **dict.fromkeys(("motion", "window", "windows"), frozenset({"binary_sensor"})),
}
"""Words that point at device kinds, as Home Assistant domains."""

_STOP_WORDS = frozenset(
    "the a an and or to of in on at it is are be please can you me my this that all turn "
    "set make what how with off up down too here there room".split()
)


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """What the model is told about the home for one turn."""

    text: str
    """The lines for the prompt."""
    devices: tuple[Device, ...]
    """The devices listed, in the order listed."""
    exposed: int
    """Exposed devices in the registry (listed or not)."""
    narrowed: bool
    """Whether something in the utterance, history or speaker's area chose the devices."""


def build_context(
    registry: Registry,
    texts: Sequence[str],
    *,
    speaker_area: str | None = None,
    history: Sequence[str] = (),
    recent_ids: Collection[str] = (),
) -> DeviceContext:
    """The context for an utterance; ``texts``: the transcript and its alternatives;
    ``history``: what recent turns said; ``recent_ids``: the devices they were about."""
    exposed = [d for d in registry.devices() if d.exposed]
    scores = _scores(registry, exposed, _padded(texts), _padded(history), speaker_area)
    for device_id in set(recent_ids) & scores.keys():
        scores[device_id] += _RECENT
    chosen = _choose(exposed, scores)
    narrowed = bool(chosen)
    if not narrowed:
        chosen = sorted(exposed, key=lambda d: (d.area_id != speaker_area, d.area_id or "", d.name))
        chosen = chosen[:MAX_UNNARROWED]
    chosen.sort(key=lambda d: (d.area_id or "", d.name))
    lines = [f"Speaker is in area: {speaker_area}"] if speaker_area is not None else []
    lines.append(f"Devices ({len(chosen)} of {len(exposed)}; name | kind | area | state):")
    lines += [device_line(d, registry.state(d.id)) for d in chosen]
    return DeviceContext("\n".join(lines), tuple(chosen), len(exposed), narrowed)


def _padded(texts: Iterable[str]) -> str:
    """Words of ``texts``, casefolded, punctuation gone, each text padded with spaces."""
    return " ".join(f" {_words(t)} " for t in texts)


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]+", " ", normalize_name(text).replace("_", " ")).split())


def _mentions(haystack: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``haystack`` as whole words (a plural 's' allowed)."""
    key = _words(phrase)
    return bool(key) and (f" {key} " in haystack or f" {key}s " in haystack)


def _scores(
    registry: Registry,
    devices: Sequence[Device],
    said: str,
    recent: str,
    speaker_area: str | None,
) -> dict[str, int]:
    """Device id -> how relevant it is (0: not at all)."""
    area_words = _area_words(registry)
    domains = {
        domain
        for word in said.split()
        if word not in area_words  # "the garage" is a room, not a garage door
        for domain in KIND_WORDS.get(word, ())
    }
    short = registry.short_names()  # "the purifier" names the air purifier
    named = {
        d.id
        for d in devices
        if any(_mentions(said, n) for n in (*d.spoken_names(), *short.get(d.id, ())))
    }
    focus = _mentioned_areas(registry, said)
    if not focus and not named and speaker_area is not None:
        focus = {speaker_area}  # "it's too dark in here"
    words = {w for w in said.split() if len(w) >= 4 and w not in _STOP_WORDS}
    words -= set(KIND_WORDS) | area_words
    scores: dict[str, int] = {}
    for device in devices:
        names = device.spoken_names()
        score = _NAMED if device.id in named else 0
        if not score and words & {w for n in names for w in _words(n).split()}:
            score += _WORD
        if recent.strip() and any(_mentions(recent, n) for n in names):  # said, not acted on
            score += _RECENT
        of_kind = device.domain in domains or device.kind.value in domains
        if device.area_id in focus:
            score += _FOCUS if of_kind or not domains else _NEARBY
        elif of_kind:
            score += _KIND
        if speaker_area is not None and device.area_id == speaker_area:
            score += _HERE
        scores[device.id] = score
    return scores


def _mentioned_areas(registry: Registry, said: str) -> set[str]:
    """Ids of the areas the utterance names, directly or by their floor."""
    found: set[str] = set()
    for floor_id, floor in registry.floors().items():
        if _mentions(said, floor) or _mentions(said, floor_id):
            found.update(a.id for a in registry.areas_on_floor(floor_id))
    for area in registry.areas():
        if any(_mentions(said, n) for n in (area.name, *area.aliases, area.id)):
            found.add(area.id)
    return found


def _area_words(registry: Registry) -> set[str]:
    return {w for a in registry.areas() for n in (a.name, *a.aliases) for w in _words(n).split()}


def _choose(devices: Sequence[Device], scores: Mapping[str, int]) -> list[Device]:
    """The relevant devices, best first: strong reasons, then at most a few weak ones."""
    ranked = sorted((d for d in devices if scores[d.id] > 0), key=lambda d: -scores[d.id])
    strong = [d for d in ranked if scores[d.id] >= _STRONG][:MAX_DEVICES]
    weak = [d for d in ranked if scores[d.id] < _STRONG]
    room = MAX_DEVICES - len(strong)
    if strong:
        room = min(room, MAX_WEAK)
    return strong + weak[:room]


def device_line(device: Device, state: DeviceState) -> str:
    """``Kitchen light (ceiling) | light | kitchen | on 80%``; names are unique (config)."""
    name = device.name
    if device.aliases:
        name += " (" + ", ".join(device.aliases[:MAX_ALIASES]) + ")"
    area = device.area_id or "-"
    return f"{name} | {device.kind.value} | {area} | {state_summary(device, state)}"


def state_summary(device: Device, state: DeviceState) -> str:
    """A few words: ``on 80%``, ``open 40%``, ``off``, ``21.5°C set 23°C``, ``offline``."""
    values = state.values
    if not state.available:
        return "offline" if values else "unknown"
    parts: list[str] = []
    on = values.get(Trait.ON_OFF)
    if device.kind is DeviceKind.COVER and Trait.POSITION in values:
        position = values[Trait.POSITION]
        parts.append("closed" if position == 0 else f"open {position}%")
    elif on is not None:
        parts.append("on" if on else "off")
    parts += _details(device, values, on is not False)
    return " ".join(parts) or "-"


def _details(device: Device, values: Mapping[str, object], on: bool) -> list[str]:
    parts: list[str] = []
    if on and Trait.BRIGHTNESS in values:
        parts.append(f"{values[Trait.BRIGHTNESS]}%")
    if on and Trait.FAN_SPEED in values:
        parts.append(f"speed {values[Trait.FAN_SPEED]}%")
    if Trait.CURRENT_TEMPERATURE in values:
        parts.append(f"{values[Trait.CURRENT_TEMPERATURE]}°C")
    if on and Trait.TARGET_TEMPERATURE in values:
        parts.append(f"set {values[Trait.TARGET_TEMPERATURE]}°C")
    if Trait.HUMIDITY in values:
        parts.append(f"{values[Trait.HUMIDITY]}%RH")
    if Trait.VACUUM in values:
        parts.append(str(values[Trait.VACUUM]))
    if Trait.LOCKED in values:
        parts.append("locked" if values[Trait.LOCKED] else "unlocked")
    if Trait.ACTIVE in values:
        parts.append("active" if values[Trait.ACTIVE] else "inactive")
    if Trait.VALUE in values:
        parts.append(f"{values[Trait.VALUE]}{device.spec.unit or ''}")
    return parts


_TOKEN_PIECES = re.compile(r"[A-Za-z]+|\d{1,3}|[^\x00-\x7f]|[!-/:-@\[-`{-~]+")


def estimate_tokens(text: str) -> int:
    """Roughly how many tokens a BPE tokenizer makes of ``text``.

    A run of Latin letters is one token plus one per further 8 letters (spaces belong to the
    next word), digits one per group of three, a run of ASCII punctuation one per two
    characters, any other character (CJK, accents) one. On this project's prompts it lands
    within ~15% of GPT-2's BPE (the bench prints both); tokenizers with larger vocabularies
    (MiMo's, cl100k) give fewer.
    """
    total = 0
    for piece in _TOKEN_PIECES.findall(text):
        if piece[0].isascii() and piece[0].isalpha():
            total += 1 + (len(piece) - 1) // 8
        elif piece[0].isascii() and not piece[0].isdigit():
            total += (len(piece) + 1) // 2
        else:
            total += 1
    return total


IMAGE_TOKENS = 85
"""What :func:`estimate_request_tokens` counts for one image part (a low-detail tile)."""


def estimate_request_tokens(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] = ()
) -> int:
    """:func:`estimate_tokens` of a whole request: 4 tokens of framing per message, text
    parts, tool calls, and the tool definitions as JSON; each image :data:`IMAGE_TOKENS`."""
    total = estimate_tokens(json.dumps(list(tools))) if tools else 0
    for message in messages:
        total += 4
        content = message.get("content")
        if isinstance(content, str):
            total += estimate_tokens(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "image_url":
                    total += IMAGE_TOKENS
                else:
                    total += estimate_tokens(str(part.get("text", "")))
        if message.get("tool_calls"):
            total += estimate_tokens(json.dumps(message["tool_calls"]))
    return total
