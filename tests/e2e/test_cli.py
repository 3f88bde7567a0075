"""The command line as a user runs it: subprocesses, the default demo home, a daemon."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.home import write_home

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def test_default_config_demo_home_say_twice(tmp_path):
    """The README's first command: the embedded demo home, nothing else running."""
    first = cli("say", "turn on the living room lamp")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "Turned on the living room lamp"
    second = cli("say", "--json", "is the living room lamp on?")
    assert second.returncode == 0, second.stderr
    result = json.loads(second.stdout)
    assert result["reply"].startswith("Yes, the living room lamp is on")
    assert result["intent"]["name"] == "HassGetState"
    assert result["source"] == "grammar"
    assert set(result["timings_ms"]) >= {"understand", "act", "total"}
    assert (tmp_path / "state" / "virtual").is_dir()  # STATE_DIRECTORY from conftest


def test_say_json_shape(tmp_path):
    config = write_home(tmp_path)
    out = cli("say", "-c", str(config), "--json", "turn off all the lights in the kitchen")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["text"] == "turn off all the lights in the kitchen"
    assert result["intent"] == {
        "name": "HassTurnOff",
        "slots": {"area": "kitchen", "domain": "light"},
    }
    assert {r["device"] for r in result["results"]} == {
        "virtual:kitchen_ceiling_light",
        "virtual:kitchen_counter_light",
    }
    assert all(r["ok"] and r["error"] is None for r in result["results"])
    assert result["reply"] == "Turned off the lights in the kitchen"


def test_say_that_cannot_be_done_exits_1(tmp_path):
    config = write_home(tmp_path)
    out = cli("say", "-c", str(config), "turn on the garage lamp")
    assert out.returncode == 1
    assert "garage" in out.stdout


def test_devices_table(tmp_path):
    config = write_home(tmp_path)
    out = cli("devices", "-c", str(config))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["NAME", "AREA", "KIND", "STATE", "AVAILABLE"]
    lamp = next(line for line in lines if line.startswith("Living room lamp"))
    assert "light" in lamp and lamp.rstrip().endswith("yes")
    assert len(lines) == 11


def test_check_config_reports_file_line_col(tmp_path):
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("lamp_token: not-a-hex-token-but-secret-0001\n")
    secrets.chmod(0o600)
    bad = tmp_path / "my.yaml"
    bad.write_text(
        "areas:\n"
        "  - {name: Kitchen}\n"
        "devices:\n"
        "  - name: Lamp\n"
        "    area: Kitchen\n"
        "    miio: {host: 192.168.1.20, token: !secret lamp_token, model: yeelink.light.color4}\n"
    )
    out = cli("check-config", "-c", str(bad))
    assert out.returncode == 2
    assert out.stderr.startswith(f"{bad}:6:")
    assert "devices[0].miio.token:" in out.stderr
    assert "not-a-hex-token-but-secret-0001" not in out.stderr + out.stdout
    good = cli("check-config", "-c", str(write_home(tmp_path / "good")))
    assert good.returncode == 0 and "OK" in good.stdout


def _wait_for_socket(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited: {proc.stderr.read()}")
        if path.exists():
            with socket.socket(socket.AF_UNIX) as sock:
                try:
                    sock.connect(str(path))
                    return
                except OSError:
                    pass
        time.sleep(0.05)
    raise AssertionError("daemon did not open its control socket")


@pytest.fixture
def daemon(tmp_path):
    config = write_home(tmp_path)
    log = open(tmp_path / "daemon.log", "w+")
    events = open(tmp_path / "events.jsonl", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "run", "--json", "-c", str(config)],
        cwd=ROOT,
        stdout=events,
        stderr=log,
        text=True,
    )
    proc.stderr = open(tmp_path / "daemon.log")  # for error messages
    sock = tmp_path / "state" / "control.sock"
    try:
        _wait_for_socket(sock, proc)
        yield config, sock, proc, tmp_path / "daemon.log"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        log.close()
        events.close()


def test_daemon_serves_say_over_the_control_socket(daemon):
    config, sock, proc, log = daemon
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    out = cli("say", "-c", str(config), "--json", "turn on the bedroom light")
    assert out.returncode == 0, out.stderr
    turn_id = json.loads(out.stdout)["turn_id"]
    assert f"[{turn_id}]" in log.read_text()  # the daemon ran this turn, not the CLI
    events = [json.loads(line) for line in (log.parent / "events.jsonl").read_text().splitlines()]
    mine = [e["type"] for e in events if e["turn_id"] == turn_id]
    assert mine[0] == "turn-start" and mine[-1] == "turn-end" and "intent" in mine
    # Garbage on the socket gets an error; the daemon keeps serving.
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(str(sock))
        raw.sendall(b"this is not json\n")
        answer = json.loads(raw.makefile().readline())
    assert answer["ok"] is False and "not JSON" in answer["error"]
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(str(sock))
        raw.sendall(b'{"op": "say", "text": "' + b"a" * 200_000 + b'"}\n')
        answer = json.loads(raw.makefile().readline())
    assert answer["ok"] is False and "larger than" in answer["error"]
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(str(sock))
        raw.sendall(b'{"op": "format the disk"}\n[1, 2]\n')
        replies = raw.makefile()
        assert "unknown op" in json.loads(replies.readline())["error"]
        assert "must be an object" in json.loads(replies.readline())["error"]
    out = cli("say", "-c", str(config), "is the bedroom light on")
    assert out.returncode == 0 and out.stdout.startswith("Yes"), out.stdout + out.stderr
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert not sock.exists()


