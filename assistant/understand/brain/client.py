"""The OpenAI-compatible chat-completions client, with MiMo's quirks and our retry policy.

One code path for every server (MiMo, Ollama, llama.cpp, vLLM, the test server):

- ``max_completion_tokens``, never ``max_tokens``;
- ``thinking: {type: enabled|disabled}`` in the body (MiMo; others ignore it);
- the answer's ``reasoning_content`` is kept, so that the caller can resend it with the
  assistant message that carried tool calls (MiMo answers 400 otherwise);
- the SDK's own retries are off; we retry at most once: a 429 whose ``Retry-After`` is
  within :data:`RETRY_AFTER_CAP`, or a 5xx; and never past the turn's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import openai

from assistant.config import LlmSettings

from .context import estimate_request_tokens, estimate_tokens
from .cost import Pricing, Usage
from .errors import (
    BadResponse,
    BrainError,
    BrainTimeout,
    BrainUnreachable,
    ContentFiltered,
    RateLimited,
    ServerError,
    for_status,
    retry_after,
    scrub,
)

__all__ = ["LlmClient", "Completion", "ToolCall", "RETRY_AFTER_CAP"]

_LOGGER = logging.getLogger(__name__)

RETRY_AFTER_CAP = 2.0
"""Longest ``Retry-After`` we wait for before the one retry, seconds."""
SERVER_ERROR_PAUSE = 0.3
"""Pause before retrying a 5xx, seconds."""
_NO_KEY = "no-key"
"""Sent as the bearer token to servers that need none (the SDK insists on one)."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model asked for."""

    id: str
    name: str
    arguments: str
    """JSON text, as the model wrote it (unchecked)."""


@dataclass(frozen=True, slots=True)
class Completion:
    """One answer of the model."""

    content: str | None
    reasoning: str | None
    """MiMo's ``reasoning_content`` (thinking on); must be resent with tool calls."""
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    usage: Usage
    """Tokens and cost of this one call."""

    def assistant_message(self) -> dict[str, Any]:
        """The message to append to the conversation, ``reasoning_content`` included."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content or ""}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        return message


class LlmClient:
    """Chat completions against ``settings.base_url``; an async context manager."""

    def __init__(self, settings: LlmSettings) -> None:
        self._settings = settings
        self._secret = settings.api_key.reveal() if settings.api_key else None
        self._sdk: openai.AsyncOpenAI | None = None

    def __repr__(self) -> str:
        return f"LlmClient(base_url={self._settings.base_url!r})"

    async def __aenter__(self) -> LlmClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Build the SDK client off the loop (it loads TLS certificates from disk)."""
        if self._sdk is None:
            self._sdk = await asyncio.to_thread(self._build)

    async def aclose(self) -> None:
        if self._sdk is not None:
            sdk, self._sdk = self._sdk, None
            await sdk.close()

    def _build(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self._secret or _NO_KEY,
            base_url=self._settings.base_url,
            max_retries=0,
            timeout=self._settings.timeout,
        )

    async def complete(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        deadline: float,
        pricing: Pricing,
        tools: Sequence[Mapping[str, Any]] = (),
        turn_id: str = "-",
    ) -> Completion:
        """One completion, retried at most once; ``deadline`` is ``time.monotonic()`` seconds.

        Raises a :class:`BrainError` subclass; never an SDK exception.
        """
        for attempt in (1, 2):
            try:
                return await self._once(model, messages, tools, deadline, pricing)
            except BrainError as err:
                pause = self._retry_pause(err, attempt, deadline)
                if pause is None:
                    _LOGGER.warning("[%s] LLM %s: %s", turn_id, err.code, err.detail)
                    raise
                _LOGGER.info("[%s] LLM %s; retrying in %.2f s", turn_id, err.code, pause)
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _retry_pause(err: BrainError, attempt: int, deadline: float) -> float | None:
        """Seconds to wait before the retry, or None when there is none."""
        if attempt > 1:
            return None
        if isinstance(err, RateLimited):
            wait = 1.0 if err.retry_after is None else err.retry_after
            if wait > RETRY_AFTER_CAP:
                return None
        elif isinstance(err, ServerError):
            wait = SERVER_ERROR_PAUSE
        else:
            return None
        # Leave the retry at least a second of its own.
        return wait if time.monotonic() + wait + 1.0 < deadline else None

    async def _once(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]],
        deadline: float,
        pricing: Pricing,
    ) -> Completion:
        if self._sdk is None:
            await self.start()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrainTimeout(detail="no time left for another request")
        kwargs = self._request(model, messages, tools, remaining)
        try:
            async with asyncio.timeout(remaining):
                if self._settings.stream:
                    completion = await self._streamed(kwargs, pricing)
                else:
                    response = await self._sdk.chat.completions.create(**kwargs)  # type: ignore[union-attr]
                    completion = _from_response(response, pricing)
        except TimeoutError:
            raise BrainTimeout(detail=f"no answer within {remaining:.1f} s") from None
        except openai.OpenAIError as err:
            raise self._translate(err) from (None if self._leaks(err) else err)
        if completion.usage.tokens_in == 0 and completion.usage.tokens_out == 0:
            completion = _estimated(completion, messages, tools, pricing)
        return completion

    def _request(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]],
        remaining: float,
    ) -> dict[str, Any]:
        s = self._settings
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": list(messages),
            "max_completion_tokens": s.max_completion_tokens,
            "extra_body": {"thinking": {"type": "enabled" if s.thinking else "disabled"}},
            "timeout": remaining,
        }
        if tools:
            kwargs["tools"] = list(tools)
            kwargs["tool_choice"] = "auto"
        if s.stream:
            kwargs["stream"] = True
            kwargs["stream_options"] = {"include_usage": True}
        return kwargs

    async def _streamed(self, kwargs: dict[str, Any], pricing: Pricing) -> Completion:
        stream = await self._sdk.chat.completions.create(**kwargs)  # type: ignore[union-attr]
        assembly = _Assembly()
        async with stream:
            async for chunk in stream:
                assembly.add(chunk)
        return assembly.completion(pricing)

    def _leaks(self, err: Exception) -> bool:
        """Whether the SDK error's text holds the key (a server that echoes it)."""
        return bool(self._secret) and self._secret in f"{err} {getattr(err, 'body', '')}"

    def _translate(self, err: openai.OpenAIError) -> BrainError:
        """One SDK error as one of ours; the detail is scrubbed of the key."""
        detail = scrub(f"{type(err).__name__}: {err}", self._secret)
        if isinstance(err, openai.APITimeoutError):
            return BrainTimeout(detail=detail)
        if isinstance(err, openai.APIConnectionError):
            return BrainUnreachable(detail=detail)
        if isinstance(err, openai.APIStatusError):
            status = err.status_code
            kind = for_status(status)
            if kind is RateLimited:
                wait = retry_after(dict(err.response.headers))
                return RateLimited(detail=detail, retry_after=wait)
            return kind(detail=detail, status=status)
        return BadResponse(detail=detail)


