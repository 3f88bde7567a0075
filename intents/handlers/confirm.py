"""MimoConfirm ("yes", "do it") and MimoCancel ("no", "cancel", HassNevermind): answers to
a safety question such as "Do you want me to open the garage door?".

``ctx.pending`` holds what the same site's previous turn left waiting (the pipeline takes
it out of safety at the start of every turn, so anything but "yes" drops it). "Yes" runs
exactly those actions; safety refuses a "yes" that did not come from the grammar.
"""

from __future__ import annotations

from assistant.messages import Intent, Reply
from assistant.speak.responses import join_words, the

from .common import HandlerContext, Outcome, carry_out, refuse

__all__ = ["confirm", "cancel", "CONFIRM_INTENTS"]

CONFIRM_INTENTS = frozenset({"MimoConfirm", "MimoCancel", "HassNevermind"})
"""Intents that answer a pending question; every other intent drops it."""


async def confirm(ctx: HandlerContext, intent: Intent) -> Outcome:
    pending = ctx.pending
    if pending is None:
        return refuse(ctx, "safety", "nothing_to_confirm")
    review = ctx.safety.confirm(pending, ctx.request)
    return await carry_out(ctx, pending.group, review, area=pending.area_name, **pending.values)


async def cancel(ctx: HandlerContext, intent: Intent) -> Outcome:
    pending = ctx.pending
    if pending is None:
        return Outcome(Reply(ctx.responses.render("safety", "nothing_to_cancel")))
    ctx.safety.cancel(pending, ctx.turn_id)
    names = join_words([the(a.device.name) for a in pending.actions])
    return Outcome(Reply(ctx.responses.render("safety", "cancelled", the_name=names)))
