"""Real-time recognition against issue 24's targets (spec §5.5), beside a re-decode-everything baseline.

    python bench/realtime.py [--seconds 40] [--sessions 4] [--stagger 1.1] [--minutes 1]

Starts `openasr serve` (whisper-base unless `OPENASR_DEFAULT_MODEL` says otherwise) on a free loopback
port and streams the committed English clips (1.2 s pauses between them) through the DashScope realtime
WebSocket, in real time, in 100 ms frames, with server VAD (silence 800 ms):

* one session over `--seconds` of speech: time to first caption (first non-empty `text`/`stash` after the
  first voiced frame was sent), final latency after the end of speech (`completed` after the frame holding
  the last voiced sample was sent), whether each final is identical to `openasr.transcribe` of that
  item's samples, whether confirmed `text` ever shrank, and the WER of the session's finals vs the WER of
  `openasr.transcribe` of the whole stream (both against the clips' references);
* `--sessions` sessions at once over the first half of the stream: final latency with all of them running,
  in lockstep (the same audio from the same instant: every turn ends in every session at once, the worst
  case) and started `--stagger` seconds apart (a quarter of a turn, as independent speakers are);
* one session looping the clips for `--minutes`: the server's RSS sampled every 10 s (first, last, peak).

The baseline, in the same run on the same machine, is what peers do with an offline model: every second
of new audio, re-decode the whole buffer so far (one decode at a time, audio arriving meanwhile coalesces),
in-process with the same engine; its "final" is the decode that starts after the last frame.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import websockets
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from asr_metrics import score
from concurrency import KEY, start_server
from corpus import RATE_HZ, english_clips

import openasr

FRAME = RATE_HZ // 10
PAUSE_S = 1.2
SILENCE_MS = 800
TAIL_MS = 200
"""`audio_end_ms` is the end of the last voiced frame plus min(silence, 200 ms) (spec §5.2)."""
MODEL = "qwen3-asr-flash-realtime"


@dataclass
class Trace:
    """One session: when each frame was sent, what came back and when."""

    sent: list[float] = field(default_factory=list)
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)


def stream(seconds: float) -> tuple[np.ndarray, str]:
    """The clips one after another with pauses, about `seconds` long, as s16-exact samples; its reference."""
    pieces, refs, total = [np.zeros(RATE_HZ // 2, np.float32)], [], 0.0
    clips = english_clips()
    while total < seconds:
        clip = clips[len(refs) % len(clips)]
        pieces += [clip.samples, np.zeros(int(PAUSE_S * RATE_HZ), np.float32)]
        refs.append(clip.reference)
        total += len(clip.samples) / RATE_HZ + PAUSE_S
    pcm = (np.clip(np.concatenate(pieces), -1, 1) * 32767).astype("<i2")
    return pcm.astype(np.float32) / 32768.0, " ".join(refs)


async def session(url: str, samples: np.ndarray, *, loops: int = 1) -> Trace:
    """Stream `samples` (`loops` times) in real time through one realtime session, then finish it."""
    trace = Trace()
    pcm = (samples * 32768).astype("<i2").tobytes()
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}, max_size=None) as ws:

        async def receive() -> None:
            async for message in ws:
                event = json.loads(message)
                trace.events.append((time.perf_counter(), event))
                if event["type"] == "session.finished":
                    return

        reader = asyncio.create_task(receive())
        vad = {"type": "server_vad", "threshold": 0.2, "prefix_padding_ms": 300, "silence_duration_ms": SILENCE_MS}
        update = {"input_audio_format": "pcm", "sample_rate": RATE_HZ, "turn_detection": vad}
        await ws.send(
            json.dumps(
                {"type": "session.update", "session": {**update, "input_audio_transcription": {"language": "en"}}}
            )
        )
        start = time.perf_counter()
        for n, offset in enumerate(o for _ in range(loops) for o in range(0, len(pcm), FRAME * 2)):
            await asyncio.sleep(max(0.0, start + n * 0.1 - time.perf_counter()))
            frame = base64.b64encode(pcm[offset : offset + FRAME * 2]).decode()
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": frame}))
            trace.sent.append(time.perf_counter())
        await ws.send(json.dumps({"type": "session.finish"}))
        await asyncio.wait_for(reader, 600)
    return trace


def sent_at(trace: Trace, ms: int) -> float:
    """When the frame holding the sample at `ms` (of audio sent) left the client."""
    return trace.sent[min(len(trace.sent) - 1, ms // 100)]


def items(trace: Trace) -> dict[str, dict[str, Any]]:
    """Per item: start/end ms, caption times and texts, final text and time."""
    out: dict[str, dict[str, Any]] = {}
    for at, e in trace.events:
        item = out.setdefault(e.get("item_id", ""), {"texts": [], "captions": []}) if e.get("item_id") else None
        if item is None:
            continue
        if e["type"] == "input_audio_buffer.speech_started":
            item["start_ms"] = e["audio_start_ms"]
        elif e["type"] == "input_audio_buffer.speech_stopped":
            item["end_ms"] = e["audio_end_ms"]
        elif e["type"].endswith(".text"):
            item["texts"].append(e["text"])
            if e["text"] or e["stash"]:
                item["captions"].append(at)
        elif e["type"].endswith(".completed"):
            item.update(final=e["transcript"], final_at=at)
    return {k: v for k, v in out.items() if "start_ms" in v and "end_ms" in v and "final" in v}


def measure(trace: Trace, samples: np.ndarray | None) -> dict[str, Any]:
    """The per-item metrics of one trace; `samples` given: compare each final with offline recognition."""
    found = items(trace)
    first = [i["captions"][0] - sent_at(trace, i["start_ms"] + 300) for i in found.values() if i["captions"]]
    final = [i["final_at"] - sent_at(trace, i["end_ms"] - TAIL_MS) for i in found.values()]
    shrank = sum(
        any(not b.startswith(a) for a, b in zip(i["texts"], i["texts"][1:], strict=False)) for i in found.values()
    )
    confirmed = [i for i in found.values() if any(i["texts"])]
    prefix = sum(words(i["final"])[: len(words(i["texts"][-1]))] == words(i["texts"][-1]) for i in confirmed)
    gaps = [b - a for i in found.values() for a, b in itertools.pairwise(i["captions"])]
    same = None
    if samples is not None:
        same = 0
        for name, i in found.items():
            alone = offline(samples[i["start_ms"] * 16 : i["end_ms"] * 16])
            same += i["final"] == alone
            if i["final"] != alone:
                step(f"{name} [{i['start_ms']}, {i['end_ms']}] ms: final {i['final']!r}, offline {alone!r}")
    return {
        "items": len(found),
        "first": first,
        "final": final,
        "shrank": shrank,
        "prefix": (prefix, len(confirmed)),
        "gaps": gaps,
        "same": same,
        "text": " ".join(i["final"] for i in found.values()),
    }


def words(text: str) -> list[str]:
    """Words as a caption and a final are compared: case and punctuation aside (a partial is greedy, the
    final a beam search)."""
    return [w for w in (w.strip(".,!?;:\"'").lower() for w in text.split()) if w]


def offline(samples: np.ndarray) -> str:
    return openasr.transcribe([samples], language="en").channels[0].text


def baseline(samples: np.ndarray) -> dict[str, Any]:
    """Peers' way, in real time: every second of new audio, decode the whole buffer so far."""
    arrived = [0]
    done = threading.Event()
    decodes: list[tuple[float, float, int]] = []  # (started, finished, samples decoded)
    start = time.perf_counter()

    def decoder() -> None:
        decoded = 0
        while not (done.is_set() and decoded == arrived[0]):
            if arrived[0] - decoded < RATE_HZ and not done.is_set():
                time.sleep(0.02)
                continue
            upto, began = arrived[0], time.perf_counter()
            offline(samples[:upto])
            decodes.append((began, time.perf_counter(), upto))
            decoded = upto

    worker = threading.Thread(target=decoder)
    worker.start()
    for n in range(0, len(samples), FRAME):
        time.sleep(max(0.0, start + n / RATE_HZ - time.perf_counter()))
        arrived[0] = min(len(samples), n + FRAME)
    done.set()
    worker.join()
    voiced = np.flatnonzero(np.abs(samples) > 0.01)
    first_voiced_at = start + voiced[0] / RATE_HZ
    last_voiced_at = start + voiced[-1] / RATE_HZ
    first = next((f - first_voiced_at for _, f, upto in decodes if upto > voiced[0] + RATE_HZ // 2), float("nan"))
    return {
        "first": [first],
        "final": [decodes[-1][1] - last_voiced_at],
        "last_decode_s": decodes[-1][1] - decodes[-1][0],
        "decodes": len(decodes),
        "text": offline(samples),
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def long_session(url: str, samples: np.ndarray, minutes: float, pid: int) -> list[float]:
    """RSS of the server every 10 s while one session loops `samples` for `minutes`."""
    loops = max(1, round(minutes * 60 * RATE_HZ / len(samples)))
    rss: list[float] = []
    task = asyncio.create_task(session(url, samples, loops=loops))
    while not task.done():
        rss.append(rss_mb(pid))
        await asyncio.wait([task], timeout=10)
    await task
    return rss


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else float("nan")


def report(
    one: dict[str, Any],
    many: dict[float, list[float]],
    peer: dict[str, Any],
    file_wer: float,
    ref: str,
    rss: list[float],
    args: argparse.Namespace,
) -> Table:
    table = Table(
        title=f"Real-time targets (spec §5.5): {args.seconds:.0f} s of speech in 100 ms frames, real time, "
        f"{os.environ.get('OPENASR_DEFAULT_MODEL', 'whisper-base')}, {os.cpu_count()} cores"
    )
    for column in ("metric", "target", "openasr", "baseline (re-decode all, every 1 s)"):
        table.add_column(column)
    for row in rows(one, many, peer, file_wer, ref, rss, args):
        table.add_row(*row)
    return table


def rows(
    one: dict[str, Any],
    many: dict[float, list[float]],
    peer: dict[str, Any],
    file_wer: float,
    ref: str,
    rss: list[float],
    args: argparse.Namespace,
) -> list[tuple[str, str, str, str]]:
    """The table's rows: metric, target, this run's figure, the baseline's."""
    stream_wer = score(ref, one["text"], "en").rate
    target_final = SILENCE_MS + 700
    return [
        ("time to first partial p50", "≤ 1.2 s", f"{p50(one['first']):.2f} s", f"{p50(peer['first']):.2f} s"),
        ("time to first partial p95", "≤ 2.0 s", f"{p95(one['first']):.2f} s", "—"),
        ("partial interval p50", "≤ 0.8 s", f"{p50(one['gaps']):.2f} s", "—"),
        (
            "final after end of speech p50",
            f"≤ {target_final / 1000:.1f} s",
            f"{p50(one['final']):.2f} s",
            f"{p50(peer['final']):.2f} s",
        ),
        ("final after end of speech p95", f"≤ {(SILENCE_MS + 1500) / 1000:.1f} s", f"{p95(one['final']):.2f} s", "—"),
        ("finals identical to offline", "all", f"{one['same']} / {one['items']}", "—"),
        (
            "stream WER vs file WER",
            "Δ ≤ 1.0 pp",
            f"{stream_wer:.1%} vs {file_wer:.1%}",
            f"{score(ref, peer['text'], 'en').rate:.1%} (whole buffer)",
        ),
        ("confirmed text shrank", "0 items", str(one["shrank"]), "—"),
        (
            "items whose last confirmed text begins the final",
            "≥ 95 %",
            f"{one['prefix'][0]} / {one['prefix'][1]}",
            "—",
        ),
        *(row for stagger_s, finals in many.items() for row in _concurrent_rows(stagger_s, finals, args)),
        (
            f"RSS over {args.minutes:g} min (first / last / peak)",
            "flat",
            f"{rss[0]:.0f} / {rss[-1]:.0f} / {max(rss):.0f} MB" if rss else "—",
            "—",
        ),
        (
            "cost of one update at the end",
            "bounded",
            "one item's window",
            f"{peer['last_decode_s']:.2f} s ({peer['decodes']} decodes)",
        ),
    ]


def _concurrent_rows(
    stagger_s: float, finals: list[float], args: argparse.Namespace
) -> list[tuple[str, str, str, str]]:
    """The rows of `--sessions` sessions started `stagger_s` apart (0: in lockstep)."""
    how = f"{args.sessions} sessions, " + (f"started {stagger_s:g} s apart" if stagger_s else "in lockstep")
    target_s = (SILENCE_MS + 700) / 1000
    on_target = sum(f <= target_s for f in finals)
    return [
        (f"{how}: final p50 / p95", f"≤ {target_s:.1f} s p50", f"{p50(finals):.2f} / {p95(finals):.2f} s", "—"),
        (f"{how}: finals on target", "all", f"{on_target} / {len(finals)}", "—"),
    ]


def step(what: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)


async def run(base: str, pid: int, args: argparse.Namespace) -> Table:
    url = base.replace("http", "ws") + f"/api-ws/v1/realtime?model={MODEL}"
    samples, ref = stream(args.seconds)
    half, _ = stream(args.seconds / 2)
    step("loading the in-process engine, warming the server")
    offline(samples[: RATE_HZ * 2])
    await session(url, half[: RATE_HZ * 3])
    step("one session")
    trace = await session(url, samples)
    step("comparing its finals with offline recognition")
    one = measure(trace, samples)
    many: dict[float, list[float]] = {}
    for stagger_s in (0.0, args.stagger):
        step(f"{args.sessions} sessions at once, started {stagger_s:g} s apart")

        async def later(delay_s: float) -> Trace:
            await asyncio.sleep(delay_s)
            return await session(url, half)

        traces = await asyncio.gather(*(later(i * stagger_s) for i in range(args.sessions)))
        many[stagger_s] = [f for t in traces for f in measure(t, None)["final"]]
    step(f"a {args.minutes:g} min session, RSS")
    rss = await long_session(url, half, args.minutes, pid)
    step("the whole stream offline, then the baseline")
    file_wer = score(ref, offline(samples), "en").rate
    peer = await asyncio.to_thread(baseline, samples)
    return report(one, many, peer, file_wer, ref, rss, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0, help="speech streamed in the single session")
    parser.add_argument("--sessions", type=int, default=4, help="concurrent sessions")
    parser.add_argument("--stagger", type=float, default=1.1, help="seconds between their starts, besides 0")
    parser.add_argument("--minutes", type=float, default=1.0, help="length of the memory session")
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENASR_MAX_REALTIME_SESSIONS", str(args.sessions + 2))
    with tempfile.TemporaryDirectory() as tmp:
        process, base = start_server(Path(tmp))
        try:
            table = asyncio.run(run(base, process.pid, args))
        finally:
            process.terminate()
            process.wait(timeout=30)
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
