"""The text pipeline: understand -> act -> reply, as one Turn."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from assistant.act.dispatch import Dispatcher
from assistant.act.registry import Registry
from assistant.messages import CommandResult, Intent, Reply, TurnEventType
from assistant.speak.responses import Responses
from assistant.turn import EventCallback, Turn, TurnResult
from assistant.understand.grammar import GrammarRecognizer, NoMatch
from intents.handlers import HANDLERS, HandlerContext, Outcome

__all__ = ["Pipeline"]

_LOGGER = logging.getLogger(__name__)

UNDERSTAND_TIMEOUT = 10.0
"""Seconds the grammar may take before the turn gives up."""


class Pipeline:
    """Runs text turns against the registry; one instance per daemon."""

    def __init__(
        self,
        registry: Registry,
        dispatcher: Dispatcher,
        *,
        language: str = "en",
        callback: EventCallback | None = None,
    ) -> None:
        self.registry = registry
        self._dispatcher = dispatcher
        self._recognizer = GrammarRecognizer(registry, language=language)
        self._responses = Responses(language)
        self._callback = callback
        self.result_listeners: list[Callable[[TurnResult], None]] = []
        """Called with every finished turn (the MQTT turn topic, ...); must not block."""

    def warm_up(self) -> None:
        """Compile the grammar once so the first turn is fast (blocking: use a thread)."""
        self._recognizer.recognize("turn on the light")

    async def understands(self, text: str, *, area_id: str | None = None) -> bool:
        """Whether the grammar places ``text`` (to choose between readings of one utterance)."""
        recognized = await asyncio.to_thread(self._recognizer.recognize, text, area_id=area_id)
        return isinstance(recognized, Intent)

    def new_turn(
        self, text: str = "", *, area_id: str | None = None, site: str = "default"
    ) -> Turn:
        """Start a turn (voice starts one before it knows the text)."""
        turn = Turn(text, site=site, area=area_id, callback=self._callback)
        turn.emit(TurnEventType.TURN_START, text=text, site=site, area=area_id)
        return turn

    async def run_text(
        self,
        text: str,
        *,
        area_id: str | None = None,
        site: str = "default",
        turn: Turn | None = None,
    ) -> TurnResult:
        """Understand ``text``, act, reply; ``turn`` continues a turn begun with new_turn."""
        if turn is None:
            turn = self.new_turn(text, area_id=area_id, site=site)
        turn.text = text
        intent: Intent | None = None
        results: tuple[CommandResult, ...] = ()
        reply = Reply(self._responses.render("errors", "internal"), ok=False)
        try:
            recognized = await self._understand(turn, text, area_id)
            if isinstance(recognized, NoMatch):
                reply = self._explain(recognized)
            else:
                intent = recognized
                outcome = await self._act(turn, intent, area_id)
                results, reply = outcome.results, outcome.reply
        except Exception as err:  # every failure still ends in a spoken reply
            _LOGGER.exception("[%s] turn failed", turn.id)
            turn.emit(TurnEventType.ERROR, error=type(err).__name__)
        finally:
            result = self.end_turn(turn, reply, intent, results)
        return result

    def end_turn(
        self,
        turn: Turn,
        reply: Reply,
        intent: Intent | None = None,
        results: tuple[CommandResult, ...] = (),
    ) -> TurnResult:
        """Emit the reply and the end of ``turn``; log one line for it."""
        turn.emit(TurnEventType.REPLY, text=reply.text, ok=reply.ok)
        result = turn.finish(intent, results, reply)
        turn.emit(TurnEventType.TURN_END, timings_ms=result.timings_ms)
        for listener in self.result_listeners:
            try:
                listener(result)
            except Exception:  # an observer must never break a turn
                _LOGGER.exception("[%s] turn result listener failed", turn.id)
        _LOGGER.info(
            "[%s] %r -> %s -> %r (%.0f ms)",
            turn.id,
            turn.text,
            intent.name if intent else "no intent",
            reply.text,
            result.timings_ms["total"],
        )
        return result

    def reply(self, key: str, **values: object) -> Reply:
        """A reply from the ``errors`` templates (not understood, not heard, ...)."""
        return Reply(self._responses.render("errors", key, **values), ok=False)

    async def _understand(self, turn: Turn, text: str, area_id: str | None) -> Intent | NoMatch:
        with turn.stage("understand"):
            recognized = await asyncio.wait_for(
                asyncio.to_thread(self._recognizer.recognize, text, area_id=area_id),
                UNDERSTAND_TIMEOUT,
            )
        if isinstance(recognized, Intent):
            turn.emit(
                TurnEventType.INTENT,
                "understand",
                name=recognized.name,
                slots=dict(recognized.slots),
                source=str(recognized.source),
            )
        return recognized

    async def _act(self, turn: Turn, intent: Intent, area_id: str | None) -> Outcome:
        with turn.stage("act"):
            handler = HANDLERS.get(intent.name)
            if handler is None:
                return Outcome(Reply(self._responses.render("errors", "not_handled"), ok=False))
            ctx = HandlerContext(self.registry, self._dispatcher, self._responses, area_id, turn.id)
            outcome = await handler(ctx, intent)
        for result in outcome.results:
            turn.emit(
                TurnEventType.RESULT,
                "act",
                device=result.device_id,
                ok=result.ok,
                error=result.error,
            )
        return outcome

    def _explain(self, no_match: NoMatch) -> Reply:
        unknown = no_match.unknown
        if "name" in unknown:
            return Reply(
                self._responses.render("errors", "no_device", name=unknown["name"]), ok=False
            )
        if "area" in unknown:
            return Reply(
                self._responses.render("errors", "no_area", area=unknown["area"]), ok=False
            )
        if no_match.needs_area:
            return Reply(self._responses.render("errors", "no_area_context"), ok=False)
        if "floor" in unknown:
            return Reply(
                self._responses.render("errors", "no_floor", floor=unknown["floor"]), ok=False
            )
        return Reply(self._responses.render("errors", "no_intent"), ok=False)
