"""Peak memory by input length: 5-minute, 30-minute and 2-hour recordings through `openasr transcribe`.

    python bench/memory.py [--minutes 5 30 120]

Each recording is real English speech throughout (the committed clips repeated with 1 s pauses), so
every run keeps the engine's batches full, its worst case for memory, and what differs between lengths is
what grows with duration (decoding, VAD, buffering, results). Each run is a fresh `openasr transcribe -f
json` child process with the default settings; its peak RSS comes from the kernel (`wait4`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import build_recording


def peak_rss_mb(command: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command} failed: {process.stderr.read().decode() if process.stderr else ''}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 30, 120])
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = Path(tmp) / f"{minutes:g}min.flac"
            build_recording(path, minutes * 60)
            command = [sys.executable, "-m", "openasr.cli.main", "transcribe", str(path), "-f", "json"]
            rss, seconds = peak_rss_mb(command)
            rows.append((minutes, rss, seconds))
            print(f"{minutes:g} min: {rss:.0f} MB in {seconds:.0f} s", file=sys.stderr)
    base = rows[0][1]
    table = Table(title="Peak RSS of `openasr transcribe` by input length (whisper-base, speech throughout)")
    for column in ("input", "peak RSS", "vs shortest", "wall time"):
        table.add_column(column, justify="right")
    for minutes, rss, seconds in rows:
        table.add_row(f"{minutes:g} min", f"{rss:.0f} MB", f"{(rss / base - 1) * 100:+.1f} %", f"{seconds:.0f} s")
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
