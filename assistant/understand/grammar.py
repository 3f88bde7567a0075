"""The local grammar: hassil with Home Assistant's sentences plus our own.

Slot lists are built from the registry: device names and aliases (``name``), areas and
their aliases (``area``), floors (``floor``). The speaker's area is the intent context, so
"turn on the lights" acts on the room the command came from. Name matches win over
area + domain matches (``best_slot_name="name"``).
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
from hassil.recognize import MISSING_ENTITY
from hassil.intents import TextSlotList
from hassil.models import UnmatchedTextEntity
from hassil.util import merge_dict
from ruamel.yaml import YAML

from assistant.act.registry import Registry, normalize_name
from assistant.messages import Intent, IntentSource

__all__ = ["GrammarRecognizer", "NoMatch", "SENTENCES_DIR"]

_LOGGER = logging.getLogger(__name__)

_MAX_UNKNOWN_WORDS = 4
_GENERIC_WORDS = frozenset({"light", "lights", "lamp", "lamps", "fan", "fans", "the", "room"})
"""Words that may appear in an unknown name ("garage lamp") even though known names use them."""
_DEVICE_WORDS = frozenset({"light", "lamp", "fan", "plug", "switch", "curtain", "bulb", "heater"})
"""A word that, after an unknown area ("garage lamp"), makes it a device name instead."""
_SENTENCE_WORDS = frozenset({
    "is", "are", "turn", "switch", "set", "what", "how", "to", "on", "off", "in", "of", "at",
    "please", "it", "up", "down", "open", "close", "start",
})
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
        self._current_slot_lists()
        return not any(word in self._known_words for word in words)

    def _explain_no_match(
        self, text: str, slot_lists: Mapping[str, TextSlotList], context: Mapping[str, Any] | None
    ) -> NoMatch:
        best: tuple[int, NoMatch] | None = None
        for result in recognize_all(
            text,
            self._intents,
            slot_lists=slot_lists,
            skip_words=self._skip_words,
            intent_context=context,
            language=self._language,
            allow_unmatched_entities=True,
        ):
            unknown = {
                e.name: e.text.strip()
                for e in result.unmatched_entities_list
                if isinstance(e, UnmatchedTextEntity)
                and e.text != MISSING_ENTITY
                and self._plausible_unknown(e.text)
            }
            if not unknown or len(unknown) != len(result.unmatched_entities_list):
                continue
            # Fewer unknowns first; an unknown device name explains more than an area.
            score = len(unknown) * 10 - ("name" in unknown) * 5 - len(result.entities)
            if best is None or score < best[0]:
                best = (score, NoMatch(text, unknown, result.intent.name))
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
    for device in registry.devices():
        for name in device.spoken_names():
            key = normalize_name(name)
            spoken.setdefault(key, name)
            domains.setdefault(key, set()).add(device.domain)
    names = [
        (spoken[key], key, {"domain": next(iter(ds))} if len(ds) == 1 else {})
        for key, ds in domains.items()
    ]
    areas = [(n, a.id, {}) for a in registry.areas() for n in (a.name, *a.aliases)]
    floors = [(name, fid, {}) for fid, name in registry.floors().items()]
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
    words = normalize_name(no_match.text).rstrip("?!.").split()
    wanted = normalize_name(area).split()
    for i in range(len(words) - len(wanted)):
        if words[i:i + len(wanted)] == wanted and words[i + len(wanted)] in _DEVICE_WORDS:
            name = " ".join(wanted + [words[i + len(wanted)]])
            return NoMatch(no_match.text, {"name": name}, no_match.intent_name)
    return no_match


def _known_words(registry: Registry) -> frozenset[str]:
    """Words of every device, area and floor name: an unknown name contains none of them."""
    names = [n for d in registry.devices() for n in d.spoken_names()]
    names += [n for a in registry.areas() for n in (a.name, *a.aliases)]
    names += list(registry.floors().values())
    words = {word for name in names for word in normalize_name(name).split()}
    return frozenset(words - _GENERIC_WORDS)


def _text_list(items: Iterable[tuple[str, str, dict[str, Any]]]) -> TextSlotList:
    return TextSlotList.from_tuples(list(items), allow_template=False)
