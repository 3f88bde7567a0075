"""Tests for assistant.config: schema, YAML positions, secrets, and never leaking them."""

from __future__ import annotations

import pickle
from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import ValidationError

from assistant import _config_checks
from assistant._yaml import format_path, shown_key
from assistant.act.registry import slugify
from assistant.config import (
    INLINE_TOKEN,
    ConfigError,
    DeviceSettings,
    MiioDeviceSettings,
    Secret,
    Settings,
    VirtualDeviceSettings,
    default_config_path,
    load_config,
    parse_config,
    resolve_control_socket,
    resolve_state_dir,
)

TOKEN = "0123456789abcdef0123456789ABCDEF"
SECRET_WORDS = ("hunter2-sesame", "deadbeefcafe", "s3cr3t-api-key", "creds-open-sesame")

FULL = """\
state_dir: state
language: en
site:
  name: kitchen-hub
  area: cooking room
areas:
  - name: Kitchen
    floor: ground
    aliases: [cooking room]
  - name: Hall
devices:
  - name: Ceiling light
    area: kitchen
    aliases: [big light]
    sensitive: false
    miio:
      host: 192.168.1.20
      token: !secret lamp_token
      model: yeelink.light.ceiling1
  - name: Hall fan
    area: HALL
    exposed: false
    miio: {host: fan.lan, token: !env FAN_TOKEN, port: 54322}
  - name: Demo lamp
    virtual: {model: yeelink.light.color1, host: 127.0.0.2, port: 54400}
miio:
  spec_dirs: [specs, /opt/specs]
  deadline: 1.5
  poll_interval: 10
control:
  socket: run/control.sock
logging:
  level: debug
"""


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    """Write ``text`` to ``path`` with ``mode`` and return the path."""
    path.write_text(dedent(text), encoding="utf-8")
    path.chmod(mode)
    return path


