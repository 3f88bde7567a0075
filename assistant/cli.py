"""Command line: run | say | devices | check-config."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from assistant import __version__
from assistant.config import Settings, default_config_path, load_config, resolve_control_socket
from assistant.control import NO_DAEMON, daemon_alive, request
from assistant.errors import AssistantError, ConfigError, ControlError
from assistant.listen.wakeword import check_wake_words
from assistant.messages import TurnEvent
from assistant.secrets import Secret
from integrations.miio.spec import check_models

__all__ = ["main"]

_LOGGER = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        type=Path,
        default=None,
        help="configuration file (default: ./config.yaml, then /etc/mimo-assistant/config.yaml)",
    )
    common.add_argument("--json", action="store_true", help="print JSON")
    common.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    parser = argparse.ArgumentParser(prog="mimo-assistant", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "run",
        parents=[common],
        help="run the daemon (--json: print every turn event as a JSON line)",
    )
    say = sub.add_parser("say", parents=[common], help="run one text turn")
    say.add_argument("text", nargs="+", help="what to say, e.g. 'turn on the living room lamp'")
    say.add_argument("--area", help="the room the command comes from")
    say.add_argument(
        "--local", action="store_true", help="run in this process even when a daemon is running"
    )
    listen = sub.add_parser("listen", parents=[common], help="one voice turn from a WAV file")
    listen.add_argument("wav", type=Path, help="a PCM WAV file, any rate and channels")
    listen.add_argument("--area", help="the room the command comes from")
    listen.add_argument("--reply-wav", type=Path, help="write the spoken reply here")
    demo = sub.add_parser("demo", parents=[common], help="spoken commands into the demo home")
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("demo-replies"),
        help="folder for the reply WAV files (default: ./demo-replies)",
    )
    sub.add_parser("devices", parents=[common], help="list devices and their state")
    sub.add_parser("check-config", parents=[common], help="validate the configuration")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except BrokenPipeError:  # `mimo-assistant devices | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def _main(args: argparse.Namespace) -> int:
    path = args.config or default_config_path()
    if args.config is None and not path.exists():
        print(
            f"mimo-assistant: no configuration: neither ./config.yaml nor {path} exists; "
            "pass -c FILE (the repository's config.yaml is the demo home)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        warnings: list[str] = []
        settings = load_config(
            path, checks=[check_models, _check_mqtt, check_wake_words], warn=warnings.append
        )
    except ConfigError as err:
        if args.json and args.command == "check-config":
            print(json.dumps({"config": str(path), "ok": False, "problems": err.problems}))
        else:
            for problem in err.problems:
                print(problem, file=sys.stderr)
        return EXIT_CONFIG
    if args.command in ("check-config", "run"):
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    _setup_logging(settings, verbose=args.verbose, quiet=args.command != "run")
    try:
        if args.command == "check-config":
            return _check_config(path, settings, args.json)
        if args.command == "run":
            from assistant.daemon import serve

            printer = _EventPrinter() if args.json else None
            try:
                asyncio.run(serve(settings, callback=printer))
            finally:
                if printer is not None:
                    printer.close()
            return EXIT_OK
        if args.command == "listen":
            return asyncio.run(_listen(settings, args))
        if args.command == "demo":
            return asyncio.run(_demo(settings, args))
        if args.command == "say":
            text = " ".join(args.text).strip()
            if not text:  # the daemon refuses it too; say so before starting anything
                print("mimo-assistant say: nothing to say (give the words)", file=sys.stderr)
                return EXIT_CONFIG
            return asyncio.run(_say(settings, text, args.area, args.json, args.local))
        return asyncio.run(_devices(settings, args.json))
    except KeyboardInterrupt:
        return EXIT_FAILED
    except AssistantError as err:
        print(f"mimo-assistant: {err}", file=sys.stderr)
        return EXIT_CONFIG if err.code.startswith("config") else EXIT_FAILED


class _EventPrinter:
    """``run --json``: every turn event as one JSON line on stdout.

    Lines are written by one worker thread, in order, so a slow reader of stdout never
    stalls the event loop.
    """

    def __init__(self) -> None:
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="event-printer")

    def __call__(self, event: TurnEvent) -> None:
        record = {
            "turn_id": event.turn_id,
            "type": str(event.type),
            "stage": event.stage,
            "elapsed_ms": round(event.elapsed_ms, 2),
            **event.data,
        }
        self._writer.submit(_write_line, json.dumps(record, default=str))

    def close(self) -> None:
        self._writer.shutdown(wait=True)


def _write_line(line: str) -> None:
    try:
        print(line, flush=True)
    except (BrokenPipeError, OSError):
        pass  # nobody reads the events any more; the daemon goes on


def _check_mqtt(settings: Settings) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """Hand-written MQTT devices can be built (imported only when config has some)."""
    if not any(d.mqtt is not None and d.mqtt.discovered is None for d in settings.devices):
        return ()
    from integrations.mqtt.manual import check_mqtt_devices

    return list(check_mqtt_devices(settings))


def _check_config(path: Path, settings: Settings, as_json: bool) -> int:
    summary = {
        "config": str(path),
        "ok": True,
        "areas": len(settings.areas),
        "devices": len(settings.devices),
    }
    if as_json:
        print(json.dumps(summary))
    else:
        print(f"{path}: OK ({len(settings.devices)} devices in {len(settings.areas)} areas)")
    return EXIT_OK


async def _daemon(settings: Settings, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The running daemon's answer, or None when no daemon runs (nothing was sent).

    Once a request has been sent, a missing answer is an error, never a reason to run the
    request again here: the daemon may have carried it out.
    """
    path = resolve_control_socket(settings)
    try:
        return await request(path, payload)
    except ControlError as err:
        if err.code != NO_DAEMON:
            raise
        _LOGGER.debug("%s", err)
        return None


