"""Concurrent sync requests: 1, 4 and 8 clients sending real 5–15 s clips to a real server.

    python bench/concurrency.py [--requests 24] [--clients 1 4 8]

Starts `openasr serve` on a free loopback port (its own data directory), then for each client count
sends the same number of DashScope sync requests (data URIs of the committed English clips of 5–15 s)
from that many threads. Prints throughput (audio seconds recognised per wall second, and requests per
second) and p50/p95 latency, with the ratio of each throughput to the one-client run.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import RATE_HZ, english_clips

GENERATION = "/api/v1/services/aigc/multimodal-generation/generation"
KEY = "sk-bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(
        os.environ,
        OPENASR_DATA_DIR=str(data_dir),
        OPENASR_API_KEYS=KEY,
        OPENASR_RATE_LIMIT_PER_MINUTE="0",
        OPENASR_WORKERS="0",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "openasr.cli.main", "serve", "--port", str(port), "--log-level", "warning"], env=env
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


def wav_uri(samples: object) -> str:
    import io

    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=RATE_HZ, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            (np.clip(samples, -1, 1) * 32767).astype(np.int16)[None, :], format="s16", layout="mono"
        )
        frame.sample_rate = RATE_HZ
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


def run_level(
    base: str, bodies: list[tuple[dict, float]], clients: int, requests: int
) -> tuple[float, float, list[float]]:
    def one(i: int) -> tuple[float, float]:
        body, seconds = bodies[i % len(bodies)]
        start = time.perf_counter()
        r = httpx.post(base + GENERATION, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=600)
        r.raise_for_status()
        return time.perf_counter() - start, seconds

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - start
    return sum(s for _, s in results) / wall, requests / wall, [latency for latency, _ in results]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args(argv)
    clips = [c for c in english_clips() if 5 <= len(c.samples) / RATE_HZ <= 15]
    bodies = [
        (
            {
                "model": "qwen3-asr-flash",
                "input": {"messages": [{"role": "user", "content": [{"audio": wav_uri(c.samples)}]}]},
            },
            len(c.samples) / RATE_HZ,
        )
        for c in clips
    ]
    with tempfile.TemporaryDirectory() as tmp:
        process, base = start_server(Path(tmp))
        try:
            run_level(base, bodies, 1, min(2, args.requests))  # warm-up
            rows = [(n, *run_level(base, bodies, n, args.requests)) for n in args.clients]
        finally:
            process.terminate()
            process.wait(timeout=30)
    baseline = rows[0][1]
    table = Table(
        title=f"Concurrent sync requests: {args.requests} requests per level, "
        f"{len(clips)} real clips of 5–15 s, {os.cpu_count()} cores"
    )
    for column in ("clients", "audio s / s", "× 1 client", "requests / s", "p50 latency", "p95 latency"):
        table.add_column(column, justify="right")
    for clients, audio_rate, request_rate, latencies in rows:
        ordered = sorted(latencies)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        table.add_row(
            str(clients),
            f"{audio_rate:.1f}",
            f"{audio_rate / baseline:.2f}",
            f"{request_rate:.2f}",
            f"{statistics.median(latencies):.2f} s",
            f"{p95:.2f} s",
        )
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
