"""A real OpenAI-compatible chat-completions server on 127.0.0.1, scripted per test.

It speaks HTTP/1.1 on asyncio streams (no dependency), answers ``POST .../chat/completions``
as one JSON body or, with ``stream: true``, as server-sent events, and records every request
so tests can look at what the client really sent. Each test pushes the answers it wants, in
order::

    async with LlmServer(api_key="sk-test") as server:
        server.push(Call(("HassTurnOn", {"name": "virtual:lamp"})), Say("Done"))
        ...  # point the client at server.base_url
        assert server.requests[0].body["max_completion_tokens"] == 1024

Like MiMo, it answers 400 when thinking is on and an earlier assistant message with tool
calls lacks its ``reasoning_content``. Usage is counted with the brain's token estimator
unless an answer gives its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant.act.registry import Area, Device, Registry, slugify
from assistant.understand.brain.context import estimate_request_tokens, estimate_tokens
from integrations.base import DeviceKind, DeviceSpec, Trait

__all__ = [
    "LlmServer",
    "Say",
    "Call",
    "Fail",
    "Slow",
    "Drop",
    "Request",
    "synthetic_registry",
]


@dataclass(frozen=True)
class Say:
    """Answer with text."""

    text: str
    reasoning: str | None = None
    usage: tuple[int, int] | None = None
    """(prompt, completion) tokens; default: estimated."""
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Call:
    """Answer with tool calls: ``(name, arguments)`` pairs (a dict, or raw JSON text)."""

    calls: tuple[tuple[str, Mapping[str, Any] | str], ...]
    text: str | None = None
    reasoning: str | None = None
    usage: tuple[int, int] | None = None

    def __init__(self, *calls: tuple[str, Mapping[str, Any] | str], **kwargs: Any) -> None:
        object.__setattr__(self, "calls", tuple(calls))
        object.__setattr__(self, "text", kwargs.get("text"))
        object.__setattr__(self, "reasoning", kwargs.get("reasoning"))
        object.__setattr__(self, "usage", kwargs.get("usage"))


@dataclass(frozen=True)
class Fail:
    """Answer with an HTTP error; ``echo_key`` puts the bearer token in the message."""

    status: int
    message: str = "error"
    headers: Mapping[str, str] = field(default_factory=dict)
    echo_key: bool = False


@dataclass(frozen=True)
class Slow:
    """Wait ``seconds``, then answer ``then``."""

    seconds: float
    then: Any = None


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


Answer = Say | Call | Fail | Slow | Drop | Callable[["Request"], Any]


@dataclass
class Request:
    """One request as received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.body.get("tools", []))

    def text(self, role: str | None = None) -> str:
        """All text content (of messages with ``role``), joined by newlines."""
        out = []
        for message in self.messages:
            if role is not None and message.get("role") != role:
                continue
            content = message.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out += [p.get("text", "") for p in content if p.get("type") == "text"]
        return "\n".join(out)

    def image_parts(self) -> list[dict[str, Any]]:
        return [
            part
            for message in self.messages
            if isinstance(message.get("content"), list)
            for part in message["content"]
            if part.get("type") == "image_url"
        ]


