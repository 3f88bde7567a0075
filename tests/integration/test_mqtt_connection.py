"""The shared MQTT connection against a real private Mosquitto (no mocks)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import textwrap
import uuid

import pytest
from blockbuster import blockbuster_ctx

from integrations.mqtt import (
    Message,
    MqttConnectError,
    MqttConnection,
    Subscription,
    TlsSettings,
)

pytest.register_assert_rewrite("tests.mqtt_broker")
from tests.mqtt_broker import MosquittoBroker, free_port  # noqa: E402

pytest_plugins = ["tests.mqtt_broker"]

FAST = {"reconnect_min": 0.1, "reconnect_max": 0.5, "connect_timeout": 3.0}


def _prefix() -> str:
    """A topic prefix of its own per test (retained messages outlive a test)."""
    return f"mimo-assistant/t-{uuid.uuid4().hex[:8]}"


def _assistant(
    broker: MosquittoBroker, prefix: str, port: int | None = None, **kwargs
) -> MqttConnection:
    options = {"username": "assistant", "password": broker.assistant_password, **FAST, **kwargs}
    return MqttConnection(broker.host, port or broker.port, prefix=prefix, **options)


def _guest(broker: MosquittoBroker) -> MqttConnection:
    return MqttConnection(
        broker.host,
        broker.port,
        username="guest",
        password=broker.guest_password,
        prefix=_prefix(),
        **FAST,
    )


async def _next_payload(sub: Subscription, timeout: float = 5.0) -> bytes:
    return (await sub.get(timeout)).payload


async def _until(sub: Subscription, payload: bytes, timeout: float = 10.0) -> Message:
    """Skip messages until one carries ``payload``."""
    async with asyncio.timeout(timeout):
        async for message in sub:
            if message.payload == payload:
                return message
    raise AssertionError("subscription ended")


async def test_online_is_retained_for_other_clients(mqtt: MosquittoBroker) -> None:
    prefix = _prefix()
    async with _assistant(mqtt, prefix) as conn:
        await conn.wait_connected(5)
        async with _guest(mqtt) as observer:
            await observer.wait_connected(5)
            status = await observer.subscribe(f"{prefix}/status")
            message = await status.get(5)
            assert (message.payload, message.retain) == (b"online", True)
    async with _guest(mqtt) as observer:  # a clean close leaves a retained "offline"
        await observer.wait_connected(5)
        status = await observer.subscribe(f"{prefix}/status")
        assert await _next_payload(status) == b"offline"


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_publish_and_subscribe_round_trip(mqtt: MosquittoBroker, protocol: str) -> None:
    prefix = _prefix()
    async with _assistant(mqtt, prefix, protocol=protocol) as conn:
        await conn.wait_connected(5)
        async with await conn.subscribe(f"{prefix}/+/set") as sub:
            delivery = await conn.publish(f"{prefix}/lamp/set", b'{"state":"ON"}')
            assert await delivery.wait(5)
            message = await sub.get(5)
        assert (message.topic, message.payload) == (f"{prefix}/lamp/set", b'{"state":"ON"}')


async def test_wrong_password_is_a_clear_error_without_the_password(
    mqtt: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + uuid.uuid4().hex
    conn = _assistant(mqtt, _prefix(), password=wrong)
    async with conn:
        with pytest.raises(MqttConnectError) as caught:
            await conn.wait_connected(5, fail_fast=True)
        await asyncio.sleep(0.5)  # a few retries: still one error line, the task still runs
        assert not conn._tasks[0].done()
    error = caught.value
    assert error.code == "mqtt-auth"
    assert f"127.0.0.1:{mqtt.port}" in str(error)
    assert "user name or password" in str(error) or "not authorized" in str(error)
    assert wrong not in caplog.text and wrong not in repr(conn)
    assert mqtt.assistant_password not in caplog.text
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and f"127.0.0.1:{mqtt.port}" in errors[0].getMessage()


async def test_nothing_listening_is_reported_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    async with MqttConnection("127.0.0.1", port, **FAST) as conn:
        with pytest.raises(MqttConnectError) as caught:
            await conn.wait_connected(5, fail_fast=True)
    assert caught.value.code == "mqtt-refused"
    assert f"127.0.0.1:{port}" in str(caught.value)


async def test_tls_with_the_right_ca(mqtt: MosquittoBroker) -> None:
    prefix = _prefix()
    tls = TlsSettings(ca_file=mqtt.ca_file)
    with blockbuster_ctx(["integrations"]):  # connecting must not block the loop
        async with _assistant(mqtt, prefix, port=mqtt.tls_port, tls=tls) as conn:
            await conn.wait_connected(5, fail_fast=True)
            sub = await conn.subscribe(f"{prefix}/status")
            assert await _next_payload(sub) == b"online"


@pytest.mark.parametrize("tls", [False, True])
async def test_small_packets_are_not_held_for_the_brokers_ack(
    mqtt: MosquittoBroker, tls: bool
) -> None:
    """TCP_NODELAY: a command written just after an acknowledgement goes out at once."""
    options = {"port": mqtt.tls_port, "tls": TlsSettings(ca_file=mqtt.ca_file)} if tls else {}
    async with _assistant(mqtt, _prefix(), **options) as conn:
        await conn.wait_connected(5, fail_fast=True)
        sock = conn._client.socket()  # noqa: SLF001 - the socket paho opened
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


async def test_tls_with_the_wrong_ca_fails_clearly(mqtt: MosquittoBroker) -> None:
    tls = TlsSettings(ca_file=mqtt.other_ca_file)
    async with _assistant(mqtt, _prefix(), port=mqtt.tls_port, tls=tls) as conn:
        with pytest.raises(MqttConnectError) as caught:
            await conn.wait_connected(5, fail_fast=True)
    assert caught.value.code == "mqtt-tls-verify"
    assert f"127.0.0.1:{mqtt.tls_port}" in str(caught.value)
    assert "certificate verification failed" in str(caught.value)


_CRASHING_DAEMON = textwrap.dedent("""
    import asyncio, os, sys
    from integrations.mqtt import MqttConnection

    async def main():
        host, port, prefix = sys.argv[1:4]
        password = os.environ["MQTT_TEST_PASSWORD"]
        async with MqttConnection(host, int(port), username="assistant", password=password,
                                  prefix=prefix, keepalive=60) as conn:
            await conn.wait_connected(5)
            print("up", flush=True)
            await asyncio.sleep(60)

    asyncio.run(main())
