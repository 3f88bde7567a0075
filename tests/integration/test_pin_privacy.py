"""A configured PIN said outside an unlock ("the door code is 2468") is a secret too: it
never reaches the LLM (a real OpenAI-compatible server on 127.0.0.1), the turn events, the
published turn, the conversation history or the logs."""

from __future__ import annotations

import json
import logging

from tests.llm_server import LlmServer, Say

from .test_brain_pipeline import KEY, rig

PIN = "8135"
SAFETY = f"safety: {{allow_unlock: true, pin: '{PIN}'}}"


async def test_a_pin_said_in_passing_never_leaves_the_house(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    said = [
        f"the code for the front door is {PIN}, remember it",
        "my alarm code is 8 1 3 5 and I keep forgetting it",
        "remind me that eight one three five opens the door",
    ]
    async with LlmServer(api_key=KEY) as server:
        for _ in said:
            server.push(Say("I can't keep codes, sorry."))
        async with rig(tmp_path, server, SAFETY) as house:
            results = [await house.say(text) for text in said]
            history = repr(house.pipeline.history("hub"))
        sent = json.dumps([r.body for r in server.requests])
    assert len(server.requests) == len(said)  # the LLM was asked, with the PIN masked
    assert "the code for the front door is ****" in sent
    assert "my alarm code is * * * *" in sent and "remind me that * * * * opens" in sent
    everything = [sent, history, caplog.text, repr(house.events), repr(house.published)]
    everything += [json.dumps(r.to_json()) for r in results]
    for text in everything:
        assert PIN not in text and "8 1 3 5" not in text
        assert "eight one three five" not in text.casefold()
