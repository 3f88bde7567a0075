"""The one shared MQTT connection: paho-mqtt 2.x driven by the asyncio loop.

paho does the protocol; this module (with ``pump.SocketPump``) does the I/O scheduling.
There is no paho network thread and no ``loop_forever``/``loop_start``: paho's socket
callbacks register its socket with the running loop (``add_reader``/``add_writer``), the loop
calls ``loop_read``/``loop_write``, and a small task calls ``loop_misc`` once a second for
keepalive pings.

The one blocking step paho has is opening the socket: ``socket.create_connection`` and, with
TLS, the blocking handshake (``do_handshake`` under ``connect_timeout``). That step runs in a
worker thread (``asyncio.to_thread(client.reconnect)``); socket callbacks fired from that
thread are handed to the loop with ``call_soon_threadsafe``. Everything after the socket is
open (CONNACK, publish, subscribe, messages) happens on the loop thread.

A supervisor task reconnects forever with exponential backoff, republishes the retained
``online`` status and resubscribes after every connect; a failure is logged once per outage
(again only if the reason changes) naming ``host:port`` and the reason, never the password.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from .errors import (
    MqttConnectError,
    MqttError,
    MqttPublishError,
    describe_connack,
    describe_connect_failure,
)
from .model import Delivery, Message, TlsSettings, ssl_context
from .pump import SocketPump
from .subscription import Listener, Receiver, Router, Subscription

__all__ = ["Delivery", "Listener", "MqttConnection", "TlsSettings"]

_LOGGER = logging.getLogger(__name__)
_MISC_INTERVAL = 1.0  # seconds between loop_misc calls (keepalive bookkeeping)


class MqttConnection:
    """One reconnecting MQTT session; use as ``async with MqttConnection(...) as mqtt``."""

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: TlsSettings | None = None,
        client_id: str | None = None,
        prefix: str = "mimo-assistant",
        protocol: str = "5",
        keepalive: int = 60,
        connect_timeout: float = 5.0,
        reconnect_min: float = 0.5,
        reconnect_max: float = 60.0,
        max_queued_messages: int = 10_000,
    ) -> None:
        if protocol not in ("5", "3.1.1"):
            raise ValueError("protocol must be '5' or '3.1.1'")
        self.host, self.port, self.prefix = host, port, prefix
        self.broker = f"{host}:{port}"
        """``host:port``, as every log line and error names it."""
        self.status_topic = f"{prefix}/status"
        self._username, self._password, self._tls = username, password, tls
        self._client_id = client_id or f"{prefix}-{uuid.uuid4().hex[:10]}"
        self._v5 = protocol == "5"
        self._keepalive, self._connect_timeout = keepalive, connect_timeout
        self._backoff = (reconnect_min, reconnect_max)
        self._max_queued = max_queued_messages
        self._client: paho.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._router = Router()
        self._suback: dict[int, asyncio.Future[None]] = {}
        self._deliveries: dict[int, asyncio.Future[None]] = {}
        self._early_acks: set[int] = set()  # acked inside client.publish(), before _track
        self._publishing = False
        self._connack: asyncio.Future[MqttConnectError | None] | None = None
        self._lost = asyncio.Event()
        self._connected = asyncio.Event()
        self._attempted = asyncio.Event()
        self._closing = False
        self.last_error: MqttConnectError | None = None
        """The latest connect failure (None once connected)."""
        self.connection_listeners: list[Callable[[bool], None]] = []
        """Called on the loop with True after each connect and False after each loss."""

    def __repr__(self) -> str:  # never shows the password
        return f"MqttConnection({self.broker!r}, client_id={self._client_id!r})"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> MqttConnection:
        self._loop = asyncio.get_running_loop()
        self._client = await self._make_client()
        self._tasks = [
            asyncio.create_task(self._supervise(), name=f"mqtt-connection {self.broker}"),
            asyncio.create_task(self._misc(), name=f"mqtt-keepalive {self.broker}"),
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self, timeout: float = 1.0) -> None:
        """Publish a retained ``offline`` (bounded wait), DISCONNECT, stop the tasks."""
        if self._closing or self._client is None:
            return
        self._closing = True
        client = self._client
        if self.connected:
            done = self._publish_tracked(self.status_topic, "offline", 1, True)[1]
            try:
                async with asyncio.timeout(timeout):
                    await done
            except TimeoutError:
                _LOGGER.debug("MQTT %s: offline status not acknowledged in time", self.broker)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        client.disconnect()
        sock = client.socket()
        if sock is not None:  # disconnect() only queues DISCONNECT; close the socket now
            client.loop_write()
            client._sock_close()  # noqa: SLF001 - paho has no public "close socket now"
        for receiver in self._router.receivers():
            receiver._end()  # noqa: SLF001
        self._connected.clear()

    async def wait_connected(self, timeout: float, *, fail_fast: bool = False) -> None:
        """Wait until connected; raise ``MqttConnectError`` after ``timeout`` seconds.

        With ``fail_fast`` the first failed attempt raises at once (a clear error at start).
        """
        try:
            async with asyncio.timeout(timeout):
                while not self._connected.is_set():
                    waiters = [asyncio.ensure_future(self._connected.wait())]
                    if fail_fast:
                        waiters.append(asyncio.ensure_future(self._attempted.wait()))
                    try:
                        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for waiter in waiters:
                            waiter.cancel()
                    if fail_fast and not self._connected.is_set() and self.last_error:
                        raise self.last_error
        except TimeoutError:
            if self.last_error is not None:
                raise self.last_error from None
            raise MqttConnectError(
                self.broker, f"not connected after {timeout:g} s", code="mqtt-timeout"
            ) from None

    # -- publish / subscribe ---------------------------------------------------------------

    async def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False
    ) -> Delivery:
        """Queue a message. QoS 1/2 survive an outage (sent after reconnect); QoS 0 while
        disconnected raises ``MqttPublishError``. Await ``Delivery.wait`` for the ack."""
        info, done = self._publish_tracked(topic, payload, qos, retain)
        queued = info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN) or (
            queued and qos == 0
        ):
            raise MqttPublishError(
                f"MQTT {self.broker}: cannot publish to {topic}: {paho.error_string(info.rc)}"
            )
        return Delivery(info.mid, queued, done)

    async def subscribe(
        self, topic_filter: str, qos: int = 1, *, timeout: float = 5.0, maxsize: int = 1000
    ) -> Subscription:
        """Receive messages matching ``topic_filter`` (``async for message in sub``).

        Registered at once; kept across reconnects. When connected, waits (up to ``timeout``)
        for the broker's SUBACK so a message published right after is not missed.
        """
        self._require_client()
        sub = Subscription(topic_filter, qos, maxsize, self._unsubscribe)
        await self._add_filters(sub, [topic_filter], qos, timeout)
        return sub

    async def listen(
        self,
        topic_filters: Sequence[str],
        callback: Callable[[Message], None],
        qos: int = 1,
        *,
        timeout: float = 5.0,
    ) -> Listener:
        """Call ``callback`` on the loop for every message matching any of ``topic_filters``.

        For many topics at once (one SUBSCRIBE packet, one SUBACK wait); ``Listener.add`` and
        ``Listener.remove`` change the filters later. The callback must not block.
        """
        self._require_client()
        listener = Listener(qos, callback, self._add_filters, self._remove_filters)
        await listener.add(topic_filters, timeout=timeout)
        return listener

    def _unsubscribe(self, sub: Subscription) -> None:
        self._remove_filters(sub, [sub.topic_filter])

    async def _add_filters(
        self, receiver: Receiver, topic_filters: Sequence[str], qos: int, timeout: float
    ) -> None:
        new = self._router.add(receiver, topic_filters, qos)
        client = self._client
        if not new or client is None or not self.connected:
            return  # the next connect subscribes to everything registered
        rc, mid = client.subscribe(new)
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None:
            ack = self._suback[mid] = self._require_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await ack
            except TimeoutError:
                _LOGGER.warning(
                    "MQTT %s: no SUBACK for %s%s",
                    self.broker,
                    new[0][0],
                    f" and {len(new) - 1} more" if len(new) > 1 else "",
                )

    def _remove_filters(self, receiver: Receiver, topic_filters: Sequence[str]) -> None:
        gone = self._router.remove(receiver, topic_filters)
        if gone and self._client is not None and self.connected and not self._closing:
            self._client.unsubscribe(gone)

    # -- supervision -----------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self._backoff[0]
        logged: str | None = None  # code of the failure already logged in this outage
        while True:
            try:
                error = await self._attempt()
            except Exception as err:  # noqa: BLE001 - the daemon's task must never die
                _LOGGER.exception("MQTT %s: unexpected error while connecting", self.broker)
                error = MqttConnectError(self.broker, type(err).__name__, code="mqtt-internal")
            self._attempted.set()
            if error is None:  # was connected; the connection has just been lost
                delay, logged = self._backoff[0], None
                _LOGGER.warning("MQTT %s: connection lost; reconnecting", self.broker)
                continue
            self.last_error = error
            if logged != error.code:
                _LOGGER.error("%s; retrying in the background", error)
                logged = error.code
            else:
                _LOGGER.debug("%s", error)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self._backoff[1])

    async def _attempt(self) -> MqttConnectError | None:
        """One connect; returns its failure, or None after a connection that was up ended."""
        client = self._require_client()
        self._connack = self._require_loop().create_future()
        self._lost = asyncio.Event()
        try:
            await asyncio.to_thread(client.reconnect)
        except (OSError, ssl.SSLError, ssl.CertificateError) as err:
            code, words = describe_connect_failure(err)
            return MqttConnectError(self.broker, words, code=code)
        try:
            async with asyncio.timeout(self._connect_timeout):
                error = await self._connack
        except TimeoutError:
            client._sock_close()  # noqa: SLF001
            return MqttConnectError(
                self.broker, "no answer (CONNACK) from the broker", code="mqtt-timeout"
            )
        if error is not None:
            return error
        if self.last_error is not None:
            _LOGGER.info("MQTT %s: connected again", self.broker)
        else:
            _LOGGER.info("MQTT %s: connected", self.broker)
        self.last_error = None
        await self._lost.wait()
        return None

    async def _misc(self) -> None:
        while True:
            await asyncio.sleep(_MISC_INTERVAL)
            if self._client is not None and self._client.socket() is not None:
                self._client.loop_misc()

    # -- paho client and its callbacks (all on the loop thread, except socket open) ---------

    async def _make_client(self) -> paho.Client:
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=paho.MQTTv5 if self._v5 else paho.MQTTv311,
            clean_session=None if self._v5 else True,
        )
        client.connect_timeout = self._connect_timeout
        client.max_queued_messages_set(self._max_queued)
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        if self._tls is not None:  # reads files: keep it off the loop
            client.tls_set_context(await asyncio.to_thread(ssl_context, self._tls))
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        SocketPump(self._require_loop(), client, lambda: self._closing)
        client.connect_async(
            self.host,
            self.port,
            self._keepalive,
            **({"clean_start": True} if self._v5 else {}),
        )
        return client

    def _on_connect(self, client: paho.Client, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        connack = self._connack
        if reason.is_failure:
            code, words = describe_connack(reason)
            if connack is not None and not connack.done():
                connack.set_result(MqttConnectError(self.broker, words, code=code))
            return
        self._publish_tracked(self.status_topic, "online", 1, True)
        wanted = self._router.filters()
        if wanted:
            client.subscribe(wanted)
        self._connected.set()
        if connack is not None and not connack.done():
            connack.set_result(None)
        self._tell(True)

    def _tell(self, connected: bool) -> None:
        for listener in list(self.connection_listeners):
            try:
                listener(connected)
            except Exception:  # noqa: BLE001 - an observer must not break the connection
                _LOGGER.exception("MQTT %s: connection listener failed", self.broker)

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected:
            self._tell(False)
        connack = self._connack
        if connack is not None and not connack.done():
            connack.set_result(
                MqttConnectError(
                    self.broker,
                    f"connection closed before the broker answered ({reason})",
                    code="mqtt-closed",
                )
            )
        for ack in self._suback.values():
            if not ack.done():
                ack.cancel()
        self._suback.clear()
        self._lost.set()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        message = Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain))
        for receiver in self._router.route(msg.topic):
            receiver._put(message)  # noqa: SLF001

    def _on_publish(self, _c: Any, _u: Any, mid: int, _reason: Any, _p: Any) -> None:
        done = self._deliveries.pop(mid, None)
        if done is None:
            if self._publishing:
                self._early_acks.add(mid)
        elif not done.done():
            done.set_result(None)

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, _codes: Any, _p: Any) -> None:
        ack = self._suback.pop(mid, None)
        if ack is not None and not ack.done():
            ack.set_result(None)

    def _publish_tracked(
        self, topic: str, payload: bytes | str, qos: int, retain: bool
    ) -> tuple[paho.MQTTMessageInfo, asyncio.Future[None]]:
        client = self._require_client()
        self._publishing = True
        try:
            info = client.publish(topic, payload, qos=qos, retain=retain)
        finally:
            self._publishing = False
        done = self._require_loop().create_future()
        if info.mid in self._early_acks:
            done.set_result(None)
        elif info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            self._deliveries[info.mid] = done
        self._early_acks.clear()
        return info, done

    def _require_client(self) -> paho.Client:
        if self._client is None:
            raise MqttError("use the connection inside 'async with'")
        return self._client

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise MqttError("use the connection inside 'async with'")
        return self._loop
