"""Safety: deterministic checks between every recognizer and the devices.

Each planned action (one device, its commands) is reviewed before it is dispatched, with
the request it came from (which recognizer, which hub, named or bulk, the PIN said):

1. exposure: an intent from the LLM may not touch a device configured ``exposed: false``;
2. bulk: an area / kind / "everything" command never includes a risky device (a lock, a
   garage door, door or gate, anything ``sensitive: true``); they are left alone and named;
3. PIN: unlocking (and disarming) is refused unless ``safety.allow_unlock`` is set and the
   PIN was said in the same sentence, and never for an intent the LLM made;
4. confirmation: opening a garage door, door or gate, or acting on a sensitive device,
   waits for "yes" from the same hub in the next turn (``safety.confirm_timeout``);
5. cap: at most ``safety.max_actions_per_turn`` devices per turn, lights not counted.

Every decision is one line on the ``assistant.audit`` logger: turn, source, site, device,
commands, the decision and why. The PIN is never logged. Nothing a model or a transcript
says can widen what is allowed: decisions read only the settings, the registry and the
intent's recognizer (``Intent.source``), never text.
"""

from __future__ import annotations

import enum
import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.act.registry import Device, Registry
from assistant.config import SafetySettings
from assistant.messages import DeviceCommand, IntentSource
from integrations.base import DeviceKind, Trait

__all__ = [
    "Action",
    "Pending",
    "Reason",
    "Request",
    "Review",
    "Safety",
    "is_risky",
    "redact_pin",
    "remember_pin",
    "spoken_pin",
]

_AUDIT = logging.getLogger("assistant.audit")

PIN_ACTIONS: Mapping[tuple[str, Any], str] = {
    (Trait.LOCKED, False): "unlock",
    ("alarm", "disarm"): "disarm",  # an alarm panel, once a driver has one
}
"""(trait, value) commands that need the spoken PIN."""
CONFIRM_CLASSES = frozenset({"garage", "door", "gate"})
"""Cover device classes whose opening needs a confirmation."""
UNCOUNTED_KINDS = frozenset({DeviceKind.LIGHT})
"""Kinds that do not count towards ``max_actions_per_turn``: harmless in bulk."""
PIN_ATTEMPTS = 3
"""Wrong PINs in a row before voice unlocking pauses."""
PIN_LOCKOUT = 300.0
"""Seconds voice unlocking pauses after ``PIN_ATTEMPTS`` wrong PINs."""
_TURNS_KEPT = 64

_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_PIN_VERBS = re.compile(r"\b(unlock|disarm)\b", re.IGNORECASE)
_PIN_TOKENS = re.compile(r"\d|\b(" + "|".join(_DIGIT_WORDS) + r")\b", re.IGNORECASE)
_KNOWN_PINS: list[re.Pattern[str]] = []
"""The configured PINs, however they may be said (``remember_pin``)."""


class Reason(enum.StrEnum):
    """Why an action was allowed, held or refused (the audit log's ``reason``)."""

    OK = "ok"
    PIN_OK = "pin-ok"
    CONFIRMED = "confirmed"
    NEEDS_CONFIRMATION = "needs-confirmation"
    NOT_EXPOSED = "not-exposed"
    BULK_RISKY = "bulk-risky"
    UNLOCK_DISABLED = "unlock-disabled"
    PIN_NOT_SPOKEN = "pin-not-spoken"
    """A PIN action asked for by something other than the grammar (the LLM)."""
    PIN_MISSING = "pin-missing"
    PIN_WRONG = "pin-wrong"
    PIN_LOCKED_OUT = "pin-locked-out"
    TOO_MANY = "too-many"
    CONFIRMATION_NOT_SPOKEN = "confirmation-not-spoken"
    """A "yes" that did not come from the grammar, or from another site."""


@dataclass(frozen=True, slots=True)
class Action:
    """One device and the commands planned for it."""

    device: Device
    commands: tuple[DeviceCommand, ...]


@dataclass(frozen=True, slots=True)
class Request:
    """Where a batch of actions comes from: one intent of one turn."""

    turn_id: str
    site: str
    """The hub (or text site) that spoke."""
    source: IntentSource
    named: bool
    """Devices named one by one; False for an area, kind or "everything" command."""
    pin: str | None = field(default=None, repr=False)
    """What was said as the PIN (grammar only); never logged."""


@dataclass(frozen=True, slots=True)
class Review:
    """The decision on a batch: what may run now, what waits for "yes", what may not."""

    allowed: tuple[Action, ...] = ()
    held: tuple[Action, ...] = ()
    """Waiting for a spoken confirmation."""
    refused: tuple[tuple[Action, Reason], ...] = ()


@dataclass(frozen=True, slots=True)
class Pending:
    """Actions held until the same site says "yes"."""

    site: str
    actions: tuple[Action, ...]
    source: IntentSource
    group: str
    """The reply templates of the intent that planned them (``CoverOpen``, ...)."""
    values: Mapping[str, Any]
    """Values for those templates."""
    area_name: str | None
    expires_at: float
    """``clock()`` seconds."""


