"""The brain: one LLM turn, from an utterance (and camera frames) to executed intents.

Frames given with the turn are described first by the vision model (no tools); the text model
gets that description as data. When the caller can fetch frames (``look``), the text model
may also call ``LookAtCamera``: the frame is described the same way and the description is
the tool's result, data again.

The brain never touches a device. Each tool call is checked (:mod:`.tools`) and, when it is a
valid intent, handed to the caller's ``execute`` callback, which runs safety and the handlers
and returns their outcome. The spoken reply is built from the outcomes (:mod:`.reply`), not
from the model's claims, so the model's words after a round that only acted are never used:
such a round ends the turn (one request for a plain command). It does when every call of the
answer, at most ``MAX_CALLS_PER_ROUND`` of them, was a valid intent that executed with an ok
reply and no failed device, and none was a query (:func:`.tools.is_query`:
``HassGetState``, ``HassClimateGetTemperature``) or a ``LookAtCamera``. Otherwise every
result (refusals, failures, answers, what a camera sees) is fed back for another round, up to
``max_tool_rounds`` requests; so the rules ask for every call a request needs in one answer.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from assistant.act.registry import Registry
from assistant.config import LlmSettings
from assistant.errors import AssistantError
from assistant.messages import CommandResult, Intent, Reply
from assistant.speak.responses import Responses
from assistant.turn import jsonable

from .client import Completion, LlmClient, ToolCall
from .context import DeviceContext, build_context
from .cost import BUDGET_FILE, Budget, Pricing, Usage
from .errors import BrainError
from .prompt import PastTurn, camera_data, text_messages, vision_messages
from .reply import PHRASES, Action, build_reply
from .tools import (
    LOOK_TOOL,
    Rejection,
    camera_argument,
    is_query,
    look_tool,
    to_intent,
    tool_definitions,
)

__all__ = [
    "Brain",
    "BrainResult",
    "Executor",
    "ActionOutcome",
    "Look",
    "MAX_CALLS_PER_ROUND",
    "MAX_LOOKS",
]

_LOGGER = logging.getLogger(__name__)

MAX_CALLS_PER_ROUND = 8
"""Tool calls carried out from one answer; further ones are refused."""
MAX_LOOKS = 2
"""``LookAtCamera`` calls answered per turn (each costs a vision request)."""

Look = Callable[[str], Awaitable[bytes]]
"""Fetches a fresh JPEG frame of the camera called so; raises an ``AssistantError`` with a
speakable message when there is none (a ``LookError``)."""


class ActionOutcome(Protocol):
    """What executing one intent gave (``intents.handlers.Outcome`` is one)."""

    @property
    def reply(self) -> Reply: ...

    @property
    def results(self) -> Sequence[CommandResult]: ...


class Executor(Protocol):
    """Runs one intent through target resolution, safety and its handler."""

    def __call__(self, intent: Intent) -> Awaitable[ActionOutcome]: ...


@dataclass(frozen=True, slots=True)
class BrainResult:
    """Everything one LLM turn did."""

    reply: Reply
    """What to say: built from what executed (see :mod:`.reply`)."""
    actions: tuple[Action, ...]
    """The intents executed, in order, with their outcomes."""
    rejections: tuple[Rejection, ...]
    """Tool calls that were refused before reaching the executor."""
    usage: Usage
    """Tokens and cost of every call of the turn (vision included)."""
    rounds: int
    """Requests to the text model."""
    model_text: str | None
    """The model's last words (for the log; the reply may not use them)."""
    description: str | None = None
    """What the vision model said about the camera frames."""
    devices: tuple[str, ...] = ()
    """Ids of the devices the prompt listed."""
    error: BrainError | None = None
    """A failure after something had already executed (the turn still answers)."""

    @property
    def intents(self) -> tuple[Intent, ...]:
        return tuple(a.intent for a in self.actions)


