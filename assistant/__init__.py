"""mimo-assistant: a voice assistant daemon for homes full of Xiaomi devices."""

__version__ = "0.1.0"
