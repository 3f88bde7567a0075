"""The local grammar: hassil with Home Assistant's sentences plus our own.

Slot lists are built from the registry: device names, aliases and short names (``name``,
see ``assistant.act.short_names``), areas and their aliases (``area``), floors (``floor``).
The speaker's area is the intent context, so "turn on the lights" acts on the room the
command came from. Name matches win over area + domain matches (``best_slot_name="name"``).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import home_assistant_intents
from hassil import Intents, recognize_all, recognize_best
from hassil.intents import TextSlotList
from hassil.models import UnmatchedTextEntity
from hassil.recognize import MISSING_ENTITY
from hassil.util import merge_dict
from ruamel.yaml import YAML

from assistant.act.registry import Registry, normalize_name
from assistant.messages import Intent, IntentSource

__all__ = ["GrammarRecognizer", "NoMatch", "SENTENCES_DIR"]

_LOGGER = logging.getLogger(__name__)

_MAX_UNKNOWN_WORDS = 4
_GENERIC_WORDS = frozenset(
    {
        "light",
        "lights",
        "lamp",
        "lamps",
        "fan",
        "fans",
        "room",
        "temperature",
        "everything",
        "curtain",
        "curtains",
        "blinds",
        "switch",
        "switches",
        "plug",
        "plugs",
        "devices",
    }
)
"""Words that may appear in an unknown name ("garage lamp") even though known names use
them; a name made only of these ("the lights") is a kind, not a name we lack."""
_PLURALS = frozenset({"lights", "lamps", "fans", "switches", "plugs", "curtains", "devices"})
"""A name ending in one of these ("the garage lights") is a kind in a place, not a name."""
_DEVICE_WORDS = frozenset({"light", "lamp", "fan", "plug", "switch", "curtain", "bulb", "heater"})
"""A word that, after an unknown area ("garage lamp"), makes it a device name instead."""
_SENTENCE_WORDS = frozenset(
    {
        "is",
        "are",
        "turn",
        "switch",
        "set",
        "what",
        "how",
        "to",
        "on",
        "off",
        "in",
        "of",
        "at",
        "please",
        "it",
        "up",
        "down",
        "open",
        "close",
        "start",
        "the",
        "a",
        "an",
        "here",
        "this",
        "my",
        "our",
        "all",
    }
)
"""Words of the sentence itself, never part of a name we are missing."""

SENTENCES_DIR = Path(__file__).resolve().parents[2] / "intents" / "sentences"


@dataclass(frozen=True, slots=True)
class NoMatch:
    """The grammar could not place the text.

    ``unknown`` names what was not found, e.g. ``{"name": "garage lamp"}``; empty when
    the sentence itself was not understood.
    """

    text: str
    unknown: Mapping[str, str] = field(default_factory=dict)
    intent_name: str | None = None
    """The intent the sentence looked like, when ``unknown`` is set."""
    needs_area: bool = False
    """The sentence acts on "this room", and the speaker's room is not known."""


def _load_language(language: str, extra_dir: Path) -> dict[str, Any]:
    data = home_assistant_intents.get_intents(language)
    if data is None:
        raise ValueError(f"no sentences for language {language!r}")
    merged = copy.deepcopy(data)
    yaml = YAML(typ="safe")
    for path in sorted((extra_dir / language).glob("*.yaml")):
        merge_dict(merged, yaml.load(path.read_text(encoding="utf-8")))
    return merged


