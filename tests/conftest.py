"""Shared fixtures. Tests only ever talk to 127.0.0.0/8."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path, monkeypatch):
    """Keep every test's state (virtual devices, control socket) in its own folder."""
    state = tmp_path / "state"
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    yield
    os.environ.pop("MIMO_TEST_MARK", None)
