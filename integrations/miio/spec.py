"""MIoT spec files -> :class:`MiotSpec`: a device's kind, traits and value conversions.

``load_spec(model)`` looks for ``<model>.json`` in the user's spec folders first, then in the
bundled ``specs/`` folder. Files may be full miot-spec.org instance documents or the compact form
bundled here. Reading a file is blocking: call it while loading config, not on the event loop.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from integrations.base import DeviceKind, DeviceSpec, Trait, Unsupported

from . import traits as _traits
from .model import MiotAction, MiotProperty, MiotService, Operation, urn_parts

__all__ = [
    "BUNDLED_SPECS",
    "MiotSpec",
    "SpecError",
    "SpecNotFound",
    "MODEL_REQUIRED",
    "check_models",
    "bundled_models",
    "load_spec",
    "parse_spec",
]

_LOGGER = logging.getLogger(__name__)

BUNDLED_SPECS = Path(__file__).parent / "specs"
"""The folder of compact spec files shipped with the package."""

_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_KINDS = {
    "light": DeviceKind.LIGHT,
    "outlet": DeviceKind.SWITCH,
    "switch": DeviceKind.SWITCH,
    "fan": DeviceKind.FAN,
    "air-purifier": DeviceKind.PURIFIER,
    "curtain": DeviceKind.COVER,
    "vacuum": DeviceKind.VACUUM,
    "air-conditioner": DeviceKind.CLIMATE,
}


class SpecError(ValueError):
    """A spec file is missing or malformed; the message names the file or model."""


class SpecNotFound(SpecError):
    """No spec file for a model in any folder searched."""


class MiotSpec:
    """One model's spec, resolved to our traits. Immutable after construction."""

    __slots__ = ("_actions", "_bindings", "_props", "device_type", "kind", "model", "services")

    def __init__(self, model: str, device_type: str, services: Sequence[MiotService]) -> None:
        self.model = model
        self.device_type = device_type
        """The instance type URN, e.g. ``urn:miot-spec-v2:device:light:0000A001:...``."""
        self.services = tuple(services)
        type_name = urn_parts(device_type)[2]
        self.kind = _KINDS.get(type_name, DeviceKind.SENSOR)
        self._props = {p.key: p for s in self.services for p in s.properties}
        self._actions = {a.key: a for s in self.services for a in s.actions}
        self._bindings = _traits.resolve_bindings(type_name, self.services)

    def __repr__(self) -> str:
        return f"<MiotSpec {self.model} {self.kind.value} {sorted(self.traits)}>"

    @property
    def traits(self) -> frozenset[Trait]:
        """Every trait this model supports."""
        return frozenset(self._bindings)

    def binding(self, trait: Trait | str) -> _traits.Binding:
        """Where ``trait`` lives; Unsupported when the model lacks it."""
        try:
            return self._bindings[Trait(trait)]
        except (ValueError, KeyError):
            raise Unsupported(f"{self.model} has no {trait}") from None

    def property(self, siid: int, piid: int) -> MiotProperty | None:
        """The property at ``(siid, piid)``, if the spec has one."""
        return self._props.get((siid, piid))

    def action(self, siid: int, aiid: int) -> MiotAction | None:
        """The action at ``(siid, aiid)``, if the spec has one."""
        return self._actions.get((siid, aiid))

    def properties(self) -> Iterator[MiotProperty]:
        """Every property of every service, in spec order."""
        for service in self.services:
            yield from service.properties

    def state_properties(self) -> tuple[MiotProperty, ...]:
        """The readable properties that make up the traits' state, without duplicates."""
        seen: dict[tuple[int, int], MiotProperty] = {}
        for binding in self._bindings.values():
            if binding.read is not None and binding.read.readable:
                seen.setdefault(binding.read.key, binding.read)
        return tuple(seen.values())

    def choices(self, trait: Trait | str) -> tuple[str, ...]:
        """The names a trait accepts: presets (mode, hvac_mode), cover or vacuum commands."""
        binding = self.binding(trait)
        if binding.actions:
            return tuple(command for command, _ in binding.actions)
        return tuple(dict.fromkeys(name for _, name in binding.choices))

    def encode(self, trait: Trait | str, value: Any) -> Operation:
        """The device operation for one trait command (trait units in, device units out).

        Raises Unsupported when the model lacks the trait or the named choice, ValueError for a
        value of the wrong type. Numbers are clamped to the spec's range and step.
        """
        return _traits.encode(self.binding(trait), value)

    def decode(self, values: Mapping[tuple[int, int], Any]) -> dict[str, Any]:
        """Trait values (trait units) from raw device values keyed by ``(siid, piid)``."""
        out: dict[str, Any] = {}
        for trait, binding in self._bindings.items():
            if binding.read is None or binding.read.key not in values:
                continue
            try:
                value = _traits.decode(binding, values[binding.read.key])
            except (TypeError, ValueError) as err:
                _LOGGER.debug("%s: ignoring %s value: %s", self.model, trait.value, err)
                continue
            if value is not None:
                out[trait.value] = value
        return out

    def device_spec(self) -> DeviceSpec:
        """What the registry needs to know: kind, traits, modes and ranges."""
        modes = self.choices(Trait.MODE) if Trait.MODE in self._bindings else ()
        color = self._range(Trait.COLOR_TEMP)
        temp = self._range(Trait.TARGET_TEMPERATURE)
        return DeviceSpec(
            kind=self.kind,
            traits=self.traits,
            model=self.model,
            modes=modes,
            min_color_temp=int(color[0]) if color else None,
            max_color_temp=int(color[1]) if color else None,
            min_temperature=float(temp[0]) if temp else None,
            max_temperature=float(temp[1]) if temp else None,
        )

    def _range(self, trait: Trait) -> tuple[float, float, float] | None:
        binding = self._bindings.get(trait)
        prop = binding and (binding.write or binding.read)
        return prop.value_range if prop else None