def problems_of(text: str, **kwargs: object) -> list[str]:
    """Parse ``text`` (source ``c.yaml``) expecting a ConfigError; return its problems."""
    kwargs.setdefault("environ", {})
    with pytest.raises(ConfigError) as caught:
        parse_config(dedent(text), source="c.yaml", **kwargs)  # type: ignore[arg-type]
    assert caught.value.problems, "a ConfigError always carries problems"
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def one_problem(text: str, **kwargs: object) -> str:
    """Like :func:`problems_of`, for a text with exactly one problem."""
    problems = problems_of(text, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


DEVICE = "devices:\n  - name: Lamp\n    miio: {host: 10.0.0.2, token: '" + TOKEN + "'}\n"


# --- valid configurations ----------------------------------------------------------------


def test_full_config(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", f"lamp_token: '{TOKEN}'\n")
    config = write(tmp_path / "config.yaml", FULL, mode=0o644)
    settings = load_config(config, environ={"FAN_TOKEN": TOKEN.lower()})

    assert settings.state_dir == tmp_path / "state"
    assert settings.site.name == "kitchen-hub"
    assert settings.site.area == "cooking room"
    assert [area.name for area in settings.areas] == ["Kitchen", "Hall"]
    assert settings.areas[0].floor == "ground"
    assert settings.areas[0].aliases == ("cooking room",)
    lamp, fan, demo = settings.devices
    assert lamp.miio is not None and lamp.virtual is None
    assert lamp.miio.token == Secret(TOKEN)
    assert lamp.miio.token.reveal() == TOKEN
    assert (lamp.miio.host, lamp.miio.port, lamp.miio.model) == (
        "192.168.1.20",
        54321,
        "yeelink.light.ceiling1",
    )
    assert lamp.aliases == ("big light",) and lamp.exposed and not lamp.sensitive
    assert fan.miio is not None and fan.miio.token.reveal() == TOKEN.lower()
    assert fan.miio.port == 54322 and not fan.exposed
    assert demo.virtual == VirtualDeviceSettings(
        model="yeelink.light.color1", host="127.0.0.2", port=54400
    )
    assert settings.miio.spec_dirs == (tmp_path / "specs", Path("/opt/specs"))
    assert settings.miio.deadline == 1.5
    assert settings.miio.poll_interval == 10.0
    assert settings.control.socket == tmp_path / "run" / "control.sock"
    assert settings.logging.level == "DEBUG"


@pytest.mark.parametrize("text", ["", "# nothing here\n", "---\n", "{}\n"])
def test_empty_config_is_an_empty_home(text: str) -> None:
    settings = parse_config(text)
    assert settings == Settings()
    assert settings.devices == () and settings.areas == ()
    assert settings.language == "en" and settings.site.name == "default"
    assert settings.miio.deadline == 2.0 and settings.miio.poll_interval == 30.0
    assert settings.logging.level == "INFO"


def test_empty_values_mean_defaults() -> None:
    settings = parse_config("site:\nlanguage:\nareas:\ndevices:\nmiio:\nlogging:\n")
    assert settings == Settings()


def test_settings_are_frozen_hashable_and_picklable(tmp_path: Path) -> None:
    settings = parse_config(DEVICE, base_dir=tmp_path)
    assert hash(settings) == hash(parse_config(DEVICE, base_dir=tmp_path))
    copy = pickle.loads(pickle.dumps(settings))
    assert copy == settings and hash(copy) == hash(settings)
    with pytest.raises(ValidationError):
        settings.language = "de"  # type: ignore[misc]


def test_yaml_1_2_keeps_on_no_yes_as_strings() -> None:
    text = """\
    site: {name: off}
    areas: [{name: on, aliases: [yes]}]
    devices:
      - name: no
        area: ON
        virtual: {model: n}
    """
    settings = parse_config(dedent(text))
    assert settings.site.name == "off"
    assert settings.areas[0].name == "on" and settings.areas[0].aliases == ("yes",)
    assert settings.devices[0].name == "no" and settings.devices[0].area == "ON"


def test_plain_string_token_becomes_a_secret() -> None:
    token = parse_config(DEVICE).devices[0].miio.token  # type: ignore[union-attr]
    assert isinstance(token, Secret) and token.reveal() == TOKEN
    model = MiioDeviceSettings(host="lamp", token=TOKEN)  # type: ignore[arg-type]
    assert isinstance(model.token, Secret)


def test_anchors_and_merge_keys() -> None:
    text = f"""\
    devices:
      - name: A
        miio: &m {{host: 10.0.0.9, token: '{TOKEN}'}}
      - name: B
        miio:
          <<: *m
          host: 10.0.0.10
    """
    first, second = parse_config(dedent(text)).devices
    assert second.miio is not None and first.miio is not None
    assert second.miio.host == "10.0.0.10" and second.miio.token == first.miio.token


def test_log_level_is_case_insensitive() -> None:
    assert parse_config("logging: {level: warning}").logging.level == "WARNING"
    assert one_problem("logging: {level: loud}") == (
        "c.yaml:1:18: logging.level: expected 'DEBUG', 'INFO', 'WARNING' or 'ERROR'"
    )


# --- YAML-level problems -----------------------------------------------------------------


def test_syntax_error_position() -> None:
    assert one_problem("areas:\n  - name: [Kitchen\n  - name: Hall\n") == (
        "c.yaml:3:9: <syntax>: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence at line 2)"
    )
    assert one_problem("language: en\nsite: a: b\n") == (
        "c.yaml:2:8: <syntax>: mapping values are not allowed here"
    )


def test_tab_indentation_is_a_syntax_error() -> None:
    assert one_problem("areas:\n\t- name: x\n").startswith("c.yaml:2:1: <syntax>: ")


def test_duplicate_keys_report_every_duplicate() -> None:
    text = """\
    language: en
    devices:
      - name: Lamp
        name: Lamp 2
        virtual: {model: m, model: n}
    language: de
    """
    assert problems_of(text) == [
        "c.yaml:4:5: devices[0].name: duplicate key 'name'",
        "c.yaml:5:25: devices[0].virtual.model: duplicate key 'model'",
        "c.yaml:6:1: language: duplicate key 'language'",
    ]


def test_unknown_tag() -> None:
    assert one_problem("language: !lang en\n") == "c.yaml:1:11: language: unknown tag '!lang'"


def test_more_than_one_document_is_refused() -> None:
    assert one_problem("language: en\n---\nlanguage: de\n").startswith("c.yaml:2:1: <syntax>: ")


def test_unreadable_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert caught.value.problems == [
        f"{missing}: cannot read the configuration: No such file or directory"
    ]
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert len(caught.value.problems) == 1 and str(tmp_path) in caught.value.problems[0]


# --- schema problems -----------------------------------------------------------------------


def test_unknown_key_is_reported_at_the_key() -> None:
    text = """\
    devices:
      - name: Lamp
        miio:
          host: 10.0.0.2
          tokn: abc
    """
    assert problems_of(text) == [
        "c.yaml:4:7: devices[0].miio.token: field required",
        "c.yaml:5:7: devices[0].miio.tokn: unknown key 'tokn' (did you mean 'token'?)",
    ]


def test_unknown_top_level_key() -> None:
    assert one_problem("language: en\nvoices: piper\n") == (
        "c.yaml:2:1: voices: unknown key 'voices' (did you mean 'voice'?)"
    )


def test_missing_key_is_reported_at_the_parent_mapping() -> None:
    text = """\
    areas:
      - floor: ground
        aliases: [x]
    """
    assert one_problem(text) == "c.yaml:2:5: areas[0].name: field required"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("language: 3", "c.yaml:1:11: language: expected a string"),
        ("language:\n  - en", "c.yaml:2:3: language: expected a string"),
        ("site: kitchen", "c.yaml:1:7: site: expected a mapping"),
        ("devices: {name: x}", "c.yaml:1:10: devices: expected a list"),
        ("areas: [Kitchen]", "c.yaml:1:9: areas[0]: expected a mapping"),
        ("miio: {deadline: '2'}", "c.yaml:1:18: miio.deadline: expected a number"),
        ("miio: {deadline: true}", "c.yaml:1:18: miio.deadline: expected a number"),
        ("miio: {spec_dirs: [3]}", "c.yaml:1:20: miio.spec_dirs[0]: expected a path"),
        ("miio: {spec_dirs: ['']}", "c.yaml:1:20: miio.spec_dirs[0]: must not be empty"),
        ("areas: [{name: ''}]", "c.yaml:1:16: areas[0].name: must not be empty"),
        (
            "areas: [{name: }]",
            "c.yaml:1:10: areas[0].name: expected a string, but the value is empty",
        ),
        ("[1, 2]", "c.yaml:1:1: <root>: expected a mapping"),
    ],
)
def test_wrong_types(text: str, expected: str) -> None:
    assert one_problem(text + "\n") == expected


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("port", "'54321'", "expected a whole number"),
        ("port", "54321.5", "expected a whole number"),
        ("port", "0", "must be at least 1"),
        ("port", "65536", "must be at most 65535"),
        ("host", "'bad host'", "expected an IPv4 address or a hostname"),
        ("host", "300.1.1.1", "expected an IPv4 address or a hostname"),
        ("host", "-lamp.lan", "expected an IPv4 address or a hostname"),
        ("model", "7", "expected a string"),
    ],
)
def test_miio_device_field_problems(field: str, value: str, message: str) -> None:
    text = f"devices:\n  - name: Lamp\n    miio:\n      token: '{TOKEN}'\n      host: h\n"
    text = text.replace("      host: h\n", "") if field == "host" else text
    text += f"      {field}: {value}\n"
    expected_line = text.count("\n")
    where = f"c.yaml:{expected_line}:{9 + len(field)}"
    assert one_problem(text) == f"{where}: devices[0].miio.{field}: {message}"