def _from_response(response: Any, pricing: Pricing) -> Completion:
    """A non-streamed ``ChatCompletion`` as a :class:`Completion`."""
    if not getattr(response, "choices", None):
        raise BadResponse(detail="the answer has no choices")
    choice = response.choices[0]
    message = choice.message
    calls = tuple(
        ToolCall(call.id, call.function.name, call.function.arguments or "{}")
        for call in (message.tool_calls or ())
        if getattr(call, "function", None) is not None
    )
    tokens_in, tokens_out = _tokens(getattr(response, "usage", None))
    return _checked(
        Completion(
            content=message.content,
            reasoning=getattr(message, "reasoning_content", None),
            tool_calls=calls,
            finish_reason=choice.finish_reason,
            usage=Usage(tokens_in, tokens_out, pricing.cost(tokens_in, tokens_out), 1),
        )
    )


def _estimated(
    completion: Completion,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
    pricing: Pricing,
) -> Completion:
    """``completion`` with estimated usage, for servers that report none."""
    said = [completion.content or "", completion.reasoning or ""]
    said += [call.name + call.arguments for call in completion.tool_calls]
    tokens_in = estimate_request_tokens(messages, tools)
    tokens_out = estimate_tokens(" ".join(said))
    usage = Usage(tokens_in, tokens_out, pricing.cost(tokens_in, tokens_out), 1)
    return replace(completion, usage=usage)


def _tokens(usage: Any) -> tuple[int, int]:
    if usage is None:
        return 0, 0
    return int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)


def _checked(completion: Completion) -> Completion:
    if completion.finish_reason == "content_filter":
        raise ContentFiltered(detail="finish_reason content_filter")
    return completion


class _Assembly:
    """Streamed chunks put back together: content, reasoning, tool calls by index, usage."""

    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: Any = None

    def add(self, chunk: Any) -> None:
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        for choice in chunk.choices or ():
            delta = choice.delta
            if delta.content:
                self.content.append(delta.content)
            reasoning = getattr(delta, "reasoning_content", None)
            if reasoning:
                self.reasoning.append(reasoning)
            for part in delta.tool_calls or ():
                self._tool_part(part)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason

    def _tool_part(self, part: Any) -> None:
        call = self.calls.setdefault(part.index, {"id": "", "name": "", "arguments": []})
        if part.id:
            call["id"] = part.id
        function = part.function
        if function is not None:
            if function.name:
                call["name"] += function.name
            if function.arguments:
                call["arguments"].append(function.arguments)

    def completion(self, pricing: Pricing) -> Completion:
        calls = tuple(
            ToolCall(c["id"] or f"call_{i}", c["name"], "".join(c["arguments"]) or "{}")
            for i, c in sorted(self.calls.items())
        )
        tokens_in, tokens_out = _tokens(self.usage)
        return _checked(
            Completion(
                content="".join(self.content) or None,
                reasoning="".join(self.reasoning) or None,
                tool_calls=calls,
                finish_reason=self.finish_reason,
                usage=Usage(tokens_in, tokens_out, pricing.cost(tokens_in, tokens_out), 1),
            )
        )
