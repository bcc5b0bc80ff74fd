"""Long-file throughput: openasr against faster-whisper run directly, same model, audio and threads.

    python bench/throughput.py [--minutes 10] [--rounds 3] [--threads N] [--words] [--model whisper-base]
    OPENASR_DEVICE=cuda python bench/throughput.py --model QWEN3_ASR_DIR [--aligner ALIGNER_DIR]

Builds a recording of real English speech (the committed clips, repeated with pauses), then runs, in
alternating order within each round: openasr's pipeline, faster-whisper `WhisperModel.transcribe`
(sequential, VAD on) and faster-whisper `BatchedInferencePipeline` (batch 8); openasr with its
default decoding, with timestamp tokens off, and with the cores shared out among its engine workers
(`OPENASR_CPU_THREADS` = threads ÷ workers, what a long-file-only deployment may set). All get the
same `--threads` cores: faster-whisper as `cpu_threads`, openasr as `openasr serve` uses them, each of
its engine workers with that many threads (`OPENASR_ENGINE_WORKERS`, `OPENASR_BATCH_SIZE` apply). Prints audio seconds
per wall second (median over rounds), each one's ratio to the peers, and each one's WER on the whole
recording. `--words` asks every system for word timestamps (openasr's `--words`, faster-whisper's
`word_timestamps=True`).

With a Qwen3-ASR model (a directory or hub id) only openasr runs, on `OPENASR_DEVICE` with
`OPENASR_DTYPE` (CUDA and bfloat16 where torch sees a GPU); the table also gives the mean batch size. A
tiny random model proves the path, not the speed of the real one: its WER is meaningless.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from asr_metrics import corpus_rate
from corpus import build_recording

from openasr import pipeline
from openasr.audio.decode import probe_audio
from openasr.core.options import TranscribeOptions
from openasr.engines.registry import model_backend
from openasr.engines.weights import resolve_model_dir
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings

Runner = Callable[[Path], str]


def runners(model: str, threads: int, words: bool) -> dict[str, Runner]:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    settings = Settings()
    directory = resolve_model_dir(model, settings.cache_dir)
    config = settings.model_copy(update={"cpu_threads": threads}).engine_config()
    engine = EnginePool(settings.cache_dir, config).get(model)
    fast = settings.model_copy(update={"cpu_threads": threads, "timestamp_tokens": False})
    fast_engine = EnginePool(settings.cache_dir, fast.engine_config()).get(model)
    shared = max(1, threads // settings.engine_workers)  # the cores shared out among the workers
    split = settings.model_copy(update={"cpu_threads": shared})
    split_engine = EnginePool(settings.cache_dir, split.engine_config()).get(model)
    print(f"openasr: {config}", file=sys.stderr)
    fw = WhisperModel(str(directory), device="cpu", compute_type="int8", cpu_threads=threads)
    batched = BatchedInferencePipeline(fw)

    def openasr(path: Path) -> str:
        return pipeline.run(path, TranscribeOptions(model=model, sentences=False, words=words), engine).text

    def openasr_fast(path: Path) -> str:
        return pipeline.run(path, TranscribeOptions(model=model, sentences=False, words=words), fast_engine).text

    def openasr_split(path: Path) -> str:
        return pipeline.run(path, TranscribeOptions(model=model, sentences=False, words=words), split_engine).text

    def fw_sequential(path: Path) -> str:
        segments, _ = fw.transcribe(str(path), beam_size=5, vad_filter=True, word_timestamps=words)
        return " ".join(s.text.strip() for s in segments)

    def fw_batched(path: Path) -> str:
        segments, _ = batched.transcribe(str(path), beam_size=5, batch_size=8, word_timestamps=words)
        return " ".join(s.text.strip() for s in segments)

    return {
        "openasr": openasr,
        "openasr, OPENASR_TIMESTAMP_TOKENS=0": openasr_fast,
        **({f"openasr, OPENASR_CPU_THREADS={shared}": openasr_split} if shared != threads else {}),
        "faster-whisper sequential": fw_sequential,
        "faster-whisper batched": fw_batched,
    }


def qwen3_runners(model: str, aligner: str | None) -> tuple[dict[str, Runner], Callable[[], float]]:
    settings = Settings(aligner_model=aligner) if aligner else Settings()
    config = settings.engine_config()
    engine = EnginePool(settings.cache_dir, config).get(model)
    print(f"openasr: {config}", file=sys.stderr)

    def openasr(path: Path) -> str:
        return pipeline.run(path, TranscribeOptions(model=model, sentences=aligner is not None), engine).text

    return {f"openasr Qwen3-ASR ({settings.device}, {settings.dtype})": openasr}, lambda: engine.stats.mean_batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--words", action="store_true", help="word timestamps on, for every system")
    parser.add_argument("--aligner", default=None, help="Qwen3-ForcedAligner for a Qwen3-ASR model")
    args = parser.parse_args(argv)
    qwen3 = model_backend(args.model) == "qwen3"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.flac"
        reference = build_recording(path, args.minutes * 60)
        duration_s = probe_audio(path).duration_s
        if qwen3:
            systems, mean_batch = qwen3_runners(args.model, args.aligner)
        else:
            systems = runners(args.model, args.threads, args.words)
        seconds: dict[str, list[float]] = {name: [] for name in systems}
        texts: dict[str, str] = {}
        for round_no in range(args.rounds):
            order = list(systems)[round_no % len(systems) :] + list(systems)[: round_no % len(systems)]
            for name in order:
                start = time.perf_counter()
                texts[name] = systems[name](path)
                seconds[name].append(time.perf_counter() - start)
                print(f"round {round_no + 1}: {name} {seconds[name][-1]:.1f} s", file=sys.stderr)
    speed = {name: duration_s / statistics.median(s) for name, s in seconds.items()}
    if qwen3:
        for name in systems:
            wer = corpus_rate([(reference, texts[name])], "en")
            print(f"{name}: {speed[name]:.1f} audio s / s, mean batch {mean_batch():.2f}, WER {wer * 100:.2f} %")
        return 0
    table = Table(
        title=f"Long-file throughput: {duration_s / 60:.1f} min of real English speech, "
        f"{args.model}, int8, {args.threads} threads, {args.rounds} round(s)"
        + (", word timestamps on" if args.words else "")
    )
    for column in ("system", "audio s / s", "× fw sequential", "× fw batched", "WER"):
        table.add_column(column, justify="right" if column != "system" else "left")
    for name in systems:
        wer = corpus_rate([(reference, texts[name])], "en")
        table.add_row(
            name,
            f"{speed[name]:.1f}",
            f"{speed[name] / speed['faster-whisper sequential']:.2f}",
            f"{speed[name] / speed['faster-whisper batched']:.2f}",
            f"{wer * 100:.2f} %",
        )
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
