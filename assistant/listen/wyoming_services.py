"""What the Wyoming server offers besides voice turns, as Home Assistant's integration asks.

Events in, and what goes back on the same connection (server only; satellites never send
these)::

    synthesize (text[, voice])  -> audio-start  audio-chunk*  audio-stop   (tts: the reply
                                                                           voice; ``voice`` is
                                                                           ignored: one voice)
    recognize (text)            -> intent (name, entities, text) | not-recognized (text)
    transcript (text)           -> handled (text) | not-handled (text)     (handle: a text turn)

``recognize`` asks the local grammar only and acts on nothing; entities are the intent's
slots as name/value, with the words said for ``name``/``area``/``floor`` (the daemon's ids
mean nothing to a client) and no PIN. ``transcript`` is a text turn like ``mimo-assistant
say`` (safety included) from the server's hub name and area: ``handled`` when the reply is a
success (done, or a question answered), ``not-handled`` with the reply otherwise (not
understood, unknown device, refused, failed). Text that is empty or longer than
``MAX_TEXT_CHARS`` gets an ``error`` event (``empty-text``, ``text-too-long``). After a
``synthesize`` that gets an error the connection is closed, as wyoming-piper does: Home
Assistant's TTS reads until ``audio-stop`` or the end and would otherwise wait for its
timeout; other errors leave the connection open. Requests are answered in the order they
came.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.intent import Entity, Intent, NotRecognized

from assistant.act.safety import redact_pin
from assistant.listen.base import TextServices

if TYPE_CHECKING:
    from assistant.listen.wyoming_turn import WyomingSession

__all__ = ["MAX_TEXT_CHARS", "ServiceRequests"]

_LOGGER = logging.getLogger(__name__)

MAX_TEXT_CHARS = 2000
"""The longest text a request may carry, characters."""
_NOT_RECOGNIZED = "Sorry, I didn't understand that"


class ServiceRequests:
    """One connection's synthesize / recognize / transcript requests."""

    def __init__(self, session: WyomingSession, services: TextServices) -> None:
        self._session, self._services = session, services
        self._last: asyncio.Task[None] | None = None

    def handlers(self) -> dict[str, Callable[[Event], Awaitable[None]]]:
        """Event type -> handler, for the session's dispatch."""
        return {
            "synthesize": self._on_synthesize,
            "recognize": self._on_recognize,
            "transcript": self._on_transcript,
        }

    async def _on_synthesize(self, event: Event) -> None:
        self._later(event, "synthesize", self._synthesize)

    async def _on_recognize(self, event: Event) -> None:
        self._later(event, "recognize", self._recognize)

    async def _on_transcript(self, event: Event) -> None:
        self._later(event, "transcript", self._handle)

    def _later(self, event: Event, what: str, job: Callable[[str], Awaitable[bool]]) -> None:
        """Run ``job`` on the event's text as a task of the connection, after the previous
        request's answer went out (the read loop goes on meanwhile)."""
        previous, text = self._last, event.data.get("text")
        peer = self._session.peer

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            answered = False
            try:
                if not isinstance(text, str) or not text.strip():
                    await self._session.refuse(f"{what}: the text is empty", "empty-text")
                elif len(text) > MAX_TEXT_CHARS:
                    await self._session.refuse(
                        f"{what}: the text is longer than {MAX_TEXT_CHARS} characters",
                        "text-too-long",
                    )
                else:
                    _LOGGER.info("%s: %s %r", peer, what, redact_pin(text))
                    answered = await job(text)
            except ConnectionError as err:
                _LOGGER.info("%s: gone before the %s answer: %s", peer, what, err)
            except Exception:
                _LOGGER.exception("%s: %s failed", peer, what)
                await self._session.refuse(f"The assistant failed on this {what}", f"{what}-failed")
            if not answered and what == "synthesize":  # its client reads to audio-stop or EOF
                await self._session.writer.close()

        self._last = self._session.spawn(run(), f"wyoming {what}")

    async def _synthesize(self, text: str) -> bool:
        if not await self._session.send_audio(self._services.speech(text), None):
            await self._session.refuse("No audio came for this text", "synthesize-failed")
            return False
        return True

    async def _recognize(self, text: str) -> bool:
        understood = await self._services.recognize(text, self._session.hub)
        if understood is None:
            await self._session.send(NotRecognized(text=_NOT_RECOGNIZED).event())
            return True
        entities = [Entity(name, value) for name, value in understood.entities.items()]
        intent = Intent(understood.name, entities, understood.text)
        await self._session.send(intent.event())
        return True

    async def _handle(self, text: str) -> bool:
        answer = await self._services.answer(text, self._session.hub)
        reply = Handled(text=answer.text) if answer.ok else NotHandled(text=answer.text)
        _LOGGER.info("%s: %s %r", self._session.peer, reply.event().type, redact_pin(answer.text))
        await self._session.send(reply.event())
        return True
