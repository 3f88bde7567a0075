"""Home Assistant style templates: HA's filters, undefined values, and the sandbox's limits."""

from __future__ import annotations

import pytest

from integrations.mqtt.entity import PayloadError
from integrations.mqtt.templates import (
    MAX_OUTPUT,
    CommandTemplate,
    Payload,
    TemplateUndefined,
    ValueTemplate,
)

Z2M = b'{"state": "ON", "brightness": 254, "temperature": "21.456", "contact": false, "n": null}'


def render(source: str, payload: bytes | str = Z2M) -> str:
    return ValueTemplate(source).render(payload)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ value_json.state }}", "ON"),
        ("{{ value_json['brightness'] }}", "254"),
        ("{{ value_json.contact }}", "False"),
        ("{{ value_json.n }}", "None"),
        ("{{ value }}", Z2M.decode()),
        ("{{ value_json.temperature | float | round(1) }}", "21.5"),
        ("{{ value_json.temperature | round(2, 'floor') }}", "21.45"),
        ("{{ value_json.temperature | int }}", "21"),
        ("{{ value_json.brightness / 254 * 100 | round }}", "100.0"),
        ("{{ (value_json.brightness / 2.54) | round }}", "100"),
        ("{{ value_json.state | lower }}", "on"),
        ("{{ 'off' | upper }}", "OFF"),
        ("{{ value_json.missing | default('unknown') }}", "unknown"),
        ("{{ value_json.missing | int(0) }}", "0"),
        ("{{ value_json.missing | float(1.5) }}", "1.5"),
        ("{{ 'x' | int(-1) }}", "-1"),
        ("{{ '0x1f' | int(base=16) }}", "31"),
        ("{{ value_json.state | is_defined }}", "ON"),
        ("{{ value_json.missing is defined }}", "False"),
        ("{{ 'yes' if value_json.missing else 'no' }}", "no"),
        ("{{ iif(value_json.contact, 'closed', 'open') }}", "open"),
        ("{{ value_json.n | iif('y', 'n', 'none') }}", "none"),
        ("{{ (value | from_json).state }}", "ON"),
        ("{{ {'a': [1, 2]} | to_json }}", '{"a": [1, 2]}'),
        ("{{ min(3, 1, 2) }} {{ max([3, 9]) }} {{ [4, 5] | max }}", "1 9 5"),
        ("{{ 'on' | bool }} {{ 0 | bool }}", "True False"),
        ("{{ '12.5' is is_number }} {{ 'abc' | is_number }}", "True False"),
        ("{{ 3 | multiply(2.5) }}", "7.5"),
        ("{{ '%.1f' | format(21.456) }} {{ '%d%%' % 42 }}", "21.5 42%"),
        ("{{ 'a-b-c' | replace('-', '+') }}", "a+b+c"),
        ("{{ 'a-b-c' | replace('-', '+', 1) }}", "a+b-c"),
        ("{{ dict(a=1).a }} {{ 1234.5 | round(-2) }}", "1 1200.0"),
        ("{{ ['a', 'b'] | join(', ') }}", "a, b"),
        (
            "{{ value_json.items() | map('first') | sort | join(',') }}",
            "brightness,contact,n,state,temperature",
        ),
        (
            "{% for k, v in value_json.items() if v is string %}{{ k }},{% endfor %}",
            "state,temperature,",
        ),
        (
            "{% set ns = namespace(total=0) %}{% for i in range(5) %}"
            "{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}",
            "10",
        ),
        ("{{ value_json.state ~ '!' }}", "ON!"),
        ("{{ 'Hi There'.split() | length }} {{ 'abc'.startswith('a') }}", "2 True"),
    ],
)
def test_home_assistant_idioms(source: str, expected: str) -> None:
    assert render(source) == expected


def test_value_json_only_when_used() -> None:
    assert render("{{ value | upper }}", b"not json at all") == "NOT JSON AT ALL"
    assert render("{{ value_json.a if value_json is defined else value }}", b"plain") == "plain"
    with pytest.raises(TemplateUndefined, match="not valid JSON"):
        render("{{ value_json.a }}", b"plain")


