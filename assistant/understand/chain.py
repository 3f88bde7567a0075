"""Local first: the grammar answers what it can; the LLM, when there is one, gets the rest.

The grammar always runs first, in milliseconds and for free. :class:`Fallback` decides what
happens when it cannot place a sentence:

- With a brain (config ``llm``), the LLM is asked when the sentence itself was not understood
  ("it's too dark in the living room"), or was understood around a name or area this home
  lacks ("turn off the porch white": a misheard "porch light"?). It gets the transcript (PINs
  masked), the decoder's other readings, the speaker's area and the hub's recent turns; each
  tool call it makes runs through the caller's ``act``: the pipeline's safety and handlers,
  as ``source=llm``. "Which room do you mean?" stays local: the grammar knows what is missing.
- A :class:`~assistant.understand.brain.BrainError` is answered with its spoken message and
  logged with its code. Today's budget used up is said once; after that the grammar's own
  reply is given without asking (until the budget starts again at midnight).
- A question that needs eyes (:mod:`.eyes`: "is anyone at the front door?") is asked with a
  fresh frame of each camera it names: the vision model describes them, the text model gets
  that description as untrusted data. No frame at all: the camera's failure is said ("The
  front door camera is not answering") and the LLM is not asked. Without a brain, or without
  a vision model, the reply says that looking needs them. In any LLM turn the text model may
  also call ``LookAtCamera`` on a camera not looked at yet (described the same way).
- With no brain, "I didn't understand that" says once in a while that the assistant works
  without an online assistant.

The brain package (and the ``openai`` SDK under it) is imported only when an ``llm`` section
exists, the cameras (and PyAV) only when a ``cameras`` one does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError, UnderstandError
from assistant.messages import CommandResult, Intent, Reply, TurnEventType
from assistant.speak.responses import Responses
from assistant.turn import LlmUsage, Turn, TurnAction
from assistant.understand.conversation import Exchange
from assistant.understand.grammar import NoMatch

if TYPE_CHECKING:
    from assistant.look import Camera
    from assistant.understand.brain import Brain
    from assistant.understand.brain.cost import Usage
    from assistant.understand.eyes import Eyes
    from intents.handlers import Outcome

__all__ = ["Fallback", "LlmAnswer", "LOCAL_ONLY_EVERY", "device_ids"]

_LOGGER = logging.getLogger(__name__)

LOCAL_ONLY_EVERY = 3600.0
"""Seconds between two "I'm set up to work without an online assistant" notices."""


Act = Callable[[Intent], Awaitable[tuple[Intent, "Outcome"]]]
"""Runs one intent within the turn: safety and its handler; the intent as run and the outcome."""


@dataclass(frozen=True, slots=True)
class LlmAnswer:
    """What an LLM turn did and what to say."""

    reply: Reply
    actions: tuple[TurnAction, ...] = ()
    """The intents carried out, in order, with the devices each acted on."""
    results: tuple[CommandResult, ...] = ()
    """Every device result of every action."""
    usage: LlmUsage = LlmUsage()
    error: str | None = None
    """The code of the brain's error, when it had one."""

    @property
    def device_ids(self) -> tuple[str, ...]:
        """The devices of all actions, each once: what "it" / "them" means next turn."""
        return tuple(dict.fromkeys(i for action in self.actions for i in action.device_ids))


def device_ids(outcome: Outcome) -> tuple[str, ...]:
    """The devices an outcome acted on or asked about."""
    return outcome.targets or tuple(r.device_id for r in outcome.results)