class LlmServer:
    """The server; an async context manager. ``base_url`` ends in ``/v1``."""

    def __init__(self, *, api_key: str | None = None, model: str = "test-model") -> None:
        self.api_key = api_key
        self.model = model
        self.requests: list[Request] = []
        self.unscripted = 0
        """Requests that found no answer pushed (answered 500)."""
        self._script: deque[Answer] = deque()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = asyncio.Event()
        self._ids = itertools.count(1)

    def push(self, *answers: Answer) -> None:
        self._script.extend(answers)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> LlmServer:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._closing.set()  # ends Slow waits; closed writers end the rest
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    # --- HTTP -----------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; whether the connection stays open."""
        line = await reader.readline()
        if not line:
            return False
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            key, value = line.decode("latin-1").split(":", 1)
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        raw = await reader.readexactly(length) if length else b""
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            await _send_json(writer, 404, {"error": {"message": f"no route {method} {path}"}})
            return True
        return await self._completion(writer, path, headers, json.loads(raw or b"{}"))

    async def _completion(
        self, writer: asyncio.StreamWriter, path: str, headers: dict[str, str], body: Any
    ) -> bool:
        request = Request(path, headers, body)
        self.requests.append(request)
        sent_key = headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_key is not None and sent_key != self.api_key:
            await _send_error(writer, 401, f"Incorrect API key provided: {sent_key}")
            return True
        problem = _mimo_problem(body)
        if problem is not None:
            await _send_error(writer, 400, problem)
            return True
        answer: Any = self._script.popleft() if self._script else None
        while True:
            if callable(answer):
                answer = answer(request)
            elif isinstance(answer, Slow):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), answer.seconds)
                if self._closing.is_set():
                    return False
                answer = answer.then
            else:
                break
        return await self._answer(writer, request, answer, sent_key)

    async def _answer(
        self, writer: asyncio.StreamWriter, request: Request, answer: Any, sent_key: str
    ) -> bool:
        if answer is None:
            self.unscripted += 1
            await _send_error(writer, 500, "test server: no scripted answer")
            return True
        if isinstance(answer, Drop):
            return False
        if isinstance(answer, Fail):
            message = f"{answer.message} (key {sent_key})" if answer.echo_key else answer.message
            await _send_error(writer, answer.status, message, answer.headers)
            return True
        message, finish = _message(answer, next(self._ids))
        usage = _usage(request, answer, message)
        if request.body.get("stream"):
            await self._stream(writer, request, message, finish, usage)
            return False
        await _send_json(writer, 200, self._envelope(message, finish, usage))
        return True

    def _envelope(self, message: dict[str, Any], finish: str, usage: dict[str, int]) -> Any:
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        request: Request,
        message: dict[str, Any],
        finish: str,
        usage: dict[str, int],
    ) -> None:
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        writer.write(head.encode())
        base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "model": self.model}
        base["created"] = int(time.time())
        for delta, reason in _deltas(message, finish):
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}
            writer.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await writer.drain()
        if (request.body.get("stream_options") or {}).get("include_usage"):
            writer.write(
                f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode()
            )
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()


def _mimo_problem(body: Mapping[str, Any]) -> str | None:
    """MiMo's rule: with thinking on, tool-calling assistant turns resend their reasoning."""
    if (body.get("thinking") or {}).get("type") != "enabled":
        return None
    for message in body.get("messages", []):
        if message.get("role") == "assistant" and message.get("tool_calls"):
            if not message.get("reasoning_content"):
                return "reasoning_content of assistant messages with tool_calls is required"
    return None


def _message(answer: Say | Call, number: int) -> tuple[dict[str, Any], str]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    if answer.reasoning is not None:
        message["reasoning_content"] = answer.reasoning
    if isinstance(answer, Say):
        return message, answer.finish_reason
    message["tool_calls"] = [
        {
            "id": f"call_{number}_{index}",
            "type": "function",
            "function": {
                "name": name,
                "arguments": args if isinstance(args, str) else json.dumps(args),
            },
        }
        for index, (name, args) in enumerate(answer.calls)
    ]
    return message, "tool_calls"