@pytest.mark.parametrize("host", ["10.0.0.2", "lamp", "lamp.lan", "my-lamp.home.arpa", "lamp.lan."])
def test_good_hosts(host: str) -> None:
    text = f"devices: [{{name: L, miio: {{host: {host}, token: '{TOKEN}'}}}}]"
    assert parse_config(text).devices[0].miio.host == host  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.1", "must be at least 0.2"),
        ("31", "must be at most 30.0"),
    ],
)
def test_deadline_bounds(value: str, message: str) -> None:
    assert one_problem(f"miio:\n  deadline: {value}\n") == f"c.yaml:2:13: miio.deadline: {message}"


def test_poll_interval_bound_and_int_accepted() -> None:
    assert one_problem("miio: {poll_interval: 0.5}") == (
        "c.yaml:1:23: miio.poll_interval: must be at least 1.0"
    )
    assert parse_config("miio: {poll_interval: 5, deadline: 3}").miio.poll_interval == 5.0


def test_bool_fields_are_strict_with_a_yaml_1_2_hint() -> None:
    text = "devices:\n  - name: Lamp\n    virtual: {model: m}\n    exposed: yes\n    sensitive: 1\n"
    assert problems_of(text) == [
        "c.yaml:4:14: devices[0].exposed: expected true or false "
        "(in YAML 1.2, yes/no/on/off are strings)",
        "c.yaml:5:16: devices[0].sensitive: expected true or false",
    ]


def test_token_must_be_32_hex_digits() -> None:
    bad = "xyz0123456789abcdef0123456789abcd"
    text = f"devices:\n  - name: Lamp\n    miio: {{host: lamp, token: '{bad}'}}\n"
    assert one_problem(text) == (
        "c.yaml:3:31: devices[0].miio.token: a miio token must be exactly 32 hexadecimal digits"
    )


def test_unquoted_numeric_token_asks_for_quotes() -> None:
    text = "devices:\n  - name: Lamp\n    miio: {host: lamp, token: 1234}\n"
    assert one_problem(text) == (
        "c.yaml:3:31: devices[0].miio.token: expected a string (in quotes) or a secret"
    )


def test_virtual_device_checks() -> None:
    text = """\
    devices:
      - name: A
        virtual: {host: 127.0.0.1}
      - name: B
        virtual: {model: m, host: 192.168.1.5, port: 70000}
      - name: C
        virtual: {model: m, host: localhost}
    """
    assert problems_of(text) == [
        "c.yaml:3:14: devices[0].virtual.model: field required",
        "c.yaml:5:31: devices[1].virtual.host: must be an IPv4 address in 127.0.0.0/8",
        "c.yaml:5:50: devices[1].virtual.port: must be at most 65535",
        "c.yaml:7:31: devices[2].virtual.host: must be an IPv4 address in 127.0.0.0/8",
    ]


def test_a_device_needs_exactly_one_transport() -> None:
    text = f"""\
    devices:
      - name: Neither
      - name: Both
        virtual: {{model: m}}
        miio: {{host: lamp, token: '{TOKEN}'}}
      - name: Both and broken
        virtual: {{model: m}}
        miio: {{host: lamp, token: '{TOKEN}', port: 0}}
    """
    assert problems_of(text) == [
        "c.yaml:2:5: devices[0]: a device needs exactly one of: miio, virtual, mqtt",
        "c.yaml:3:5: devices[1]: a device needs exactly one of: miio, virtual, mqtt",
        "c.yaml:6:5: devices[2]: a device needs exactly one of: miio, virtual, mqtt",
        "c.yaml:8:73: devices[2].miio.port: must be at least 1",
    ]
    with pytest.raises(ValueError, match="exactly one of"):
        DeviceSettings(name="x")


def test_unknown_area() -> None:
    text = """\
    site: {area: Attic}
    areas:
      - name: Kitchen
        aliases: [Cooking room]
      - name: Hall
    devices:
      - name: Lamp
        area: cooking ROOM
        virtual: {model: m}
      - name: Fan
        area: Garage
        virtual: {model: m}
    """
    assert problems_of(text) == [
        "c.yaml:1:14: site.area: unknown area 'Attic'; known: Hall, Kitchen",
        "c.yaml:11:11: devices[1].area: unknown area 'Garage'; known: Hall, Kitchen",
    ]