def test_payload_is_decoded_once_and_its_json_parsed_once() -> None:
    payload = Payload(b'{"a": 1}')
    first, second = ValueTemplate("{{ value_json.a }}"), ValueTemplate("{{ value_json.a + 1 }}")
    assert (first.render(payload), second.render(payload)) == ("1", "2")
    assert payload.json is payload.json
    with pytest.raises(PayloadError, match="UTF-8"):
        Payload(b"\xff")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ value_json.missing }}", "has no attribute 'missing'"),
        ("{{ value_json.missing == 'ON' }}", "missing"),
        ("{{ value_json.missing | int }}", "missing"),
        ("{{ value_json.missing | is_defined }}", "missing"),
        ("{{ value_json.missing.deeper }}", "missing"),
        ("{{ nothing }}", "'nothing' is undefined"),
    ],
)
def test_undefined_values_are_errors_that_name_the_key(source: str, message: str) -> None:
    with pytest.raises(TemplateUndefined, match=message):
        render(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ value_json.state", "bad value_template"),
        ("{% if %}", "bad value_template"),
        ("{% include 'other' %}", "not allowed"),
        ("{% import 'macros' as m %}", "not allowed"),
        ("{{ value | slice(3) }}", "No filter named 'slice'"),
        ("{{ value is nonsense }}", "No test named 'nonsense'"),
        ("{{ x }}" * 2000, "characters"),
    ],
)
def test_compile_errors(source: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        ValueTemplate(source)


def test_compile_errors_name_the_key() -> None:
    with pytest.raises(PayloadError, match="bad brightness_value_template"):
        ValueTemplate("{{ }", "brightness_value_template")
    with pytest.raises(PayloadError, match="must be a string"):
        ValueTemplate(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'abc' | int }}",
        "{{ value_json.state | float }}",
        "{{ 1 / 0 }}",
        "{{ value_json.state + 1 }}",
        "{{ 'x' | from_json }}",
        "{{ [1, 'a'] | max }}",
        "{{ 'a'.no_such_method() }}",
    ],
)
def test_render_errors_are_payload_errors(source: str) -> None:
    with pytest.raises(PayloadError, match="^value_template: "):
        render(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ value.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum(1000000) }}",
        "{{ value.center(100000000) }}",
        "{{ value.ljust(100000000) }}",
        "{{ (1).to_bytes(1000000000, 'big') }}",
        "{{ '{:099999999}'.format(1) }}",
        "{{ '%099999999d' | format(1) }}",
        "{{ '%*d' % (99999999, 1) }}",
        "{{ 'x' * 100000000 }}",
        "{{ [1] * 100000000 }}",
        "{{ 2 ** 100000 }}",
        "{{ 9 ** 999999 }}",
        "{{ value | replace('', value) }}",
        "{{ value | center(100000000) }}",
        "{{ [1, 2] | batch(100000000, 0) | list }}",
        "{{ [1] | slice(100000000) | list }}",
        "{% for i in range(1000000) %}{% endfor %}",
        "{% set ns = namespace(x=value) %}"
        "{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
        "{% set ns = namespace(x=value) %}"
        "{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}{% endfor %}",
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "{{ 1.5 | round(1000000000) }}",
        "{{ (value * 100) | replace('O', value * 1000, -1) }}",
        "{{ dict.fromkeys }}",
    ],
)
def test_sandbox_refuses_escapes_and_bombs(source: str) -> None:
    with pytest.raises(PayloadError):
        render(source)


@pytest.mark.parametrize(
    "source",
    [
        "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
        "{% for a in value %}{% for b in value %}{% for c in value %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
        "{% for a in range(10000) %}{% set x = value | list | sort %}{% endfor %}",
    ],
)
def test_renders_cannot_hang(source: str) -> None:
    with pytest.raises(PayloadError, match="took longer|output over"):
        render(source, b"x" * 2000)


def test_output_is_capped() -> None:
    with pytest.raises(PayloadError, match=f"output over {MAX_OUTPUT}"):
        render("{% for a in range(10000) %}{{ value }}{% endfor %}", b"x" * 100)
    assert len(render("{% for a in range(1000) %}{{ value }}{% endfor %}", b"x" * 60)) == 60_000


def test_command_templates() -> None:
    template = CommandTemplate(
        '{"state": "{{ value }}", "color": [{{ red }}, {{ green }}, {{ blue }}]}'
    )
    assert template.render("ON", red=1, green=2, blue=3) == '{"state": "ON", "color": [1, 2, 3]}'
    assert CommandTemplate("{{ (value * 2.55) | round }}").render(40) == "102"
    assert CommandTemplate("{{ value | to_json }}").render({"a": True}) == '{"a": true}'
    with pytest.raises(TemplateUndefined, match="command_template"):
        CommandTemplate("{{ value_json.x }}").render(1)
    with pytest.raises(PayloadError, match="bad command_template"):
        CommandTemplate("{{ value }")


def test_compiled_templates_are_shared_and_reusable() -> None:
    first, second = ValueTemplate("{{ value_json.a }}"), ValueTemplate("{{ value_json.a }}")
    assert first.render(b'{"a": 1}') == "1" and second.render(b'{"a": 2}') == "2"
    assert repr(first) == "ValueTemplate('{{ value_json.a }}')"
