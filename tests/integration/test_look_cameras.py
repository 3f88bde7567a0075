"""Cameras against real peers on 127.0.0.1: HTTP snapshot and MJPEG servers (asyncio
streams), video files written with PyAV, an RTSP port that refuses or stays silent, and an
MQTT image topic on the private Mosquitto. Every hostile case ends in a clear ``LookError``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from blockbuster import blockbuster_ctx

from assistant.config import parse_config
from assistant.look import Cameras, Frame, LookError
from assistant.look.frames import decode_image
from integrations.mqtt import MqttConnection

pytest.register_assert_rewrite("tests.mqtt_broker")
from tests.mqtt_broker import MosquittoBroker, free_port  # noqa: E402

pytest_plugins = ["tests.mqtt_broker"]

PASSWORD = "s3cret-Cam!"
RED, GREEN, BLUE = (220, 20, 20), (20, 200, 40), (30, 40, 210)


# --- pictures and videos ---------------------------------------------------------------------


def jpeg(width: int, height: int, rgb: tuple[int, int, int] = RED) -> bytes:
    """A plain-colour JPEG made by FFmpeg."""
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = rgb
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
    encoder.time_base = Fraction(1, 1)
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in encoder.encode(frame) + encoder.encode(None))


def write_video(path: Path, colours: list[tuple[int, int, int]], size=(1280, 720)) -> Path:
    """An MPEG-4 file at 10 frames per second, one frame per colour."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for rgb in colours:
            pixels = np.empty((size[1], size[0], 3), np.uint8)
            pixels[:] = rgb
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def colour_of(frame: Frame) -> tuple[int, ...]:
    pixels = decode_image(frame.jpeg).to_ndarray(format="rgb24")
    return tuple(int(v) for v in pixels[frame.height // 2, frame.width // 2])


def near(colour: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 16) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


def cameras_of(yaml: str, **kwargs) -> Cameras:
    return Cameras.from_settings(parse_config(yaml, environ={}), **kwargs)


def one_camera(source: str, *, timeout: float = 2.0, extra: str = "") -> Cameras:
    return cameras_of(f"cameras: [{{name: Front door, {source}, timeout: {timeout}{extra}}}]")


async def look_error(cameras: Cameras, name: str = "Front door") -> LookError:
    with pytest.raises(LookError) as caught:
        await cameras.frame(name)
    return caught.value


# --- a scripted HTTP server -------------------------------------------------------------------


@dataclass
class Request:
    path: str
    headers: dict[str, str]


Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class HttpServer:
    """HTTP on 127.0.0.1: ``routes[path] = handler``; every request is recorded."""

    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str, login: str = "") -> str:
        return f"http://{login}127.0.0.1:{self.port}{path}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one request and run its handler in a task of its own (``stop`` cancels it)."""
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()
            return
        pairs = (line.split(": ", 1) for line in head[1:] if ": " in line)
        request = Request(head[0].split(" ")[1], {k.lower(): v for k, v in pairs})
        self.requests.append(request)
        task = asyncio.create_task(self._handle(request, writer))
        self._tasks.add(task)
        await asyncio.wait({task})
        self._tasks.discard(task)

    async def _handle(self, request: Request, writer: asyncio.StreamWriter) -> None:
        try:
            await self.routes.get(request.path, not_found)(request, writer)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def http() -> AsyncIterator[HttpServer]:
    server = HttpServer()
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        await server.stop()


def answer(body: bytes, kind: str = "image/jpeg", status: str = "200 OK", extra: str = ""):
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        head = f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
        writer.write((head + extra + "\r\n").encode() + body)

    return handler


async def not_found(request: Request, writer: asyncio.StreamWriter) -> None:
    await answer(b"no such page", "text/plain", "404 Not Found")(request, writer)


async def silent(request: Request, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


# --- snapshots --------------------------------------------------------------------------------


async def test_a_snapshot_is_scaled_to_768x432(http: HttpServer) -> None:
    http.routes["/snap.jpg"] = answer(jpeg(1920, 1080))
    cameras = one_camera(f'snapshot_url: "{http.url("/snap.jpg")}"')
    before = time.time()
    frame = await cameras.frame("front door")
    assert (frame.width, frame.height, frame.camera) == (768, 432, "Front door")
    assert before <= frame.taken_at <= time.time()
    assert near(colour_of(frame), RED)
    assert http.requests[0].headers["accept"].startswith("image/jpeg")


async def test_a_chunked_snapshot_without_a_length(http: HttpServer) -> None:
    data = jpeg(640, 480, GREEN)

    async def chunked(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for start in range(0, len(data), 1000):
            piece = data[start : start + 1000]
            writer.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    async def until_closed(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\n\r\n" + data)

    http.routes |= {"/chunked": chunked, "/eof": until_closed}
    for path in ("/chunked", "/eof"):
        frame = await one_camera(f'snapshot_url: "{http.url(path)}"').frame("Front door")
        assert (frame.width, frame.height) == (640, 480) and near(colour_of(frame), GREEN)


def basic_login(request: Request) -> bool:
    token = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    return request.headers.get("authorization") == f"Basic {token}"


def digest_login(request: Request) -> bool:
    """The server side of RFC 7616 (MD5, qop=auth), written apart from the client's."""
    header = request.headers.get("authorization", "")
    if not header.startswith("Digest "):
        return False
    found = re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header[7:])
    fields = {key: quoted or plain for key, quoted, plain in found}

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1, ha2 = md5(f"admin:cam:{PASSWORD}"), md5(f"GET:{fields['uri']}")
    parts = [ha1, "n0nce", fields["nc"], fields["cnonce"], "auth", ha2]
    return (
        fields["username"] == "admin"
        and fields["uri"] == request.path
        and fields["opaque"] == "0paque"
        and fields["response"] == md5(":".join(parts))
    )


def guarded(check: Callable[[Request], bool], challenge: str, body: bytes) -> Handler:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if check(request):
            await answer(body)(request, writer)
        else:
            extra = f"WWW-Authenticate: {challenge}\r\n"
            await answer(b"", "text/plain", "401 Unauthorized", extra)(request, writer)

    return handler


async def test_basic_and_digest_logins(http: HttpServer, caplog) -> None:
    digest = 'Digest realm="cam", qop="auth", nonce="n0nce", opaque="0paque", algorithm=MD5'
    http.routes["/basic"] = guarded(basic_login, 'Basic realm="cam"', jpeg(320, 240))
    http.routes["/digest?channel=1"] = guarded(digest_login, digest, jpeg(320, 240))
    login = f", username: admin, password: '{PASSWORD}'"
    for path in ("/basic", "/digest?channel=1"):
        cameras = one_camera(f'snapshot_url: "{http.url(path)}"', extra=login)
        assert (await cameras.frame("Front door")).width == 320
    in_url = one_camera(f'snapshot_url: "{http.url("/basic", f"admin:{PASSWORD}@")}"')
    assert (await in_url.frame("Front door")).width == 320
    paths = [r.path for r in http.requests]  # each login answers a 401
    assert paths == ["/basic"] * 2 + ["/digest?channel=1"] * 2 + ["/basic"] * 2
    caplog.set_level(logging.DEBUG)
    wrong = one_camera(f'snapshot_url: "{http.url("/digest?channel=1", "admin:nope@")}"')
    error = await look_error(wrong)
    assert error.code == "look-denied"
    assert str(error) == "The front door camera did not accept the login"
    assert "http://***@127.0.0.1" in caplog.text and "nope" not in caplog.text
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("handler", "code", "said"),
    [
        (answer(b"<html>Login</html>", "text/html"), "look-not-image", "did not send a picture"),
        (answer(b"\x00junk" * 100, "image/jpeg"), "look-not-image", "did not send a picture"),
        (answer(b"", "image/jpeg"), "look-not-image", "did not send a picture"),
        (answer(b"busy", "text/plain", "503 Busy"), "look-http", "answered with an error"),
        (not_found, "look-http", "answered with an error"),
        (answer(b"", "image/jpeg", "401 Unauthorized"), "look-denied", "did not accept the login"),
    ],
)
async def test_answers_that_are_no_picture(http: HttpServer, handler, code: str, said: str):
    http.routes["/snap"] = handler
    error = await look_error(one_camera(f'snapshot_url: "{http.url("/snap")}"'))
    assert error.code == code and said in str(error) and error.camera == "Front door"


async def test_a_50_mb_snapshot_is_refused(http: HttpServer) -> None:
    sent = {"/length": 0, "/stream": 0}

    async def huge(request: Request, writer: asyncio.StreamWriter) -> None:
        length = f"Content-Length: {50 * 1024 * 1024}\r\n" if request.path == "/length" else ""
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n{length}\r\n".encode())
        block = b"\xff\xd8\xff" + bytes(1024 * 1024 - 3)
        for _ in range(50):
            writer.write(block)
            await writer.drain()
            sent[request.path] += len(block)

    http.routes |= {"/length": huge, "/stream": huge}
    for path in sent:
        error = await look_error(one_camera(f'snapshot_url: "{http.url(path)}"', timeout=5))
        assert error.code == "look-too-large", path
        assert str(error) == "The front door camera sent a picture that is too large"
    await asyncio.sleep(0.1)
    assert sent["/length"] < 20 * 1024 * 1024 and sent["/stream"] < 20 * 1024 * 1024


async def test_a_silent_or_slow_server_times_out(http: HttpServer) -> None:
    async def trickle(request: Request, writer: asyncio.StreamWriter) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg(64, 64):
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)

    http.routes |= {"/silent": silent, "/trickle": trickle}
    for path in ("/silent", "/trickle"):
        started = time.monotonic()
        error = await look_error(one_camera(f'snapshot_url: "{http.url(path)}"', timeout=0.4))
        assert error.code == "look-timeout"
        assert str(error) == "The front door camera is not answering"
        assert time.monotonic() - started > 0.35  # not before the timeout


async def test_nobody_listening() -> None:
    cameras = one_camera(f'snapshot_url: "http://127.0.0.1:{free_port()}/snap.jpg"')
    error = await look_error(cameras)
    assert error.code == "look-unreachable" and str(error) == "I can't reach the front door camera"


async def test_no_blocking_call_on_the_loop(http: HttpServer, tmp_path: Path) -> None:
    http.routes["/snap.jpg"] = answer(jpeg(4000, 3000))
    video = write_video(tmp_path / "v.mp4", [BLUE] * 5)
    snap = f'{{name: Snap, snapshot_url: "{http.url("/snap.jpg")}"}}'
    cameras = cameras_of(f'cameras: [{snap}, {{name: Clip, file: "{video}"}}]')
    with blockbuster_ctx(["assistant"]):  # decoding and scaling happen off the loop
        frames, errors = await cameras.frames(["Snap", "Clip", "Nope"])
    assert [(f.camera, f.width) for f in frames] == [("Snap", 768), ("Clip", 768)]
    assert [e.code for e in errors] == ["look-unknown-camera"]


# --- MJPEG ------------------------------------------------------------------------------------


def mjpeg(
    parts: list[bytes],
    *,
    boundary: str = "frame",
    declared: str | None = None,
    lengths: bool = True,
    interval: float = 0.0,
    then: float = 3600,
) -> Handler:
    """An MJPEG stream of ``parts``, ``interval`` seconds apart, then silence for ``then``."""

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        kind = f"multipart/x-mixed-replace; boundary={declared or boundary}"
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\n\r\n".encode())
        for part in parts:
            length = f"Content-Length: {len(part)}\r\n" if lengths else ""
            head = f"--{boundary}\r\nContent-Type: image/jpeg\r\n{length}\r\n"
            writer.write(head.encode() + part + b"\r\n")
            await writer.drain()
            await asyncio.sleep(interval)
        await asyncio.sleep(then)

    return handler


async def test_mjpeg_streams(http: HttpServer) -> None:
    red, green, blue = jpeg(1280, 720, RED), jpeg(1280, 720, GREEN), jpeg(1280, 720, BLUE)
    http.routes |= {
        "/live": mjpeg([red, green], interval=1.0),  # a live stream: the frame now is red
        "/backlog": mjpeg([red, green, blue]),  # already buffered: the newest is blue
        "/no-length": mjpeg([green, red], lengths=False, interval=1.0),
        "/dashes": mjpeg([blue, red], boundary="--myboundary", declared="--myboundary", then=1),
        "/single": answer(jpeg(800, 600, GREEN)),  # a picture where a stream was expected
    }
    expected = {"/live": RED, "/backlog": BLUE, "/no-length": GREEN, "/dashes": RED}
    expected["/single"] = GREEN
    for path, colour in expected.items():
        frame = await one_camera(f'mjpeg_url: "{http.url(path)}"').frame("Front door")
        assert near(colour_of(frame), colour), path  # a later frame would be another colour
        assert frame.width == 768, path


async def test_hostile_mjpeg_streams(http: HttpServer) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=x\r\n"

    async def no_boundary(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head + b"\r\n")
        for _ in range(12):
            writer.write(b"\x07" * 1024 * 1024)
            await writer.drain()
        await asyncio.sleep(3600)

    async def ends(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(
            head + b"\r\n--x\r\nContent-Type: image/jpeg\r\nContent-Length: 9000\r\n\r\nshort"
        )

    http.routes |= {
        "/no-boundary": no_boundary,
        "/slow": mjpeg([jpeg(64, 64)], boundary="b", declared="other"),  # never the boundary
        "/html": answer(b"<html>camera offline</html>", "text/html"),
        "/no-param": answer(b"--x\r\n\r\n", "multipart/x-mixed-replace"),
        "/ends": ends,
        "/junk-part": mjpeg([b"<html>not a jpeg</html>"]),
        "/huge-part": mjpeg([b"\xff\xd8\xff" + bytes(11 * 1024 * 1024)]),
    }
    expected = {
        "/no-boundary": "look-not-image",
        "/slow": "look-timeout",
        "/html": "look-not-image",
        "/no-param": "look-not-image",
        "/ends": "look-http",
        "/junk-part": "look-not-image",
        "/huge-part": "look-too-large",
    }
    for path, code in expected.items():
        error = await look_error(one_camera(f'mjpeg_url: "{http.url(path)}"', timeout=0.8))
        assert error.code == code, (path, error.code)


# --- video: files and RTSP --------------------------------------------------------------------


async def test_a_video_file_gives_its_last_frame(tmp_path: Path) -> None:
    video = write_video(tmp_path / "door.mp4", [BLUE] * 25 + [GREEN] * 10)  # 3.5 s
    cameras = one_camera(f'file: "{video}"')
    frame = await cameras.frame("Front door")
    assert (frame.width, frame.height) == (768, 432)
    assert near(colour_of(frame), GREEN)
    still = tmp_path / "still.jpg"
    still.write_bytes(jpeg(1024, 768, RED))  # a picture file another program rewrites
    frame = await one_camera(f'file: "{still}"').frame("Front door")
    assert (frame.width, frame.height) == (768, 576) and near(colour_of(frame), RED)


async def test_bad_video_files(tmp_path: Path) -> None:
    (tmp_path / "junk.mp4").write_bytes(b"this is not a video" * 100)
    (tmp_path / "audio.wav").write_bytes(
        b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00@\x1f\x00\x00"
        b"\x80>\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"
    )
    expected = {"missing.mp4": "look-unreachable", "junk.mp4": "look-not-image"}
    expected["audio.wav"] = "look-not-image"
    for name, code in expected.items():
        error = await look_error(one_camera(f'file: "{tmp_path / name}"'))
        assert error.code == code, name


async def test_rtsp_refused_or_silent_never_shows_the_password(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    refused = one_camera(f'rtsp_url: "rtsp://admin:{PASSWORD}@127.0.0.1:{free_port()}/live"')
    error = await look_error(refused)
    assert error.code == "look-unreachable"
    silent_peers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent_peers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        login = f", username: admin, password: '{PASSWORD}'"
        quiet = one_camera(f'rtsp_url: "rtsp://127.0.0.1:{port}/live"', timeout=0.5, extra=login)
        error = await look_error(quiet)
        assert error.code in ("look-timeout", "look-unreachable")
        assert silent_peers  # it did connect
    finally:
        server.close()
        for writer in silent_peers:
            writer.close()
    assert "rtsp://***@127.0.0.1" in caplog.text and PASSWORD not in caplog.text


# --- MQTT -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def broker_connection(mqtt: MosquittoBroker, tag: str) -> AsyncIterator[MqttConnection]:
    connection = MqttConnection(
        mqtt.host,
        mqtt.port,
        username="assistant",
        password=mqtt.assistant_password,
        prefix=f"mimo-assistant/{tag}",
    )
    async with connection:
        await connection.wait_connected(5, fail_fast=True)
        yield connection


async def newest_colour(cameras: Cameras, colour: tuple[int, int, int]) -> Frame:
    """Wait (up to 5 s) until the camera's frame has ``colour``."""
    async with asyncio.timeout(5):
        while not near(colour_of(frame := await cameras.frame("Door")), colour):
            await asyncio.sleep(0.02)
    return frame


async def failing_with(cameras: Cameras, code: str) -> LookError:
    """Wait (up to 5 s) until the camera's frame fails with ``code``."""
    async with asyncio.timeout(5):
        while True:
            try:
                await cameras.frame("Door")
            except LookError as error:
                if error.code == code:
                    return error
            await asyncio.sleep(0.02)


async def test_an_mqtt_image_topic(mqtt: MosquittoBroker, tag: str) -> None:
    topic, unused = f"home/{tag}/door/snapshot", f"home/{tag}/yard/snapshot"
    config = f"""\
mqtt: {{host: 127.0.0.1}}
cameras:
  - {{name: Door, mqtt_topic: {topic}, timeout: 2}}
  - {{name: Yard, mqtt_topic: {unused}, timeout: 0.3}}
"""
    async with broker_connection(mqtt, tag) as connection:
        await (await connection.publish(topic, jpeg(1920, 1080, RED), retain=True)).wait(5)
        async with cameras_of(config, mqtt=connection) as cameras:
            frame = await cameras.frame("Door")  # the retained picture
            assert (frame.width, frame.height) == (768, 432) and near(colour_of(frame), RED)
            await connection.publish(topic, jpeg(640, 480, GREEN))
            assert (await newest_colour(cameras, GREEN)).width == 640
            await connection.publish(topic, base64.b64encode(jpeg(320, 240, BLUE)))
            assert (await newest_colour(cameras, BLUE)).width == 320
            await connection.publish(topic, b"<html>oops</html>")
            await failing_with(cameras, "look-not-image")
            await connection.publish(topic, b"\xff\xd8\xff" + bytes(11 * 1024 * 1024))
            await failing_with(cameras, "look-too-large")
            await connection.publish(topic, b"", retain=True)
            error = await failing_with(cameras, "look-no-image")
            assert str(error) == "The door camera has not sent a picture yet"
            started = time.monotonic()
            assert (await look_error(cameras, "Yard")).code == "look-no-image"
            assert time.monotonic() - started > 0.25  # it waited for a picture first


async def test_an_mqtt_camera_without_a_connection() -> None:
    cameras = cameras_of("mqtt: {host: 127.0.0.1}\ncameras: [{name: Door, mqtt_topic: home/d}]")
    async with cameras:
        error = await look_error(cameras, "Door")
    assert error.code == "look-no-image"
