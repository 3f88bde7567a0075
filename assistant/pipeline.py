"""The text pipeline: understand -> (resolve "it") -> safety + act -> reply, as one Turn.

Safety (``assistant.act.safety``) sits between recognition and the devices: handlers plan
commands, ``ctx.safety`` decides on them, the dispatcher runs what it allows. A PIN said
with a command is taken out of the intent here, before anything is logged or published.
Intents from another recognizer (the LLM) take the same path through ``act_on``.

Local first: the grammar runs first; what it cannot place, or a question that needs a
camera's eyes (``assistant.understand.eyes``), goes to the LLM when config has an ``llm``
section (``assistant.understand.chain``), whose tool calls run through ``act_on``'s path:
safety, handlers, events. An LLM turn may carry out several intents: the result lists
them all (``TurnResult.actions``) with its tokens and cost.

The conversation is a short per-site history of what each turn acted on, so "turn it off"
after "turn on the fan" finds the fan; ``Pipeline.history(site)`` hands it to a recognizer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from assistant.act.dispatch import Dispatcher
from assistant.act.registry import Registry
from assistant.act.safety import Pending, Request, Safety, redact_pin
from assistant.act.targets import resolve_targets
from assistant.config import SafetySettings
from assistant.messages import CommandResult, Intent, IntentSource, Reply, TurnEventType
from assistant.speak.responses import Responses
from assistant.turn import EventCallback, LlmUsage, Turn, TurnAction, TurnResult
from assistant.understand.chain import Fallback, LlmAnswer, device_ids
from assistant.understand.conversation import Conversation, Exchange
from assistant.understand.eyes import Eyes
from assistant.understand.grammar import GrammarRecognizer, NoMatch
from intents.handlers import CONFIRM_INTENTS, HANDLERS, HandlerContext, Outcome
from intents.handlers.common import DEVICE_IDS, REFER

if TYPE_CHECKING:
    from assistant.look import Camera, Cameras
    from assistant.understand.brain import Brain

__all__ = ["Pipeline", "Conversation", "Exchange"]

_LOGGER = logging.getLogger(__name__)

UNDERSTAND_TIMEOUT = 10.0
"""Seconds the grammar may take before the turn gives up."""
PIN_SLOT = "pin"
"""The slot of the PIN said with "unlock the front door 1234" (intents/sentences/en/locks)."""
_LEVEL_INTENTS = {
    "light": ("HassLightSet", "brightness"),
    "cover": ("HassSetPosition", "position"),
    "fan": ("HassFanSetSpeed", "percentage"),
}
""""set it to 50%": the intent and slot for the referred devices' domain."""


