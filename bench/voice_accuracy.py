"""Spoken-command accuracy: the daemon's voice path vs plain transcribe-then-grammar.

Every command in ``_voice_data.COMMANDS`` (the demo home of config.yaml, hub in the living
room) is rendered several ways: piper's joe voice at its own speed and slower or faster
(``length_scale``), espeak-ng (a very different, robotic voice), and some of those with sox
noise under them. Each clip is 0.3 s of silence, the speech, 1.5 s of silence (noise, if
any, over all of it). On the same clip, in the same run:

- baseline: faster-whisper's plain ``WhisperModel.transcribe`` (same tiny.en, beam 5, no
  prompt, no hints), its text through the grammar (``Pipeline.run_text``);
- daemon: ``home.voice(audio, hub)``, the path hubs use (segmenter, hints, alternatives,
  whatever it does), read from ``VoiceTurn.result``.

A turn is right when its intent and its targets (devices acted on; the device or area
asked about) are the expected ones; "exact" also checks values (brightness, colour,
temperature, state asked about). Acting on the virtual devices is part of the run; the
state lives in a temporary folder. Not part of the test run.

Calibration of ``voice.stt.min_confidence`` (daemon arm): each clip's transcript confidence
and what acting on that transcript does: right, wrong and a device was sent a command
(dangerous), wrong but harmless (no intent, or a question about the wrong thing), or nothing
heard (no text: never asked again, whatever the threshold). A turn the daemon asked again
(confidence below the configured threshold) is replayed after it: its transcript goes the
way an acting voice turn goes (the first of its readings the grammar understands, the others
as alternatives, as ``VoiceAssistant`` does) through ``Pipeline.run_text`` on a site of its
own, so its verdict is what a lower threshold would have done, and the turns after it keep
their history. (The best reading alone through the grammar would not do: the daemon acts on
"is the air purifier on" when it heard "Is there pure if I wrong?".) The threshold gates
only after hearing (and the early end, which at the end of speech uses the same speculative
transcript), so the transcript, and with it this verdict, does not depend on the threshold:
for any threshold t, a turn with text and confidence below t is asked again, any other acts
with that verdict. The table gives the confidence quantiles of right and wrong turns, and
per threshold the wrong turns caught (asked again instead) and the right turns lost (asked
again needlessly).

    python bench/voice_accuracy.py [--limit N] [--snr 15] [--no-misses] [--csv clips.csv]
        [--min-confidence 0.3]

``--min-confidence`` runs the daemon at another threshold; the table should not change
with it (beyond the decoder's run-to-run noise), which checks the replay.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _voice_data as vd  # noqa: E402
import numpy as np  # noqa: E402

from assistant.config import Settings  # noqa: E402
from assistant.listen.base import HubInfo  # noqa: E402
from assistant.messages import Transcript  # noqa: E402
from assistant.runtime import Home  # noqa: E402
from assistant.speak.tts import Speaker  # noqa: E402
from assistant.transcribe import default_model_path  # noqa: E402
from assistant.turn import TurnResult  # noqa: E402

LEAD_S, TRAIL_S = 0.3, 1.5
THRESHOLDS = tuple(round(0.1 + 0.05 * i, 2) for i in range(15))
"""min_confidence values the calibration table tries: 0.10 to 0.80."""


@dataclass
class Row:
    clip: vd.Clip
    base_text: str
    base: vd.Verdict
    voice_text: str
    voice: vd.Verdict
    asked_again: bool
    base_ms: float
    voice_ms: float
    confidence: float | None
    """The daemon's transcript confidence; None: nothing heard (no text)."""
    acting: vd.Verdict | None
    """Acting on the daemon's transcript: its turn, or the replay of one asked again."""
    commanded: bool
    """... and that sent a device a command."""
    replay_text: str = ""
    """What the replay of a turn asked again acted on."""


