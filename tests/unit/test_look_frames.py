"""Eyes without a network: pictures to frames, hostile pictures, URL masking, spoken errors,
finding the cameras an utterance is about."""

from __future__ import annotations

import base64
import struct
import zlib
from fractions import Fraction

import av
import numpy as np
import pytest

from assistant.config import parse_config
from assistant.look import Cameras
from assistant.look._url import Login, mask_url, split_login, with_login
from assistant.look.errors import SourceError, camera_error, unknown_camera
from assistant.look.frames import (
    MAX_IMAGE_BYTES,
    decode_image,
    image_to_frame,
    scaled_size,
    sniff,
)
from assistant.look.mqtt_image import _unwrap


def picture(width: int, height: int, rgb: tuple[int, int, int] = (200, 30, 30)) -> np.ndarray:
    """A plain colour with a white square in the top-left corner (to check orientation)."""
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = rgb
    pixels[: height // 4, : width // 4] = 255
    return pixels


def encode(pixels: np.ndarray, codec: str = "mjpeg") -> bytes:
    """Pixels as a picture file made by FFmpeg's ``codec`` encoder (mjpeg, png, bmp)."""
    height, width = pixels.shape[:2]
    encoder = av.CodecContext.create(codec, "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = {"mjpeg": "yuvj420p", "png": "rgb24", "bmp": "bgr24"}[codec]
    encoder.time_base = Fraction(1, 1)
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format=encoder.pix_fmt)
    return b"".join(bytes(p) for p in encoder.encode(frame) + encoder.encode(None))


def pixels_of(jpeg: bytes) -> np.ndarray:
    return decode_image(jpeg).to_ndarray(format="rgb24")


# --- frames -----------------------------------------------------------------------------------


def test_a_full_hd_jpeg_is_scaled_to_768x432() -> None:
    data = encode(picture(1920, 1080))
    frame = image_to_frame(data, camera="Porch", max_side=768, taken_at=1700000000.0)
    assert (frame.width, frame.height) == (768, 432)
    assert frame.camera == "Porch" and frame.taken_at == 1700000000.0
    assert frame.jpeg.startswith(b"\xff\xd8\xff") and frame.jpeg.endswith(b"\xff\xd9")
    assert len(frame.jpeg) < len(data)
    pixels = pixels_of(frame.jpeg)
    assert pixels.shape == (432, 768, 3)
    assert np.allclose(pixels[300, 600], (200, 30, 30), atol=12)  # colour kept
    assert np.allclose(pixels[20, 20], (255, 255, 255), atol=12)  # not flipped


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((1920, 1080), 768, (768, 432)),
        ((1080, 1920), 768, (432, 768)),
        ((640, 480), 768, (640, 480)),  # never enlarged
        ((768, 100), 768, (768, 100)),
        ((1001, 333), 768, (768, 255)),
        ((4000, 3), 768, (768, 1)),  # never zero
    ],
)
def test_scaled_size_keeps_the_aspect(size, max_side, expected) -> None:
    assert scaled_size(*size, max_side) == expected


def test_png_and_bmp_are_read_too() -> None:
    for codec in ("png", "bmp"):
        data = encode(picture(300, 200, (20, 180, 40)), codec)
        frame = image_to_frame(data, camera="Yard", max_side=768, taken_at=0.0)
        assert (frame.width, frame.height) == (300, 200)
        assert np.allclose(pixels_of(frame.jpeg)[150, 250], (20, 180, 40), atol=12)


