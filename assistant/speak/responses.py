"""Reply templates from ``intents/responses/<language>/*.yaml`` and the words around them."""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from assistant.messages import CommandResult
from integrations.base import DeviceKind

__all__ = ["Responses", "RESPONSES_DIR", "spoken", "the", "sentence", "join_words", "plural"]

RESPONSES_DIR = Path(__file__).resolve().parents[2] / "intents" / "responses"
_PENDING = ("unconfirmed", "queued")
"""Error codes of commands that were sent but not (yet) confirmed by the device."""

_PLURALS = {
    DeviceKind.LIGHT: "lights",
    DeviceKind.SWITCH: "switches",
    DeviceKind.FAN: "fans",
    DeviceKind.PURIFIER: "purifiers",
    DeviceKind.COVER: "curtains",
    DeviceKind.CLIMATE: "air conditioners",
    DeviceKind.VACUUM: "vacuums",
    DeviceKind.SENSOR: "sensors",
}
_DOMAIN_PLURALS = {
    "light": "lights",
    "fan": "fans",
    "switch": "switches",
    "cover": "covers",
    "climate": "air conditioners",
    "vacuum": "vacuums",
    "lock": "locks",
}


def spoken(name: str) -> str:
    """``"Living room lamp"`` -> ``"living room lamp"``; ``"TV"`` stays ``"TV"``."""
    first, _, rest = name.partition(" ")
    if len(first) > 1 and first[0].isupper() and first[1:].islower():
        first = first.lower()
    return f"{first} {rest}" if rest else first


def the(name: str) -> str:
    return f"the {spoken(name)}"


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def join_words(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def plural(kinds: Iterable[DeviceKind]) -> str:
    """A noun for a group: ``lights`` when all are lights, else ``devices``."""
    unique = set(kinds)
    if len(unique) == 1:
        return _PLURALS.get(unique.pop(), "devices")
    return "devices"


def domain_plural(domain: str) -> str:
    return _DOMAIN_PLURALS.get(domain, f"{domain.replace('_', ' ')}s")


class Responses:
    """Templates by intent and key; ``{field}`` placeholders, filled with ``render``."""

    def __init__(self, language: str = "en", directory: Path = RESPONSES_DIR) -> None:
        self._templates: dict[str, dict[str, str]] = {}
        yaml = YAML(typ="safe")
        for path in sorted((directory / language).glob("*.yaml")):
            data = yaml.load(path.read_text(encoding="utf-8")) or {}
            for group, templates in data.get("responses", {}).items():
                self._templates.setdefault(group, {}).update(templates)
        if not self._templates:
            raise ValueError(f"no response templates for language {language!r} in {directory}")

    def render(self, group: str, key: str, **values: Any) -> str:
        template = self._templates.get(group, {}).get(key)
        if template is None:
            template = self._templates["errors"]["internal"]
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        missing = fields - values.keys()
        if missing:
            raise KeyError(f"response {group}.{key} needs {sorted(missing)}")
        return sentence(template.format(**values).strip())

    def summarize(
        self,
        group: str,
        results: Sequence[CommandResult],
        kinds: Mapping[str, DeviceKind],
        *,
        area: str | None = None,
        **values: Any,
    ) -> str:
        """One sentence on what really happened, per device.

        ``group`` holds ``one`` / ``many`` / ``area`` templates for what succeeded;
        failures are named one by one ("the hall light is not responding").
        """
        done = [r for r in results if r.ok]
        failed = [r for r in results if not r.ok]
        parts: list[str] = []
        if done:
            things = plural(kinds[r.device_id] for r in done)
            if len(done) == 1:
                key = "one"
            else:
                key = "area" if area and not failed else "many"
            parts.append(
                self.render(
                    group,
                    key,
                    the_name=the(done[0].name),
                    count=len(done),
                    things=things,
                    area=spoken(area or ""),
                    **values,
                )
            )
        pending = [r for r in failed if r.error_code in _PENDING]
        failed = [r for r in failed if r.error_code not in _PENDING]
        if failed:
            problems = [f"{the(r.name)} {r.error}" for r in failed]
            parts.append(join_words(problems))
        for code in _PENDING:
            waiting = [the(r.name) for r in pending if r.error_code == code]
            if waiting:
                have = "has" if len(waiting) == 1 else "have"
                key = "unconfirmed" if code == "unconfirmed" else "queued"
                parts.append(self.render("errors", key, names=join_words(waiting), have=have))
        return sentence("; ".join(parts))
