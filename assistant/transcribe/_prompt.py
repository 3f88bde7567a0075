"""What the decoder is told before it listens, and what it says when nobody spoke.

Hints (device names, aliases, areas) reach whisper as a *previous-text prompt*: the tokens
after ``<|startofprev|>``. faster-whisper's ``hotwords`` and ``initial_prompt`` both put
them exactly there for one 30 s window without ``condition_on_previous_text`` (measured:
identical output on 20 piper commands), so what matters is the prompt's wording, not the
option. Measured on tiny.en, 35 short commands x 5 renders of piper's joe voice (its
noise on, so every render differs), same audio for every row:

=====================================================  ============
prompt                                                 word for word
=====================================================  ============
none                                                   143 / 175
"Living room lamp. Porch light. ..."                   161 / 175
"Devices: living room lamp, porch light, ..."          161 / 175
"Turn on. Turn off. ... Living room lamp. ..."         164 / 175
"Turn on. ... Devices: living room lamp, ..."          170 / 175
=====================================================  ============

The names fix "porch white", "whole lamp", "air pure fire"; the command verbs in front fix
"Walk the front door", "I'm off the front door" (unlock) and "Then the porch light" (dim).
A bare comma list without the label and full stop makes the decoder continue the list
("light, turn off the porch light"). Cost: ~+10 ms per command (the encoder dominates).

A prompt also makes whisper hallucinate *from the prompt* on silence and noise ("Living
room.", "Side door.", "Background music."), on top of its classic "you" / "Thank you.".
Those decodes have an average log probability below -2; speech here sits above -0.6:
see :func:`is_no_speech`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "COMMAND_WORDS",
    "build_prompt",
    "is_no_speech",
    "normalize",
]

_LOGGER = logging.getLogger(__name__)

COMMAND_WORDS: tuple[str, ...] = (
    "turn on",
    "turn off",
    "lock",
    "unlock",
    "dim",
    "set",
    "open",
    "close",
)
"""English smart-home verbs put in front of the hints (see the table above)."""

MAX_PROMPT_TOKENS = 200
"""Whisper keeps at most 223 previous-text tokens; stay below, whole hints only."""

MIN_LOGPROB = -1.5
"""Average token log probability below which a decode is taken as no speech (conf ~0.22)."""
NO_SPEECH_PROB = 0.6
NO_SPEECH_LOGPROB = -1.0
"""Whisper's own rule: no_speech_prob above 0.6 *and* log probability below -1 is silence."""

_BLOCKLIST = frozenset(
    {
        "",
        "you",
        "thank you",
        "thanks",
        "thank you for watching",
        "thanks for watching",
        "bye",
        "music",
        "sound",
        "background music",
        "applause",
        "silence",
        "so",
    }
)
"""What whisper says to silence and noise, dropped unless it was said clearly."""
_CLEAR_LOGPROB = -0.8
_CLEAR_NO_SPEECH = 0.2
_LABEL = "Devices:"


def normalize(text: str) -> str:
    """Lower case, ``%`` spelled out, punctuation dropped, single spaces."""
    text = text.lower().replace("%", " percent")
    text = re.sub(r"[^\w\s']", " ", text)
    return " ".join(text.split())


def _clean(phrase: str) -> str:
    return " ".join(phrase.split()).strip(" .,;:")


def build_prompt(
    hints: Iterable[str], words: Sequence[str], count_tokens: Callable[[str], int]
) -> str | None:
    """The previous-text prompt: ``words`` as short sentences, then ``Devices: hints.``

    Duplicates (after :func:`normalize`) are dropped; hints are kept in the order given
    and cut, whole, where the prompt would pass :data:`MAX_PROMPT_TOKENS`.
    ``count_tokens`` measures a piece of text in the model's tokens.
    """
    seen: set[str] = set()
    verbs = []
    for word in map(_clean, words):
        if normalize(word) and normalize(word) not in seen:
            seen.add(normalize(word))
            verbs.append(word[:1].upper() + word[1:] + ".")
    prompt = " ".join(verbs)
    used = count_tokens(" " + prompt + " " + _LABEL) if prompt else count_tokens(_LABEL)
    names: list[str] = []
    for hint in map(_clean, hints):
        key = normalize(hint)
        if not key or key in seen:
            continue
        cost = count_tokens(" " + hint + ",")
        if used + cost > MAX_PROMPT_TOKENS:
            _LOGGER.debug("Prompt full: hints from %r on left out", hint)
            break
        seen.add(key)
        names.append(hint)
        used += cost
    if names:
        prompt = f"{prompt} {_LABEL} {', '.join(names)}.".strip()
    return prompt or None


def is_no_speech(text: str, avg_logprob: float, no_speech_prob: float) -> bool:
    """Whether a decode is whisper talking to silence or noise rather than a person.

    Dropped: a very unlikely decode (log probability < -1.5), whisper's own silence rule
    (no_speech_prob > 0.6 and log probability < -1), and the blocklist ("you", "Thank
    you.", "Music", ...) unless the decode was clear (log probability >= -0.8 and
    no_speech_prob <= 0.2), so a person who really says "thank you" is still heard.
    """
    if avg_logprob < MIN_LOGPROB:
        return True
    if no_speech_prob > NO_SPEECH_PROB and avg_logprob < NO_SPEECH_LOGPROB:
        return True
    clear = avg_logprob >= _CLEAR_LOGPROB and no_speech_prob <= _CLEAR_NO_SPEECH
    return normalize(text) in _BLOCKLIST and not clear
