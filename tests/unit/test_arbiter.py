"""The arbiter: one answer per spoken wake word, however the hubs spell its name."""

from __future__ import annotations

import pytest

from assistant.listen.arbiter import Arbiter
from assistant.listen.wakeword import wake_word_key

OKAY_NABU = [
    "okay_nabu",
    "ok_nabu",
    "Okay Nabu",
    "OK, Nabu",
    "okay-nabu",
    "  OKAY_NABU  ",
    "okay_nabu_v0.1",
    "ok_nabu_v1",
    "okay nabu v0.1",
    "okay_nabu.tflite",
    "okay_nabu_v0.1.tflite",
    "/usr/share/wakewords/okay_nabu.tflite",
    r"C:\wake\ok_nabu.onnx",
]


@pytest.mark.parametrize("name", OKAY_NABU)
def test_spellings_of_one_wake_word_have_one_key(name):
    assert wake_word_key(name) == "okay_nabu"


@pytest.mark.parametrize(
    "name, key",
    [
        ("hey_jarvis_v0.1", "hey_jarvis"),
        ("Hey Jarvis", "hey_jarvis"),
        ("alexa", "alexa"),
        ("hey_mycroft.tflite", "hey_mycroft"),
        ("Hey Rhasspy", "hey_rhasspy"),
        ("okay_computer", "okay_computer"),  # "ok" is spelled out, other words stay
        ("nabu", "nabu"),
        ("jarvis2", "jarvis2"),  # digits of the name itself are kept
        ("小爱同学", "小爱同学"),  # names in other scripts keep their letters
        ("你好 小智", "你好_小智"),
    ],
)
def test_other_wake_words_keep_their_own_key(name, key):
    assert wake_word_key(name) == key


@pytest.mark.parametrize("name", [None, "", "   ", "_", ".tflite", "/models/"])
def test_no_name_is_no_key(name):
    assert wake_word_key(name) is None


@pytest.mark.parametrize("other", OKAY_NABU)
def test_one_wake_word_under_two_spellings_is_answered_once(other):
    arbiter = Arbiter(window=2.0)
    assert arbiter.claim("kitchen", "okay_nabu", at=10.0)
    assert not arbiter.claim("hall", other, at=10.5)


def test_different_wake_words_are_answered_each():
    arbiter = Arbiter(window=2.0)
    assert arbiter.claim("kitchen", "okay_nabu_v0.1", at=10.0)
    assert arbiter.claim("hall", "Hey Jarvis", at=10.1)
    assert arbiter.claim("bedroom", "okay_computer", at=10.2)
    assert not arbiter.claim("porch", "hey_jarvis_v0.1", at=10.3)


def test_the_window_and_unnamed_claims():
    arbiter = Arbiter(window=2.0)
    assert arbiter.claim("kitchen", "ok_nabu", at=100.0)
    assert not arbiter.claim("hall", "Okay Nabu", at=101.9)
    assert arbiter.claim("hall", "okay_nabu.tflite", at=102.0)  # the window is over
    assert not arbiter.claim("bedroom", None, at=102.5)  # unnamed conflicts with any
    assert not arbiter.claim("bedroom", "", at=102.6)  # so does an empty name
    assert arbiter.claim("hall", "OK Nabu", at=102.7)  # the same hub again: its business
    assert arbiter.claim("bedroom", None, at=104.8)