# ----------------------------------------------------------------------------- parsing


def _need(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise ValueError(f"{where}: missing {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ValueError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _parse_range(raw: Any, where: str) -> tuple[float, float, float] | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, list)
        or len(raw) < 2
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in raw[:3])
    ):
        raise ValueError(f"{where}: value-range must be [min, max, step]")
    step = raw[2] if len(raw) > 2 else 1
    return raw[0], raw[1], step


def _parse_property(raw: Any, siid: int, service: str, where: str) -> MiotProperty:
    piid = _need(raw, "iid", int, where)
    where = f"{where} piid {piid}"
    urn = _need(raw, "type", str, where)
    items = raw.get("value-list") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) and "value" in i for i in items):
        raise ValueError(f"{where}: value-list entries need a 'value'")
    return MiotProperty(
        siid=siid,
        piid=piid,
        name=urn_parts(urn)[2],
        service=service,
        format=_need(raw, "format", str, where),
        access=frozenset(raw.get("access") or ()),
        unit=raw.get("unit") or None,
        value_range=_parse_range(raw.get("value-range"), where),
        value_list=tuple((i["value"], str(i.get("description") or "")) for i in items),
        urn=urn,
    )


def _parse_action(raw: Any, siid: int, service: str, where: str) -> MiotAction:
    aiid = _need(raw, "iid", int, where)
    urn = _need(raw, "type", str, f"{where} aiid {aiid}")
    return MiotAction(
        siid=siid,
        aiid=aiid,
        name=urn_parts(urn)[2],
        service=service,
        ins=tuple(raw.get("in") or ()),
        outs=tuple(raw.get("out") or ()),
        urn=urn,
    )


def _parse_service(raw: Any, index: int) -> MiotService:
    siid = _need(raw, "iid", int, f"service #{index}")
    where = f"siid {siid}"
    urn = _need(raw, "type", str, where)
    namespace, _, name = urn_parts(urn)
    props = raw.get("properties") or []
    actions = raw.get("actions") or []
    if not isinstance(props, list) or not isinstance(actions, list):
        raise ValueError(f"{where}: properties and actions must be lists")
    return MiotService(
        iid=siid,
        name=name,
        namespace=namespace,
        properties=tuple(_parse_property(p, siid, name, where) for p in props),
        actions=tuple(_parse_action(a, siid, name, where) for a in actions),
        urn=urn,
    )


def parse_spec(doc: Any, model: str) -> MiotSpec:
    """A :class:`MiotSpec` from a parsed instance document; ValueError names what is wrong."""
    device_type = _need(doc, "type", str, "document")
    if urn_parts(device_type)[1] != "device":
        raise ValueError(f"type {device_type!r} is not a device URN")
    services = _need(doc, "services", list, "document")
    return MiotSpec(model, device_type, [_parse_service(s, i) for i, s in enumerate(services)])


def _read_spec(path: Path, model: str) -> MiotSpec:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SpecError(f"{path}: cannot read MIoT spec: {err}") from err
    try:
        return parse_spec(doc, model)
    except ValueError as err:
        raise SpecError(f"{path}: malformed MIoT spec: {err}") from err


def load_spec(model: str, extra_dirs: Sequence[Path] = ()) -> MiotSpec:
    """The spec for ``model`` from ``<dir>/<model>.json``: ``extra_dirs`` first, then bundled.

    Raises SpecNotFound naming the model and the folders searched, or SpecError naming the file
    and the reason when the file is malformed. Blocking (reads a file).
    """
    if not _MODEL_RE.match(model) or ".." in model:
        raise SpecError(f"not a model name: {model!r}")
    dirs = [Path(d) for d in extra_dirs] + [BUNDLED_SPECS]
    for folder in dirs:
        path = folder / f"{model}.json"
        if path.is_file():
            _LOGGER.debug("loading MIoT spec for %s from %s", model, path)
            return _read_spec(path, model)
    searched = ", ".join(str(d) for d in dirs)
    raise SpecNotFound(
        f"no MIoT spec for model {model!r} (searched: {searched}); save its instance JSON "
        f"as {model}.json in a folder named in miio.spec_dirs"
    )


def bundled_models() -> tuple[str, ...]:
    """Models with a bundled spec file, sorted."""
    return tuple(sorted(p.stem for p in BUNDLED_SPECS.glob("*.json")))


MODEL_REQUIRED = (
    "'model' is required: the model string (e.g. yeelink.light.color4) shown by the Mi Home "
    "app or `miiocli device --ip IP --token TOKEN info`"
)


def check_models(settings: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Config check: every miio/virtual device names a model with a spec we can load.

    Yields ``(key path, message)`` for ``assistant.config.load_config(checks=...)``.
    """
    for index, device in enumerate(settings.devices):
        transport = "miio" if device.miio is not None else "virtual"
        entry = device.miio or device.virtual
        if entry is None:
            continue
        if entry.model is None:
            yield ("devices", index, transport), MODEL_REQUIRED
            continue
        try:
            load_spec(entry.model, settings.miio.spec_dirs)
        except SpecError as err:
            yield ("devices", index, transport, "model"), str(err)