@dataclass
class _Turn:
    """What one run has gathered so far."""

    turn_id: str
    text: str
    area_id: str | None
    alternatives: tuple[str, ...] = ()
    history: tuple[PastTurn, ...] = ()
    actions: list[Action] = field(default_factory=list)
    refused: list[tuple[int, Rejection]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    rounds: int = 0
    deadline: float = 0.0
    cameras: tuple[str, ...] = ()
    """Cameras ``LookAtCamera`` may name."""
    look: Look | None = None
    looked: list[str] = field(default_factory=list)


class Brain:
    """The LLM recognizer; an async context manager (it owns an HTTP client)."""

    def __init__(
        self,
        settings: LlmSettings,
        registry: Registry,
        *,
        supported: Collection[str],
        state_dir: Path | None = None,
        responses: Responses | None = None,
        today: Callable[[], datetime.date] = datetime.date.today,
    ) -> None:
        """``supported``: the intents the handlers take (``HANDLERS``); ``state_dir``: where
        the budget file lives (None: in memory); ``today``: the local date (tests)."""
        self._settings = settings
        self._registry = registry
        self._supported = frozenset(supported)
        self._tools = tool_definitions(self._supported)
        self._client = LlmClient(settings)
        self._responses = responses or Responses("en")
        path = state_dir / BUDGET_FILE if state_dir is not None else None
        self.budget = Budget(path, settings.daily_budget, today=today)
        """Today's spend; ``budget.exceeded`` says whether the brain would refuse."""
        self._pricing = Pricing(settings.price_in, settings.price_out)
        self._vision_pricing = Pricing(
            _first(settings.vision_price_in, settings.price_in),
            _first(settings.vision_price_out, settings.price_out),
        )

    def __repr__(self) -> str:
        return f"Brain(model={self._settings.model!r}, base_url={self._settings.base_url!r})"

    @property
    def has_eyes(self) -> bool:
        """Whether camera frames can be looked at (a vision model is configured)."""
        return self._settings.vision_model is not None

    async def __aenter__(self) -> Brain:
        await self._client.start()
        await asyncio.to_thread(self.budget.load)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def run(
        self,
        text: str,
        execute: Executor,
        *,
        alternatives: Sequence[str] = (),
        area_id: str | None = None,
        history: Sequence[PastTurn] = (),
        images: Sequence[bytes] = (),
        cameras: Sequence[str] = (),
        look: Look | None = None,
        turn_id: str = "-",
    ) -> BrainResult:
        """Understand ``text`` and act through ``execute``; at most ``timeout`` seconds of LLM.

        ``history``: this hub's recent turns, oldest first (``Pipeline.history(site)``);
        ``images``: JPEG frames the question is about; ``cameras`` and ``look``: what the
        ``LookAtCamera`` tool may look through, and how (offered only with both and a vision
        model). Raises a :class:`BrainError` (with a speakable message) when nothing could
        be done: budget, timeout, HTTP errors.
        """
        self.budget.check()
        deadline = time.monotonic() + self._settings.timeout
        turn = _Turn(turn_id, text, area_id, tuple(alternatives), tuple(history))
        turn.deadline = deadline
        if look is not None and self.has_eyes:
            turn.cameras, turn.look = tuple(cameras), look
        description = await self._describe(turn, images, deadline) if images else None
        context = self._context(turn)
        messages = text_messages(
            context.text,
            text,
            alternatives=alternatives,
            history=history,
            description=description,
        )
        error: BrainError | None = None
        try:
            model_text = await self._rounds(turn, messages, execute, deadline)
        except BrainError as err:
            if not turn.actions:
                raise
            error, model_text = err, None
        return self._result(turn, model_text, description, context.devices, error)

    def _context(self, turn: _Turn) -> DeviceContext:
        """The devices the model gets to see for this turn."""
        history = turn.history
        return build_context(
            self._registry,
            [turn.text, *turn.alternatives],
            speaker_area=turn.area_id,
            history=[t for past in history for t in (past.text, past.reply)],
            recent_ids=[i for past in history for i in getattr(past, "device_ids", ())],
        )

    async def _describe(self, turn: _Turn, images: Sequence[bytes], deadline: float) -> str | None:
        """What the vision model sees that matters to the question (no tools)."""
        model = self._settings.vision_model
        if model is None:
            _LOGGER.info("[%s] %d frame(s) ignored: no vision model", turn.turn_id, len(images))
            return None
        completion = await self._client.complete(
            model=model,
            messages=vision_messages(turn.text, images),
            deadline=deadline,
            pricing=self._vision_pricing,
            turn_id=turn.turn_id,
        )
        await self._count(turn, completion)
        return (completion.content or "").strip()

    async def _rounds(
        self,
        turn: _Turn,
        messages: list[dict[str, Any]],
        execute: Executor,
        deadline: float,
    ) -> str | None:
        """Ask, execute the tool calls, feed the results back until a round settles the turn
        (see the module's docstring); the model's last text."""
        # the same tools every round (and turn, cameras aside): a cached prompt prefix holds
        tools = self._tools + ([look_tool(turn.cameras)] if turn.cameras else [])
        for round_ in range(1, self._settings.max_tool_rounds + 1):
            self.budget.check()
            turn.rounds = round_
            completion = await self._client.complete(
                model=self._settings.model,
                messages=messages,
                tools=tools,
                deadline=deadline,
                pricing=self._pricing,
                turn_id=turn.turn_id,
            )
            await self._count(turn, completion)
            if not completion.tool_calls:
                return completion.content
            messages.append(completion.assistant_message())
            if await self._round(turn, completion.tool_calls, round_, execute, messages):
                _LOGGER.debug("[%s] round %d settled the turn", turn.turn_id, round_)
                return completion.content
        _LOGGER.info("[%s] LLM stopped after %d tool rounds", turn.turn_id, turn.rounds)
        return None

    async def _round(
        self,
        turn: _Turn,
        calls: Sequence[ToolCall],
        round_: int,
        execute: Executor,
        messages: list[dict[str, Any]],
    ) -> bool:
        """Carry out one answer's calls, their results added to ``messages``; whether the
        round settled the turn (nothing in it for the model to fix, read or look at)."""
        settled = True
        for index, call in enumerate(calls):
            if index < MAX_CALLS_PER_ROUND:
                content, done = await self._call(turn, call, round_, execute)
            else:  # refused: the model hears of it (and may send the rest again)
                content = _dumps({"ok": False, "error": "too many calls in one answer"})
                done = False
            settled = settled and done
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
        return settled

    async def _count(self, turn: _Turn, completion: Completion) -> None:
        turn.usage = turn.usage + completion.usage
        await self.budget.add(completion.usage)

    async def _call(
        self, turn: _Turn, call: ToolCall, round_: int, execute: Executor
    ) -> tuple[str, bool]:
        """Check and execute one tool call: the tool result for the model (JSON text), and
        whether the call is done with (a valid action that went well, no query, no look)."""
        if call.name == LOOK_TOOL and turn.cameras:
            return await self._look_at(turn, call), False
        intent = to_intent(
            call.name,
            call.arguments,
            self._registry,
            supported=self._supported,
            speaker_area=turn.area_id,
            text=turn.text,
        )
        if isinstance(intent, Rejection):
            _LOGGER.info("[%s] LLM call %s refused: %s", turn.turn_id, call.name, intent.reason)
            turn.refused.append((round_, intent))
            return _dumps({"ok": False, "error": intent.reason}), False
        _LOGGER.info("[%s] LLM intent %s %s", turn.turn_id, intent.name, dict(intent.slots))
        try:
            outcome = await execute(intent)
            action = Action(intent, outcome.reply, tuple(outcome.results), round_)
        except Exception:  # a failing executor must not lose what already ran
            _LOGGER.exception("[%s] executing %s failed", turn.turn_id, intent.name)
            action = Action(intent, Reply(PHRASES["failed"], ok=False), (), round_)
        turn.actions.append(action)
        return _dumps(_tool_result(action)), _done(action)

    async def _look_at(self, turn: _Turn, call: ToolCall) -> str:
        """``LookAtCamera``: a fresh frame, described by the vision model, as data."""
        camera = camera_argument(call.arguments, turn.cameras)
        if isinstance(camera, Rejection):
            return _dumps({"ok": False, "error": camera.reason})
        if camera in turn.looked or len(turn.looked) >= MAX_LOOKS:
            said = "already looked there" if camera in turn.looked else "no more looks this turn"
            return _dumps({"ok": False, "error": said})
        turn.looked.append(camera)
        assert turn.look is not None
        _LOGGER.info("[%s] LLM looks at camera %s", turn.turn_id, camera)
        try:
            image = await turn.look(camera)
        except AssistantError as err:  # a LookError: its message says which camera failed
            return _dumps({"ok": False, "error": err.message})
        description = await self._describe(turn, [image], turn.deadline) or ""
        return _dumps({"ok": True, "camera": camera, "sees": camera_data(description)})

    def _result(
        self,
        turn: _Turn,
        model_text: str | None,
        description: str | None,
        devices: Sequence[Any],
        error: BrainError | None,
    ) -> BrainResult:
        unresolved = [
            rejection
            for round_, rejection in turn.refused
            if not any(action.round > round_ for action in turn.actions)
        ]
        reply = build_reply(turn.actions, unresolved, model_text, self._responses)
        _LOGGER.info(
            "[%s] LLM turn: %d round(s), %d action(s), %d refused, %d+%d tokens, cost %.6f",
            turn.turn_id,
            turn.rounds,
            len(turn.actions),
            len(turn.refused),
            turn.usage.tokens_in,
            turn.usage.tokens_out,
            turn.usage.cost,
        )
        return BrainResult(
            reply=reply,
            actions=tuple(turn.actions),
            rejections=tuple(r for _, r in turn.refused),
            usage=turn.usage,
            rounds=turn.rounds,
            model_text=model_text,
            description=description,
            devices=tuple(d.id for d in devices),
            error=error,
        )


def _done(action: Action) -> bool:
    """Whether the model needs nothing back from ``action``: it acted, and all went well."""
    went_well = action.reply.ok and all(r.ok for r in action.results)
    return went_well and not is_query(action.intent.name)


def _tool_result(action: Action) -> dict[str, Any]:
    """What the model learns of an execution: ok, the reply, and each device's result."""
    return {
        "ok": action.reply.ok,
        "said": action.reply.text,
        "devices": [
            {
                "id": r.device_id,
                "ok": r.ok,
                **({"error": r.error} if r.error else {}),
                "state": jsonable(dict(r.state)),
            }
            for r in action.results
        ],
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _first(value: float | None, default: float) -> float:
    return default if value is None else value
