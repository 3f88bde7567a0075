"""The ``safety`` section of the configuration: defaults, bounds, the PIN and its secrecy."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from assistant.config import ConfigError, SafetySettings, Secret, load_config, parse_config

PIN = "80417"


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(dedent(text), source="c.yaml", environ={})
    return caught.value.problems


def test_defaults_are_safe() -> None:
    safety = parse_config("", environ={}).safety
    assert safety == SafetySettings()
    assert safety.allow_unlock is False and safety.pin is None
    assert safety.confirm_timeout == 30 and safety.max_actions_per_turn == 50


def test_full_section_with_a_secret_pin(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text(f"door_pin: '0{PIN}'\n")
    (tmp_path / "secrets.yaml").chmod(0o600)
    config = tmp_path / "config.yaml"
    config.write_text(
        "safety:\n  allow_unlock: true\n  pin: !secret door_pin\n"
        "  confirm_timeout: 20\n  max_actions_per_turn: 100\n"
    )
    safety = load_config(config, environ={}).safety
    assert safety.allow_unlock and safety.pin == Secret(f"0{PIN}")
    assert safety.confirm_timeout == 20.0 and safety.max_actions_per_turn == 100
    assert PIN not in repr(safety)


def test_allow_unlock_without_a_pin_is_an_error() -> None:
    assert problems_of("safety:\n  allow_unlock: true\n") == [
        "c.yaml:2:3: safety: allow_unlock needs a pin (e.g. pin: !secret door_pin)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("safety: {confirm_timeout: 1}", "safety.confirm_timeout: must be at least 5"),
        ("safety: {confirm_timeout: 900}", "safety.confirm_timeout: must be at most 300"),
        ("safety: {max_actions_per_turn: 0}", "safety.max_actions_per_turn: must be at least 1"),
        ("safety: {max_actions_per_turn: 2.5}", "expected a whole number"),
        ("safety: {allow_unlock: yes}", "yes/no/on/off are strings"),
        (
            "safety: {allow_unluck: true}",
            "unknown key 'allow_unluck' (did you mean 'allow_unlock'?)",
        ),
        ("safety: {pin: 1234}", "safety.pin: expected a string (in quotes) or a secret"),
    ],
)
def test_bad_values(text: str, message: str) -> None:
    (problem,) = problems_of(text)
    assert message in problem


@pytest.mark.parametrize("pin", ["12a4", "123", "12345678901", "12 34", "١٢٣٤"])
def test_a_pin_is_4_to_10_digits_and_never_shown(pin: str) -> None:
    (problem,) = problems_of(f"safety: {{allow_unlock: true, pin: '{pin}'}}")
    assert problem.endswith("safety.pin: a PIN must be 4 to 10 digits (0-9)")
    assert pin not in problem


def test_a_pin_from_the_environment_is_never_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("safety: {pin: !env DOOR_PIN}", environ={"DOOR_PIN": "12x45"})
    assert "12x45" not in str(caught.value) and "a PIN must be" in str(caught.value)
