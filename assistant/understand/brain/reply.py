"""What the assistant says after an LLM turn: built from what really happened.

- Something executed: the handlers' own replies (they describe the real results), plus a
  sentence for each refused call the model did not fix in a later round.
- Nothing executed, calls refused: a sentence per refusal ("I don't know any device called
  porch white"), whatever the model said.
- Nothing executed, nothing refused: the model's answer to a question, unless it claims an
  action ("I've turned on the light"), which nothing confirmed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.messages import CommandResult, Intent, Reply
from assistant.speak.responses import Responses, join_words, the

from .tools import Rejection

__all__ = ["Action", "build_reply", "claims_action", "PHRASES", "MAX_REPLY_CHARS"]

MAX_REPLY_CHARS = 300
"""A model's answer is cut (at a sentence end when there is one) to this many characters."""

PHRASES = {
    "no_change": "I didn't change anything",
    "failed": "Sorry, that didn't work",
}
"""The brain's own sentences (the rest come from the ``errors`` response templates)."""

_CLAIM = re.compile(
    r"\b(?:i|i've|i'll|we|done|okay|ok)\b[^.!?]*?\b(?:turned|switched|set|opened|closed|"
    r"started|stopped|dimmed|brightened|locked|unlocked|adjusted|changed|activated|"
    r"deactivated|docked|sent|lowered|raised)\b|\b(?:is|are)\s+now\b|^\W*(?:ok\w*\W+)?done\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"\b(?:not|cannot|can't|couldn't|unable|no|don't|didn't|won't)\b", re.I)
_MARKDOWN = re.compile(r"[*_`#]+")


@dataclass(frozen=True, slots=True)
class Action:
    """One intent the brain had executed, and what came of it."""

    intent: Intent
    reply: Reply
    """The handler's reply: what really happened, in words."""
    results: tuple[CommandResult, ...] = ()
    round: int = 1
    """The tool round (1-based) it was called in."""


def build_reply(
    actions: Sequence[Action],
    unresolved: Sequence[Rejection],
    model_text: str | None,
    responses: Responses,
) -> Reply:
    """The reply for a turn; ``unresolved``: refusals no later round made up for."""
    refused = [_refusal(r, responses) for r in unresolved]
    if actions:
        said = _unique([a.reply.text for a in actions] + refused)
        ok = all(a.reply.ok for a in actions) and not refused
        return Reply(_joined(said), ok=ok)
    if refused:
        return Reply(_joined(_unique(refused)), ok=False)
    text = _clean(model_text or "")
    if not text:
        return Reply(responses.render("errors", "no_intent"), ok=False)
    if claims_action(text):
        return Reply(PHRASES["no_change"], ok=False)
    return Reply(text)


def claims_action(text: str) -> bool:
    """Whether ``text`` says that something was done (without a negation in the claim)."""
    return any(not _NEGATION.search(m.group(0)) for m in _CLAIM.finditer(text))


def _refusal(rejection: Rejection, responses: Responses) -> str:
    details = rejection.details
    problem = rejection.problem
    if problem == "no_device" and "name" in details:
        return responses.render("errors", "no_device", name=details["name"])
    if problem == "no_area" and "area" in details:
        return responses.render("errors", "no_area", area=details["area"])
    if problem == "ambiguous" and details.get("candidates"):
        names = join_words([the(n) for n in details["candidates"]])
        return responses.render("errors", "ambiguous", name=details["name"], candidates=names)
    if problem == "needs_area":
        return responses.render("errors", "no_area_context")
    return responses.render("errors", "not_handled")


def _unique(texts: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(t for t in texts if t))


def _joined(texts: Sequence[str]) -> str:
    """One text as it is; several as sentences."""
    if len(texts) == 1:
        return texts[0]
    return " ".join(t if t[-1:] in ".!?" else t + "." for t in (t.strip() for t in texts))


def _clean(text: str) -> str:
    """One spoken paragraph: no markdown, single spaces, not too long."""
    text = " ".join(_MARKDOWN.sub("", text).split())
    if len(text) <= MAX_REPLY_CHARS:
        return text
    cut = text[:MAX_REPLY_CHARS]
    end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! "))
    return cut[: end + 1] if end > 0 else cut.rstrip() + "…"
