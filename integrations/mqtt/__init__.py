"""MQTT: one shared broker connection (paho-mqtt driven by asyncio)."""

from .connection import MqttConnection
from .errors import MqttConnectError, MqttError, MqttPublishError
from .model import Delivery, Message, TlsSettings
from .subscription import Subscription

__all__ = [
    "Delivery",
    "Message",
    "MqttConnectError",
    "MqttConnection",
    "MqttError",
    "MqttPublishError",
    "Subscription",
    "TlsSettings",
]
