"""Errors of the MQTT integration: one hierarchy, each with a machine-readable code."""

from __future__ import annotations

import socket
import ssl
from typing import Any

__all__ = [
    "MqttConnectError",
    "MqttError",
    "MqttPublishError",
    "describe_connack",
    "describe_connect_failure",
]

_AUTH_REASONS = {134, 135, 4, 5}  # v5 bad user/password, not authorized; v3 codes 4, 5


class MqttError(Exception):
    """Base of every MQTT error. ``code`` is stable and machine-readable."""

    code = "mqtt-error"


class MqttConnectError(MqttError):
    """Connecting to the broker failed; the text names ``host:port`` and the reason."""

    code = "mqtt-connect-failed"

    def __init__(self, broker: str, reason: str, *, code: str | None = None) -> None:
        super().__init__(f"cannot connect to MQTT broker {broker}: {reason}")
        self.broker = broker
        self.reason = reason
        if code is not None:
            self.code = code


class MqttPublishError(MqttError):
    """paho refused to queue a message (for instance its queue is full)."""

    code = "mqtt-publish-failed"


def describe_connect_failure(err: BaseException) -> tuple[str, str]:
    """(code, words) for an exception raised while opening the socket / TLS session.

    Never includes credentials: only the exception type's meaning and the OS/TLS reason.
    """
    if isinstance(err, ssl.SSLCertVerificationError):
        return "mqtt-tls-verify", f"TLS certificate verification failed ({err.verify_message})"
    if isinstance(err, ssl.SSLError):
        return "mqtt-tls", f"TLS error ({err.reason or err.__class__.__name__})"
    if isinstance(err, ConnectionRefusedError):
        return "mqtt-refused", "connection refused (is the broker running on that port?)"
    if isinstance(err, socket.timeout | TimeoutError):
        return "mqtt-timeout", "timed out"
    if isinstance(err, socket.gaierror):
        return "mqtt-dns", f"host name not found ({err.strerror})"
    if isinstance(err, OSError):
        return "mqtt-network", f"network error ({err.strerror or err.__class__.__name__})"
    return "mqtt-connect-failed", err.__class__.__name__


def describe_connack(reason: Any) -> tuple[str, str]:
    """(code, words) for a CONNACK that refused us (paho ReasonCode)."""
    value = getattr(reason, "value", reason)
    words = reason.getName() if hasattr(reason, "getName") else str(reason)
    if value in _AUTH_REASONS:
        return "mqtt-auth", f"the broker refused the login: {words.lower()}"
    return "mqtt-refused-by-broker", f"the broker refused the connection: {words.lower()}"