class Pipeline:
    """Runs text turns against the registry; one instance per daemon."""

    def __init__(
        self,
        registry: Registry,
        dispatcher: Dispatcher,
        *,
        language: str = "en",
        callback: EventCallback | None = None,
        safety: Safety | None = None,
        conversation: Conversation | None = None,
        brain: Brain | None = None,
        cameras: Cameras | None = None,
    ) -> None:
        """``safety``: built from ``settings.safety`` (default: the safe defaults);
        ``brain``: the LLM for what the grammar cannot place (None: local only);
        ``cameras``: what the LLM may look through for a question that needs eyes."""
        self.registry = registry
        self._dispatcher = dispatcher
        self._recognizer = GrammarRecognizer(registry, language=language)
        self._responses = Responses(language)
        self._callback = callback
        self.safety = safety if safety is not None else Safety(SafetySettings(), registry)
        self.conversation = conversation if conversation is not None else Conversation()
        eyes = Eyes(cameras, registry) if cameras is not None else None
        self._fallback = Fallback(brain, self._responses, eyes=eyes)
        self.result_listeners: list[Callable[[TurnResult], None]] = []
        """Called with every finished turn (the MQTT turn topic, ...); must not block."""

    def history(self, site: str) -> list[Exchange]:
        """``site``'s recent turns about devices, oldest first: what was said (PINs masked),
        the intent, the device ids, the reply. For a recognizer that resolves "it" itself
        (the LLM's context); grammar turns are resolved here."""
        return self.conversation.recent(site)

    def warm_up(self) -> None:
        """Compile the grammar once so the first turn is fast (blocking: use a thread)."""
        self._recognizer.recognize("turn on the light")

    async def understands(
        self, text: str, *, area_id: str | None = None, whole: bool = False
    ) -> bool:
        """Whether the grammar places ``text`` (to choose between readings of one utterance).

        ``whole``: and it is a command on its own, not only a reference to the last turn's
        devices ("turn on that" may be "turn on the ..." cut at a pause)."""
        recognized = await asyncio.to_thread(self._recognizer.recognize, text, area_id=area_id)
        if not isinstance(recognized, Intent):
            return False
        return not (whole and "refer" in recognized.slots)

    async def recognize(self, text: str, *, area_id: str | None = None) -> Intent | NoMatch:
        """What the grammar makes of ``text``, acting on nothing (Wyoming ``recognize``)."""
        return await asyncio.wait_for(
            asyncio.to_thread(self._recognizer.recognize, text, area_id=area_id),
            UNDERSTAND_TIMEOUT,
        )

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
        alternatives: Sequence[str] = (),
    ) -> TurnResult:
        """Understand ``text``, act, reply; ``turn`` continues a turn begun with new_turn.

        ``alternatives``: the decoder's other readings of a voice turn, best first (for the
        LLM, when the grammar cannot place ``text``)."""
        if turn is None:
            turn = self.new_turn(redact_pin(text), area_id=area_id, site=site)
        turn.text = redact_pin(text)
        intent: Intent | None = None
        results: tuple[CommandResult, ...] = ()
        actions: tuple[TurnAction, ...] = ()
        reply = Reply(self._responses.render("errors", "internal"), ok=False)
        pending: Pending | None = None
        answer: LlmAnswer | None = None
        source = IntentSource.GRAMMAR
        try:
            recognized = await self._understand(turn, text, area_id)
            if isinstance(recognized, Intent) and recognized.name not in HANDLERS:
                # a sentence the grammar knows ("what time is it", "... in ten minutes")
                # but nothing here carries out: the LLM may know better, else "can't yet"
                if self._fallback.brain is not None:
                    recognized = NoMatch(text)
            cameras = self._fallback.cameras_for(turn.text, recognized, area_id)
            if cameras:  # "is anyone at the front door?": the LLM looks (or says it cannot)
                recognized = NoMatch(text)
            pending = self.safety.take_pending(turn.site, turn.id)
            if isinstance(recognized, NoMatch):  # with a PIN in it, name no unknown words
                heard = recognized if turn.text == text else NoMatch(turn.text)
                if self._fallback.wants(heard, cameras):
                    source = IntentSource.LLM
                    answer = await self._ask_llm(turn, alternatives, area_id, cameras)
                    reply, results, actions = answer.reply, answer.results, answer.actions
                    intent = actions[0].intent if actions else None
                else:
                    reply = self._fallback.explain(heard, cameras)
            else:
                intent, pin = self._take_pin(turn, recognized)
                resolved = self._resolve(intent, turn.site)
                if isinstance(resolved, Reply):
                    reply = resolved
                else:
                    intent = resolved
                    outcome = await self._act(turn, intent, area_id, pin, pending)
                    results, reply = outcome.results, outcome.reply
                    actions = (TurnAction(intent, device_ids(outcome), reply.ok),)
                    self._remember(turn, intent, outcome, area_id)
        except Exception as err:  # every failure still ends in a spoken reply
            _LOGGER.exception("[%s] turn failed", turn.id)
            turn.emit(TurnEventType.ERROR, error=type(err).__name__)
        finally:
            if pending is not None and (intent is None or intent.name not in CONFIRM_INTENTS):
                self.safety.cancel(pending, turn.id, "superseded")
            result = self.end_turn(
                turn,
                reply,
                intent,
                results,
                actions=actions,
                source=source,
                usage=answer.usage if answer is not None else None,
            )
        return result

    async def act_on(
        self, turn: Turn, intent: Intent, *, area_id: str | None = None
    ) -> tuple[Intent, Outcome]:
        """Run an intent another recognizer made (the LLM's tool call) within ``turn``:
        the same safety (``intent.source`` decides), handlers and history as a grammar turn.
        Returns the intent as run (a ``pin`` slot removed: pass that one to ``end_turn``).

        Call it once per intent; the per-turn cap counts across the calls. It never answers a
        pending question ("yes" counts only from the grammar) and never takes a PIN."""
        intent, outcome = await self._act_on(turn, intent, area_id)
        self._remember(turn, intent, outcome, area_id)
        return intent, outcome

    async def _act_on(
        self, turn: Turn, intent: Intent, area_id: str | None
    ) -> tuple[Intent, Outcome]:
        intent, _ = self._take_pin(turn, intent)
        return intent, await self._act(turn, intent, area_id, None, None)

    async def _ask_llm(
        self,
        turn: Turn,
        alternatives: Sequence[str],
        area_id: str | None,
        cameras: Sequence[Camera],
    ) -> LlmAnswer:
        """The LLM's turn; its devices are remembered as one exchange, for "turn it off"."""

        async def act(intent: Intent) -> tuple[Intent, Outcome]:
            return await self._act_on(turn, intent, area_id)

        answer = await self._fallback.ask(
            turn,
            act,
            alternatives=[redact_pin(a) for a in alternatives if a],
            area_id=area_id,
            history=self.history(turn.site),
            cameras=cameras,
        )
        if answer.device_ids:
            name = answer.actions[0].intent.name
            self.conversation.remember(
                turn.site, turn.text, name, answer.device_ids, answer.reply.text
            )
        return answer

    def end_turn(
        self,
        turn: Turn,
        reply: Reply,
        intent: Intent | None = None,
        results: tuple[CommandResult, ...] = (),
        *,
        actions: Sequence[TurnAction] | None = None,
        source: IntentSource | None = None,
        usage: LlmUsage | None = None,
    ) -> TurnResult:
        """Emit the reply and the end of ``turn``; log one line for it.

        ``actions``: every intent carried out (default: ``intent`` with the devices of
        ``results``); ``source``: who understood (default: ``intent``'s recognizer);
        ``usage``: the LLM's tokens and cost."""
        self.safety.end_turn(turn.id)
        if actions is None:
            ids = tuple(dict.fromkeys(r.device_id for r in results))
            actions = () if intent is None else (TurnAction(intent, ids, reply.ok),)
        if source is None and intent is not None:
            source = intent.source
        turn.emit(TurnEventType.REPLY, text=reply.text, ok=reply.ok)
        result = turn.finish(intent, results, reply, actions=actions, source=source, usage=usage)
        turn.emit(
            TurnEventType.TURN_END,
            timings_ms=result.timings_ms,
            source=None if source is None else str(source),
            usage=None if usage is None else usage.to_json(),
            cameras=list(result.cameras),
        )
        for listener in self.result_listeners:
            try:
                listener(result)
            except Exception:  # an observer must never break a turn
                _LOGGER.exception("[%s] turn result listener failed", turn.id)
        _LOGGER.info(
            "[%s] %r -> %s -> %r (%.0f ms%s)",
            turn.id,
            turn.text,
            "+".join(a.intent.name for a in result.actions)
            or (intent.name if intent else "no intent"),
            reply.text,
            result.timings_ms["total"],
            ""
            if usage is None
            else f", llm {usage.tokens_in}+{usage.tokens_out} tokens, cost {usage.cost:.6f}",
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
        return recognized

    def _take_pin(self, turn: Turn, recognized: Intent) -> tuple[Intent, str | None]:
        """The intent without its PIN (masked in its text), and the PIN the grammar heard."""
        slots = dict(recognized.slots)
        spoken = slots.pop(PIN_SLOT, None)
        intent = dataclasses.replace(
            recognized,
            slots=slots,
            text=redact_pin(recognized.text),
            slot_texts={k: v for k, v in recognized.slot_texts.items() if k != PIN_SLOT},
        )
        turn.emit(
            TurnEventType.INTENT,
            "understand",
            name=intent.name,
            slots=dict(intent.slots),
            source=str(intent.source),
        )
        grammar = recognized.source is IntentSource.GRAMMAR
        return intent, str(spoken) if spoken is not None and grammar else None

    def _resolve(self, intent: Intent, site: str) -> Intent | Reply:
        """ "it" / "them": the devices of the site's last turn in place of ``refer``."""
        if REFER not in intent.slots:
            return intent
        ids = tuple(i for i in self.conversation.last_targets(site) if self._known(i))
        if not ids:
            return Reply(self._responses.render("safety", "which_device"), ok=False)
        slots = {k: v for k, v in intent.slots.items() if k != REFER}
        slots[DEVICE_IDS] = ids
        name = intent.name
        if name == "MimoSetLevel":
            domains = {self.registry.device(i).domain for i in ids} & _LEVEL_INTENTS.keys()
            if len(domains) != 1:
                return Reply(self._responses.render("errors", "unsupported_all"), ok=False)
            domain = domains.pop()
            name, slot = _LEVEL_INTENTS[domain]
            slots.update({slot: slots.pop("level"), "domain": domain})
        return dataclasses.replace(intent, name=name, slots=slots)

    def _known(self, device_id: str) -> bool:
        try:
            self.registry.device(device_id)
        except KeyError:
            return False
        return True

    async def _act(
        self,
        turn: Turn,
        intent: Intent,
        area_id: str | None,
        pin: str | None,
        pending: Pending | None,
    ) -> Outcome:
        with turn.stage("act"):
            handler = HANDLERS.get(intent.name)
            if handler is None:
                return Outcome(Reply(self._responses.render("errors", "not_handled"), ok=False))
            ids = intent.slots.get(DEVICE_IDS, ())
            named = "name" in intent.slots or len(ids) == 1
            request = Request(turn.id, turn.site, intent.source, named, pin)
            ctx = HandlerContext(
                self.registry,
                self._dispatcher,
                self._responses,
                area_id,
                turn.id,
                self.safety,
                request,
                pending,
            )
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

    def _remember(self, turn: Turn, intent: Intent, outcome: Outcome, area_id: str | None) -> None:
        """Keep what the turn was about, for "it" next turn."""
        ids = outcome.targets or tuple(r.device_id for r in outcome.results)
        if (
            not ids
            and intent.name not in CONFIRM_INTENTS
            and {"name", "area"} & intent.slots.keys()
        ):
            found = resolve_targets(
                self.registry, intent.slots, intent.slot_texts, speaker_area=area_id
            )  # a question: "is the fan on?" -> "turn it off"
            ids = tuple(d.id for d in found.devices)
        if ids:
            self.conversation.remember(turn.site, turn.text, intent.name, ids, outcome.reply.text)
