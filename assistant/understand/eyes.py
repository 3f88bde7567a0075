"""Eyes for the brain: which cameras a question needs, and a fresh frame of each.

A question needs eyes when the grammar cannot answer it and it is about what a camera sees:

- The grammar cannot answer it: it placed nothing, or only a state question whose targets
  resolve to nothing ("is anyone at the front door?" reads as HassGetState of "person"
  devices, and a home has none). A question the grammar answers ("is the front door
  locked?" with a lock called Front door) is never looked at.
- It is about what is seen: it has a word about seeing, people or things (``SEEING_WORDS``:
  "look", "anyone", "happening", "parcel", ...) or says "camera".
- It names a camera: its name, an alias, its area ("what's happening in the garden"); or,
  naming no other place, the speaking hub's area has cameras ("did the parcel arrive?").

:meth:`Eyes.look` fetches the frames of those cameras at once (each within its camera's
``timeout``), records the camera names on the turn (never a URL) with a ``look`` event, and
raises the first :class:`~assistant.look.LookError` when no frame could be had;
:meth:`Eyes.looker` does the same for one camera the brain's ``LookAtCamera`` tool names.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from assistant.act.registry import Registry
from assistant.act.targets import resolve_targets
from assistant.messages import Intent, TurnEventType
from assistant.turn import Turn
from assistant.understand.grammar import NoMatch
from intents.handlers.common import DEVICE_IDS, REFER

if TYPE_CHECKING:
    from assistant.look import Camera, Cameras, Frame

__all__ = ["Eyes", "SEEING_WORDS"]

SEEING_WORDS = frozenset(
    "look looking see seeing seen show showing watch view check happening going visible "
    "anyone anybody someone somebody nobody anything something who whos people person "
    "visitor visitors stranger parcel parcels package packages delivery deliveries "
    "arrive arrived car cars animal animals dog cat".split()
)
"""Words that make a question one for the cameras (with a camera or its area named)."""
_CAMERA_WORDS = frozenset({"camera", "cameras", "cam", "cams", "webcam"})
_NOTHING = frozenset({"no_device", "none_in_area", "none_of_kind"})
"""Target problems that mean "nothing here answers that" (not "which one?")."""
_WORD = re.compile(r"\w+")


class Eyes:
    """The cameras, seen from the understanding side: ``cameras_for`` and ``look``."""

    def __init__(self, cameras: Cameras, registry: Registry) -> None:
        self.cameras = cameras
        self._registry = registry

    def cameras_for(
        self, text: str, recognized: Intent | NoMatch, area_id: str | None
    ) -> tuple[Camera, ...]:
        """The cameras ``text`` needs looked through (in the order named); () for none."""
        if not len(self.cameras) or self._grammar_answers(recognized, area_id):
            return ()
        words = _words(text)
        if not (SEEING_WORDS | _CAMERA_WORDS).intersection(words):
            return ()
        found = self.cameras.find(text, area_id)
        if found or area_id is None or self._names_a_place(words, area_id):
            return found
        return self.cameras.in_area(area_id)

    async def look(self, turn: Turn, names: Sequence[str]) -> list[Frame]:
        """A frame of each camera called so, fetched at once; the first LookError when
        none came. The names go on the turn (``turn.cameras``) with a ``look`` event."""
        turn.cameras = tuple(dict.fromkeys((*turn.cameras, *names)))
        with turn.stage("look"):
            frames, errors = await self.cameras.frames(names, turn_id=turn.id)
        turn.emit(
            TurnEventType.LOOK,
            "look",
            cameras=list(names),
            frames=[
                {"camera": f.camera, "width": f.width, "height": f.height, "bytes": len(f.jpeg)}
                for f in frames
            ],
            errors=[{"camera": e.camera, "error": e.code} for e in errors],
        )
        for error in errors:
            turn.emit(TurnEventType.ERROR, "look", error=error.code, camera=error.camera)
        if not frames:
            raise errors[0]
        return frames

    def looker(self, turn: Turn) -> Callable[[str], Awaitable[bytes]]:
        """For the brain's ``LookAtCamera``: a fresh JPEG of one camera, within ``turn``."""

        async def look(name: str) -> bytes:
            (frame,) = await self.look(turn, [name])
            return frame.jpeg

        return look

    def _grammar_answers(self, recognized: Intent | NoMatch, area_id: str | None) -> bool:
        """Whether the grammar's reading stands: anything but no match, or a state question
        about nothing this home has."""
        if isinstance(recognized, NoMatch):
            return False
        slots = recognized.slots
        if recognized.name != "HassGetState" or REFER in slots or DEVICE_IDS in slots:
            return True
        found = resolve_targets(self._registry, slots, recognized.slot_texts, speaker_area=area_id)
        return found.problem not in _NOTHING

    def _names_a_place(self, words: tuple[str, ...], area_id: str) -> bool:
        """Whether ``words`` name an area other than ``area_id`` (then the hub's own
        cameras are not what was asked about)."""
        for area in self._registry.areas():
            if area.id == area_id:
                continue
            for name in (area.name, *area.aliases):
                phrase = _words(name)
                size = len(phrase)
                if any(words[i : i + size] == phrase for i in range(len(words) - size + 1)):
                    return True
        return False


def _words(text: str) -> tuple[str, ...]:
    """Folded words, apostrophes dropped (as :meth:`Cameras.find` reads them)."""
    return tuple(_WORD.findall(text.casefold().replace("'", "").replace("\u2019", "")))