def test_check_config_names_unknown_and_missing_models(tmp_path):
    bad = tmp_path / "models.yaml"
    bad.write_text(
        "devices:\n"
        "  - name: Toaster\n"
        "    virtual: {model: acme.toaster.t1}\n"
        "  - name: Lamp\n"
        "    miio: {host: 192.168.1.20, token: 00112233445566778899aabbccddeeff}\n"
    )
    out = cli("check-config", "-c", str(bad))
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert lines[0].startswith(
        f"{bad}:3:22: devices[0].virtual.model: no MIoT spec for model 'acme.toaster.t1'"
    )
    assert lines[1].startswith(f"{bad}:5:11: devices[1].miio: 'model' is required")
    assert "00112233445566778899aabbccddeeff" not in out.stderr


def test_debug_logs_never_show_a_token(tmp_path):
    from tests.integration.home import offline_hall_light

    config = write_home(tmp_path, offline_hall_light())
    out = cli("say", "-v", "-c", str(config), "turn on the lights in the kitchen")
    assert "DEBUG" in out.stderr  # the debug log really was on
    assert "hall light is not responding" in out.stdout
    assert "00112233445566778899aabbccddeeff" not in out.stdout + out.stderr


def test_a_second_daemon_refuses_before_starting_devices(daemon):
    config, sock, proc, log = daemon
    second = cli("run", "-c", str(config), timeout=30)
    assert second.returncode == 1
    assert "another daemon is already listening" in second.stderr
    assert "Traceback" not in second.stderr
    out = cli("say", "-c", str(config), "--local", "turn on the bedroom light")
    assert out.returncode == 1 and "daemon is running" in out.stderr
    assert proc.poll() is None  # the first one is untouched


def test_a_daemon_that_stops_answering_is_not_bypassed(daemon):
    """Once the request is sent, no answer is an error: the turn is never run twice."""
    config, sock, proc, log = daemon
    proc.send_signal(signal.SIGSTOP)
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import asyncio, sys; from pathlib import Path; "
                "from assistant.control import request; "
                f"asyncio.run(request(Path({str(sock)!r}), "
                "{'op': 'say', 'text': 'turn on the coffee machine'}, timeout=1))",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        proc.send_signal(signal.SIGCONT)
    assert out.returncode != 0 and "did not answer" in out.stderr
    assert "no-daemon" not in out.stderr


