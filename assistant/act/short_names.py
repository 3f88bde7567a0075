"""Short names: what people call a device when its full name is more than they say.

"Kitchen ceiling light" is "the ceiling light" in the kitchen, "Air purifier" is "the
purifier". A short name is a tail of the device's name, one or more whole words:

- after the device's own room when the name starts with it ("Living room lamp" gives
  "lamp", never "room lamp");
- not only kind words ("light", "lamp", "fan", ...): "turn on the light" is the room's
  lights, as Home Assistant reads it, not one device whose name ends in "light";
- not a name, alias, area or floor something else already has: the full name always wins;
- never for a lock, a door, gate or garage door, or a device marked ``sensitive``: those
  are called by their name.

A short name two devices share stays: the speaker's room decides, else the reply asks
which one. Short names only ever add matches: a name that matched before matches the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from assistant.act.registry import normalize_name
from assistant.act.safety import is_risky

if TYPE_CHECKING:
    from assistant.act.registry import Device

__all__ = ["KIND_WORDS", "short_names"]

KIND_WORDS = frozenset(
    {
        "light",
        "lights",
        "lamp",
        "lamps",
        "bulb",
        "bulbs",
        "fan",
        "fans",
        "switch",
        "switches",
        "plug",
        "plugs",
        "socket",
        "outlet",
        "curtain",
        "curtains",
        "blind",
        "blinds",
        "shade",
        "shades",
        "cover",
        "device",
        "devices",
        "sensor",
        "sensors",
        "machine",
        "thing",
        "one",
    }
)
"""Words that say what kind of device, not which one: a short name needs another word."""


def short_names(
    devices: Iterable[Device],
    area_names: Mapping[str, Iterable[str]],
    taken: Iterable[str],
) -> dict[str, tuple[str, ...]]:
    """Device id -> its short names (normalized), for ``devices`` with ``area_names``
    (area id -> its name and aliases, normalized) and every ``taken`` name (normalized)."""
    reserved = set(taken)
    found: dict[str, tuple[str, ...]] = {}
    for device in devices:
        if is_risky(device):  # called by its name only
            continue
        words = normalize_name(device.name).split()
        start = max(1, _room_prefix(words, area_names.get(device.area_id or "", ())))
        tails = [words[i:] for i in range(start, len(words))]
        names = tuple(
            " ".join(tail)
            for tail in tails
            if not KIND_WORDS.issuperset(tail) and " ".join(tail) not in reserved
        )
        if names:
            found[device.id] = names
    return found


def _room_prefix(words: list[str], rooms: Iterable[str]) -> int:
    """How many leading words of the name are its room's name (0 if none): the longest."""
    best = 0
    for room in rooms:
        room_words = room.split()
        if len(room_words) < len(words) and words[: len(room_words)] == room_words:
            best = max(best, len(room_words))
    return best