def is_risky(device: Device) -> bool:
    """Locks, garage doors / doors / gates, and devices configured ``sensitive: true``."""
    if device.sensitive or device.kind is DeviceKind.LOCK:
        return True
    return device.kind is DeviceKind.COVER and device.spec.device_class in CONFIRM_CLASSES


def _pin_action(action: Action) -> bool:
    return any((c.trait, c.value) in PIN_ACTIONS for c in action.commands)


def _opens(command: DeviceCommand) -> bool:
    if command.trait == Trait.COVER:
        return command.value == "open"
    return command.trait == Trait.POSITION and command.value > 0


def _needs_confirmation(action: Action) -> bool:
    device = action.device
    if device.sensitive:
        return True
    if device.kind is DeviceKind.COVER and device.spec.device_class in CONFIRM_CLASSES:
        return any(_opens(c) for c in action.commands)
    return False


def spoken_pin(text: str) -> str | None:
    """The digits of a spoken PIN ("1 2 3 4", "one two three four", "1234"), or None when
    nothing in ``text`` is a digit; other words make it an unreadable (wrong) PIN: ``"?"``."""
    digits: list[str] = []
    other = False
    for word in re.findall(r"[^\s,.;:!?-]+", text.casefold()):
        if word.isascii() and word.isdigit():
            digits.append(word)
        elif word in _DIGIT_WORDS:
            digits.append(_DIGIT_WORDS[word])
        elif word not in ("pin", "code", "is", "the", "my"):
            other = True
    if not digits:
        return None
    return "?" if other else "".join(digits)


def remember_pin(pin: str) -> None:
    """From now on ``redact_pin`` masks ``pin`` wherever it is said ("the code is 2468",
    "2 4 6 8", "two four six eight"), not only after "unlock"."""
    spellings = {d: [d, *(w for w, v in _DIGIT_WORDS.items() if v == d)] for d in set(pin)}
    digits = [f"(?:{'|'.join(spellings[d])})" for d in pin]
    pattern = re.compile(r"(?<!\w)" + r"[\s,.\-]*".join(digits) + r"(?!\w)", re.IGNORECASE)
    if all(p.pattern != pattern.pattern for p in _KNOWN_PINS):
        _KNOWN_PINS.append(pattern)


def redact_pin(text: str) -> str:
    """``text`` with what may be a PIN masked, for logs, events and the LLM: every digit (and
    digit word) of a configured PIN said anywhere, and of anything after "unlock" /
    "disarm", becomes ``*``."""
    for pattern in _KNOWN_PINS:
        text = pattern.sub(_masked, text)
    match = _PIN_VERBS.search(text)
    if match is None:
        return text
    head, tail = text[: match.end()], text[match.end() :]
    return head + _PIN_TOKENS.sub("*", tail)


def _masked(match: re.Match[str]) -> str:
    return _PIN_TOKENS.sub("*", match.group(0))


def _describe(commands: Sequence[DeviceCommand]) -> str:
    return ",".join(f"{c.trait}={c.value!r}" for c in commands)