def test_floors_with_aliases_and_areas_on_them() -> None:
    text = """\
    floors:
      - {name: Ground floor, aliases: [downstairs]}
      - {name: First floor, aliases: [upstairs, Top floor]}
    areas:
      - {name: Kitchen, floor: DOWNSTAIRS}
      - {name: Bedroom, floor: First floor}
      - {name: Attic, floor: second floor}
    """
    assert problems_of(text) == [
        "c.yaml:7:26: areas[2].floor: unknown floor 'second floor'; known: First floor, "
        "Ground floor"
    ]
    settings = parse_config(dedent(text).replace("second floor", "top floor"))
    assert [(f.name, f.aliases) for f in settings.floors] == [
        ("Ground floor", ("downstairs",)),
        ("First floor", ("upstairs", "Top floor")),
    ]


def test_without_a_floors_list_an_area_names_its_floor() -> None:
    settings = parse_config("areas: [{name: Kitchen, floor: Basement}]")
    assert settings.floors == () and settings.areas[0].floor == "Basement"


def test_floor_names_are_unique_and_aliases_do_not_shadow_names() -> None:
    text = "floors: [{name: Ground}, {name: First, aliases: [ground]}]"
    assert one_problem(text) == (
        "c.yaml:1:50: floors[1].aliases[0]: alias 'ground' is already the name of floor 'Ground'"
    )


def test_unknown_area_without_any_areas() -> None:
    assert one_problem("devices: [{name: L, area: Den, virtual: {model: m}}]") == (
        "c.yaml:1:27: devices[0].area: unknown area 'Den'; no areas are defined"
    )


def test_names_are_unique_and_aliases_do_not_shadow_names() -> None:
    text = """\
    areas:
      - name: Kitchen
      - name: kitchen
      - name: Hall
        aliases: [KITCHEN]
    devices:
      - name: Lamp
        virtual: {model: m}
      - name: LAMP
        virtual: {model: m}
      - name: Fan
        aliases: [lamp, breeze]
        virtual: {model: m}
      - name: Heater
        aliases: [breeze]
        virtual: {model: m}
    """
    assert problems_of(text) == [
        "c.yaml:3:11: areas[1].name: duplicate area name 'kitchen' (areas[0])",
        "c.yaml:5:15: areas[2].aliases[0]: alias 'KITCHEN' is already the name of area 'Kitchen'",
        "c.yaml:9:11: devices[1].name: duplicate device name 'LAMP' (devices[0])",
        "c.yaml:12:15: devices[2].aliases[0]: alias 'lamp' is already the name of device 'Lamp'",
    ]


def test_names_must_not_share_an_id_after_slugging() -> None:
    text = """\
    areas:
      - name: Living room
      - name: Living-Room
      - name: living room
    devices:
      - name: Kitchen light
        virtual: {model: m}
      - name: Kitchen Light!
        virtual: {model: m}
      - name: Hall lamp
        miio: {host: lamp, token: !env T}
      - name: hall_lamp
        virtual: {model: m}
    """
    assert problems_of(text, environ={"T": TOKEN}) == [
        "c.yaml:3:11: areas[1].name: 'Living-Room' would share the id 'living_room' "
        "with areas[0] ('Living room'); rename one",
        "c.yaml:4:11: areas[2].name: duplicate area name 'living room' (areas[0])",
        "c.yaml:8:11: devices[1].name: 'Kitchen Light!' would share the id 'kitchen_light' "
        "with devices[0] ('Kitchen light'); rename one",
        "c.yaml:12:11: devices[3].name: 'hall_lamp' would share the id 'hall_lamp' "
        "with devices[2] ('Hall lamp'); rename one",
    ]


@pytest.mark.parametrize(
    ("first", "second"),
    [("客厅", "卧室"), ("Café", "Cafe"), ("!!", "??"), ("Straße", "Strasse"), ("A  B", "a_b")],
)
def test_id_collisions_follow_the_runtime_slugify(first: str, second: str) -> None:
    text = f"devices:\n  - {{name: '{first}', virtual: {{model: m}}}}\n"
    text += f"  - {{name: '{second}', virtual: {{model: m}}}}\n"
    slug = slugify(second)
    if first.casefold() == second.casefold():
        assert one_problem(text) == (
            f"c.yaml:3:12: devices[1].name: duplicate device name '{second}' (devices[0])"
        )
    elif slugify(first) != slug:
        assert len(parse_config(text).devices) == 2
    else:
        assert one_problem(text) == (
            f"c.yaml:3:12: devices[1].name: '{second}' would share the id '{slug}' "
            f"with devices[0] ('{first}'); rename one"
        )


def test_language_needs_sentences_and_responses() -> None:
    assert parse_config("language: en").language == "en"
    assert one_problem("language: de\n") == (
        "c.yaml:1:11: language: unsupported language; supported: en"
    )
    assert one_problem("language: ../responses/en\n") == (
        "c.yaml:1:11: language: unsupported language; supported: en"
    )


