"""The virtual device on its own: handshake, encrypted requests, error codes, state file, junk."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import struct
from pathlib import Path
from typing import Any

import pytest
from miio.protocol import Message, Utils

from integrations.miio import MiioDriver, load_spec
from integrations.miio.transport import HELLO
from integrations.virtual import VirtualHome, VirtualMiioDevice

pytest.register_assert_rewrite("tests.integration.conftest_miio")

from .conftest_miio import OTHER_TOKEN, TOKEN, MakeVirtual, RecordingSink, attach  # noqa: E402

pytest_plugins = ["tests.integration.conftest_miio"]


class _Catch(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.replies.put_nowait(data)


async def exchange(addr: tuple[str, int], frame: bytes, wait: float = 0.3) -> bytes | None:
    """Send one datagram, return the first reply or None after ``wait`` seconds."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Catch, remote_addr=addr)
    try:
        transport.sendto(frame)
        async with asyncio.timeout(wait):
            return await proto.replies.get()
    except TimeoutError:
        return None
    finally:
        transport.close()


def frame(plaintext: bytes, token: str = TOKEN, did: bytes = b"\x00\x01\x86\xa0") -> bytes:
    """An encrypted request frame around any plaintext, valid or not."""
    header = {
        "length": 0,
        "unknown": 0,
        "device_id": did,
        "ts": datetime.datetime(1970, 1, 1, 0, 20),
    }
    raw = Utils.encrypt(plaintext, bytes.fromhex(token))
    return Message.build(
        {"data": {"data": raw}, "header": {"value": header}, "checksum": 0},
        token=bytes.fromhex(token),
    )


def request(payload: Any, token: str = TOKEN) -> bytes:
    return frame(json.dumps(payload).encode() + b"\x00", token)


async def call(
    dev: VirtualMiioDevice, method: str, params: Any, token: str = TOKEN
) -> dict[str, Any] | None:
    reply = await exchange(
        dev.address, request({"id": 7, "method": method, "params": params}, token)
    )
    if reply is None:
        return None
    payload = Message.parse(reply, token=bytes.fromhex(token)).data.value
    assert payload["id"] == 7
    return payload


async def test_hello_reply_carries_did_and_stamp(make_virtual: MakeVirtual) -> None:
    dev = await make_virtual("cuco.plug.cp1", did=0x01020304)
    reply = await exchange(dev.address, HELLO)
    assert reply is not None and len(reply) == 32
    magic, length, _, did, stamp = struct.unpack(">HHI4sI", reply[:16])
    assert (magic, length, did) == (0x2131, 32, b"\x01\x02\x03\x04")
    assert stamp > 0
    assert dev.hellos == 1


async def test_answers_with_request_id_and_item_codes(make_virtual: MakeVirtual) -> None:
    dev = await make_virtual("zhimi.airp.mb5")
    spec = dev.spec
    on = spec.binding("on_off").write
    pm25 = spec.binding("pm25").read
    mode = spec.binding("mode").write
    assert on and pm25 and mode
    reply = await call(
        dev,
        "set_properties",
        [
            {"did": "x", "siid": on.siid, "piid": on.piid, "value": True},
            {"did": "y", "siid": pm25.siid, "piid": pm25.piid, "value": 3},  # read only
            {"did": "z", "siid": mode.siid, "piid": mode.piid, "value": 42},  # not in value-list
            {"did": "w", "siid": 99, "piid": 1, "value": 1},  # no such property
            {"did": "v", "siid": on.siid, "piid": on.piid, "value": "yes"},  # not a bool
        ],
    )
    assert reply is not None
    assert [i["code"] for i in reply["result"]] == [0, -4002, -4005, -4003, -4005]
    assert [i["did"] for i in reply["result"]] == ["x", "y", "z", "w", "v"]
    assert dev.value(*on.key) is True
    reply = await call(dev, "get_properties", [{"did": "a", "siid": on.siid, "piid": on.piid}])
    assert reply is not None and reply["result"] == [
        {"did": "a", "siid": on.siid, "piid": on.piid, "code": 0, "value": True}
    ]
    reply = await call(dev, "no_such_method", [])
    assert reply is not None and reply["error"]["code"] == -32601


async def test_wrong_token_gets_silence(make_virtual: MakeVirtual) -> None:
    dev = await make_virtual("cuco.plug.cp1")
    assert await call(dev, "miIO.info", [], token=OTHER_TOKEN) is None
    assert dev.requests == []
    info = await call(dev, "miIO.info", [])
    assert info is not None and info["result"]["model"] == "cuco.plug.cp1"
    assert TOKEN not in json.dumps(info)


