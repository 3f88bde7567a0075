"""Golden turns: sentences in, intents and exact replies out (data in data/turns_en.yaml)."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from assistant.runtime import Home

from .home import load_home

TURNS = YAML(typ="safe").load((Path(__file__).parent / "data" / "turns_en.yaml").read_text())[
    "turns"
]


async def test_golden_turns(tmp_path):
    mismatches = []
    async with Home(load_home(tmp_path)) as home:
        for turn in TURNS:
            area = home.area_id(turn.get("area", "Living room"))
            result = await home.pipeline.run_text(turn["text"], area_id=area)
            got = (result.intent.name if result.intent else None, result.reply.text)
            if got != (turn["intent"], turn["reply"]):
                mismatches.append(
                    f"{turn['text']!r}: expected {(turn['intent'], turn['reply'])}, got {got}"
                )
    assert not mismatches, "\n".join(mismatches)
