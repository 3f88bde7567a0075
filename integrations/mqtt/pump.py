"""Drives one paho client's socket from the asyncio loop: no paho network thread.

paho's socket callbacks (opened, closed, wants to write) register the socket with the
loop (``add_reader`` / ``add_writer``); the loop calls ``loop_read`` / ``loop_write``. The
socket is opened in a worker thread (the blocking connect and TLS handshake), so callbacks
fired there are handed to the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

__all__ = ["SocketPump"]


class SocketPump:
    """Wires ``client``'s socket callbacks to ``loop``; ``closing()`` says whether the
    connection is shutting down (a socket opened then is closed at once)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client: paho.Client,
        closing: Callable[[], bool],
    ) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._client = client
        self._closing = closing
        client.on_socket_open = lambda _c, _u, sock: self._in_loop(self._watch, sock)
        client.on_socket_close = lambda _c, _u, sock: self._in_loop(self._unwatch, sock)
        client.on_socket_register_write = lambda _c, _u, sock: self._in_loop(
            self._want_write, sock, True
        )
        client.on_socket_unregister_write = lambda _c, _u, sock: self._in_loop(
            self._want_write, sock, False
        )

    def _in_loop(self, func: Callable[..., None], *args: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            func(*args)
        else:
            try:
                self._loop.call_soon_threadsafe(func, *args)
            except RuntimeError:  # the loop has closed meanwhile: nothing left to drive
                pass

    def _watch(self, sock: Any) -> None:
        if self._closing():  # a connect that was still running in its thread when we closed
            self._client._sock_close()  # noqa: SLF001
            return
        with contextlib.suppress(OSError, AttributeError):  # not a TCP socket: nothing to do
            # Small control packets go out at once, not behind the broker's delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._loop.add_reader(sock, self._readable)

    def _unwatch(self, sock: Any) -> None:
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)

    def _want_write(self, sock: Any, want: bool) -> None:
        if sock.fileno() < 0:
            return
        if want:
            self._loop.add_writer(sock, self._writable)
        else:
            self._loop.remove_writer(sock)

    def _readable(self) -> None:
        client = self._client
        client.loop_read()
        sock = client.socket()
        # TLS may hold decrypted bytes the selector cannot see: drain them now.
        while isinstance(sock, ssl.SSLSocket) and sock.pending() > 0:
            if client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
            sock = client.socket()

    def _writable(self) -> None:
        self._client.loop_write()
