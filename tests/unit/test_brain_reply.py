"""The reply after an LLM turn is built from what executed, not from the model's claims."""

from __future__ import annotations

import pytest

from assistant.messages import Intent, Reply
from assistant.speak.responses import Responses
from assistant.understand.brain import Action, Rejection
from assistant.understand.brain.reply import MAX_REPLY_CHARS, build_reply, claims_action

R = Responses("en")
ON = Action(Intent("HassTurnOn", {"name": "lamp"}), Reply("Turned on the lamp"))
FAILED = Action(Intent("HassTurnOn", {"name": "fan"}), Reply("The fan is not responding", False))
UNKNOWN = Rejection("HassTurnOn", "no device", "no_device", {"name": "porch white"})


def test_what_executed_is_what_is_said():
    assert build_reply([ON], [], "I turned on all the lights!", R) == Reply("Turned on the lamp")
    assert build_reply([ON, FAILED], [], None, R) == Reply(
        "Turned on the lamp. The fan is not responding.", ok=False
    )


def test_unresolved_refusals_are_added():
    reply = build_reply([ON], [UNKNOWN], None, R)
    assert reply == Reply(
        "Turned on the lamp. Sorry, I don't know any device called porch white.", ok=False
    )


@pytest.mark.parametrize(
    ("rejection", "expected"),
    [
        (UNKNOWN, "Sorry, I don't know any device called porch white"),
        (
            Rejection("HassTurnOn", "x", "no_area", {"area": "garden"}),
            "Sorry, I don't know any area called garden",
        ),
        (
            Rejection("HassTurnOn", "x", "ambiguous", {"name": "lamp", "candidates": ["A", "B"]}),
            "I know more than one lamp: the A and the B. Which one do you mean?",
        ),
        (Rejection("HassTurnOn", "x", "needs_area"), "Which room do you mean?"),
        (Rejection("HassUnlock", "x", "unknown_tool"), "Sorry, I can't do that yet"),
    ],
)
def test_refusals_in_words(rejection, expected):
    assert build_reply([], [rejection, rejection], "Done!", R) == Reply(expected, ok=False)


def test_an_answer_to_a_question():
    assert build_reply([], [], "  The **kitchen** is 21 degrees. ", R) == Reply(
        "The kitchen is 21 degrees."
    )


def test_nothing_at_all():
    assert build_reply([], [], None, R) == Reply("Sorry, I didn't understand that", ok=False)


def test_long_answers_are_cut_at_a_sentence():
    text = "It is sunny. " * 40
    reply = build_reply([], [], text, R)
    assert len(reply.text) <= MAX_REPLY_CHARS and reply.text.endswith("sunny.")


@pytest.mark.parametrize(
    "text",
    [
        "I've turned on the kitchen lamp.",
        "OK, I switched off the fan",
        "Done!",
        "The lights are now off.",
        "I have set the temperature to 22 degrees",
        "Sure, I opened the curtains for you.",
    ],
)
def test_claims(text):
    assert claims_action(text)
    assert build_reply([], [], text, R) == Reply("I didn't change anything", ok=False)


@pytest.mark.parametrize(
    "text",
    [
        "The kitchen lamp is on.",
        "I couldn't find a device that can be turned on there.",
        "I can't unlock doors.",
        "Which lamp do you mean, the bedroom or the kitchen one?",
        "Yes, someone is at the front door.",
        "I didn't change anything.",
    ],
)
def test_not_claims(text):
    assert not claims_action(text)
