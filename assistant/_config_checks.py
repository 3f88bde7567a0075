"""Checks of the configuration: field validators for :mod:`assistant.config`'s models, and
checks across entries, run on the raw YAML data.

The cross-entry checks run on the plain data (not on validated settings) so that their
problems are reported alongside type errors; each returns ``(key path, message)`` pairs.
Messages quote names, never values that might be secrets.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic_core import PydanticCustomError

import assistant
from assistant._yaml import Loc, format_path
from assistant.act.registry import slugify
from assistant.secrets import Secret

__all__ = [
    "ONE_TRANSPORT",
    "ONE_MQTT_WAY",
    "check_host",
    "check_language",
    "check_loopback",
    "check_references",
    "check_state_dir",
    "check_token",
    "inline_tokens",
    "supported_languages",
]

ONE_TRANSPORT = "a device needs exactly one of: miio, virtual, mqtt"
ONE_MQTT_WAY = "an mqtt device needs exactly one of: discovered, tasmota, kind"
_TOKEN = re.compile(r"[0-9a-fA-F]{32}")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
RESPONSES_DIR = Path(assistant.__file__).parents[1] / "intents" / "responses"
_LOOPBACK = "127.0.0.1"

Found = list[tuple[Loc, str]]


# --- field validators ------------------------------------------------------------------------


def check_host(value: str) -> str:
    """An IPv4 address or an RFC 1123 hostname."""
    labels = value.rstrip(".").split(".")
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise PydanticCustomError("host", "expected an IPv4 address or a hostname") from None
        return value
    if len(value) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise PydanticCustomError("host", "expected an IPv4 address or a hostname")
    return value


def check_loopback(value: str) -> str:
    """An IPv4 address in 127.0.0.0/8 (virtual devices never leave the machine)."""
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise PydanticCustomError("loopback", "must be an IPv4 address in 127.0.0.0/8")
    return value


def check_tcp_uri(value: str) -> str:
    """``tcp://host:port`` with a valid host and port."""
    parsed = urlsplit(value)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme != "tcp" or not parsed.hostname or port is None or port == 0:
        raise ValueError("expected tcp://HOST:PORT, e.g. tcp://192.168.1.30:10700")
    check_host(parsed.hostname)
    return value


def check_token(value: Secret) -> Secret:
    """Exactly 32 hex digits; the message never repeats the token."""
    if not _TOKEN.fullmatch(value.reveal()):
        raise PydanticCustomError("token", "a miio token must be exactly 32 hexadecimal digits")
    return value


def check_language(value: str) -> str:
    """A language with both sentence data and response templates."""
    supported = supported_languages()
    if value not in supported:
        listing = {"listing": ", ".join(supported) or "none"}
        raise PydanticCustomError("language", "unsupported language; supported: {listing}", listing)
    return value


def check_state_dir(value: Path) -> Path:
    """Missing is fine (the runtime creates it); something that is not a folder is not."""
    try:
        mode = value.stat().st_mode
    except OSError:
        return value
    if not stat.S_ISDIR(mode):
        raise PydanticCustomError("not_a_directory", "exists but is not a directory")
    return value


@functools.cache
def supported_languages() -> tuple[str, ...]:
    """Languages with both sentence data and our response templates, sorted."""
    import home_assistant_intents

    if not RESPONSES_DIR.is_dir():
        return ()
    folders = sorted(p for p in RESPONSES_DIR.iterdir() if p.is_dir() and any(p.glob("*.yaml")))
    return tuple(p.name for p in folders if home_assistant_intents.get_intents(p.name) is not None)


# --- cross-entry checks ----------------------------------------------------------------------


def check_references(data: Any) -> Found:
    """Unique names and ids, aliases that shadow names, areas that exist, free ports."""
    if not isinstance(data, dict):
        return []
    found = _check_unique(data, "areas", "area") + _check_unique(data, "devices", "device")
    found += _check_unique(data, "floors", "floor") + _check_floors(data)
    return found + _check_areas(data) + _check_transports(data) + _check_virtual_ports(data)


def inline_tokens(data: Any) -> list[Loc]:
    """Key paths of the miio tokens written as plain text (not ``!secret``/``!env``/...)."""
    return [
        ("devices", index, "miio", "token")
        for index, item in _items(data, "devices")
        if isinstance(item.get("miio"), dict) and isinstance(item["miio"].get("token"), str)
    ]


