"""Overload: 1, 25, 100 and 200 clients each sending one sync request at once, and what the server does.

    python bench/load.py [--clients 1 25 100 200] [--max-wait-s 60]

Starts `openasr serve` on a free loopback port (its own data directory, the given back-pressure bound),
then for each client count fires that many DashScope sync requests together (data URIs of the committed
English clips of 5–15 s, one attempt each, no retry) and prints: how many were answered 2xx, how many
were refused (429/503, each with its Retry-After), any other status, p50/p95 latency of the accepted
ones, and the server's resident memory: before the level, its peak during it, and 5 s after it ended.
Every accepted answer is checked against the clip's reference text (word error rate under 0.5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import jiwer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from concurrency import GENERATION, KEY, wav_uri
from concurrency import start_server as _start_default
from corpus import RATE_HZ, english_clips

SETTLE_S = 5.0


@dataclass
class Level:
    clients: int
    ok: int
    refused: int
    other: dict[int, int]
    wrong: int
    retry_after_missing: int
    latencies: list[float]
    rss_before_mb: float
    rss_peak_mb: float
    rss_after_mb: float


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def normalized(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def run_level(base: str, pid: int, bodies: list[tuple[dict, str]], clients: int) -> Level:
    before = rss_mb(pid)
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.2):
            peak = max(peak, rss_mb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = threading.Barrier(clients)

    def one(i: int) -> tuple[int, float, bool, bool]:
        body, reference = bodies[i % len(bodies)]
        start.wait()
        began = time.perf_counter()
        r = httpx.post(base + GENERATION, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=900)
        latency = time.perf_counter() - began
        correct = False
        if r.status_code == 200:
            text = r.json()["output"]["choices"][0]["message"]["content"][0]["text"]
            correct = jiwer.wer(normalized(reference), normalized(text)) < 0.5
        return r.status_code, latency, correct, "retry-after" in r.headers

    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(one, range(clients)))
    done.set()
    sampler.join()
    peak = max(peak, rss_mb(pid))
    time.sleep(SETTLE_S)
    other: dict[int, int] = {}
    for status, *_ in results:
        if status not in (200, 429, 503):
            other[status] = other.get(status, 0) + 1
    refused = [r for r in results if r[0] in (429, 503)]
    return Level(
        clients=clients,
        ok=sum(1 for r in results if r[0] == 200),
        refused=len(refused),
        other=other,
        wrong=sum(1 for r in results if r[0] == 200 and not r[2]),
        retry_after_missing=sum(1 for r in refused if not r[3]),
        latencies=[r[1] for r in results if r[0] == 200],
        rss_before_mb=before,
        rss_peak_mb=peak,
        rss_after_mb=rss_mb(pid),
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 25, 100, 200])
    parser.add_argument("--max-wait-s", type=float, default=None, help="default: the server's own")
    args = parser.parse_args(argv)
    clips = [c for c in english_clips() if 5 <= len(c.samples) / RATE_HZ <= 15]
    bodies = [
        (
            {
                "model": "qwen3-asr-flash",
                "input": {"messages": [{"role": "user", "content": [{"audio": wav_uri(c.samples)}]}]},
            },
            c.reference,
        )
        for c in clips
    ]
    if args.max_wait_s is not None:
        os.environ["OPENASR_MAX_WAIT_S"] = str(args.max_wait_s)
    with tempfile.TemporaryDirectory() as tmp:
        process, base = _start_default(Path(tmp))
        try:
            run_level(base, process.pid, bodies, 1)  # warm-up
            levels = [run_level(base, process.pid, bodies, n) for n in args.clients]
        finally:
            process.terminate()
            process.wait(timeout=60)
    bound = args.max_wait_s if args.max_wait_s is not None else "default"
    table = Table(
        title=f"Overload: one request per client, all at once; {len(clips)} real clips of 5–15 s; "
        f"bound {bound} s of predicted wait; {os.cpu_count()} cores"
    )
    columns = ("clients", "2xx", "429/503", "other", "wrong text", "p50 accepted", "p95 accepted")
    for column in (*columns, "RSS before", "RSS peak", f"RSS {SETTLE_S:g} s after"):
        table.add_column(column, justify="right")
    for level in levels:
        lat = level.latencies
        table.add_row(
            str(level.clients),
            str(level.ok),
            f"{level.refused}"
            + (f" ({level.retry_after_missing} w/o Retry-After)" if level.retry_after_missing else ""),
            ", ".join(f"{k}×{v}" for k, v in level.other.items()) or "0",
            str(level.wrong),
            f"{statistics.median(lat):.1f} s" if lat else "–",
            f"{percentile(lat, 0.95):.1f} s" if lat else "–",
            f"{level.rss_before_mb:.0f} MB",
            f"{level.rss_peak_mb:.0f} MB",
            f"{level.rss_after_mb:.0f} MB",
        )
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
