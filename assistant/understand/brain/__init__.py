"""The brain: an OpenAI-compatible LLM (Xiaomi MiMo by default) for what the grammar cannot
place, acting only through the same intents, safety and handlers as the grammar.

Use::

    async with Brain(settings.llm, registry, supported=HANDLERS, state_dir=state) as brain:
        result = await brain.run(text, execute, area_id=area, alternatives=alts)
        say(result.reply.text)

``execute(intent)`` is the caller's: target resolution, safety, the handler. Errors are
:class:`BrainError` subclasses whose ``message`` can be spoken as it is.
"""

from __future__ import annotations

from .brain import MAX_CALLS_PER_ROUND, MAX_LOOKS, ActionOutcome, Brain, BrainResult, Executor, Look
from .client import Completion, LlmClient, ToolCall
from .context import DeviceContext, build_context, estimate_request_tokens, estimate_tokens
from .cost import BUDGET_FILE, Budget, Pricing, Usage
from .errors import (
    AuthFailed,
    BadResponse,
    BrainError,
    BrainTimeout,
    BrainUnreachable,
    BudgetExceeded,
    ContentFiltered,
    NoCredit,
    RateLimited,
    RequestRejected,
    ServerError,
)
from .prompt import Exchange, PastTurn
from .reply import Action
from .tools import LOOK_TOOL, TOOL_SPECS, Rejection, to_intent, tool_definitions

__all__ = [
    "Action",
    "ActionOutcome",
    "AuthFailed",
    "BadResponse",
    "Brain",
    "BrainError",
    "BrainResult",
    "BrainTimeout",
    "BrainUnreachable",
    "BUDGET_FILE",
    "Budget",
    "BudgetExceeded",
    "Completion",
    "ContentFiltered",
    "DeviceContext",
    "Exchange",
    "Executor",
    "LlmClient",
    "Look",
    "LOOK_TOOL",
    "MAX_CALLS_PER_ROUND",
    "MAX_LOOKS",
    "NoCredit",
    "PastTurn",
    "Pricing",
    "RateLimited",
    "Rejection",
    "RequestRejected",
    "ServerError",
    "TOOL_SPECS",
    "ToolCall",
    "Usage",
    "build_context",
    "estimate_request_tokens",
    "estimate_tokens",
    "to_intent",
    "tool_definitions",
]