def _usage(request: Request, answer: Say | Call, message: Mapping[str, Any]) -> dict[str, int]:
    if answer.usage is not None:
        prompt, completion = answer.usage
    else:
        prompt = estimate_request_tokens(request.messages, request.tools)
        said = [message.get("content") or "", message.get("reasoning_content") or ""]
        said += [json.dumps(c["function"]) for c in message.get("tool_calls", [])]
        completion = estimate_tokens(" ".join(said))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _deltas(message: Mapping[str, Any], finish: str) -> list[tuple[dict[str, Any], str | None]]:
    """The message as stream deltas: role, reasoning, content and arguments in pieces."""
    deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant", "content": ""}, None)]
    for key in ("reasoning_content", "content"):
        text = message.get(key) or ""
        deltas += [({key: piece}, None) for piece in _halves(text)]
    for index, call in enumerate(message.get("tool_calls", [])):
        function = call["function"]
        first = {"index": index, "id": call["id"], "type": "function"}
        first["function"] = {"name": function["name"], "arguments": ""}
        deltas.append(({"tool_calls": [first]}, None))
        for piece in _halves(function["arguments"]):
            deltas.append(
                ({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, None)
            )
    deltas.append(({}, finish))
    return deltas


def _halves(text: str) -> list[str]:
    middle = len(text) // 2
    return [piece for piece in (text[:middle], text[middle:]) if piece]


async def _send_error(
    writer: asyncio.StreamWriter,
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    body = {"error": {"message": message, "type": "test_error", "code": str(status)}}
    await _send_json(writer, status, body, headers)


async def _send_json(
    writer: asyncio.StreamWriter,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
) -> None:
    data = json.dumps(body).encode()
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {status} {phrase}", "Content-Type: application/json"]
    lines += [f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
    await writer.drain()


# --- homes for brain tests and the prompt bench ------------------------------------------

_KINDS: tuple[tuple[DeviceKind, frozenset[Trait], str], ...] = (
    (DeviceKind.LIGHT, frozenset({Trait.ON_OFF, Trait.BRIGHTNESS}), "lamp"),
    (DeviceKind.LIGHT, frozenset({Trait.ON_OFF, Trait.BRIGHTNESS, Trait.COLOR_TEMP}), "light"),
    (DeviceKind.SWITCH, frozenset({Trait.ON_OFF}), "plug"),
    (DeviceKind.FAN, frozenset({Trait.ON_OFF, Trait.FAN_SPEED}), "fan"),
    (DeviceKind.PURIFIER, frozenset({Trait.ON_OFF, Trait.FAN_SPEED, Trait.PM25}), "purifier"),
    (DeviceKind.COVER, frozenset({Trait.POSITION}), "curtain"),
    (DeviceKind.CLIMATE, frozenset({Trait.ON_OFF, Trait.TARGET_TEMPERATURE}), "heater"),
    (DeviceKind.SENSOR, frozenset({Trait.CURRENT_TEMPERATURE, Trait.HUMIDITY}), "thermometer"),
)
_ROOMS = (
    "Kitchen", "Living room", "Bedroom", "Bathroom", "Hallway", "Study", "Garage", "Porch",
    "Dining room", "Nursery", "Office", "Attic", "Basement", "Laundry", "Guest room",
    "Library", "Gym", "Pantry", "Balcony", "Workshop",
)  # fmt: skip


def synthetic_registry(count: int, *, hidden_every: int = 0) -> Registry:
    """A home of ``count`` devices over up to 20 rooms on 3 floors, some on, some off.

    Names read like real ones ("Kitchen lamp 2"); every ``hidden_every``-th device is not
    exposed (0: all are).
    """
    registry = Registry()
    rooms = _ROOMS[: max(3, min(len(_ROOMS), count // 8))]
    floors = ("Ground floor", "First floor", "Second floor")
    for index, room in enumerate(rooms):
        registry.add_area(Area(slugify(room), room, floors[index % 3]))
    for number in range(count):
        room = rooms[number % len(rooms)]
        kind, traits, word = _KINDS[(number // len(rooms)) % len(_KINDS)]
        nth = number // (len(rooms) * len(_KINDS)) + 1
        name = f"{room} {word}" + (f" {nth}" if nth > 1 else "")
        device = Device(
            id=f"virtual:{slugify(name)}",
            name=name,
            spec=DeviceSpec(kind, traits),
            driver="virtual",
            area_id=slugify(room),
            exposed=not (hidden_every and number % hidden_every == hidden_every - 1),
        )
        registry.add_device(device)
        registry.update_state(device.id, _state(traits, number))
    return registry


def _state(traits: frozenset[Trait], number: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if Trait.ON_OFF in traits:
        values[Trait.ON_OFF] = number % 3 == 0
    for trait, value in (
        (Trait.BRIGHTNESS, 10 * (number % 10) + 10),
        (Trait.FAN_SPEED, 40),
        (Trait.POSITION, (number * 17) % 101),
        (Trait.TARGET_TEMPERATURE, 21.5),
        (Trait.CURRENT_TEMPERATURE, 20.0 + number % 5),
        (Trait.HUMIDITY, 45.0),
    ):
        if trait in traits:
            values[trait] = value
    return values
