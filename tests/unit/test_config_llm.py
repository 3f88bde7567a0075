"""The ``llm`` section: defaults, errors with file:line, and the API key never shown."""

from __future__ import annotations

import pickle
from pathlib import Path
from textwrap import dedent

import pytest

from assistant.config import ConfigError, LlmSettings, Secret, load_config, parse_config

KEY = "sk-mimo-0123456789abcdef"


def problems_of(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(dedent(text), source="c.yaml", environ={}, **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def test_no_llm_section_means_local_only():
    assert parse_config("").llm is None


def test_defaults_are_mimos(tmp_path: Path):
    (tmp_path / "secrets.yaml").write_text(f"mimo_api_key: '{KEY}'\n")
    (tmp_path / "secrets.yaml").chmod(0o600)
    config = tmp_path / "config.yaml"
    config.write_text("llm:\n  api_key: !secret mimo_api_key\n")
    llm = load_config(config).llm
    assert llm is not None
    assert llm.base_url == "https://api.xiaomimimo.com/v1"
    assert (llm.model, llm.vision_model) == ("mimo-v2-flash", "mimo-v2-omni")
    assert isinstance(llm.api_key, Secret) and llm.api_key.reveal() == KEY
    assert (llm.timeout, llm.max_tool_rounds, llm.max_completion_tokens) == (8.0, 5, 1024)
    assert llm.thinking is False and llm.stream is False
    assert (llm.price_in, llm.price_out, llm.daily_budget) == (0.1, 0.3, 0.0)
    assert llm.vision_price_in is None and llm.vision_price_out is None
    assert KEY not in repr(llm) and KEY not in str(llm)
    assert KEY not in llm.model_dump_json()
    assert pickle.loads(pickle.dumps(llm)) == llm


def test_a_local_server_needs_no_key():
    text = """\
    llm:
      base_url: http://127.0.0.1:11434/v1
      model: qwen2.5:7b
      vision_model:
      timeout: 20
      max_tool_rounds: 3
      max_completion_tokens: 256
      thinking: true
      stream: true
      price_in: 0
      price_out: 0
      vision_price_in: 0.4
      vision_price_out: 2
      daily_budget: 0.5
    """
    llm = parse_config(dedent(text)).llm
    assert llm == LlmSettings(
        base_url="http://127.0.0.1:11434/v1",
        model="qwen2.5:7b",
        vision_model="mimo-v2-omni",
        timeout=20.0,
        max_tool_rounds=3,
        max_completion_tokens=256,
        thinking=True,
        stream=True,
        price_in=0.0,
        price_out=0.0,
        vision_price_in=0.4,
        vision_price_out=2.0,
        daily_budget=0.5,
    )
    assert llm.api_key is None


def test_bad_values_are_placed_and_never_echoed():
    text = f"""\
    llm:
      base_url: ftp://{KEY}@example.com
      model: ""
      api_key: [{KEY}]
      timeout: 0
      max_tool_rounds: 0
      max_completion_tokens: 8
      thinking: yes
      price_in: -1
      price_out: cheap
      daily_budget: -2
      tokens: 5
    """
    problems = problems_of(text)
    assert problems == [
        "c.yaml:2:13: llm.base_url: expected an http:// or https:// URL with a host",
        "c.yaml:3:10: llm.model: must not be empty",
        "c.yaml:4:12: llm.api_key: expected a string (in quotes) or a secret",
        "c.yaml:5:12: llm.timeout: must be more than 0.0",
        "c.yaml:6:20: llm.max_tool_rounds: must be at least 1",
        "c.yaml:7:26: llm.max_completion_tokens: must be at least 16",
        "c.yaml:8:13: llm.thinking: expected true or false"
        " (in YAML 1.2, yes/no/on/off are strings)",
        "c.yaml:9:13: llm.price_in: must be at least 0.0",
        "c.yaml:10:14: llm.price_out: expected a number",
        "c.yaml:11:17: llm.daily_budget: must be at least 0.0",
        "c.yaml:12:3: llm.tokens: unknown key 'tokens'",
    ]
    assert not any(KEY in p for p in problems)


def test_mimo_needs_a_key():
    assert problems_of("llm:\n  model: mimo-v2-flash\n") == [
        "c.yaml:2:3: llm: api_key is needed for api.xiaomimimo.com (use !secret)"
    ]


def test_a_key_where_a_string_is_expected_is_not_shown():
    with pytest.raises(ConfigError) as caught:
        parse_config(
            "llm:\n  api_key: !env MIMO_KEY\n  base_url: !env MIMO_KEY\n",
            source="c.yaml",
            environ={"MIMO_KEY": KEY},
        )
    problems = caught.value.problems
    assert problems == [
        "c.yaml:3:13: llm.base_url: expected a string; a secret is not allowed here"
    ]
    assert KEY not in str(caught.value)


def test_an_unset_key_variable_is_reported():
    problems = problems_of("llm:\n  api_key: !env MIMO_KEY\n")
    assert len(problems) == 1 and "llm.api_key" in problems[0] and "!env" in problems[0]


def test_vision_model_false_means_no_eyes(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("llm: {base_url: 'http://127.0.0.1:9/v1', vision_model: false}\n")
    assert load_config(path).llm.vision_model is None
