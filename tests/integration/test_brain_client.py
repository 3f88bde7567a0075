"""The LLM client against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import time
import traceback

import pytest

from assistant.config import LlmSettings
from assistant.understand.brain import (
    AuthFailed,
    BadResponse,
    BrainError,
    BrainTimeout,
    BrainUnreachable,
    ContentFiltered,
    LlmClient,
    NoCredit,
    Pricing,
    RateLimited,
    RequestRejected,
    ServerError,
)
from assistant.understand.brain.client import RETRY_AFTER_CAP
from tests.llm_server import Call, Drop, Fail, LlmServer, Say, Slow

KEY = "sk-test-7f3a9c1e5b2d4a6f"
PRICE = Pricing(1.0, 2.0)


@pytest.fixture
async def server():
    async with LlmServer(api_key=KEY) as s:
        yield s


def settings(server: LlmServer | None = None, **overrides: object) -> LlmSettings:
    values: dict[str, object] = {
        "base_url": server.base_url if server else "http://127.0.0.1:9/v1",
        "api_key": KEY,
        "model": "text-model",
        "timeout": 5.0,
    }
    values.update(overrides)
    return LlmSettings(**values)  # type: ignore[arg-type]


async def complete(client: LlmClient, *, timeout: float = 5.0, tools=(), messages=None):
    return await client.complete(
        model="text-model",
        messages=messages or [{"role": "user", "content": "hello"}],
        tools=tools,
        deadline=time.monotonic() + timeout,
        pricing=PRICE,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_plain_answer_and_request_shape(server):
    server.push(Say("Hi there", usage=(120, 30)))
    async with LlmClient(settings(server)) as client:
        answer = await complete(client)
    assert answer.content == "Hi there" and answer.tool_calls == ()
    assert (answer.usage.tokens_in, answer.usage.tokens_out, answer.usage.calls) == (120, 30, 1)
    assert answer.usage.cost == pytest.approx((120 * 1.0 + 30 * 2.0) / 1e6)
    (request,) = server.requests
    body = request.body
    assert body["max_completion_tokens"] == 1024 and "max_tokens" not in body
    assert body["thinking"] == {"type": "disabled"}
    assert body["model"] == "text-model" and "stream" not in body
    assert request.headers["authorization"] == f"Bearer {KEY}"


async def test_thinking_on_and_reasoning_kept(server):
    server.push(Call(("HassTurnOn", {"name": "Lamp"}), reasoning="The user wants light."))
    async with LlmClient(settings(server, thinking=True)) as client:
        answer = await complete(client)
    assert server.requests[0].body["thinking"] == {"type": "enabled"}
    assert answer.reasoning == "The user wants light."
    message = answer.assistant_message()
    assert message["reasoning_content"] == "The user wants light."
    assert message["tool_calls"][0]["function"] == {
        "name": "HassTurnOn",
        "arguments": '{"name": "Lamp"}',
    }


@pytest.mark.parametrize("reasoning", [None, "why"])
async def test_streamed_answer_is_put_back_together(server, reasoning):
    server.push(
        Call(
            ("HassTurnOn", {"name": "Kitchen lamp"}),
            ("HassLightSet", {"name": "Kitchen lamp", "brightness": 40}),
            text="On it",
            reasoning=reasoning,
            usage=(300, 12),
        )
    )
    async with LlmClient(settings(server, stream=True)) as client:
        answer = await complete(client)
    body = server.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert [(c.name, c.arguments) for c in answer.tool_calls] == [
        ("HassTurnOn", '{"name": "Kitchen lamp"}'),
        ("HassLightSet", '{"name": "Kitchen lamp", "brightness": 40}'),
    ]
    assert answer.content == "On it" and answer.reasoning == reasoning
    assert (answer.usage.tokens_in, answer.usage.tokens_out) == (300, 12)
    assert answer.finish_reason == "tool_calls"


async def test_usage_is_estimated_when_the_server_reports_none(server):
    def no_usage(request):
        return Say("fine", usage=(0, 0))

    server.push(no_usage)
    async with LlmClient(settings(server)) as client:
        answer = await complete(client)
    assert answer.usage.tokens_in > 0 and answer.usage.tokens_out > 0
    assert answer.usage.cost > 0


async def test_rate_limit_then_success_honours_retry_after(server):
    server.push(Fail(429, "slow down", headers={"Retry-After": "0.3"}), Say("ok"))
    async with LlmClient(settings(server)) as client:
        started = time.monotonic()
        answer = await complete(client)
        elapsed = time.monotonic() - started
    assert answer.content == "ok" and len(server.requests) == 2
    assert elapsed >= 0.3


async def test_rate_limit_twice_gives_up_after_one_retry(server):
    server.push(Fail(429, headers={"retry-after-ms": "50"}), Fail(429), Say("never"))
    async with LlmClient(settings(server)) as client:
        with pytest.raises(RateLimited) as caught:
            await complete(client)
    assert len(server.requests) == 2
    assert caught.value.code == "llm-rate-limited"
    assert str(caught.value) == "My online brain is busy; please try again in a moment"


async def test_rate_limit_with_a_long_wait_is_not_retried(server):
    wait = RETRY_AFTER_CAP + 28
    server.push(Fail(429, headers={"Retry-After": str(wait)}), Say("never"))
    async with LlmClient(settings(server)) as client:
        with pytest.raises(RateLimited) as caught:
            await complete(client)
    assert caught.value.retry_after == pytest.approx(wait)
    assert len(server.requests) == 1


async def test_retry_never_runs_past_the_deadline(server):
    server.push(Fail(429, headers={"Retry-After": "1.5"}), Say("never"))
    async with LlmClient(settings(server)) as client:
        with pytest.raises(RateLimited):
            await complete(client, timeout=2.0)
    assert len(server.requests) == 1


async def test_server_error_is_retried_once(server):
    server.push(Fail(503, "overloaded"), Say("back"))
    async with LlmClient(settings(server)) as client:
        assert (await complete(client)).content == "back"
    server.push(Fail(500), Fail(502))
    async with LlmClient(settings(server)) as client:
        with pytest.raises(ServerError) as caught:
            await complete(client)
    assert caught.value.status == 502 and caught.value.code == "llm-server-error"


@pytest.mark.parametrize(
    ("status", "error", "code", "spoken"),
    [
        (402, NoCredit, "llm-no-credit", "My online brain is out of credit"),
        (421, ContentFiltered, "llm-content-filter", "My online brain refused to answer that"),
        (401, AuthFailed, "llm-auth", "My online brain did not accept my key"),
        (403, AuthFailed, "llm-auth", "My online brain did not accept my key"),
        (400, RequestRejected, "llm-bad-request", "My online brain could not handle that request"),
        (404, RequestRejected, "llm-bad-request", "My online brain could not handle that request"),
    ],
)
async def test_status_codes_map_to_their_own_errors(server, status, error, code, spoken):
    server.push(Fail(status, "nope"), Say("never"))
    async with LlmClient(settings(server)) as client:
        with pytest.raises(error) as caught:
            await complete(client)
    assert caught.value.code == code and caught.value.status == status
    assert caught.value.message == spoken
    assert len(server.requests) == 1, "the SDK's own retries are off"


async def test_content_filter_finish_reason(server):
    server.push(Say("", finish_reason="content_filter"))
    async with LlmClient(settings(server)) as client:
        with pytest.raises(ContentFiltered):
            await complete(client)


async def test_timeout_is_quick_and_spoken(server):
    server.push(Slow(5.0, Say("too late")))
    async with LlmClient(settings(server)) as client:
        started = time.monotonic()
        with pytest.raises(BrainTimeout) as caught:
            await complete(client, timeout=0.4)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.35  # and the server's answer, 5 s away, was not awaited
    assert caught.value.message == "My online brain took too long to answer"


async def test_connection_refused():
    client = LlmClient(settings(base_url=f"http://127.0.0.1:{closed_port()}/v1"))
    async with client:
        with pytest.raises(BrainUnreachable) as caught:
            await complete(client)
    assert caught.value.code == "llm-unreachable"


async def test_dropped_connection(server):
    server.push(Drop())
    async with LlmClient(settings(server)) as client:
        with pytest.raises(BrainUnreachable):
            await complete(client)


async def test_garbage_answer_is_a_bad_response(server):
    server.push(lambda request: Fail(200, "not a completion"))
    async with LlmClient(settings(server)) as client:
        with pytest.raises(BadResponse):
            await complete(client)


async def test_local_server_without_a_key():
    async with LlmServer() as server:
        server.push(Say("local"))
        async with LlmClient(settings(server, api_key=None)) as client:
            assert (await complete(client)).content == "local"
        assert server.requests[0].headers["authorization"] == "Bearer no-key"


async def test_the_key_never_shows(server, caplog):
    """Not in errors (str, repr, traceback) nor in any log line, even when echoed back."""
    caplog.set_level(logging.DEBUG)
    client = LlmClient(settings(server))
    assert KEY not in repr(client)
    async with client:
        for status, tries in ((401, 1), (402, 1), (429, 2), (500, 2)):
            fail = Fail(status, "bad key", headers={"Retry-After": "0.01"}, echo_key=True)
            server.push(*[fail] * tries)
            with pytest.raises(BrainError) as caught:
                await complete(client)
            err = caught.value
            text = "".join(traceback.format_exception(err))
            assert KEY not in f"{err} {err!r} {err.detail} {text}"
            assert "**********" in err.detail
    wrong = LlmClient(settings(server, api_key="sk-wrong-0000000000"))
    async with wrong:
        with pytest.raises(AuthFailed) as caught:
            await complete(wrong)
    assert "sk-wrong-0000000000" not in "".join(traceback.format_exception(caught.value))
    assert KEY not in caplog.text and "sk-wrong-0000000000" not in caplog.text
    assert any("llm-auth" in record.getMessage() for record in caplog.records)
    assert len(server.requests) == 7 and server.unscripted == 0