@pytest.mark.parametrize(
    "junk",
    [
        b"",
        b"\x00",
        b"\x21\x31",
        b"\x00" * 31,
        b"\xff" * 64,
        b"\x21\x31" + b"\x00" * 62,
        HELLO + b"\x00" * 5,
        frame(b"not json at all"),
        frame(b"\x00\x00\x00"),
        request([1, 2, 3]),
        request({"id": 1}),
        request({"id": 1, "method": 5}),
        request({"id": 1, "method": "get_properties", "params": "x"}),
        request({"id": 1, "method": "get_properties", "params": [{"siid": "a"}]}),
        request({"id": 1, "method": "set_properties", "params": [{"siid": 2, "piid": 1}]}),
        request({"id": 1, "method": "set_properties", "params": None}),
        request({"id": 1, "method": "action", "params": None}),
        request({"id": 1, "method": "action", "params": {"siid": 2, "aiid": 1, "in": 5}}),
    ],
)
async def test_malformed_datagrams_do_not_hurt(junk: bytes, make_virtual: MakeVirtual) -> None:
    dev = await make_virtual("cuco.plug.cp1")
    reply = await exchange(dev.address, junk, wait=0.2)
    if reply is not None and len(reply) > 32:  # answered: then only with an error
        payload = Message.parse(reply, token=bytes.fromhex(TOKEN)).data.value
        assert "error" in payload
    info = await call(dev, "miIO.info", [])
    assert info is not None and info["result"]["model"] == "cuco.plug.cp1"


async def test_state_survives_a_restart(tmp_path: Path, sink: RecordingSink) -> None:
    path = tmp_path / "state" / "lamp.json"
    spec = load_spec("philips.light.bulb")
    first = VirtualMiioDevice(spec, token=TOKEN, did=7, state_file=path)
    await first.start()
    driver = MiioDriver(sink)
    attach(driver, "lamp", first)
    from assistant.messages import DeviceCommand

    await driver.execute(
        "lamp", [DeviceCommand("lamp", "on_off", True), DeviceCommand("lamp", "brightness", 33)]
    )
    await first.stop()
    assert json.loads(path.read_text())["model"] == "philips.light.bulb"
    assert not list(path.parent.glob(".*.tmp"))  # the temporary file was renamed into place

    second = VirtualMiioDevice(spec, token=TOKEN, did=7, state_file=path)
    await second.start()
    try:
        on, bright = spec.binding("on_off").read, spec.binding("brightness").read
        assert on and bright
        assert second.value(*on.key) is True
        assert second.value(*bright.key) == 33
    finally:
        await second.stop()


@pytest.mark.parametrize("content", ["{not json", '{"values": 5}', "[]", '{"values": [[2]]}'])
async def test_corrupt_state_file_warns_and_starts_from_defaults(
    content: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "plug.json"
    path.write_text(content)
    spec = load_spec("cuco.plug.cp1")
    dev = VirtualMiioDevice(spec, token=TOKEN, did=8, state_file=path)
    with caplog.at_level(logging.WARNING):
        await dev.start()
    try:
        assert any(
            str(path) in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records
        )
        on = spec.binding("on_off").write
        assert on is not None and dev.value(*on.key) is False
        reply = await call(
            dev, "set_properties", [{"siid": on.siid, "piid": on.piid, "value": True}]
        )
        assert reply is not None and reply["result"][0]["code"] == 0
        assert json.loads(path.read_text())["values"]  # rewritten as a valid file
    finally:
        await dev.stop()


async def test_state_file_values_that_no_longer_fit_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "fan.json"
    spec = load_spec("dmaker.fan.p5")
    level = spec.binding("fan_speed").write
    assert level is not None
    path.write_text(json.dumps({"values": [[level.siid, level.piid, 99], [42, 1, True]]}))
    dev = VirtualMiioDevice(spec, token=TOKEN, did=9, state_file=path)
    await dev.start()
    try:
        assert spec.property(*level.key).problem(dev.value(*level.key)) is None  # type: ignore[union-attr]
    finally:
        await dev.stop()


async def test_virtual_home_starts_devices_concurrently() -> None:
    models = ["cuco.plug.cp1", "yeelink.light.color4", "dreame.vacuum.p2008"]
    home = VirtualHome(
        [VirtualMiioDevice(load_spec(m), token=TOKEN, did=i + 1) for i, m in enumerate(models)]
    )
    async with home:
        addresses = {d.address for d in home}
        assert len(addresses) == 3 and len(home) == 3
        replies = await asyncio.gather(*(call(d, "miIO.info", []) for d in home))
        assert [r["result"]["model"] for r in replies if r] == models
    with pytest.raises(RuntimeError):
        _ = home.devices[0].address


def test_token_must_be_hex() -> None:
    with pytest.raises(ValueError):
        VirtualMiioDevice(load_spec("cuco.plug.cp1"), token="short", did=1)