class Fallback:
    """The step after the grammar: the brain, or the local-only reply."""

    def __init__(
        self,
        brain: Brain | None,
        responses: Responses,
        *,
        eyes: Eyes | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``eyes``: the cameras, when config has any."""
        self.brain = brain
        self._eyes = eyes
        self._responses = responses
        self._clock = clock
        self._noticed_at: float | None = None
        self._budget_said = False

    def cameras_for(
        self, text: str, recognized: Intent | NoMatch, area_id: str | None
    ) -> tuple[Camera, ...]:
        """The cameras ``text`` needs looked through (:meth:`Eyes.cameras_for`); none when
        today's budget is spent and that was said (the grammar's own reply stands then)."""
        if self._eyes is None:
            return ()
        if self.brain is not None and self.brain.budget.exceeded and self._budget_said:
            return ()
        return self._eyes.cameras_for(text, recognized, area_id)

    def wants(self, no_match: NoMatch, cameras: Sequence[Camera] = ()) -> bool:
        """Whether the LLM is asked about a sentence the grammar could not place (that
        needs ``cameras`` looked through)."""
        if self.brain is None or (no_match.needs_area and not cameras):
            return False
        if cameras and not self.brain.has_eyes:
            return False
        if not self.brain.budget.exceeded:
            self._budget_said = False  # a new day
            return True
        return not self._budget_said  # say "budget used up" once

    async def ask(
        self,
        turn: Turn,
        act: Act,
        *,
        alternatives: Sequence[str] = (),
        area_id: str | None = None,
        history: Sequence[Exchange] = (),
        cameras: Sequence[Camera] = (),
    ) -> LlmAnswer:
        """One LLM turn on ``turn.text`` (its PIN masked), with a frame of each of ``cameras``;
        errors become their spoken reply."""
        from assistant.understand.brain import BudgetExceeded  # loaded with the brain

        assert self.brain is not None
        brain = self.brain
        actions: list[TurnAction] = []
        results: list[CommandResult] = []

        async def execute(intent: Intent) -> Outcome:
            ran, outcome = await act(intent)
            actions.append(TurnAction(ran, device_ids(outcome), outcome.reply.ok))
            results.extend(outcome.results)
            return outcome

        spent = brain.budget.spent
        try:
            images = await self._look(turn, cameras)
            with turn.stage("llm"):
                result = await brain.run(
                    turn.text,
                    execute,
                    alternatives=alternatives,
                    area_id=area_id,
                    history=history,
                    images=images,
                    **self._look_tool(turn, cameras),
                    turn_id=turn.id,
                )
        except UnderstandError as err:  # a BrainError: nothing was done
            self._failed(turn, err, log=isinstance(err, BudgetExceeded))
            if isinstance(err, BudgetExceeded):
                self._budget_said = True
            usage = _since(spent, brain.budget.spent)
            return LlmAnswer(Reply(err.message, ok=False), usage=usage, error=err.code)
        except AssistantError as err:  # a LookError: no camera gave a frame, nothing asked
            return LlmAnswer(Reply(err.message, ok=False), error=err.code)
        error = None
        if result.error is not None:  # something ran before the failure: the reply says it
            self._failed(turn, result.error, log=isinstance(result.error, BudgetExceeded))
            error = result.error.code
        usage = _usage(result.usage)
        return LlmAnswer(result.reply, tuple(actions), tuple(results), usage, error)

    def explain(self, no_match: NoMatch, cameras: Sequence[Camera] = ()) -> Reply:
        """The reply when the LLM is not asked: what the grammar could not find, or why a
        question for ``cameras`` is not looked at (no brain, or a brain with no eyes)."""
        unknown, say = no_match.unknown, self._responses.render
        if cameras:
            key = "cameras_local" if self.brain is None else "cameras_no_vision"
            return Reply(say("errors", key), ok=False)
        if "name" in unknown:
            return Reply(say("errors", "no_device", name=unknown["name"]), ok=False)
        if "area" in unknown:
            return Reply(say("errors", "no_area", area=unknown["area"]), ok=False)
        if no_match.needs_area:
            return Reply(say("errors", "no_area_context"), ok=False)
        if "floor" in unknown:
            return Reply(say("errors", "no_floor", floor=unknown["floor"]), ok=False)
        return self.not_understood(Reply(say("errors", "no_intent"), ok=False))

    def not_understood(self, reply: Reply) -> Reply:
        """The "didn't understand" reply; with no brain, once in a while it says why."""
        if self.brain is not None:
            return reply
        now = self._clock()
        if self._noticed_at is not None and now - self._noticed_at < LOCAL_ONLY_EVERY:
            return reply
        self._noticed_at = now
        return Reply(self._responses.render("errors", "no_intent_local"), ok=False)

    async def _look(self, turn: Turn, cameras: Sequence[Camera]) -> list[bytes]:
        """The JPEG frames of ``cameras`` ([] for none); a LookError when none came."""
        if not cameras:
            return []
        assert self.brain is not None and self._eyes is not None
        self.brain.budget.check()  # no frames for a turn the LLM will not be asked about
        frames = await self._eyes.look(turn, [camera.name for camera in cameras])
        return [frame.jpeg for frame in frames]

    def _look_tool(self, turn: Turn, looked: Sequence[Camera]) -> dict[str, Any]:
        """The brain's ``LookAtCamera`` arguments: the cameras not looked at yet, and how
        to look (none without cameras)."""
        if self._eyes is None:
            return {}
        names = [camera.name for camera in self._eyes.cameras.cameras if camera not in looked]
        return {"cameras": names, "look": self._eyes.looker(turn)} if names else {}

    def _failed(self, turn: Turn, err: UnderstandError, *, log: bool) -> None:
        """An ERROR event; a log line where the brain's client has not written one (it logs
        every failed request with its code; the budget is checked before any request)."""
        if log:
            _LOGGER.warning("[%s] LLM %s: %s", turn.id, err.code, getattr(err, "detail", ""))
        turn.emit(TurnEventType.ERROR, "llm", error=err.code)


def _usage(usage: Usage) -> LlmUsage:
    return LlmUsage(usage.tokens_in, usage.tokens_out, usage.cost, usage.calls)


def _since(before: Usage, after: Usage) -> LlmUsage:
    """What was spent between two readings of today's budget (calls before a failure).

    Another hub's LLM turn at the same moment would be counted too: close enough for a
    failed turn, whose calls the brain does not report."""
    if after.calls < before.calls:  # midnight passed
        before = type(after)()
    return LlmUsage(
        after.tokens_in - before.tokens_in,
        after.tokens_out - before.tokens_out,
        max(after.cost - before.cost, 0.0),
        after.calls - before.calls,
    )
