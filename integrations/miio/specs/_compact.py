"""Regenerate the bundled compact MIoT spec files from full instance documents.

Usage (from the repository root)::

    python -m integrations.miio.specs._compact ../shared/data/miot-specs integrations/miio/specs

Each ``<model>.json`` in the source folder becomes ``<model>.json`` here, keeping only what the
driver needs: type URNs, iids, format, access, unit, value-range, value-list (value and
description) and action in/out; service, property and action prose is dropped. The output is
deterministic (stable key order, one trailing newline), so re-running it changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["compact_spec", "main", "render"]

_PROPERTY_KEYS = ("iid", "type", "format", "access", "unit", "value-range")


def _compact_property(prop: dict[str, Any]) -> dict[str, Any]:
    out = {key: prop[key] for key in _PROPERTY_KEYS if key in prop}
    if "value-list" in prop:
        out["value-list"] = [
            {"value": item["value"], "description": item.get("description", "")}
            for item in prop["value-list"]
        ]
    return out


def _compact_action(action: dict[str, Any]) -> dict[str, Any]:
    return {
        "iid": action["iid"],
        "type": action["type"],
        "in": list(action.get("in", [])),
        "out": list(action.get("out", [])),
    }


def _compact_service(service: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"iid": service["iid"], "type": service["type"]}
    props = [_compact_property(p) for p in service.get("properties", [])]
    actions = [_compact_action(a) for a in service.get("actions", [])]
    if props:
        out["properties"] = props
    if actions:
        out["actions"] = actions
    return out


def compact_spec(model: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The compact form of one full MIoT instance document (no prose)."""
    return {
        "model": model,
        "type": doc["type"],
        "services": [_compact_service(s) for s in doc["services"]],
    }


def render(spec: dict[str, Any]) -> str:
    """JSON text with one property or action per line: small, and diffs read well."""

    def one(obj: Any) -> str:
        return json.dumps(obj, ensure_ascii=False)

    services = []
    for service in spec["services"]:
        members = []
        for key in ("properties", "actions"):
            if key in service:
                rows = ",\n".join(f"    {one(item)}" for item in service[key])
                members.append(f'   "{key}": [\n{rows}\n   ]')
        head = f'  {{"iid": {service["iid"]}, "type": {one(service["type"])}'
        body = ",\n".join(members)
        services.append(head + (",\n" + body + "\n  }" if body else "}"))
    return (
        f'{{\n "model": {one(spec["model"])},\n "type": {one(spec["type"])},\n'
        f' "services": [\n' + ",\n".join(services) + "\n ]\n}\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Compact every ``*.json`` in the source folder into the target folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of full MIoT instance JSON")
    parser.add_argument(
        "target", type=Path, nargs="?", default=Path(__file__).parent, help="output folder"
    )
    args = parser.parse_args(argv)
    for path in sorted(args.source.glob("*.json")):
        model = path.name.removesuffix(".json")
        doc = json.loads(path.read_text(encoding="utf-8"))
        spec = compact_spec(model, doc)
        text = render(spec)
        if json.loads(text) != spec:  # the hand-made layout must stay plain JSON
            raise AssertionError(f"{path.name}: rendering changed the data")
        (args.target / path.name).write_text(text, encoding="utf-8")
        print(f"{path.name}: {len(text)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
