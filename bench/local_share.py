"""Share of everyday commands handled without the LLM, and how accurate that is.

Every item of ``bench/data/everyday_en.yaml`` (written as people talk to a voice assistant,
about a fifth of it needing the LLM) is run against config.yaml's demo home twice in one run:

- ``ours``: Home Assistant's English sentences plus ``intents/sentences/en`` (the daemon's);
- ``HA only``: Home Assistant's sentences alone, the baseline, so the ratio shows what our
  sentences add.

What is measured is the part of a turn that decides between local and LLM: the grammar
(``GrammarRecognizer`` over the registry ``runtime.Home`` builds from config.yaml; no turn is
run, no device is driven), then target resolution (``resolve_targets`` with the domain each
handler passes, as ``intents.handlers.common.find_targets`` does; a temperature question reads
only devices with a thermometer). An item is *handled locally* when the grammar gives an
intent that has a handler and whose targets resolve to at least one device: what the LLM
need not be asked about. A match with no handler (``HassGetCurrentTime``) or with no devices
behind it is not local; such LLM items are listed apart, since whether they reach the LLM is
the fallback's choice. An item is *right* when the intent, the set of devices and the key
slots (brightness, color, temperature, position, percentage) are the ones it expects. Safety,
device state and the replies are left to tests/integration.

Prints the shares and accuracy side by side, LLM items the grammar took (false local matches:
the dangerous kind), a per-intent breakdown, recognition latency p50/p95, and every miss.
Run: ``python -m bench.local_share``. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from assistant.act.registry import Registry
from assistant.act.targets import resolve_targets
from assistant.config import load_config
from assistant.messages import Intent
from assistant.runtime import Home
from assistant.understand.grammar import SENTENCES_DIR, GrammarRecognizer, NoMatch
from integrations.base import Trait
from intents.handlers import CONFIRM_INTENTS, HANDLERS

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "config.yaml"
DATA = Path(__file__).resolve().parent / "data" / "everyday_en.yaml"
KEY_SLOTS = ("brightness", "color", "temperature", "position", "percentage")
_HANDLER_DOMAIN = {
    "HassLightSet": "light",
    "HassSetPosition": "cover",
    "HassFanSetSpeed": "fan",
    "HassClimateSetTemperature": "climate",
    "HassVacuumStart": "vacuum",
    "HassVacuumReturnToBase": "vacuum",
}
"""The domain each handler gives ``find_targets`` (applied when no device is named)."""
_NO_TARGETS = CONFIRM_INTENTS | {"HassNevermind"}
"""Intents handled without devices ("yes", "cancel")."""


@dataclass(frozen=True, slots=True)
class Item:
    """One utterance and what it should end in."""

    text: str
    area: str | None
    """The speaker's room (an area name); None: the site's room."""
    intent: str | None
    """None: it needs the LLM."""
    targets: frozenset[str]
    slots: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Verdict:
    item: Item
    recognized: str | None
    """The intent the grammar gave, if any."""
    local: bool
    """An intent with a handler and resolved devices: no LLM call."""
    right: bool
    got: str
    """What came out, or why nothing local did."""
    ms: tuple[float, ...]
    """Recognition time of each repetition, milliseconds."""


def load_items(path: Path) -> list[Item]:
    items = []
    for raw in YAML(typ="safe").load(path.read_text(encoding="utf-8"))["items"]:
        llm = raw.get("expect") == "llm"
        if llm == ("intent" in raw):
            raise ValueError(f"{raw['text']!r}: give either intent or expect: llm")
        items.append(
            Item(
                raw["text"],
                raw.get("area"),
                None if llm else raw["intent"],
                frozenset(raw.get("targets", ())),
                raw.get("slots", {}),
            )
        )
    return items


async def demo_registry(state_dir: Path) -> tuple[Registry, str | None]:
    """The registry ``Home`` builds from config.yaml, and the site's area id (the virtual
    devices are stopped again: only names, aliases, areas and traits are used)."""
    settings = load_config(DEMO_CONFIG).model_copy(update={"state_dir": state_dir})
    async with Home(settings) as home:
        return home.registry, home.area_id(settings.site.area)


def check(registry: Registry, items: Sequence[Item]) -> None:
    """Every area and device id the items name exists in the demo home."""
    known = {d.id for d in registry.devices()}
    for item in items:
        if item.area and registry.find_area(item.area) is None:
            raise ValueError(f"{item.text!r}: no area {item.area!r} in {DEMO_CONFIG.name}")
        if item.targets - known:
            raise ValueError(f"{item.text!r}: no device {sorted(item.targets - known)}")


def resolve(registry: Registry, intent: Intent, area_id: str | None) -> tuple[str, ...] | str:
    """The device ids the handler would act on or ask about, or why there are none."""
    if intent.name not in HANDLERS:
        return "no handler"
    if intent.name in _NO_TARGETS:
        return ()
    slots = dict(intent.slots)
    if "refer" in slots:
        return "needs the last turn"
    named = "name" in slots
    domain = _HANDLER_DOMAIN.get(intent.name)
    if intent.name == "HassClimateGetTemperature" and named:
        domain = "climate"
    if domain is not None and not named:
        slots.setdefault("domain", domain)
    found = resolve_targets(registry, slots, intent.slot_texts, speaker_area=area_id)
    if found.problem is not None:
        return found.problem
    devices = found.devices
    if intent.name == "HassClimateGetTemperature":
        devices = tuple(d for d in devices if Trait.CURRENT_TEMPERATURE in d.traits)
        if not devices:
            return "no thermometer"
    return tuple(d.id for d in devices)


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, int | float) and isinstance(got, int | float):
        return math.isclose(float(want), float(got), abs_tol=0.01)
    return str(want).lower() == str(got).lower()


def judge(
    recognizer: GrammarRecognizer,
    registry: Registry,
    item: Item,
    site_area: str | None,
    repeat: int,
) -> Verdict:
    area = registry.find_area(item.area) if item.area else None
    area_id = area.id if area else site_area
    ms = []
    for _ in range(repeat):
        started = time.perf_counter()
        got = recognizer.recognize(item.text, area_id=area_id)
        ms.append((time.perf_counter() - started) * 1000)
    if isinstance(got, NoMatch):
        why = f"unknown {dict(got.unknown)}" if got.unknown else "no match"
        return Verdict(item, None, False, False, why, tuple(ms))
    ids = resolve(registry, got, area_id)
    values = {k: got.slots[k] for k in KEY_SLOTS if k in got.slots}
    if isinstance(ids, str):
        return Verdict(item, got.name, False, False, f"{got.name}: {ids}", tuple(ms))
    right = (
        got.name == item.intent
        and set(ids) == item.targets
        and all(k in values and _same(v, values[k]) for k, v in item.slots.items())
    )
    return Verdict(item, got.name, True, right, _describe(got.name, ids, values), tuple(ms))


def _short(device_id: str) -> str:
    return device_id.split(":", 1)[-1]


def _describe(intent: str | None, ids: Sequence[str], values: Mapping[str, Any]) -> str:
    text = f"{intent} [{', '.join(sorted(map(_short, ids)))}]"
    return f"{text} {dict(values)}" if values else text


def run_both(
    recognizers: Sequence[GrammarRecognizer],
    registry: Registry,
    items: Sequence[Item],
    site_area: str | None,
    repeat: int,
) -> list[list[Verdict]]:
    """Each item through each recognizer in turn, so load on the machine hits both alike."""
    for recognizer in recognizers:
        recognizer.recognize("turn on the light", area_id=site_area)  # build the slot lists
    runs: list[list[Verdict]] = [[] for _ in recognizers]
    for item in items:
        for run, recognizer in zip(runs, recognizers, strict=True):
            run.append(judge(recognizer, registry, item, site_area, repeat))
    return runs


# -- printing -------------------------------------------------------------------------------


def _pct(samples: Sequence[float], q: int) -> float:
    return statistics.quantiles(sorted(samples), n=100, method="inclusive")[q - 1]


def _share(part: int, whole: int) -> str:
    return f"{part:>3}/{whole:<3} {100 * part / whole if whole else 0:5.1f}%"


def _ratio(ours: float, base: float) -> str:
    return f"{ours / base:.2f}x" if base else "-"


def _figures(verdicts: list[Verdict]) -> dict[str, tuple[int, int]]:
    """Label -> (count, out of)."""
    device = [v for v in verdicts if v.item.intent is not None]
    local = [v for v in device if v.local]
    right = [v for v in local if v.right]
    llm = [v for v in verdicts if v.item.intent is None]
    return {
        "handled locally, all items": (sum(v.local for v in verdicts), len(verdicts)),
        "handled locally, device items": (len(local), len(device)),
        "right, of those handled locally": (len(right), len(local)),
        "right, of all device items": (len(right), len(device)),
        "LLM items taken locally (bad)": (sum(v.local for v in llm), len(llm)),
    }


def summary(base: list[Verdict], ours: list[Verdict]) -> None:
    print(f"{'':32} {'HA only':>14} {'ours':>14} {'ours/HA':>8}")
    ours_figures = _figures(ours)
    for label, (b, b_of) in _figures(base).items():
        o, o_of = ours_figures[label]
        ratio = _ratio(o / o_of if o_of else 0, b / b_of if b_of else 0)
        print(f"{label:32} {_share(b, b_of):>14} {_share(o, o_of):>14} {ratio:>8}")
    base_ms = [m for v in base for m in v.ms]
    ours_ms = [m for v in ours for m in v.ms]
    for q in (50, 95):
        b, o = _pct(base_ms, q), _pct(ours_ms, q)
        print(f"{f'recognize p{q} (ms)':32} {b:>14.2f} {o:>14.2f} {_ratio(o, b):>8}")


def per_intent(base: list[Verdict], ours: list[Verdict]) -> None:
    head = ("n", "local HA", "local ours", "right ours")
    print(f"\n{'expected intent':28} {head[0]:>4} {head[1]:>9} {head[2]:>11} {head[3]:>11}")
    names = sorted({v.item.intent or "(needs the LLM)" for v in ours})
    for name in names:
        b = [v for v in base if (v.item.intent or "(needs the LLM)") == name]
        o = [v for v in ours if (v.item.intent or "(needs the LLM)") == name]
        print(
            f"{name:28} {len(o):>4} {sum(v.local for v in b):>9} {sum(v.local for v in o):>11}"
            f" {sum(v.right for v in o):>11}"
        )


def misses(verdicts: list[Verdict]) -> None:
    def said(item: Item) -> str:
        return f"{item.text!r}" + (f" ({item.area})" if item.area else "")

    groups: dict[str, list[str]] = {"not local": [], "wrong": [], "LLM item taken": []}
    matched: list[str] = []
    for v in verdicts:
        item = v.item
        if item.intent is None:
            if v.local:
                groups["LLM item taken"].append(f"{said(item)} -> {v.got}")
            elif v.recognized is not None:
                matched.append(f"{said(item)} -> {v.got}")
            continue
        want = _describe(item.intent, tuple(item.targets), item.slots)
        if not v.local:
            groups["not local"].append(f"{said(item)}: {v.got}; want {want}")
        elif not v.right:
            groups["wrong"].append(f"{said(item)} -> {v.got}; want {want}")
    for title, lines in groups.items():
        print(f"\nmisses (ours), {title}: {len(lines)}")
        for line in lines:
            print(f"  {line}")
    print(f"\nLLM items the grammar matched but nothing local acts on (ours): {len(matched)}")
    for line in matched:
        print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--repeat", type=int, default=5, help="recognitions per item, timed")
    parser.add_argument(
        "--sentences",
        type=Path,
        default=SENTENCES_DIR,
        help="our sentence folder (holds en/*.yaml), to try a change before making it",
    )
    args = parser.parse_args()
    items = load_items(args.data)
    with tempfile.TemporaryDirectory(prefix="local-share-") as tmp:
        registry, site_area = asyncio.run(demo_registry(Path(tmp) / "state"))
        check(registry, items)
        empty = Path(tmp) / "no-extra-sentences"
        empty.mkdir()
        baseline = GrammarRecognizer(registry, sentences_dir=empty)
        ours = GrammarRecognizer(registry, sentences_dir=args.sentences)
        base_v, ours_v = run_both((baseline, ours), registry, items, site_area, args.repeat)
    llm = sum(i.intent is None for i in items)
    print(
        f"{args.data.name}: {len(items)} items, {len(items) - llm} device commands/questions,"
        f" {llm} needing the LLM; config.yaml's demo home, speaker in {site_area} unless the"
        f" item says; {args.repeat} timed recognitions per item\n"
    )
    summary(base_v, ours_v)
    per_intent(base_v, ours_v)
    misses(ours_v)


if __name__ == "__main__":
    main()