""")


async def test_abrupt_death_publishes_the_offline_will(mqtt: MosquittoBroker) -> None:
    prefix = _prefix()
    async with _guest(mqtt) as observer:
        await observer.wait_connected(5)
        status = await observer.subscribe(f"{prefix}/status")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CRASHING_DAEMON,
            mqtt.host,
            str(mqtt.port),
            prefix,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "MQTT_TEST_PASSWORD": mqtt.assistant_password},
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        )
        try:
            assert await asyncio.wait_for(proc.stdout.readline(), 15) == b"up\n"
            assert await _next_payload(status) == b"online"
            os.kill(proc.pid, signal.SIGKILL)  # no DISCONNECT: the broker sends the will
            assert await _next_payload(status) == b"offline"
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
    async with _guest(mqtt) as late:  # the will was retained
        await late.wait_connected(5)
        status = await late.subscribe(f"{prefix}/status")
        message = await status.get(5)
        assert (message.payload, message.retain) == (b"offline", True)


async def test_broker_restart_reconnects_resubscribes_and_delivers_queued(
    mqtt: MosquittoBroker,
) -> None:
    prefix = _prefix()
    async with _assistant(mqtt, prefix) as conn, _assistant(mqtt, _prefix()) as other:
        await asyncio.gather(conn.wait_connected(5), other.wait_connected(5))
        commands = await conn.subscribe(f"{prefix}/cmd")
        status = await other.subscribe(f"{prefix}/status")
        assert await _next_payload(status) == b"online"

        mqtt.stop()
        await asyncio.sleep(0.3)
        assert not conn.connected
        queued = await conn.publish(f"{prefix}/queued", b"sent while down", qos=1, retain=True)
        assert queued.queued and not queued.delivered
        mqtt.start()

        await asyncio.gather(conn.wait_connected(10), other.wait_connected(10))
        assert await queued.wait(5)
        # persistence is off, so this retained "online" was published after the restart
        await _until(status, b"online")
        # the subscription came back: a message from another client reaches it
        async with asyncio.timeout(10):
            while True:
                await other.publish(f"{prefix}/cmd", b"after restart")
                try:
                    assert await _next_payload(commands, 0.3) == b"after restart"
                    break
                except TimeoutError:
                    continue
        # the QoS 1 message published while the broker was down reached it
        async with await other.subscribe(f"{prefix}/queued") as check:
            assert await _next_payload(check) == b"sent while down"


async def test_acl_denies_the_guest(mqtt: MosquittoBroker) -> None:
    prefix = _prefix()
    async with _assistant(mqtt, prefix) as conn, _guest(mqtt) as guest:
        await asyncio.gather(conn.wait_connected(5), guest.wait_connected(5))
        sub = await conn.subscribe(f"{prefix}/x")
        await guest.publish(f"{prefix}/x", b"from guest", qos=1)
        with pytest.raises(TimeoutError):  # a denial is silent: assert nothing arrives
            await sub.get(1.0)
        await conn.publish(f"{prefix}/x", b"from assistant")  # control: the path works
        assert await _next_payload(sub) == b"from assistant"
