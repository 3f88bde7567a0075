"""Speech to text: faster-whisper, loaded once, run off the event loop."""

from assistant.transcribe.whisper import (
    TranscribeError,
    Transcriber,
    TranscribeTimeout,
    default_model_path,
)

__all__ = ["Transcriber", "TranscribeError", "TranscribeTimeout", "default_model_path"]