async def render(commands: tuple[vd.Command, ...], snr: float, log: bool) -> list[vd.Clip]:
    """Every clip of every command (see the module docstring for which)."""
    piper = {
        "piper": Speaker(variation=False),
        "piper-slow": Speaker(variation=False, length_scale=1.25),
        "piper-fast": Speaker(variation=False, length_scale=0.85),
    }
    await asyncio.gather(*(s.load() for s in piper.values()))
    clips: list[vd.Clip] = []
    started = time.perf_counter()
    for i, command in enumerate(commands):
        # every command: piper and espeak-ng; every other one: piper slower or faster,
        # the others: piper or espeak-ng with noise under it
        own = await vd.piper_pcm(piper["piper"], command.text)
        espeak = await asyncio.to_thread(vd.espeak_pcm, command.text)
        variants = [("piper", own), ("espeak-ng", espeak)]
        if i % 2 == 0:
            paced = "piper-slow" if i % 4 == 0 else "piper-fast"
            variants.append((paced, await vd.piper_pcm(piper[paced], command.text)))
        for voice, pcm in variants:
            clip = vd.pad(pcm, LEAD_S, TRAIL_S)
            clips.append(vd.Clip(command, voice, clip, LEAD_S + vd.speech_bounds(pcm)[1]))
        if i % 2 == 1:
            label, pcm, kind = (
                ("piper+white", own, "whitenoise")
                if i % 4 == 1
                else ("espeak-ng+pink", espeak, "pinknoise")
            )
            clip = vd.pad(pcm, LEAD_S, TRAIL_S)
            noisy = await asyncio.to_thread(vd.add_noise, clip, snr, kind, i)
            end = LEAD_S + vd.speech_bounds(pcm)[1]
            clips.append(vd.Clip(command, f"{label} {snr:g} dB", noisy, end))
    if log:
        print(
            f"rendered {len(clips)} clips in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    return clips


async def act_anyway(home: Home, heard: Transcript, area: str | None) -> TurnResult:
    """What the daemon does with a transcript it is sure enough of (``VoiceAssistant``):
    the first reading the grammar understands (else the best), the others as alternatives.
    On a site of its own, so the daemon's turns keep their history."""
    assert home.pipeline is not None
    readings = (heard.text, *heard.alternatives)
    text = heard.text
    for reading in readings:
        if await home.pipeline.understands(reading, area_id=area):
            text = reading
            break
    others = [t for t in readings if t != text]
    return await home.pipeline.run_text(text, area_id=area, site="replay", alternatives=others)


def _with_min_confidence(settings: Settings, value: float) -> Settings:
    voice = settings.voice
    stt = voice.stt.model_copy(update={"min_confidence": value})
    return settings.model_copy(update={"voice": voice.model_copy(update={"stt": stt})})


def plain_model(threads: int):
    from faster_whisper import WhisperModel

    return WhisperModel(
        str(default_model_path()), device="cpu", compute_type="int8", cpu_threads=threads
    )


def plain_transcribe(model, pcm: bytes, beam: int) -> str:
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    segments, _ = model.transcribe(
        audio, language="en", beam_size=beam, vad_filter=False, condition_on_previous_text=False
    )
    return " ".join(s.text.strip() for s in segments).strip()


async def run(args: argparse.Namespace) -> None:
    missing = vd.have_tools()
    if missing:
        sys.exit(f"missing tools: {', '.join(missing)} (apt-get install espeak-ng sox)")
    commands = vd.COMMANDS[: args.limit] if args.limit else vd.COMMANDS
    with tempfile.TemporaryDirectory(prefix="voice-accuracy-") as tmp:
        settings = vd.demo_settings(Path(tmp) / "state")
        if args.min_confidence is not None:
            settings = _with_min_confidence(settings, args.min_confidence)
        async with Home(settings, voice=True) as home:
            assert home.voice is not None and home.pipeline is not None
            hub = HubInfo("bench", settings.site.area)
            model = await asyncio.to_thread(plain_model, home.transcriber._threads)
            clips = await render(commands, args.snr, True)
            rows: list[Row] = []
            started = time.perf_counter()
            for n, clip in enumerate(clips, 1):
                rows.append(await measure(home, model, clip, hub, args.beam))
                if n % 20 == 0:
                    print(
                        f"  {n}/{len(clips)} clips, {time.perf_counter() - started:.0f} s",
                        file=sys.stderr,
                    )
    report(rows, len(commands), args)
    calibration(rows, settings.voice.stt.min_confidence)
    if args.csv is not None:
        write_csv(rows, args.csv)


async def measure(home: Home, model, clip: vd.Clip, hub: HubInfo, beam: int) -> Row:
    """One clip through both arms; a daemon turn asked again is replayed (module docstring)."""
    assert home.voice is not None and home.pipeline is not None
    area = home.area_id(hub.area)
    t0 = time.perf_counter()
    text = await asyncio.to_thread(plain_transcribe, model, clip.pcm, beam)
    base_ms = (time.perf_counter() - t0) * 1000
    base_result = await home.pipeline.run_text(text, area_id=area) if text else None
    t0 = time.perf_counter()
    turn = await home.voice(vd.chunks(clip.pcm), hub)
    voice_ms = (time.perf_counter() - t0) * 1000
    heard = turn.heard
    confidence = heard.confidence if heard is not None and heard.text else None
    asked = (
        confidence is not None
        and turn.result.intent is None
        and confidence < home.settings.voice.stt.min_confidence
    )
    acting = await act_anyway(home, heard, area) if asked and heard is not None else turn.result
    return Row(
        clip,
        text,
        vd.judge(clip.command, base_result, home.registry),
        turn.transcript,
        vd.judge(clip.command, turn.result, home.registry),
        asked,
        base_ms,
        voice_ms,
        confidence,
        None if confidence is None else vd.judge(clip.command, acting, home.registry),
        bool(acting.results),
        acting.text if asked else "",
    )


def _acc(rows: list[Row], which: str, exact: bool = False) -> tuple[int, float]:
    good = sum((getattr(r, which).exact if exact else getattr(r, which).ok) for r in rows)
    return good, 100.0 * good / len(rows)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "inf"


def report(rows: list[Row], commands: int, args: argparse.Namespace) -> None:
    by_voice: dict[str, list[Row]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.clip.voice):
        by_voice[row.clip.voice].append(row)
    print(
        f"\nCommand accuracy: {commands} commands, {len(rows)} clips (demo home, hub in the "
        f"living room); baseline = plain faster-whisper tiny.en (beam {args.beam}, no hints) "
        "+ grammar; daemon = home.voice(); same audio, same run.\n"
    )
    head = (
        f"{'voice':<22}{'clips':>6}{'baseline':>10}{'daemon':>10}{'ratio':>8}"
        f"{'errors b/d':>12}{'exact b/d':>14}"
    )
    print("intent + targets right, % of clips")
    print(head)
    print("-" * len(head))
    for voice, group in [*by_voice.items(), ("ALL", rows)]:
        bn, bp = _acc(group, "base")
        dn, dp = _acc(group, "voice")
        _, bx = _acc(group, "base", exact=True)
        _, dx = _acc(group, "voice", exact=True)
        errors = f"{len(group) - bn}/{len(group) - dn}"
        if voice == "ALL":
            print("-" * len(head))
        print(
            f"{voice:<22}{len(group):>6}{bp:>9.1f}%{dp:>9.1f}%{_ratio(dp, bp):>8}"
            f"{errors:>12}{f'{bx:.0f}%/{dx:.0f}%':>14}"
        )
    bn, bp = _acc(rows, "base")
    dn, dp = _acc(rows, "voice")
    base_err, voice_err = len(rows) - bn, len(rows) - dn
    print(
        f"\noverall: baseline {bp:.1f}%, daemon {dp:.1f}% -> daemon/baseline accuracy "
        f"{_ratio(dp, bp)}, error rate {voice_err}/{len(rows)} vs {base_err}/{len(rows)} "
        f"({_ratio(voice_err, base_err)} of the baseline's); target >= 95%: "
        f"{'met' if dp >= 95 else 'NOT met'}"
    )
    for which, label in (("base", "baseline"), ("voice", "daemon")):
        miss = [r for r in rows if not getattr(r, which).ok]
        wrong = sum(getattr(r, which).acted for r in miss)
        asked = sum(r.asked_again for r in miss) if which == "voice" else 0
        extra = f", {asked} of them asked again (low confidence)" if which == "voice" else ""
        print(
            f"{label} misses: {len(miss)}: {wrong} acted on (or asked about) the wrong "
            "intent/targets, "
            f"{len(miss) - wrong} did nothing{extra}"
        )
    b_ms = [r.base_ms for r in rows]
    v_ms = [r.voice_ms for r in rows]
    print(
        f"time per clip (clips fed as fast as read, 1.8 s of silence included): baseline "
        f"transcribe p50 {vd.pct(b_ms, 50):.0f} ms, daemon voice turn p50 "
        f"{vd.pct(v_ms, 50):.0f} ms"
    )
    misses = [r for r in rows if not (r.voice.ok and r.base.ok)]
    if misses and args.misses:
        print("\nmisses (B = baseline, D = daemon; * = wrong there):")
        for r in misses:
            said, want = r.clip.command.text, vd.want(r.clip.command)
            print(f"  [{r.clip.voice}] said {said!r}; want {want}")
            for tag, text, verdict in (("B", r.base_text, r.base), ("D", r.voice_text, r.voice)):
                mark = "*" if not verdict.ok else " "
                conf = f" ({r.confidence:.2f})" if tag == "D" and r.confidence is not None else ""
                print(f"     {tag}{mark} heard {text!r}{conf} -> {verdict.got}")
            if r.asked_again and r.acting is not None:
                print(f"       acting on {r.replay_text!r} would have been -> {r.acting.got}")


def _kind(row: Row) -> str:
    """right; commanded (wrong, and a device was sent a command); harmless (wrong: no
    intent, or a question about the wrong thing); nothing (no text heard)."""
    if row.acting is None:
        return "nothing"
    if row.acting.ok:
        return "right"
    return "commanded" if row.commanded else "harmless"


def _quantiles(values: list[float]) -> str:
    if not values:
        return f"{'-':>7}" * 5
    qs = (min(values), vd.pct(values, 5), vd.pct(values, 25), vd.pct(values, 50), max(values))
    return "".join(f"{q:>7.2f}" for q in qs)


def calibration(rows: list[Row], current: float) -> None:
    """Confidence of right vs wrong turns, and what each threshold would catch and lose."""
    by_kind: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        by_kind[_kind(row)].append(row.confidence or 0.0)
    by_kind["wrong"] = by_kind["commanded"] + by_kind["harmless"]
    asked = sum(r.asked_again for r in rows)
    print(
        f"\nCalibration of voice.stt.min_confidence (daemon; now {current:g}, {asked} turns "
        "asked again, replayed to judge them): transcript confidence by what acting on it does"
    )
    head = f"{'':<24}{'clips':>6}{'min':>7}{'p5':>7}{'p25':>7}{'p50':>7}{'max':>7}"
    print(head)
    print("-" * len(head))
    for kind, label in (
        ("right", "right"),
        ("wrong", "wrong"),
        ("commanded", "  commanded a device"),
        ("harmless", "  harmless"),
    ):
        values = by_kind[kind]
        print(f"{label:<24}{len(values):>6}{_quantiles(values)}")
    print(f"{'nothing heard':<24}{len(by_kind['nothing']):>6}   (never asked again)")
    right, wrong = by_kind["right"], by_kind["wrong"]
    danger = by_kind["commanded"]
    head = (
        f"{'threshold':>10}{'asked':>8}{'wrong caught':>16}{'commanded caught':>20}"
        f"{'right lost':>14}{'right kept':>14}"
    )
    print(f"\n{head}")
    print("-" * len(head))
    for t in sorted({*THRESHOLDS, current}):
        lost = sum(c < t for c in right)
        caught = sum(c < t for c in wrong)
        dcaught = sum(c < t for c in danger)
        kept = len(right) - lost
        mark = " <- now" if t == current else ""
        print(
            f"{t:>10.2f}{lost + caught:>8}{f'{caught}/{len(wrong)}':>16}"
            f"{f'{dcaught}/{len(danger)}':>20}"
            f"{f'{lost} ({_share(lost, len(right))})':>14}"
            f"{f'{_share(kept, len(rows))}':>14}{mark}"
        )
    print("(right kept: % of all clips right at that threshold; asked: turns asked again)")


def write_csv(rows: list[Row], path: Path) -> None:
    """One line per clip: the daemon's transcript, its confidence, what acting on it does."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("voice", "said", "heard", "confidence", "kind", "asked_again", "got"))
        for r in rows:
            conf = "" if r.confidence is None else f"{r.confidence:.3f}"
            got = r.acting.got if r.acting is not None else ""
            writer.writerow(
                (
                    r.clip.voice,
                    r.clip.command.text,
                    r.voice_text,
                    conf,
                    _kind(r),
                    r.asked_again,
                    got,
                )
            )
    print(f"per-clip confidences written to {path}", file=sys.stderr)


def _share(n: int, of: int) -> str:
    return f"{100.0 * n / of:.1f}%" if of else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="first N commands only")
    parser.add_argument("--snr", type=float, default=15.0, help="noise clips: SNR, dB")
    parser.add_argument("--beam", type=int, default=5, help="baseline beam size")
    parser.add_argument(
        "--no-misses", dest="misses", action="store_false", help="do not list the misses"
    )
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        help="run the daemon at this voice.stt.min_confidence (default: config.yaml's)",
    )
    parser.add_argument(
        "--csv", type=Path, default=None, help="also write each clip's confidence here"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
