"""What diarization's speaker embeddings cost: CPU time per window and per second of audio, on one thread.

    python bench/speaker_embedding_cost.py [FILE]   (default: tests/data/en/two_cities.flac)

Embeds 1.5 s windows every 0.75 s over the file (the stage's windowing) with the bundled CAM++ model on
onnxruntime, after one warm-up call, and prints CPU seconds (process time: less disturbed by other work
on a shared machine than wall-clock time, which is printed beside it). The figure `/docs` and the README
quote is the last column: the share of one core that each second of speech costs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from openasr.audio.decode import decode_audio
from openasr.core.types import SAMPLE_RATE_HZ
from openasr.diarization.embeddings import embed_windows

ROOT = Path(__file__).resolve().parents[1]
WINDOW_S = 1.5
HOP_S = 0.75


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=ROOT / "tests/data/en/two_cities.flac")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    samples = decode_audio(args.file)
    width, hop = int(WINDOW_S * SAMPLE_RATE_HZ), int(HOP_S * SAMPLE_RATE_HZ)
    windows = np.array([(a, a + width) for a in range(0, len(samples) - width + 1, hop)])
    seconds = len(samples) / SAMPLE_RATE_HZ
    embed_windows(samples, windows[:1])  # loads the model
    print("| audio s | windows | CPU s | wall s | CPU ms / window | share of one core per audio second |")
    print("|---|---|---|---|---|---|")
    for _ in range(args.repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        embed_windows(samples, windows)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        per_window_ms = cpu / len(windows) * 1000
        print(
            f"| {seconds:.1f} | {len(windows)} | {cpu:.2f} | {wall:.2f} | {per_window_ms:.0f} | {cpu / seconds:.1%} |"
        )


if __name__ == "__main__":
    main()