def _items(data: Any, section: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(index, item)`` for the mapping items of the list ``section``."""
    items = data.get(section) if isinstance(data, dict) else None
    for index, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            yield index, item


def _named(data: dict[str, Any], section: str) -> Iterator[tuple[int, dict[str, Any], str]]:
    """``(index, item, name)`` for the items of ``section`` that have a string name."""
    for index, item in _items(data, section):
        if isinstance(item.get("name"), str) and item["name"].strip():
            yield index, item, item["name"].strip()


def _aliases(item: dict[str, Any]) -> Iterator[tuple[int, str]]:
    aliases = item.get("aliases")
    if isinstance(aliases, list):
        for index, alias in enumerate(aliases):
            if isinstance(alias, str) and alias.strip():
                yield index, alias.strip()


def _check_transports(data: dict[str, Any]) -> Found:
    """Exactly one of miio/virtual per device (also checked by the model, once fields pass)."""
    return [
        (("devices", index), ONE_TRANSPORT)
        for index, item in _items(data, "devices")
        if sum(item.get(key) is not None for key in ("miio", "virtual", "mqtt")) != 1
    ]


def _check_unique(data: dict[str, Any], section: str, what: str) -> Found:
    """Names unique case-insensitively and after slugging (ids); aliases never a name."""
    found: Found = []
    names: dict[str, tuple[int, str]] = {}
    slugs: dict[str, tuple[int, str]] = {}
    for index, _item, name in _named(data, section):
        loc, same, slug = (section, index, "name"), names.get(name.casefold()), slugify(name)
        if same is not None:
            where = format_path((section, same[0]))
            found.append((loc, f"duplicate {what} name '{name}' ({where})"))
        elif slug in slugs:
            first, first_name = slugs[slug]
            where = format_path((section, first))
            message = f"'{name}' would share the id '{slug}' with {where} ('{first_name}')"
            found.append((loc, f"{message}; rename one"))
        names.setdefault(name.casefold(), (index, name))
        slugs.setdefault(slug, (index, name))
    return found + _check_aliases(data, section, what, names)


def _check_aliases(
    data: dict[str, Any], section: str, what: str, names: dict[str, tuple[int, str]]
) -> Found:
    found: Found = []
    for index, item, _name in _named(data, section):
        for alias_index, alias in _aliases(item):
            other = names.get(alias.casefold())
            if other is not None and other[0] != index:
                message = f"alias '{alias}' is already the name of {what} '{other[1]}'"
                found.append(((section, index, "aliases", alias_index), message))
    return found


def _check_floors(data: dict[str, Any]) -> Found:
    """With a ``floors`` list, every area's ``floor`` is one of its names or aliases."""
    known: dict[str, str] = {}
    for _index, item, name in _named(data, "floors"):
        known[name.casefold()] = name
        known.update((alias.casefold(), name) for _i, alias in _aliases(item))
    if not known:
        return []  # no list: an area's floor names its floor
    listing = ", ".join(sorted(set(known.values()), key=str.casefold))
    return [
        (("areas", index, "floor"), f"unknown floor '{floor.strip()}'; known: {listing}")
        for index, item in _items(data, "areas")
        if isinstance(floor := item.get("floor"), str)
        and floor.strip()
        and floor.strip().casefold() not in known
    ]


def _check_areas(data: dict[str, Any]) -> Found:
    """Every ``area`` of a device (and the site) names a known area or area alias."""
    known: dict[str, str] = {}
    for _index, item, name in _named(data, "areas"):
        known[name.casefold()] = name
        known.update((alias.casefold(), name) for _i, alias in _aliases(item))
    names = sorted(set(known.values()), key=str.casefold)
    listing = f"known: {', '.join(names)}" if names else "no areas are defined"
    refs: list[tuple[Loc, Any]] = []
    site = data.get("site")
    if isinstance(site, dict):
        refs.append((("site", "area"), site.get("area")))
    devices = _items(data, "devices")
    refs += [(("devices", index, "area"), item.get("area")) for index, item in devices]
    hubs = data.get("hubs")
    if isinstance(hubs, dict):
        for hub in ("wyoming", "local_mic"):
            if isinstance(hubs.get(hub), dict):
                refs.append((("hubs", hub, "area"), hubs[hub].get("area")))
        refs += [
            (("hubs", "satellites", index, "area"), item.get("area"))
            for index, item in _items(hubs, "satellites")
        ]
    return [
        (loc, f"unknown area '{area.strip()}'; {listing}")
        for loc, area in refs
        if isinstance(area, str) and area.strip() and area.strip().casefold() not in known
    ]


def _check_virtual_ports(data: dict[str, Any]) -> Found:
    """No two virtual devices on the same explicit (host, port); port 0 means any free one."""
    found: Found = []
    taken: dict[tuple[str, int], int] = {}
    for index, item in _items(data, "devices"):
        virtual = item.get("virtual")
        if not isinstance(virtual, dict):
            continue
        host, port = virtual.get("host") or _LOOPBACK, virtual.get("port")
        if not isinstance(host, str) or type(port) is not int or port == 0:
            continue
        first = taken.setdefault((host, port), index)
        if first != index:
            message = f"{host}:{port} is already used by devices[{first}]; pick another port or 0"
            found.append((("devices", index, "virtual", "port"), message))
    return found
