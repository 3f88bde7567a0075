"""The property values of one virtual device: defaults from the spec, checks, a JSON file.

Values are kept per ``(siid, piid)`` in device units and checked against the spec's format,
range and value list exactly as a real device would (error codes below). The optional state file
is replaced atomically (write a temporary file, fsync, rename) so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from integrations.miio.model import INT_FORMATS, MiotProperty
from integrations.miio.spec import MiotSpec

__all__ = [
    "BAD_ARGUMENTS",
    "BAD_VALUE",
    "NOT_FOUND",
    "NOT_READABLE",
    "NOT_WRITABLE",
    "VirtualState",
    "default_value",
]

_LOGGER = logging.getLogger(__name__)

# MIoT per-item error codes, as real devices answer them.
NOT_READABLE = -4001
NOT_WRITABLE = -4002
NOT_FOUND = -4003
BAD_VALUE = -4005
BAD_ARGUMENTS = -4006

_FORMAT_VERSION = 1
# Sensible starting values by property URN name (device units, clamped to the spec's range).
_NAMED_DEFAULTS: dict[str, float] = {
    "temperature": 22.0,
    "target-temperature": 24.0,
    "relative-humidity": 45,
    "pm2.5-density": 12,
    "color": 0xFFFFFF,
}
_AT_MAX = frozenset({"brightness", "battery-level", "filter-life-level"})
_AT_MIDDLE = frozenset({"color-temperature"})
_PREFERRED_CHOICES = ("charging", "stopped", "stop", "idle", "no faults", "auto")


def _words(text: str) -> str:
    return " ".join(text.lower().split())


def default_value(prop: MiotProperty) -> Any:
    """A plausible value for a fresh device, always valid for ``prop``."""
    if prop.value_list:
        descriptions = {_words(d): v for v, d in prop.value_list}
        for word in _PREFERRED_CHOICES:
            if word in descriptions:
                return descriptions[word]
        return prop.value_list[0][0]
    if prop.format == "bool":
        return False
    if prop.format == "string":
        return ""
    if prop.value_range is None:
        return 0 if prop.format in INT_FORMATS else 0.0
    low, high, _ = prop.value_range
    if prop.name in _AT_MAX:
        return prop.clamp(high)
    if prop.name in _AT_MIDDLE:
        return prop.clamp((low + high) / 2)
    return prop.clamp(_NAMED_DEFAULTS.get(prop.name, low))


class VirtualState:
    """Current values of every property of one spec, optionally persisted to ``path``."""

    def __init__(self, spec: MiotSpec, path: Path | None = None) -> None:
        self.spec = spec
        self.path = path
        self.values: dict[tuple[int, int], Any] = {
            p.key: default_value(p) for p in spec.properties()
        }

    def read(self, siid: int, piid: int) -> tuple[int, Any]:
        """``(code, value)`` as ``get_properties`` answers one item."""
        prop = self.spec.property(siid, piid)
        if prop is None:
            return NOT_FOUND, None
        if not prop.readable:
            return NOT_READABLE, None
        return 0, self.values[prop.key]

    def write(self, siid: int, piid: int, value: Any) -> int:
        """Set one property as ``set_properties`` does; returns the item's code."""
        prop = self.spec.property(siid, piid)
        if prop is None:
            return NOT_FOUND
        if not prop.writable:
            return NOT_WRITABLE
        if prop.problem(value) is not None:
            return BAD_VALUE
        self.values[prop.key] = value
        return 0

    def put(self, prop: MiotProperty | None, value: Any) -> None:
        """Set a value from inside the device (an action's effect); invalid values ignored."""
        if prop is not None and prop.problem(value) is None:
            self.values[prop.key] = value

    def snapshot(self) -> dict[str, Any]:
        """The JSON document the state file holds."""
        return {
            "version": _FORMAT_VERSION,
            "model": self.spec.model,
            "values": [[s, p, v] for (s, p), v in sorted(self.values.items())],
        }

    def save(self, snapshot: dict[str, Any] | None = None) -> None:
        """Write ``snapshot`` (default: the current state) to the state file atomically.

        Blocking: run it in a thread, with a snapshot taken on the loop.
        """
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = snapshot if snapshot is not None else self.snapshot()
        data = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def load(self) -> None:
        """Load the state file if there is one (blocking); a bad file leaves the defaults."""
        if self.path is None or not self.path.exists():
            return
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            items = doc["values"]
            if not isinstance(items, list):
                raise TypeError("'values' is not a list")
            loaded = {(int(s), int(p)): v for s, p, v in items}
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
            _LOGGER.warning(
                "state file %s is unreadable (%s: %s); starting from defaults",
                self.path,
                type(err).__name__,
                err,
            )
            return
        for key, value in loaded.items():
            prop = self.spec.property(*key)
            if prop is None or prop.problem(value) is not None:
                _LOGGER.warning("state file %s: ignoring %s.%s = %r", self.path, *key, value)
                continue
            self.values[key] = value
