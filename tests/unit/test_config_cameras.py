"""The ``cameras`` section: sources, defaults, checks across entries, passwords never shown."""

from __future__ import annotations

import pickle
from pathlib import Path
from textwrap import dedent

import pytest

from assistant.config import CameraSettings, ConfigError, Secret, load_config, parse_config

PASSWORD = "hunter2-camera"

HOME = """\
areas:
  - {name: Front door, aliases: [entrance]}
  - {name: Garage}
devices:
  - {name: Porch light, area: Front door, virtual: {model: yeelink.light.color4}}
mqtt: {host: 127.0.0.1}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(HOME + dedent(text), source="c.yaml", environ={})
    return caught.value.problems


def test_no_cameras_by_default() -> None:
    assert parse_config("").cameras == ()


def test_every_source_and_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text(f"door_cam: '{PASSWORD}'\n")
    (tmp_path / "secrets.yaml").chmod(0o600)
    config = tmp_path / "config.yaml"
    config.write_text(
        HOME
        + dedent(
            """\
            cameras:
              - name: Front door camera
                area: entrance
                aliases: [doorbell]
                snapshot_url: http://192.168.1.40/cgi-bin/snapshot.cgi
                username: admin
                password: !secret door_cam
              - {name: Drive, mjpeg_url: "https://cam.local:8443/video.mjpg", max_side: 512}
              - {name: Garage cam, area: Garage, rtsp_url: "rtsp://cam.local:554/h264", timeout: 3}
              - {name: Test pattern, file: media/pattern.mp4}
              - {name: Frigate yard, mqtt_topic: frigate/yard/person/snapshot}
            """
        )
    )
    cameras = load_config(config).cameras
    door, drive, garage, pattern, yard = cameras
    assert door.area == "entrance" and door.aliases == ("doorbell",)
    assert isinstance(door.snapshot_url, Secret)
    assert door.snapshot_url.reveal() == "http://192.168.1.40/cgi-bin/snapshot.cgi"
    assert door.username == "admin" and door.password == Secret(PASSWORD)
    assert (door.max_side, door.timeout) == (768, 5.0)
    assert drive.mjpeg_url == Secret("https://cam.local:8443/video.mjpg") and drive.max_side == 512
    assert garage.rtsp_url == Secret("rtsp://cam.local:554/h264") and garage.timeout == 3.0
    assert pattern.file == tmp_path / "media" / "pattern.mp4"  # relative to the config file
    assert yard.mqtt_topic == "frigate/yard/person/snapshot"
    sources = [c.source for c in cameras]
    assert sources == ["snapshot_url", "mjpeg_url", "rtsp_url", "file", "mqtt_topic"]
    assert PASSWORD not in repr(cameras) and PASSWORD not in door.model_dump_json()
    assert pickle.loads(pickle.dumps(door)) == door


def test_urls_with_a_password_are_never_shown() -> None:
    text = f'cameras: [{{name: Drive, rtsp_url: "rtsp://admin:{PASSWORD}@cam/live"}}]'
    camera = parse_config(HOME + text).cameras[0]
    assert camera.rtsp_url is not None and PASSWORD in camera.rtsp_url.reveal()
    assert PASSWORD not in repr(camera) and PASSWORD not in str(camera)
    assert PASSWORD not in camera.model_dump_json()


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        ("{name: A}", "cameras[0]: a camera needs exactly one of: snapshot_url, mjpeg_url, "),
        ('{name: A, snapshot_url: "http://a", file: a.mp4}', "cameras[0]: a camera needs exactly"),
        ('{name: A, snapshot_url: "rtsp://a/b"}', "snapshot_url: expected an http:// or https://"),
        ('{name: A, mjpeg_url: "http:///no-host"}', "mjpeg_url: expected an http:// or https://"),
        ('{name: A, rtsp_url: "http://a/b"}', "rtsp_url: expected an rtsp:// or rtsps:// URL"),
        ('{name: A, rtsp_url: "rtsp://a:0/b"}', "rtsp_url: expected an rtsp:// or rtsps:// URL"),
        ("{name: A, snapshot_url: 5}", "snapshot_url: expected a string (in quotes) or a secret"),
        ("{name: A, mqtt_topic: frigate/+/snapshot}", "an image topic takes no + or # wildcards"),
        ('{name: A, snapshot_url: "http://a", password: x}', "cameras[0]: a password needs a"),
        ("{name: A, file: a.mp4, username: u}", "username and password apply to URLs only"),
        ("{name: A, file: a.mp4, max_side: 32}", "cameras[0].max_side: must be at least 64"),
        ("{name: A, file: a.mp4, max_side: 5000}", "cameras[0].max_side: must be at most 4096"),
        ("{name: A, file: a.mp4, timeout: 0}", "cameras[0].timeout: must be more than 0"),
        ("{name: A, file: a.mp4, timeout: 61}", "cameras[0].timeout: must be at most 60"),
        ("{name: '', file: a.mp4}", "cameras[0].name: must not be empty"),
        ("{name: A, file: a.mp4, url: x}", "cameras[0].url: unknown key 'url'"),
        ("{name: A, file: a.mp4, area: Attic}", "unknown area 'Attic'; known: Front door, Garage"),
    ],
)
def test_bad_cameras_are_placed(camera: str, message: str) -> None:
    problems = problems_of(f"cameras:\n  - {camera}\n")
    assert len(problems) == 1, problems
    assert problems[0].startswith("c.yaml:8:") and message in problems[0], problems


def test_a_bad_url_is_never_echoed() -> None:
    problems = problems_of(f'cameras: [{{name: A, snapshot_url: "ftp://u:{PASSWORD}@a/s"}}]')
    assert len(problems) == 1 and PASSWORD not in problems[0]


def test_names_are_unique_and_no_device_s() -> None:
    problems = problems_of(
        """\
        cameras:
          - {name: Drive, file: a.mp4}
          - {name: drive, file: b.mp4}
          - {name: Porch light, file: c.mp4}
          - {name: Yard, file: d.mp4, aliases: [DRIVE, back yard]}
        """
    )
    assert problems == [
        "c.yaml:9:12: cameras[1].name: duplicate camera name 'drive' (cameras[0])",
        "c.yaml:10:12: cameras[2].name: 'Porch light' is already the name of device 'Porch light'",
        "c.yaml:11:41: cameras[3].aliases[0]: alias 'DRIVE' is already the name of camera 'Drive'",
    ]


def test_an_image_topic_needs_a_broker() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("cameras: [{name: Yard, mqtt_topic: frigate/yard/snapshot}]", source="c.yaml")
    assert caught.value.problems == [
        "c.yaml:1:36: cameras[0].mqtt_topic: mqtt_topic needs the mqtt section (a broker)"
    ]


def test_cross_checks_show_beside_type_errors() -> None:
    problems = problems_of(
        """\
        cameras:
          - {name: Drive, file: a.mp4, area: Attic}
          - {name: Yard, file: b.mp4, max_side: big}
        """
    )
    assert [p.split(": ", 2)[1] for p in problems] == ["cameras[0].area", "cameras[1].max_side"]


def test_settings_can_be_built_in_code() -> None:
    camera = CameraSettings(name="Hall", snapshot_url="http://127.0.0.1:8080/s.jpg")
    assert camera.source == "snapshot_url" and camera.snapshot_url == Secret(
        "http://127.0.0.1:8080/s.jpg"
    )
    with pytest.raises(ValueError, match="exactly one of"):
        CameraSettings(name="Hall")
