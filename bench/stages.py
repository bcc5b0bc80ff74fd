"""Where the time of a long file goes, stage by stage: openasr beside faster-whisper's batched pipeline.

    python bench/stages.py [--minutes 5] [--threads N] [--model whisper-base]

Builds the same recording as `bench/throughput.py` (the committed English clips with pauses), then runs
it once through openasr's default pipeline and once through `BatchedInferencePipeline` (batch 8, beam 5),
with timers wrapped around the library calls each stage makes (instrumentation only: the code that runs
is the code users run). Engine stages are summed over the engine's worker threads and given as a share
of the time those threads had (wall × workers); decode + VAD run on the request's thread and are timed
on their own first. Also counts the 30 s windows each system encodes: openasr's continuation windows
(a chunk decoded again from where Whisper stopped early) and loop retries are work the peer does not do.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.feature_extractor import FeatureExtractor
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import build_recording

from openasr import pipeline
from openasr.core.options import TranscribeOptions
from openasr.engines import whisper, whisper_decode
from openasr.engines.weights import resolve_model_dir
from openasr.pipeline.sources import open_file
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings
from openasr.vad.silero import shared_vad
from openasr.vad.timeline import VadOptions, speech_chunks

Seconds = collections.defaultdict[str, float]


class Meter:
    """Seconds and sizes per stage of the system being measured now (`system` switches it)."""

    def __init__(self, systems: tuple[str, ...]) -> None:
        self.seconds: dict[str, Seconds] = {s: collections.defaultdict(float) for s in systems}
        self.counts: dict[str, Seconds] = {s: collections.defaultdict(float) for s in systems}
        self.system = systems[0]

    def timed(self, name: str, function: Callable[..., Any], size: Callable[..., int]) -> Callable[..., Any]:
        """`function`, adding its wall time and `size(args)` to the current system's `name`."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[self.system][name] += time.perf_counter() - started
                self.counts[self.system][name] += size(*args, **kwargs)

        return wrapper


def one(*_: Any, **__: Any) -> int:
    return 1


def windows(_model: WhisperModel, features: Any, *_: Any, **__: Any) -> int:
    """30 s windows in an encoder call: a batch, or one window's 2-D features (the peer's language
    detection)."""
    return 1 if getattr(features, "ndim", 3) == 2 else len(features)


def instrument(meter: Meter) -> None:
    """Timers around the calls both systems make (features, encoder, beam search, word alignment), and
    openasr's own (its batched decode per engine call, its loop retries)."""
    FeatureExtractor.__call__ = meter.timed("features", FeatureExtractor.__call__, one)
    WhisperModel.encode = meter.timed("encoder (30 s windows)", WhisperModel.encode, windows)
    WhisperModel.add_word_timestamps = meter.timed("word alignment", WhisperModel.add_word_timestamps, one)
    BatchedInferencePipeline.generate_segment_batched = meter.timed(
        "beam search", BatchedInferencePipeline.generate_segment_batched, lambda _m, f, *a, **k: len(f)
    )
    first = meter.timed("beam search", whisper_decode._generate, lambda *a, **k: len(a[1]))
    retry = meter.timed("beam search, loop retries", whisper_decode._generate, lambda *a, **k: len(a[1]))
    whisper_decode._generate = lambda *a, **k: (retry if k.get("retry") else first)(*a, **k)
    whisper.decode_chunks = meter.timed("engine call", whisper.decode_chunks, lambda _m, chunks, *a, **k: len(chunks))


def decode_and_vad_s(path: Path) -> float:
    """The request thread's own work before the engine: decoding and resampling the file, the VAD."""
    started = time.perf_counter()
    for _ in speech_chunks(open_file(path, None, ()).blocks(None), shared_vad(), VadOptions()):
        pass
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", default="whisper-base")
    args = parser.parse_args(argv)
    settings = Settings()
    config = settings.model_copy(update={"cpu_threads": args.threads}).engine_config()  # as `openasr serve`
    engine = EnginePool(settings.cache_dir, config).get(args.model)
    peer = BatchedInferencePipeline(
        WhisperModel(
            str(resolve_model_dir(args.model, settings.cache_dir)),
            device="cpu",
            compute_type="int8",
            cpu_threads=args.threads,
        )
    )
    meter = Meter(("openasr", "fw batched"))
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.flac"
        build_recording(path, args.minutes * 60)
        pipeline.run(path, TranscribeOptions(model=args.model, sentences=False), engine)  # warm both
        list(peer.transcribe(str(path), beam_size=5, batch_size=8)[0])
        front = decode_and_vad_s(path)
        instrument(meter)
        for system in meter.seconds:
            meter.system = system
            started = time.perf_counter()
            if system == "openasr":
                pipeline.run(path, TranscribeOptions(model=args.model, sentences=False), engine)
            else:
                list(peer.transcribe(str(path), beam_size=5, batch_size=8)[0])
            walls[system] = time.perf_counter() - started
    print_table(args, meter.seconds, meter.counts, walls, front, max(1, settings.engine_workers))
    return 0


def print_table(
    args: argparse.Namespace,
    seconds: dict[str, Seconds],
    counts: dict[str, Seconds],
    walls: dict[str, float],
    front_s: float,
    workers: int,
) -> None:
    table = Table(
        title=f"Where the time goes: {args.minutes:g} min of English speech, {args.model}, int8, {args.threads} threads"
    )
    for column in ("stage", "openasr s", "openasr share", "calls/windows", "fw batched s", "fw windows"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    ours, theirs = seconds["openasr"], seconds["fw batched"]
    theirs["beam search"] -= theirs["encoder (30 s windows)"]  # the peer's batched call encodes, then searches
    engine_time = walls["openasr"] * workers
    table.add_row(
        "decode + VAD (request thread)", f"{front_s:.1f}", f"{front_s / walls['openasr']:.0%} of wall", "", "", ""
    )
    stages = ("features", "encoder (30 s windows)", "beam search", "beam search, loop retries", "word alignment")
    for stage in stages:
        table.add_row(
            stage,
            f"{ours[stage]:.1f}",
            f"{ours[stage] / engine_time:.0%}",
            f"{counts['openasr'][stage]:.0f}",
            f"{theirs[stage]:.1f}" if stage in theirs else "",
            f"{counts['fw batched'][stage]:.0f}" if stage in theirs else "",
        )
    other = ours["engine call"] - sum(ours[s] for s in stages)
    waits = engine_time - ours["engine call"]
    table.add_row("rest of the engine call (seeking, text)", f"{other:.1f}", f"{other / engine_time:.0%}", "", "", "")
    table.add_row("engine threads idle (batcher waits)", f"{waits:.1f}", f"{waits / engine_time:.0%}", "", "", "")
    table.add_row(
        "wall",
        f"{walls['openasr']:.1f}",
        f"chunks {counts['openasr']['engine call']:.0f}",
        "",
        f"{walls['fw batched']:.1f}",
        "",
    )
    Console(width=150).print(table)


if __name__ == "__main__":
    raise SystemExit(main())