def test_supported_languages_need_both_sentences_and_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = {"en": ["a.yaml"], "fr": [], "xx": ["a.yaml"], "de": ["a.txt"]}
    for language, files in folders.items():
        (tmp_path / language).mkdir()
        for name in files:
            (tmp_path / language / name).write_text("responses: {}\n")
    (tmp_path / "nl.yaml").write_text("")
    monkeypatch.setattr(_config_checks, "RESPONSES_DIR", tmp_path)
    _config_checks.supported_languages.cache_clear()
    try:
        assert _config_checks.supported_languages() == ("en",)
    finally:
        _config_checks.supported_languages.cache_clear()


def test_virtual_ports_may_be_zero_but_not_shared() -> None:
    text = """\
    devices:
      - {name: A, virtual: {model: m, port: 54400}}
      - {name: B, virtual: {model: m, host: 127.0.0.1, port: 54400}}
      - {name: C, virtual: {model: m, host: 127.0.0.2, port: 54400}}
      - {name: D, virtual: {model: m, port: 0}}
      - {name: E, virtual: {model: m, port: 0}}
      - {name: F, virtual: {model: m}}
      - {name: G, virtual: {model: m, port: -1}}
      - {name: H, virtual: {model: m, host: 127.0.0.2, port: 54400}}
    """
    assert problems_of(text) == [
        "c.yaml:3:58: devices[1].virtual.port: 127.0.0.1:54400 is already used by devices[0]; "
        "pick another port or 0",
        "c.yaml:8:41: devices[6].virtual.port: must be at least 0",
        "c.yaml:9:58: devices[7].virtual.port: 127.0.0.2:54400 is already used by devices[2]; "
        "pick another port or 0",
    ]
    ok = text.replace("port: 54400}}\n      - {name: C", "port: 54401}}\n      - {name: C")
    ok = ok.replace("port: -1", "port: 65535").replace(
        "H, virtual: {model: m, host: 127.0.0.2", "H, virtual: {model: m, host: 127.0.0.3"
    )
    settings = parse_config(dedent(ok))
    ports = [device.virtual.port for device in settings.devices]  # type: ignore[union-attr]
    assert ports == [54400, 54401, 54400, 0, 0, None, 65535, 54400]


def test_all_problems_are_collected_in_file_order() -> None:
    text = """\
    language: 5
    devices:
      - name: Lamp
        area: Nowhere
        miio: {host: 'a b', token: short}
    logging: {level: LOUD}
    extra: 1
    """
    problems = problems_of(text)
    assert [problem.split(": ")[1] for problem in problems] == [
        "language",
        "devices[0].area",
        "devices[0].miio.host",
        "devices[0].miio.token",
        "logging.level",
        "extra",
    ]


# --- secrets ---------------------------------------------------------------------------------


SECRET_DEVICE = "devices:\n  - name: Lamp\n    miio: {host: lamp, token: !secret lamp}\n"


