"""A private Mosquitto for the test session: password auth, an ACL and a TLS listener.

Load it from a test module with ``pytest_plugins = ["tests.mqtt_broker"]`` and ask for the
``mqtt_broker`` fixture. The broker listens on free 127.0.0.1 ports, keeps nothing on disk
(``persistence false``) and is stopped by its pid when the session ends. Without a
``mosquitto`` binary every test that asks for it is skipped (``.ci/run`` installs one).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = [
    "MosquittoBroker",
    "find_mosquitto",
    "free_port",
    "mqtt",
    "mqtt_broker",
    "password",
    "tag",
]

ASSISTANT_TOPICS = (
    "mimo-assistant/#",
    "homeassistant/#",
    "zigbee2mqtt/#",
    "cmnd/#",
    "stat/#",
    "tele/#",
    "tasmota/#",
    "home/#",
)
_START_TIMEOUT = 10.0  # seconds


def find_mosquitto() -> tuple[str, str] | None:
    """Paths of ``mosquitto`` and ``mosquitto_passwd``, or None when either is missing."""
    extra = os.pathsep.join(("/usr/sbin", "/usr/local/sbin", "/sbin"))
    path = os.environ.get("PATH", "") + os.pathsep + extra
    broker = shutil.which("mosquitto", path=path)
    passwd = shutil.which("mosquitto_passwd", path=path)
    if broker is None or passwd is None:
        return None
    return broker, passwd


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A throwaway CA in ``directory``: returns (ca certificate, ca key)."""
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        "-keyout",
        str(key),
        "-out",
        str(cert),
        cwd=directory,
    )
    return cert, key


def _make_server_cert(directory: Path, ca_cert: Path, ca_key: Path) -> tuple[Path, Path]:
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        cwd=directory,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_cert),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(ext),
        "-out",
        str(cert),
        cwd=directory,
    )
    return cert, key


@dataclass(frozen=True)
class MosquittoBroker:
    """One private broker; ``restart()`` keeps its ports, users and certificates."""

    host: str
    port: int
    """Plain MQTT listener (TCP port)."""
    tls_port: int
    """TLS listener, certificate signed by ``ca_file`` for 127.0.0.1 (TCP port)."""
    ca_file: Path
    """The CA that signed the broker's certificate."""
    other_ca_file: Path
    """A CA that did NOT sign it (for 'wrong CA' tests)."""
    passwords: dict[str, str]
    """user name -> password: ``assistant`` (read/write) and ``guest`` (read only)."""
    config_file: Path
    executable: str
    _proc: list[subprocess.Popen] = field(default_factory=list, repr=False, compare=False)

    @property
    def assistant_password(self) -> str:
        return self.passwords["assistant"]

    @property
    def guest_password(self) -> str:
        return self.passwords["guest"]

    @property
    def running(self) -> bool:
        return bool(self._proc) and self._proc[0].poll() is None

    def start(self) -> None:
        """Start the broker and wait until both ports accept connections."""
        if self.running:
            return
        log = open(self.config_file.with_name("mosquitto.log"), "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [self.executable, "-c", str(self.config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._proc[:] = [proc]
        deadline = time.monotonic() + _START_TIMEOUT
        while not (_port_accepts(self.port) and _port_accepts(self.tls_port)):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = self.config_file.with_name("mosquitto.log").read_text(errors="replace")
                raise RuntimeError(f"mosquitto did not start on {self.port}: {text[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill the broker by its pid (SIGKILL: an abrupt outage, like a crash)."""
        if not self._proc:
            return
        proc = self._proc.pop()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)

    def restart(self) -> None:
        """Kill the broker and start it again on the same ports."""
        self.stop()
        self.start()


def start_broker(directory: Path) -> MosquittoBroker:
    """Write users, ACL, CA and config into ``directory`` and start a broker."""
    found = find_mosquitto()
    if found is None:
        raise FileNotFoundError("mosquitto")
    executable, passwd_tool = found
    directory.mkdir(parents=True, exist_ok=True)
    passwords = {"assistant": secrets.token_urlsafe(12), "guest": secrets.token_urlsafe(12)}
    passwd = directory / "passwd"
    for index, (user, password) in enumerate(passwords.items()):
        flags = ["-c", "-b"] if index == 0 else ["-b"]
        subprocess.run(
            [passwd_tool, *flags, str(passwd), user, password], check=True, capture_output=True
        )
    acl = directory / "acl"
    acl_lines = ["user assistant"] + [f"topic readwrite {t}" for t in ASSISTANT_TOPICS]
    acl_lines += ["", "user guest", "topic read mimo-assistant/#", ""]
    acl.write_text("\n".join(acl_lines))
    ca_cert, ca_key = make_ca(directory / "ca", "mimo-test-ca")
    other_ca, _ = make_ca(directory / "other-ca", "mimo-other-ca")
    server_cert, server_key = _make_server_cert(directory / "ca", ca_cert, ca_key)
    port, tls_port = free_port(), free_port()
    while tls_port == port:
        tls_port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        "\n".join(
            [
                "user root",  # as root mosquitto drops to 'mosquitto', who cannot read tmp files
                "per_listener_settings false",
                "allow_anonymous false",
                f"password_file {passwd}",
                f"acl_file {acl}",
                "persistence false",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                f"listener {port} 127.0.0.1",
                f"listener {tls_port} 127.0.0.1",
                f"cafile {ca_cert}",
                f"certfile {server_cert}",
                f"keyfile {server_key}",
                "",
            ]
        )
    )
    broker = MosquittoBroker(
        host="127.0.0.1",
        port=port,
        tls_port=tls_port,
        ca_file=ca_cert,
        other_ca_file=other_ca,
        passwords=passwords,
        config_file=config,
        executable=executable,
    )
    broker.start()
    return broker


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory):
    """The session's private Mosquitto (restarted if a test left it stopped)."""
    if find_mosquitto() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run does it)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed for the broker's throwaway TLS CA)")
    broker = start_broker(tmp_path_factory.mktemp("mosquitto"))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mqtt(mqtt_broker: MosquittoBroker) -> MosquittoBroker:
    """The session broker, guaranteed running at the start of the test."""
    mqtt_broker.start()
    return mqtt_broker


@pytest.fixture
def tag() -> str:
    """A fresh topic namespace, so tests on the session broker never see each other's
    retained messages."""
    return "t" + uuid.uuid4().hex[:8]


@pytest.fixture
def password(mqtt: MosquittoBroker, monkeypatch: pytest.MonkeyPatch) -> str:
    """The assistant user's password, as ``!env MQTT_PASSWORD`` in test configs."""
    monkeypatch.setenv("MQTT_PASSWORD", mqtt.assistant_password)
    return mqtt.assistant_password