class GrammarRecognizer:
    """Text -> Intent with hassil. Pure CPU work: call it from a thread."""

    def __init__(
        self,
        registry: Registry,
        *,
        language: str = "en",
        sentences_dir: Path = SENTENCES_DIR,
    ) -> None:
        self._registry = registry
        self._language = language
        data = _load_language(language, sentences_dir)
        self._intents = Intents.from_dict(data)
        self._skip_words = list(data.get("skip_words", []))
        self._lists_version = -1
        self._slot_lists: dict[str, TextSlotList] = {}
        self._lock = threading.Lock()
        self._known_words: frozenset[str] = frozenset()

    @property
    def intent_names(self) -> list[str]:
        return sorted(self._intents.intents)

    def recognize(self, text: str, *, area_id: str | None = None) -> Intent | NoMatch:
        """Recognize ``text`` spoken in ``area_id``."""
        slot_lists = self._current_slot_lists()
        context = {"area": area_id} if area_id else None
        cleaned = text.strip()
        result = recognize_best(
            cleaned,
            self._intents,
            slot_lists=slot_lists,
            skip_words=self._skip_words,
            intent_context=context,
            language=self._language,
            best_slot_name="name",
        )
        if result is None:
            return self._explain_no_match(cleaned, slot_lists, context)
        slots: dict[str, Any] = {}
        texts: dict[str, str] = {}
        for name, entity in result.entities.items():
            slots[name] = entity.value
            if entity.text and entity.text.strip():
                texts[name] = entity.text.strip()
        return Intent(
            name=result.intent.name,
            slots=slots,
            source=IntentSource.GRAMMAR,
            text=text,
            response=result.response,
            slot_texts=texts,
        )

    def _plausible_unknown(self, text: str) -> bool:
        """Whether ``text`` can be a name we lack, not a swallowed piece of the sentence."""
        words = normalize_name(text).split()
        if not words or len(words) > _MAX_UNKNOWN_WORDS or _SENTENCE_WORDS.intersection(words):
            return False
        if all(word in _GENERIC_WORDS for word in words):
            return False
        self._current_slot_lists()
        return not any(word in self._known_words for word in words)

    def _explain_no_match(
        self, text: str, slot_lists: Mapping[str, TextSlotList], context: Mapping[str, Any] | None
    ) -> NoMatch:
        """Why nothing matched: a name or area we lack, a missing room, or no sentence at all."""
        best: tuple[int, NoMatch] | None = None
        needs_area = False
        for result in recognize_all(
            text,
            self._intents,
            slot_lists=slot_lists,
            skip_words=self._skip_words,
            intent_context=context,
            language=self._language,
            allow_unmatched_entities=True,
        ):
            if result.text_chunks_matched < 1:
                continue  # the whole text swallowed by a slot: says nothing
            missing = {
                e.name
                for e in result.unmatched_entities_list
                if isinstance(e, UnmatchedTextEntity) and e.text == MISSING_ENTITY
            }
            spoken = [
                e
                for e in result.unmatched_entities_list
                if not (isinstance(e, UnmatchedTextEntity) and e.text == MISSING_ENTITY)
            ]
            if not spoken and missing == {"area"}:
                needs_area = True  # a room command with no room to apply it to
                continue
            unknown = {
                e.name: e.text.strip()
                for e in spoken
                if isinstance(e, UnmatchedTextEntity)
                and self._plausible_unknown(e.text)
                and not (e.name == "name" and normalize_name(e.text).split()[-1] in _PLURALS)
            }
            if not unknown or len(unknown) != len(spoken) or "area" in missing:
                continue
            # Fewer unknowns first. Read as an area when the words allow it ("the garage
            # lights"); _as_device_name turns "garage" + "lamp" back into a device name.
            score = len(unknown) * 10 - ("area" in unknown) * 5 - ("name" in unknown) * 3
            score -= len(result.entities)
            if best is None or score < best[0]:
                best = (score, NoMatch(text, unknown, result.intent.name))
        if best is None and needs_area:
            return NoMatch(text, needs_area=True)
        if best is None:
            return NoMatch(text)
        return _as_device_name(best[1])

    # --- slot lists -------------------------------------------------------------
    def _current_slot_lists(self) -> dict[str, TextSlotList]:
        with self._lock:
            if self._lists_version != self._registry.version:
                self._slot_lists = _build_slot_lists(self._registry)
                self._known_words = _known_words(self._registry)
                self._lists_version = self._registry.version
            return self._slot_lists


def _build_slot_lists(registry: Registry) -> dict[str, TextSlotList]:
    domains: dict[str, set[str]] = {}
    spoken: dict[str, str] = {}
    short = registry.short_names()
    for device in registry.devices():
        for name in (*device.spoken_names(), *short.get(device.id, ())):
            key = normalize_name(name)
            spoken.setdefault(key, name)
            domains.setdefault(key, set()).add(device.domain)
    names = [
        (spoken[key], key, {"domain": next(iter(ds))} if len(ds) == 1 else {})
        for key, ds in domains.items()
    ]
    areas = [(n, a.id, {}) for a in registry.areas() for n in (a.name, *a.aliases)]
    floors = [(name, fid, {}) for fid, names in registry.floor_names().items() for name in names]
    return {
        "name": _text_list(names),
        "area": _text_list(areas),
        "floor": _text_list(floors),
    }


def _as_device_name(no_match: NoMatch) -> NoMatch:
    """'the garage lamp' read as area 'garage' + lights is better told as a device name."""
    area = no_match.unknown.get("area")
    if area is None or len(no_match.unknown) != 1:
        return no_match
    wanted = normalize_name(area).split()
    if wanted[-1] in _DEVICE_WORDS:  # "the study lamp" read as an area
        return NoMatch(no_match.text, {"name": " ".join(wanted)}, no_match.intent_name)
    words = normalize_name(no_match.text).rstrip("?!.").split()
    for i in range(len(words) - len(wanted)):
        if words[i : i + len(wanted)] == wanted and words[i + len(wanted)] in _DEVICE_WORDS:
            name = " ".join(wanted + [words[i + len(wanted)]])
            return NoMatch(no_match.text, {"name": name}, no_match.intent_name)
    return no_match


def _known_words(registry: Registry) -> frozenset[str]:
    """Words of every device, area and floor name: an unknown name contains none of them."""
    names = [n for d in registry.devices() for n in d.spoken_names()]
    names += [n for a in registry.areas() for n in (a.name, *a.aliases)]
    names += [n for floor in registry.floor_names().values() for n in floor]
    words = {word for name in names for word in normalize_name(name).split()}
    return frozenset(words - _GENERIC_WORDS)


def _text_list(items: Iterable[tuple[str, str, dict[str, Any]]]) -> TextSlotList:
    return TextSlotList.from_tuples(list(items), allow_template=False)