def test_check_config_json_failure(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("areas: [{name: Kitchen}]\nareas: []\n")
    out = cli("check-config", "--json", "-c", str(bad))
    assert out.returncode == 2
    result = json.loads(out.stdout)
    assert result["ok"] is False and result["problems"][0].startswith(f"{bad}:2:1: areas:")


def test_missing_default_config_is_explained(tmp_path):
    out = cli("devices", cwd=tmp_path)
    assert out.returncode == 2
    assert "pass -c FILE" in out.stderr and "Traceback" not in out.stderr


def test_check_config_warns_about_an_inline_token(tmp_path):
    config = tmp_path / "inline.yaml"
    config.write_text(
        "devices:\n"
        "  - name: Lamp\n"
        "    miio: {host: 192.168.1.20, token: 00112233445566778899aabbccddeeff,"
        " model: yeelink.light.color4}\n"
    )
    out = cli("check-config", "-c", str(config))
    assert out.returncode == 0
    assert f"warning: {config}:3:" in out.stderr and "written inline" in out.stderr
    assert "00112233445566778899aabbccddeeff" not in out.stderr + out.stdout


async def test_a_real_device_config_on_the_standard_port(tmp_path):
    """A user's config with a `miio:` device (standard port 54321, token from secrets.yaml)
    drives a device that is not part of the daemon: here a virtual lamp on 127.0.0.5."""
    import asyncio

    from integrations.miio.spec import load_spec
    from integrations.virtual import VirtualMiioDevice

    token = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    lamp = VirtualMiioDevice(
        load_spec("yeelink.light.color4"), token=token, host="127.0.0.5", port=54321, did=4242
    )
    await lamp.start()
    try:
        (tmp_path / "secrets.yaml").write_text(f"desk_token: {token}\n")
        (tmp_path / "secrets.yaml").chmod(0o600)
        config = tmp_path / "home.yaml"
        config.write_text(
            "areas: [{name: Study}]\n"
            "devices:\n"
            "  - name: Desk lamp\n"
            "    area: Study\n"
            "    miio: {host: 127.0.0.5, token: !secret desk_token, model: yeelink.light.color4}\n"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "assistant",
            "say",
            "-v",
            "-c",
            str(config),
            "set the desk lamp to 40%",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await lamp.stop()
    assert proc.returncode == 0, stderr.decode()
    assert stdout.decode().strip() == "The desk lamp is set to 40%"
    assert any(r.method == "set_properties" for r in lamp.requests)
    brightness = lamp.spec.binding("brightness").write
    assert lamp.value(*brightness.key) == 40
    assert token not in stdout.decode() + stderr.decode()


def test_demo_speaks_to_the_demo_home(tmp_path):
    """The README's first command after the install: spoken commands over Wyoming."""
    out = cli("demo", "--json", "--out", str(tmp_path / "replies"), timeout=120)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(records) == 5
    for record in records:
        assert record["error"] is None
        assert record["intent"] is not None, record
        assert all(r["ok"] for r in record["results"]), record
        assert Path(record["reply_wav"]).stat().st_size > 10_000
    assert records[0]["reply"] == "Turned on the living room lamp"
    assert records[2]["reply"] == "No, the air purifier is off"
    assert {"stt", "understand", "act", "first_audio"} <= set(records[0]["timings_ms"])


def test_listen_to_a_wav_file(tmp_path):
    import asyncio

    from assistant.audio import write_wav
    from assistant.demo import speak_to_pcm
    from assistant.messages import AudioFormat
    from assistant.speak.tts import Speaker

    async def make() -> None:
        speaker = Speaker()
        await speaker.load()
        pcm = await speak_to_pcm(speaker, "Turn on the coffee machine.")
        # 44.1 kHz stereo, as a phone would record it: the daemon converts
        from assistant.audio import convert

        fmt = AudioFormat(44100, 2, 2)
        write_wav(tmp_path / "cmd.wav", convert(pcm, AudioFormat(16000, 2, 1), fmt), fmt)

    asyncio.run(make())
    config = write_home(tmp_path / "home")
    reply = tmp_path / "reply.wav"
    out = cli(
        "listen", "-c", str(config), "--json", "--reply-wav", str(reply), str(tmp_path / "cmd.wav")
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["reply"] == "Turned on the coffee machine"
    assert result["results"][0]["device"] == "virtual:coffee_machine" and result["results"][0]["ok"]
    assert reply.stat().st_size > 10_000


def test_listen_refuses_a_file_that_is_not_a_wav(tmp_path):
    fake = tmp_path / "command.wav"
    fake.write_text("turn on the lights\n")
    out = cli("listen", "-c", str(write_home(tmp_path / "home")), str(fake))
    assert out.returncode == 1
    assert "command.wav: not a WAV file" in out.stderr and "Traceback" not in out.stderr


def test_a_daemon_without_a_sound_card_still_serves(tmp_path):
    """hubs.local_mic on a machine with no microphone: one clear error, the rest works."""
    config = write_home(tmp_path, local_mic=True)
    log = tmp_path / "daemon.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "run", "-c", str(config)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        _wait_for_socket(tmp_path / "state" / "control.sock", proc)
        out = cli("say", "-c", str(config), "turn on the coffee machine")
        assert out.returncode == 0 and out.stdout.strip() == "Turned on the coffee machine"
        text = log.read_text()
        assert "hubs.local_mic:" in text and "Traceback" not in text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def test_check_config_names_an_unknown_wake_word(tmp_path):
    bad = tmp_path / "wake.yaml"
    bad.write_text(
        "hubs:\n"
        "  wyoming: {wake_word: okay_nabo}\n"
        "  satellites:\n"
        "    - {name: hall, uri: 'tcp://127.0.0.1:10700', wake_word: /nowhere/hey_you.tflite}\n"
    )
    out = cli("check-config", "-c", str(bad))
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert lines[0].startswith(f"{bad}:2:") and "unknown wake word 'okay_nabo'" in lines[0]
    assert "okay_nabu" in lines[0]  # the bundled ones are named
    assert "hubs.satellites[0].wake_word: no wake word model file" in lines[1]
    ok = tmp_path / "ok.yaml"
    ok.write_text("hubs:\n  wyoming: {wake_word: Hey Jarvis}\n")
    assert cli("check-config", "-c", str(ok)).returncode == 0


def test_say_with_nothing_to_say_is_a_usage_error(tmp_path):
    out = cli("say", "  ")
    assert out.returncode == 2
    assert "nothing to say" in out.stderr and out.stdout == ""
