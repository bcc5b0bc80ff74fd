"""Warm single-request latency: openasr's pipeline as a sync request runs it, against faster-whisper.

    python bench/latency.py [--runs 5]
    OPENASR_ENGINE_WORKERS=1 python bench/latency.py     # one engine worker with every core

Five committed clips of 3-14 s, each recognised `--runs` times after a warm-up by both systems in one
process on the same weights: openasr's `pipeline.run` at interactive priority with the sync API's options
(language detected, text only), and faster-whisper's `WhisperModel.transcribe` (beam 5, its defaults).
Prints the median per clip and the ratio of the summed medians; HTTP adds a few milliseconds on loopback.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from faster_whisper import WhisperModel

from openasr import pipeline
from openasr.audio.decode import decode_audio
from openasr.core.options import TranscribeOptions
from openasr.engines.weights import bundled_model_dir
from openasr.engines.whisper import WhisperConfig
from openasr.runtime.batcher import Priority
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CLIPS = (
    "en/sense_and_sensibility_01_austen_64kb-0870.wav",
    "en/sense_and_sensibility_01_austen_64kb-0920.wav",
    "en/beckett.wav",
    "en/goforward.raw",
    "zh/aishell1_BAC009S0768W0290.wav",
)


def median_s(run: Callable[[Path], str], path: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    config = settings.engine_config().backend(WhisperConfig) or WhisperConfig()
    engine = EnginePool(settings.cache_dir, settings.engine_config()).get("whisper-base")
    reference = WhisperModel(
        str(bundled_model_dir("whisper-base", settings.cache_dir)), device="cpu", compute_type="int8"
    )

    def ours(path: Path) -> str:
        options = TranscribeOptions(sentences=False)
        return pipeline.run(path, options, engine, priority=Priority.INTERACTIVE).text

    def theirs(path: Path) -> str:
        segments, _ = reference.transcribe(decode_audio(path), beam_size=5)
        return " ".join(s.text for s in segments)

    try:
        for run in (ours, theirs):
            run(DATA / CLIPS[0])
        totals = [0.0, 0.0]
        print("clip\topenasr s\tfaster-whisper s\tratio")
        for name in CLIPS:
            pair = [median_s(run, DATA / name, args.runs) for run in (ours, theirs)]
            totals = [t + p for t, p in zip(totals, pair, strict=True)]
            print(f"{Path(name).name}\t{pair[0]:.2f}\t{pair[1]:.2f}\t{pair[0] / pair[1]:.2f}")
        print(f"all\t{totals[0]:.2f}\t{totals[1]:.2f}\t{totals[0] / totals[1]:.2f}")
        print(f"(openasr: {config.workers} engine worker(s) x {config.cpu_threads} thread(s))", file=sys.stderr)
    finally:
        engine.close()


if __name__ == "__main__":
    main()