def test_secret_from_secrets_file(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", f"lamp: '{TOKEN}'\n")
    config = write(tmp_path / "config.yaml", SECRET_DEVICE)
    assert load_config(config).devices[0].miio.token.reveal() == TOKEN  # type: ignore[union-attr]


def test_secret_keeps_its_source_text(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", "lamp: 01234567890123456789012345678901\n")
    config = write(tmp_path / "config.yaml", SECRET_DEVICE)
    token = load_config(config).devices[0].miio.token  # type: ignore[union-attr]
    assert token.reveal() == "01234567890123456789012345678901"


def test_secrets_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    secrets = write(tmp_path / "secrets.yaml", f"lamp: '{TOKEN}'\n", mode=0o644)
    second = SECRET_DEVICE.replace("devices:\n", "").replace("Lamp", "Lamp 2")
    config = write(tmp_path / "config.yaml", SECRET_DEVICE + second)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.problems == [
        f"{config}:3:31: devices[0].miio.token: this !secret cannot be resolved: "
        f"{secrets} is readable by group/other (mode 0644); run: chmod 600 {secrets}"
    ]
    secrets.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config(config)
    secrets.chmod(0o600)
    assert len(load_config(config).devices) == 2


def test_missing_secret_name(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", f"other: '{TOKEN}'\n")
    config = write(tmp_path / "my.yaml", SECRET_DEVICE)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.problems == [
        f"{config}:3:31: devices[0].miio.token: this !secret is not defined in secrets.yaml"
    ]


def test_missing_secrets_file(tmp_path: Path) -> None:
    config = write(tmp_path / "config.yaml", SECRET_DEVICE)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    [problem] = caught.value.problems
    assert problem.startswith(
        f"{config}:3:31: devices[0].miio.token: this !secret cannot be resolved"
    )
    assert str(tmp_path / "secrets.yaml") in problem


def test_broken_secrets_file_does_not_echo_it(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", "lamp: 'hunter2-sesame\nfan: [\n")
    config = write(tmp_path / "config.yaml", SECRET_DEVICE)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert "invalid YAML" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_env_secret() -> None:
    text = "devices: [{name: L, miio: {host: lamp, token: !env LAMP_TOKEN}}]"
    settings = parse_config(text, environ={"LAMP_TOKEN": TOKEN})
    assert settings.devices[0].miio.token == Secret(TOKEN)  # type: ignore[union-attr]
    assert one_problem(text) == (
        "c.yaml:1:47: devices[0].miio.token: this !env variable is not set"
    )


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIMO_TEST_TOKEN", TOKEN)
    text = "devices: [{name: L, miio: {host: lamp, token: !env MIMO_TEST_TOKEN}}]"
    assert parse_config(text).devices[0].miio.token.reveal() == TOKEN  # type: ignore[union-attr]


def test_credential_secret(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "lamp").write_text(TOKEN + "\n")
    text = "devices: [{name: L, miio: {host: lamp, token: !credential lamp}}]"
    settings = parse_config(text, environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert settings.devices[0].miio.token.reveal() == TOKEN  # type: ignore[union-attr]

    environ = {"CREDENTIALS_DIRECTORY": str(creds)}
    missing = one_problem(text.replace("lamp}", "fan}"), environ=environ)
    assert missing == (
        f"c.yaml:1:47: devices[0].miio.token: this !credential is not defined in {creds}"
    )
    no_dir = one_problem(text)
    assert no_dir.startswith(
        "c.yaml:1:47: devices[0].miio.token: this !credential is not available"
    )
    assert "CREDENTIALS_DIRECTORY" in no_dir
    bad_name = one_problem(text.replace("lamp}", "../lamp}"), environ=environ)
    assert bad_name == (
        "c.yaml:1:47: devices[0].miio.token: "
        "!credential needs a credential name (no '/', '.' or '..')"
    )


def test_secret_is_refused_where_a_plain_value_belongs() -> None:
    text = f"devices: [{{name: L, miio: {{host: !env HOST, token: '{TOKEN}'}}}}]"
    assert one_problem(text, environ={"HOST": "lamp"}) == (
        "c.yaml:1:34: devices[0].miio.host: expected a string; a secret is not allowed here"
    )


def test_secret_values_never_appear_in_problems(tmp_path: Path) -> None:
    words = dict(zip(("secret_a", "secret_b", "env", "cred"), SECRET_WORDS, strict=True))
    write(tmp_path / "secrets.yaml", f"a: {words['secret_a']}\nb: '{words['secret_b']}'\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "key").write_text(words["cred"])
    environ = {"CREDENTIALS_DIRECTORY": str(creds), "API": words["env"]}
    configs = [
        # wrong-typed secrets: tokens that are not 32 hex digits
        "devices: [{name: L, miio: {host: lamp, token: !secret a}}]",
        "devices: [{name: L, miio: {host: lamp, token: !env API}}]",
        "devices: [{name: L, miio: {host: lamp, token: !credential key}}]",
        # secrets where plain values belong
        "devices: [{name: !secret a, area: !env API, virtual: {model: !secret b}}]",
        "devices: [{name: L, exposed: !env API, virtual: {model: m, port: !credential key}}]",
        "areas: [{name: !secret a, aliases: [!env API]}]\nlanguage: !secret b",
        "devices: [{name: L, aliases: [!credential key],"
        " miio: {host: !env API, token: !secret b}}]",
        "miio: {deadline: !secret a, spec_dirs: [!env API]}\nlogging: {level: !credential key}",
        "state_dir: !secret b\ncontrol: {socket: !env API}\nsite: {area: !secret a}",
        "devices: [{name: L, miio: {host: lamp, token: !secret b}}]\n!env API: 1",
    ]
    for text in configs:
        config = write(tmp_path / "config.yaml", text)
        with pytest.raises(ConfigError) as caught:
            load_config(config, environ=environ)
        rendered = "\n".join([str(caught.value), repr(caught.value), *caught.value.problems])
        for word in SECRET_WORDS:
            assert word not in rendered, (text, rendered)


def test_secret_values_never_appear_in_settings_repr(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", f"lamp_token: '{TOKEN}'\n")
    config = write(tmp_path / "config.yaml", FULL)
    settings = load_config(config, environ={"FAN_TOKEN": TOKEN.lower()})
    dumped = repr(settings.model_dump())
    for text in (repr(settings), str(settings), settings.model_dump_json(), dumped):
        assert TOKEN not in text and TOKEN.lower() not in text
        assert "**********" in text


def test_secret_type() -> None:
    secret = Secret("hunter2-sesame")
    assert repr(secret) == str(secret) == f"{secret}" == "**********"
    assert secret.reveal() == "hunter2-sesame"
    assert secret == Secret("hunter2-sesame") and secret != Secret("other")
    assert secret != "hunter2-sesame"
    assert hash(secret) == hash(Secret("hunter2-sesame"))
    assert len({secret, Secret("hunter2-sesame")}) == 1
    assert pickle.loads(pickle.dumps(secret)) == secret
    with pytest.raises(TypeError):
        Secret(5)  # type: ignore[arg-type]


def test_token_shaped_text_is_never_echoed(tmp_path: Path) -> None:
    lower = "abcdef0123456789abcdef0123456789"
    write(tmp_path / "secrets.yaml", f"lamp: !!int {TOKEN}\nfan: !!bool {lower}\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    configs = [
        "devices: [{name: L, miio: {host: lamp, token: !!int %s}}]",
        "devices: [{name: L, miio: {host: lamp, token: !!float %s}}]",
        "devices: [{name: L, miio: {host: lamp, token: !!bool %s}}]",
        "devices: [{name: L, miio: {host: lamp, token: !!null %s}}]",
        "devices: [{name: L, miio: {host: lamp, token: !secret %s}}]",
        "devices: [{name: L, miio: {host: lamp, token: !env %s}}]",
        "devices: [{name: L, miio: {host: lamp, token: !credential %s}}]",
        "devices: [{name: L, miio: {host: lamp, token %s}}]",
        "devices: [{name: L, miio: {host: lamp, %s: x, %s: y}}]",
        "devices: [{name: L, miio: {host: lamp, token: !secret lamp}}]",
        "devices: [{name: L, miio: {host: lamp, token: !secret fan}}]",
    ]
    environ = {"CREDENTIALS_DIRECTORY": str(creds)}
    for template in configs:
        for token in (TOKEN, lower):
            text = template.replace("%s", token)
            config = write(tmp_path / "config.yaml", text)
            with pytest.raises(ConfigError) as caught:
                load_config(config, environ=environ)
            rendered = "\n".join([str(caught.value), repr(caught.value)])
            assert token not in rendered and token.lower() not in rendered, (text, rendered)


def test_wrongly_tagged_scalar_problem() -> None:
    text = f"devices:\n  - name: Lamp\n    miio: {{host: lamp, token: !!int {TOKEN}}}\n"
    assert one_problem(text) == "c.yaml:3:31: devices[0].miio.token: not a valid !!int"
    assert one_problem("devices: [{name: L, exposed: !!bool maybe, virtual: {model: m}}]") == (
        "c.yaml:1:30: devices[0].exposed: not a valid !!bool"
    )
    assert parse_config("site: {area: !!null ~}").site.area is None


def test_unknown_key_that_is_not_a_name_is_not_shown() -> None:
    text = f"devices:\n  - name: Lamp\n    miio: {{host: lamp, token {TOKEN}}}\n"
    assert problems_of(text) == [
        "c.yaml:3:11: devices[0].miio.token: field required",
        "c.yaml:3:24: devices[0].miio.<key>: unknown key",
    ]


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("tokn", "tokn"),
        ("living_room_ceiling_light_token_2", "living_room_ceiling_light_token_2"),
        ("token " + TOKEN, None),
        (TOKEN, None),
        ("abcdef0123456789abcdef0123456789", None),
        ("my_token_deadbeefcafe12", None),
        ("x" * 64, None),
    ],
)
def test_only_name_like_keys_are_shown(key: str, shown: str | None) -> None:
    assert shown_key(key) == shown
    assert format_path(("devices", 0, key)) == f"devices[0].{shown or '<key>'}"


def test_inline_token_warns_without_the_value(tmp_path: Path) -> None:
    warnings: list[str] = []
    text = DEVICE + "  - {name: Fan, miio: {host: fan, token: !env FAN}}\n"
    parse_config(text, source="c.yaml", environ={"FAN": TOKEN}, warn=warnings.append)
    assert warnings == [
        "c.yaml:3:35: devices[0].miio.token: "
        "written inline; keep it in secrets.yaml with !secret (see README)"
    ]
    config = write(tmp_path / "config.yaml", DEVICE)
    warnings.clear()
    load_config(config, warn=warnings.append)
    assert warnings == [f"{config}:3:35: devices[0].miio.token: {INLINE_TOKEN}"]
    assert parse_config(DEVICE).devices[0].name == "Lamp"


def test_inline_token_warns_even_when_the_config_has_problems() -> None:
    warnings: list[str] = []
    text = DEVICE.replace("10.0.0.2", "'bad host'")
    with pytest.raises(ConfigError):
        parse_config(text, source="c.yaml", warn=warnings.append)
    assert warnings == [f"c.yaml:3:37: devices[0].miio.token: {INLINE_TOKEN}"]
    assert TOKEN not in "".join(warnings)


# --- paths and defaults ---------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    config = write(
        tmp_path / "etc" / "c.yaml",
        """\
        state_dir: ../var/state
        miio: {spec_dirs: [specs, ~/more-specs]}
        control: {socket: /run/mimo.sock}
        """,
    )
    settings = load_config(config)
    assert settings.state_dir == tmp_path / "etc" / ".." / "var" / "state"
    home_specs = Path("~/more-specs").expanduser()
    assert settings.miio.spec_dirs == (tmp_path / "etc" / "specs", home_specs)
    assert settings.control.socket == Path("/run/mimo.sock")


def test_parse_config_resolves_against_cwd_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_config("state_dir: s").state_dir == tmp_path / "s"


def test_default_config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_config_path() == Path("/etc/mimo-assistant/config.yaml")
    (tmp_path / "config.yaml").write_text("")
    assert default_config_path() == Path("config.yaml")
    assert default_config_path().resolve() == tmp_path / "config.yaml"


def test_resolve_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = parse_config("state_dir: /var/lib/x")
    assert resolve_state_dir(explicit, {"STATE_DIRECTORY": "/other"}) == Path("/var/lib/x")
    empty = Settings()
    assert resolve_state_dir(empty, {"STATE_DIRECTORY": "/a:/b"}) == Path("/a")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_state_dir(empty, {}) == tmp_path / ".local/state/mimo-assistant"
    monkeypatch.setenv("STATE_DIRECTORY", "/from/env")
    assert resolve_state_dir(empty) == Path("/from/env")


def test_resolve_control_socket() -> None:
    assert resolve_control_socket(Settings(), {"STATE_DIRECTORY": "/s"}) == Path("/s/control.sock")
    settings = parse_config("control: {socket: /run/c.sock}")
    assert resolve_control_socket(settings, {}) == Path("/run/c.sock")


def test_state_dir_must_be_a_directory_if_it_exists(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    assert parse_config("state_dir: dir", base_dir=tmp_path).state_dir == tmp_path / "dir"
    assert parse_config("state_dir: new", base_dir=tmp_path).state_dir == tmp_path / "new"
    assert one_problem("state_dir: file\n", base_dir=tmp_path) == (
        "c.yaml:1:12: state_dir: exists but is not a directory"
    )


def test_secrets_file_value_must_be_a_string_and_keys_are_masked(tmp_path: Path) -> None:
    secrets = write(tmp_path / "secrets.yaml", f"lamp: [1]\n{TOKEN}: [2]\n")
    config = write(tmp_path / "config.yaml", SECRET_DEVICE)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.problems == [
        f"{config}:3:31: devices[0].miio.token: this !secret cannot be resolved: "
        f"{secrets}:1:7: lamp: a secret must be a string"
    ]
    write(tmp_path / "secrets.yaml", f"{TOKEN}: [2]\nlamp: x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.problems[0].endswith(f"{secrets}:1:35: <key>: a secret must be a string")


# --- voice and hubs --------------------------------------------------------------------------


def test_voice_and_hubs_defaults_listen_on_loopback_only() -> None:
    settings = parse_config("")
    assert settings.hubs.wyoming.host == "127.0.0.1" and settings.hubs.wyoming.port == 10700
    assert settings.hubs.satellites == ()
    vad = settings.voice.vad
    assert (vad.speech_seconds, vad.silence_seconds, vad.max_seconds) == (0.3, 1.0, 15.0)
    assert (vad.engine, vad.early_seconds) == ("silero", 0.3)
    assert settings.voice.stt.model is None and settings.voice.tts.voice is None
    assert settings.hubs.wyoming.max_connections == 16


def test_wyoming_max_connections_is_a_positive_count() -> None:
    assert parse_config("hubs: {wyoming: {max_connections: 4}}").hubs.wyoming.max_connections == 4
    assert one_problem("hubs: {wyoming: {max_connections: 0}}") == (
        "c.yaml:1:35: hubs.wyoming.max_connections: must be at least 1"
    )


def test_satellites() -> None:
    text = (
        "areas: [{name: Kitchen}]\n"
        "hubs:\n"
        "  satellites:\n"
        "    - {name: kitchen, uri: 'tcp://192.168.1.30:10700', area: Kitchen}\n"
    )
    (satellite,) = parse_config(text).hubs.satellites
    assert (satellite.name, satellite.uri, satellite.area) == (
        "kitchen",
        "tcp://192.168.1.30:10700",
        "Kitchen",
    )


@pytest.mark.parametrize("uri", ["http://hub:10700", "tcp://hub", "tcp://:10700", "hub:10700"])
def test_satellite_uri_must_be_tcp_host_port(uri: str) -> None:
    assert one_problem(f"hubs: {{satellites: [{{name: k, uri: '{uri}'}}]}}") == (
        "c.yaml:1:36: hubs.satellites[0].uri: expected tcp://HOST:PORT, e.g. "
        "tcp://192.168.1.30:10700"
    )


def test_hub_areas_must_exist() -> None:
    text = (
        "areas: [{name: Kitchen}]\n"
        "hubs:\n"
        "  wyoming: {area: Cellar}\n"
        "  satellites: [{name: k, uri: 'tcp://10.0.0.5:10700', area: Attic}]\n"
    )
    assert problems_of(text) == [
        "c.yaml:3:19: hubs.wyoming.area: unknown area 'Cellar'; known: Kitchen",
        "c.yaml:4:61: hubs.satellites[0].area: unknown area 'Attic'; known: Kitchen",
    ]


def test_vad_bounds() -> None:
    assert one_problem("voice: {vad: {silence_seconds: 0}}") == (
        "c.yaml:1:32: voice.vad.silence_seconds: must be more than 0.0"
    )


# --- mqtt ------------------------------------------------------------------------------------


def test_no_mqtt_section_means_no_broker() -> None:
    assert parse_config("").mqtt is None


def test_mqtt_section_with_a_secret_password() -> None:
    text = (
        "mqtt:\n"
        "  host: 127.0.0.1\n"
        "  username: assistant\n"
        "  password: !env MQTT_PASSWORD\n"
        "  tls: {ca_file: ca.pem}\n"
    )
    settings = parse_config(
        text, environ={"MQTT_PASSWORD": "broker-secret-1"}, base_dir=Path("/etc/x")
    )
    mqtt = settings.mqtt
    assert mqtt is not None and mqtt.password is not None
    assert mqtt.password.reveal() == "broker-secret-1"
    assert "broker-secret-1" not in repr(settings)
    assert mqtt.tls is not None and mqtt.tls.ca_file == Path("/etc/x/ca.pem")
    assert (mqtt.port, mqtt.prefix, mqtt.discovery_prefix) == (
        1883,
        "mimo-assistant",
        "homeassistant",
    )
    assert mqtt.zigbee2mqtt.base_topic == "zigbee2mqtt"


def test_mqtt_needs_a_host() -> None:
    assert one_problem("mqtt: {port: 1883}") == "c.yaml:1:7: mqtt.host: field required"