async def _say(settings: Settings, text: str, area: str | None, as_json: bool, local: bool) -> int:
    if local and settings.devices and await daemon_alive(resolve_control_socket(settings)):
        if any(d.virtual is not None for d in settings.devices):
            raise AssistantError(
                "a daemon is running and owns the virtual devices; --local would change a "
                "second copy of their state. Leave out --local to use the daemon.",
                code="daemon-running",
            )
    answer = None if local else await _daemon(settings, {"op": "say", "text": text, "area": area})
    if answer is None:
        from assistant.runtime import Home

        async with Home(settings) as home:
            assert home.pipeline is not None
            area_id = home.area_id(area or settings.site.area)
            result = (
                await home.pipeline.run_text(text, area_id=area_id, site=settings.site.name)
            ).to_json()
    elif not answer.get("ok"):
        raise AssistantError(str(answer.get("error")), code="daemon-error")
    else:
        result = answer["result"]
    print(json.dumps(result, indent=2) if as_json else result["reply"])
    return EXIT_OK if result["ok"] else EXIT_FAILED


async def _listen(settings: Settings, args: argparse.Namespace) -> int:
    """One voice turn from a WAV file, in this process."""
    from assistant.audio import read_wav, write_wav
    from assistant.listen.base import HubInfo
    from assistant.messages import AudioChunk
    from assistant.runtime import Home

    pcm, fmt = await asyncio.to_thread(read_wav, args.wav)
    async with Home(settings, voice=True) as home:
        assert home.voice is not None
        home.area_id(args.area)  # an unknown --area is an error before anything is heard
        step = fmt.bytes_per_second // 50  # 20 ms chunks, whole frames
        step -= step % (fmt.width * fmt.channels)

        async def chunks() -> AsyncIterator[AudioChunk]:
            for offset in range(0, len(pcm), step):
                yield AudioChunk(pcm[offset : offset + step], fmt)

        hub = HubInfo("cli", args.area or settings.site.area)
        turn = await home.voice(chunks(), hub)
        reply = b"".join([c.audio async for c in turn.audio()])
        if args.reply_wav:
            await asyncio.to_thread(write_wav, args.reply_wav, reply, home.speaker.voice_format)
    result = turn.to_json()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"heard: {turn.transcript!r}\nreply: {turn.text}")
    return EXIT_OK if result["ok"] else EXIT_FAILED


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from assistant.demo import describe, run_demo

    if await daemon_alive(resolve_control_socket(settings)):
        raise AssistantError(
            "a daemon is running and owns the demo home's devices; stop it first",
            code="daemon-running",
        )
    started = time.perf_counter()
    records = await run_demo(settings, args.out)
    for record in records:
        print(json.dumps(record) if args.json else describe(record) + "\n")
    if not args.json:
        print(f"{len(records)} commands in {time.perf_counter() - started:.1f} s")
    return EXIT_OK if all(r["error"] is None for r in records) else EXIT_FAILED


async def _devices(settings: Settings, as_json: bool) -> int:
    answer = await _daemon(settings, {"op": "devices"})
    if answer is None:
        from assistant.runtime import Home, device_rows

        async with Home(settings) as home:
            rows = device_rows(home)
    else:
        rows = answer["devices"]
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        print(_table(rows))
    return EXIT_OK


def _table(rows: list[dict[str, Any]]) -> str:
    header = ("NAME", "AREA", "KIND", "STATE", "AVAILABLE")
    lines = [header] + [
        (
            r["name"],
            r["area"] or "-",
            r["kind"],
            _state_text(r["state"]),
            "yes" if r["available"] else "no",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _state_text(state: dict[str, Any]) -> str:
    if not state:
        return "-"
    parts = []
    for key, value in state.items():
        if key == "on_off":
            parts.insert(0, "on" if value else "off")
        elif isinstance(value, float):
            parts.append(f"{key}={value:g}")
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)


# --- logging ---------------------------------------------------------------------------------


class _RedactSecrets(logging.Filter):
    """Defence in depth: blank out any configured secret that reaches a log record."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self._secrets:
            cleaned = cleaned.replace(secret, "**********")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _secrets_in(value: Any) -> Iterator[str]:
    if isinstance(value, Secret):
        yield value.reveal()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets_in(getattr(value, name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _secrets_in(item)


def _setup_logging(settings: Settings, *, verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else getattr(logging, settings.logging.level)
    if quiet and not verbose:
        level = max(level, logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactSecrets(list(_secrets_in(settings))))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