class Safety:
    """Reviews planned actions; holds the ones waiting for a confirmation, per site.

    One instance per daemon, built from ``settings.safety`` and the registry. Not
    thread-safe: use it from the event loop.
    """

    def __init__(
        self,
        settings: SafetySettings,
        registry: Registry,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._registry = registry
        self._clock = clock
        self._pending: dict[str, Pending] = {}
        self._counted: dict[str, int] = {}
        self._wrong_pins = 0
        self._locked_until = 0.0
        if settings.pin is not None:
            remember_pin(settings.pin.reveal())

    # --- reviewing ------------------------------------------------------------------
    def review(self, request: Request, actions: Sequence[Action]) -> Review:
        """Decide on ``actions`` for ``request``; audit each decision."""
        allowed: list[tuple[Action, Reason]] = []
        held: list[Action] = []
        refused: list[tuple[Action, Reason]] = []
        for action in actions:
            reason = self._decide(request, action)
            if reason in (Reason.OK, Reason.PIN_OK):
                allowed.append((action, reason))
            elif reason is Reason.NEEDS_CONFIRMATION:
                held.append(action)
            else:
                refused.append((action, reason))
        counted = sum(a.device.kind not in UNCOUNTED_KINDS for a, _ in allowed)
        used = self._counted.get(request.turn_id, 0)
        if counted and used + counted > self.settings.max_actions_per_turn:
            refused += [(a, Reason.TOO_MANY) for a, _ in allowed]
            allowed = []
        else:
            self._count(request.turn_id, used + counted)
        for action, reason in allowed:
            self._audit(request, action, "allowed", reason)
        for action in held:
            self._audit(request, action, "held", Reason.NEEDS_CONFIRMATION)
        for action, reason in refused:
            self._audit(request, action, "refused", reason)
        return Review(tuple(a for a, _ in allowed), tuple(held), tuple(refused))

    def end_turn(self, turn_id: str) -> None:
        """Forget ``turn_id``'s action count."""
        self._counted.pop(turn_id, None)

    def _decide(self, request: Request, action: Action) -> Reason:
        device = action.device
        if request.source is not IntentSource.GRAMMAR and not device.exposed:
            return Reason.NOT_EXPOSED
        if not request.named and is_risky(device):
            return Reason.BULK_RISKY
        if _pin_action(action):
            return self._check_pin(request)
        if _needs_confirmation(action):
            return Reason.NEEDS_CONFIRMATION
        return Reason.OK

    def _check_pin(self, request: Request) -> Reason:
        if not self.settings.allow_unlock or self.settings.pin is None:
            return Reason.UNLOCK_DISABLED
        if request.source is not IntentSource.GRAMMAR:
            return Reason.PIN_NOT_SPOKEN
        if self._clock() < self._locked_until:
            return Reason.PIN_LOCKED_OUT
        spoken = spoken_pin(request.pin or "")
        if spoken is None:
            return Reason.PIN_MISSING
        if hmac.compare_digest(spoken.encode(), self.settings.pin.reveal().encode()):
            self._wrong_pins = 0
            return Reason.PIN_OK
        self._wrong_pins += 1
        if self._wrong_pins >= PIN_ATTEMPTS:
            self._wrong_pins = 0
            self._locked_until = self._clock() + PIN_LOCKOUT
            _AUDIT.warning("%d wrong PINs: voice unlocking paused", PIN_ATTEMPTS)
        return Reason.PIN_WRONG

    def _count(self, turn_id: str, used: int) -> None:
        self._counted[turn_id] = used
        while len(self._counted) > _TURNS_KEPT:  # turns that never ended
            del self._counted[next(iter(self._counted))]

    # --- confirmations --------------------------------------------------------------
    def hold(
        self,
        request: Request,
        actions: Sequence[Action],
        *,
        group: str,
        values: Mapping[str, Any],
        area_name: str | None = None,
    ) -> Pending:
        """Keep ``actions`` until the same site confirms (replacing an older question)."""
        pending = Pending(
            request.site,
            tuple(actions),
            request.source,
            group,
            dict(values),
            area_name,
            self._clock() + self.settings.confirm_timeout,
        )
        old = self._pending.pop(request.site, None)
        if old is not None:
            self._drop(old, request.turn_id, "superseded")
        self._pending[request.site] = pending
        return pending

    def take_pending(self, site: str, turn_id: str = "-") -> Pending | None:
        """Remove and return ``site``'s waiting actions, unless they have expired."""
        pending = self._pending.pop(site, None)
        if pending is not None and self._clock() > pending.expires_at:
            self._drop(pending, turn_id, "expired")
            return None
        return pending

    def pending(self, site: str) -> Pending | None:
        """``site``'s waiting actions, if any and not expired (left in place)."""
        pending = self._pending.get(site)
        return pending if pending and self._clock() <= pending.expires_at else None

    def confirm(self, pending: Pending, request: Request) -> Review:
        """Allow exactly ``pending``'s actions: only for "yes" from the grammar, same site."""
        if request.source is not IntentSource.GRAMMAR or request.site != pending.site:
            self._drop(pending, request.turn_id, Reason.CONFIRMATION_NOT_SPOKEN)
            why = Reason.CONFIRMATION_NOT_SPOKEN
            return Review(refused=tuple((a, why) for a in pending.actions))
        origin = Request(request.turn_id, pending.site, pending.source, named=True)
        allowed = [a for a in pending.actions if self._still_there(a)]
        counted = sum(a.device.kind not in UNCOUNTED_KINDS for a in allowed)
        self._count(request.turn_id, self._counted.get(request.turn_id, 0) + counted)
        for action in allowed:
            self._audit(origin, action, "allowed", Reason.CONFIRMED)
        return Review(tuple(allowed))

    def cancel(self, pending: Pending, turn_id: str, why: str = "cancelled") -> None:
        """Drop ``pending``: "no", another command, or no answer."""
        self._drop(pending, turn_id, why)

    def _still_there(self, action: Action) -> bool:
        try:
            return self._registry.device(action.device.id) == action.device
        except KeyError:
            return False

    def _drop(self, pending: Pending, turn_id: str, why: str) -> None:
        origin = Request(turn_id, pending.site, pending.source, named=True)
        for action in pending.actions:
            self._audit(origin, action, "dropped", why)

    # --- audit ----------------------------------------------------------------------
    def _audit(self, request: Request, action: Action, decision: str, reason: str) -> None:
        _AUDIT.info(
            "turn=%s source=%s site=%s device=%s command=%s decision=%s reason=%s",
            request.turn_id,
            request.source,
            request.site,
            action.device.id,
            _describe(action.commands),
            decision,
            reason,
        )