def test_metadata_does_not_survive() -> None:
    data = encode(picture(640, 360))
    exif = b"Exif\x00\x00GPS 52.5200N 13.4050E serial CAM-0042"
    segment = b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif
    frame = image_to_frame(data[:2] + segment + data[2:], camera="x", max_side=768, taken_at=0)
    assert b"GPS" not in frame.jpeg and b"CAM-0042" not in frame.jpeg


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"<html><body>401 Unauthorized</body></html>", "not a JPEG, PNG, WebP or BMP"),
        (b"", "not a JPEG"),
        (b'{"error": "busy"}', "not a JPEG"),
        (b"\xff\xd8\xff" + b"\x00" * 500 + b"\xff\xd9", "undecodable"),
        (b"\x89PNG\r\n\x1a\n" + b"\x07" * 300, "undecodable"),
    ],
)
def test_what_is_not_a_picture_is_a_clear_error(data: bytes, detail: str) -> None:
    with pytest.raises(SourceError) as caught:
        image_to_frame(data, camera="x", max_side=768, taken_at=0)
    assert caught.value.kind == "not-image" and detail in caught.value.detail


def test_a_jpeg_cut_short_is_refused() -> None:
    data = encode(picture(640, 480))
    with pytest.raises(SourceError) as caught:
        decode_image(data[: len(data) // 2])
    assert caught.value.kind == "not-image" and "cut short" in caught.value.detail


def test_a_small_jpeg_claiming_a_huge_size_is_not_decoded() -> None:
    data = bytearray(encode(picture(64, 48)))
    sof = data.index(b"\xff\xc0")  # baseline start of frame: length, precision, height, width
    data[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") * 2  # 3.6 gigapixels
    with pytest.raises(SourceError) as caught:
        decode_image(bytes(data))
    assert caught.value.kind == "not-image"


def png_bomb(side: int) -> bytes:
    """A black PNG of side x side pixels, some 4 bytes per thousand pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    packer, row = zlib.compressobj(1), bytes(side + 1)
    rows = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def test_a_decompression_bomb_is_not_decoded() -> None:
    assert decode_image(png_bomb(1500)).width == 1500  # the same, smaller, is fine
    data = png_bomb(7200)  # 52 megapixels
    assert len(data) < 300_000
    with pytest.raises(SourceError) as caught:
        decode_image(data)
    assert caught.value.kind == "not-image"


def test_an_oversized_picture_is_refused_before_decoding() -> None:
    data = b"\xff\xd8\xff" + bytes(MAX_IMAGE_BYTES)
    with pytest.raises(SourceError) as caught:
        decode_image(data)
    assert caught.value.kind == "too-large"


def test_sniff() -> None:
    assert sniff(encode(picture(8, 8))) == "mjpeg"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert sniff(b"GIF89a") is None


def test_base64_payloads_are_unwrapped() -> None:
    jpeg = encode(picture(16, 16))
    assert _unwrap(base64.b64encode(jpeg)) == jpeg
    assert _unwrap(b"data:image/jpeg;base64," + base64.b64encode(jpeg) + b"\n") == jpeg
    assert _unwrap(jpeg) == jpeg
    assert _unwrap(b"not base64 at all") == b"not base64 at all"


# --- URLs and errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://admin:hunter2@192.168.1.9/snap.jpg", "http://***@192.168.1.9/snap.jpg"),
        ("rtsp://u:p%40ss@cam.local:554/live?x=1", "rtsp://***@cam.local:554/live?x=***"),
        (
            "http://cam/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&usr=admin&pwd=hunter2",
            "http://cam/cgi-bin/CGIProxy.fcgi?cmd=***&usr=***&pwd=***",
        ),
        ("http://[fe80::1]:8080/a", "http://[fe80::1]:8080/a"),
        ("http://cam.local/snap.jpg", "http://cam.local/snap.jpg"),
        ("http://cam:99999999/", "<unparsable URL>"),
    ],
)
def test_urls_are_masked_for_the_log(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_logins_in_and_out_of_urls() -> None:
    bare, login = split_login("http://ad%3Amin:p%40ss@cam:81/s.jpg?a=1")
    assert bare == "http://cam:81/s.jpg?a=1" and login == Login("ad:min", "p@ss")
    assert split_login("http://cam/s.jpg") == ("http://cam/s.jpg", None)
    assert with_login("rtsp://cam/live", Login("u", "p@ss:/")) == "rtsp://u:p%40ss%3A%2F@cam/live"
    assert with_login("rtsp://old:x@cam/live", Login("u", "p")) == "rtsp://u:p@cam/live"
    assert with_login("rtsp://cam/live", None) == "rtsp://cam/live"
    assert "hunter2" not in repr(Login("admin", "hunter2"))


def test_errors_are_short_and_speakable() -> None:
    error = camera_error("Front door camera", "timeout")
    assert str(error) == "The front door camera is not answering"
    assert error.code == "look-timeout" and error.camera == "Front door camera"
    assert str(camera_error("Porch", "unreachable")) == "I can't reach the porch camera"
    assert str(camera_error("Garage cam", "not-image")) == (
        "The garage cam did not send a picture I can read"
    )
    assert str(camera_error("TV room", "denied")) == "The TV room camera did not accept the login"
    assert unknown_camera("attic").code == "look-unknown-camera"


# --- finding cameras in an utterance --------------------------------------------------------

HOME = """\
areas:
  - {name: Front door, aliases: [entrance]}
  - {name: Garden}
  - {name: Kid's room, aliases: [nursery]}
  - {name: Garage}
cameras:
  - {name: Front door camera, area: entrance, aliases: [doorbell], snapshot_url: "http://a/s"}
  - {name: Porch, area: Front door, mjpeg_url: "http://b/m"}
  - {name: Garden cam, area: Garden, rtsp_url: "rtsp://c/live"}
  - {name: Baby monitor, area: nursery, file: /tmp/baby.mp4}
"""


@pytest.fixture
def cameras() -> Cameras:
    return Cameras.from_settings(parse_config(HOME))


def names(found) -> list[str]:
    return [camera.name for camera in found]


@pytest.mark.parametrize(
    ("text", "area", "expected"),
    [
        ("Is anyone at the front door?", None, ["Front door camera", "Porch"]),
        ("what does the front door camera see", None, ["Front door camera"]),
        ("who rang the doorbell", None, ["Front door camera"]),
        ("Is the baby asleep in the kid's room?", None, ["Baby monitor"]),
        ("look at the garden cam and the porch", None, ["Garden cam", "Porch"]),
        ("anything in the garden?", None, ["Garden cam"]),
        ("is the entrance clear", None, ["Front door camera", "Porch"]),
        ("what does the camera show", "Garden", ["Garden cam"]),
        ("what does the camera show", "Kid's room", ["Baby monitor"]),
        ("what does the camera show", "kid_s_room", ["Baby monitor"]),  # an area id
        ("what does the camera show", "front_door", ["Front door camera", "Porch"]),
        ("what does the camera show", None, []),
        ("turn on the kitchen light", "Garden", []),
        ("is the garage door open", None, []),
    ],
)
def test_find_the_cameras_an_utterance_is_about(cameras, text, area, expected) -> None:
    assert names(cameras.find(text, area)) == expected


def test_the_only_camera_is_the_camera() -> None:
    one = Cameras.from_settings(parse_config('cameras: [{name: Hall, snapshot_url: "http://a"}]'))
    assert names(one.find("what does the camera see?")) == ["Hall"]
    assert names(one.find("turn it off")) == []


def test_cameras_by_name_alias_and_area(cameras) -> None:
    assert cameras.get("FRONT DOOR CAMERA").name == "Front door camera"
    assert cameras.get("doorbell").name == "Front door camera"
    assert cameras.get("attic") is None
    assert cameras.get("front door camera").area == "Front door"  # the alias resolved
    assert names(cameras.in_area("nursery")) == ["Baby monitor"]
    assert [c.source for c in cameras.cameras] == ["snapshot_url", "mjpeg_url", "rtsp_url", "file"]
    assert len(cameras) == 4


async def test_an_unknown_camera_is_a_look_error(cameras) -> None:
    from assistant.look import LookError

    with pytest.raises(LookError) as caught:
        await cameras.frame("attic")
    assert caught.value.code == "look-unknown-camera"
    assert str(caught.value) == "I don't know a camera called attic"
