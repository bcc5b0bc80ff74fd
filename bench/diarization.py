"""Speaker diarization against the issue's targets, on multi-speaker mixes of real speech, as a table.

    python bench/diarization.py [--fixtures ../shared/fixtures] [--mixes 2] [--seconds 60] [--hours 0.1]

Mixes of 2, 3 and 4 different speakers (`speaker_mixes.py`: turns of 2–15 s, gaps of 0–1 s, no overlap)
from the committed clips and, where the directory exists, `../shared/fixtures`. Each mix is transcribed by
the default engine without diarization and with it (side by side, in turn, in one process: the time
ratio), the speaker count found automatically and, re-clustering the same windows, exactly the true count
given; wall time and the process's CPU time (all threads: steadier than wall time on a shared machine)
are both reported. Then one long mix (`--hours`) is transcribed in a fresh child process each way for the
peak RSS (`wait4`). Overlapping speech is not in the mixes: the diarization gives each moment one speaker.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speaker_mixes import FIXTURE_SPEAKERS, TEST_SPEAKERS, Mix, build_mix, score, speaker_streams, write_wav

from openasr import pipeline
from openasr.core.options import TranscribeOptions
from openasr.diarization.speakers import find_speakers
from openasr.pipeline.diarization_stage import DIARIZATION
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def measure(mix: Mix, path: Path, pool: EnginePool) -> dict[str, float]:
    """One mix: time without and with diarization, and the scores with an automatic and a given count."""
    start, cpu = time.perf_counter(), time.process_time()
    pipeline.start(path, TranscribeOptions(), pool).run()
    plain_s, plain_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    recognition = pipeline.start(path, TranscribeOptions(diarize=True), pool)
    chunks = [c.resolved() for c in recognition.stream(None)]
    auto = recognition.assemble([chunks])
    diarized_s, diarized_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    kept = [c.stage_data[DIARIZATION] for c in chunks if DIARIZATION in c.stage_data]
    k = len(mix.speakers)
    given = dataclasses.replace(recognition, options=TranscribeOptions(diarize=True, speaker_count=k)).assemble(
        [chunks]
    )
    row = {"speakers": k, "plain_s": plain_s, "diarized_s": diarized_s, "seconds": len(mix.samples) / 16_000}
    row |= {"plain_cpu_s": plain_cpu_s, "diarized_cpu_s": diarized_cpu_s}
    for name, transcript, count in (("auto", auto, None), ("given", given, k)):
        sentences = [(s.begin_ms / 1000, s.end_ms / 1000, s.speaker_id) for s in transcript.channels[0].sentences]
        turns = [(t.begin_ms / 1000, t.end_ms / 1000, t.speaker) for t in find_speakers(kept, count).turns]
        result = score(mix, sentences, turns)
        row |= {f"{name}_found": result.found, f"{name}_acc": result.sentence_accuracy, f"{name}_der": result.der}
    return row


def peak_rss_mb(path: Path, diarize: bool) -> tuple[float, float]:
    """A fresh process transcribing `path`: its peak RSS (MB) and wall time."""
    code = (
        "import sys; from pathlib import Path; from openasr import pipeline; "
        "from openasr.core.options import TranscribeOptions; from openasr.runtime.engine_pool import EnginePool; "
        "from openasr.settings import Settings; s = Settings(); pool = EnginePool(s.cache_dir, s.engine_config()); "
        f"t = pipeline.start(Path(sys.argv[1]), TranscribeOptions(diarize={diarize}), pool).run(); "
        "print(len({x.speaker_id for x in t.channels[0].sentences}))"
    )
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("the child transcription failed")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def _speaker_pool(fixtures: Path) -> dict[str, np.ndarray]:
    streams = speaker_streams(TEST_SPEAKERS)
    if fixtures.is_dir():
        streams |= speaker_streams(FIXTURE_SPEAKERS, fixtures)
    return streams


def _mixes(streams: dict[str, np.ndarray], per_count: int, seconds: float) -> list[Mix]:
    rng = np.random.default_rng(25)
    names = sorted(streams)
    mixes = []
    for k in (2, 3, 4):
        for i in range(per_count):
            chosen = [str(n) for n in rng.choice(names, k, replace=False)]
            mixes.append(build_mix({n: streams[n] for n in chosen}, seconds, seed=100 * k + i))
    return mixes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument("--mixes", type=int, default=2, help="mixes per speaker count (2, 3, 4)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each mix")
    parser.add_argument("--hours", type=float, default=0.1, help="length of the long mix for peak RSS (0: skip)")
    args = parser.parse_args(argv)
    settings = Settings()
    pool = EnginePool(settings.cache_dir, settings.engine_config())
    streams = _speaker_pool(args.fixtures)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, mix in enumerate(_mixes(streams, args.mixes, args.seconds)):
            rows.append(measure(mix, write_wav(Path(tmp) / f"mix{i}.wav", mix.samples), pool))
            print(_row_line(rows[-1], mix), file=sys.stderr)
        rss = None
        if args.hours > 0:
            long_mix = build_mix(streams, args.hours * 3600, seed=7)
            path = write_wav(Path(tmp) / "long.wav", long_mix.samples)
            del long_mix
            rss = (peak_rss_mb(path, False), peak_rss_mb(path, True))
    print(_table(rows, rss, args, len(streams)))
    return 0


def _row_line(row: dict[str, float], mix: Mix) -> str:
    auto = f"auto {row['auto_found']} spk acc {row['auto_acc']:.3f} DER {row['auto_der']:.3f}"
    given = f"given acc {row['given_acc']:.3f} DER {row['given_der']:.3f}"
    return f"{'+'.join(mix.speakers)}: {auto}; {given}; {row['plain_s']:.1f}s vs {row['diarized_s']:.1f}s"


def _table(rows: list[dict[str, float]], rss: tuple | None, args: argparse.Namespace, speakers: int) -> str:
    exact = sum(r["auto_found"] == r["speakers"] for r in rows)
    given_exact = sum(r["given_found"] == r["speakers"] for r in rows)
    ratio = sum(r["diarized_s"] for r in rows) / sum(r["plain_s"] for r in rows)
    cpu_ratio = sum(r["diarized_cpu_s"] for r in rows) / sum(r["plain_cpu_s"] for r in rows)
    acc = min(r["auto_acc"] for r in rows), float(np.mean([r["auto_acc"] for r in rows]))
    der = max(r["auto_der"] for r in rows), float(np.mean([r["auto_der"] for r in rows]))
    lines = [
        f"{len(rows)} mixes of 2-4 of {speakers} speakers, {args.seconds:g} s each; automatic speaker count",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
        f"| sentences attributed right (worst / mean) | ≥ 95 % | {acc[0]:.1%} / {acc[1]:.1%} | "
        f"{_met(acc[0] >= 0.95)} |",
        f"| DER, 0.25 s collar (worst / mean) | ≤ 10 % | {der[0]:.1%} / {der[1]:.1%} | {_met(der[0] <= 0.10)} |",
        f"| speaker count exact (automatic) | all | {exact}/{len(rows)} | {_met(exact == len(rows))} |",
        f"| speaker count exact (speaker_count given) | all | {given_exact}/{len(rows)} | "
        f"{_met(given_exact == len(rows))} |",
        f"| time with / without diarization (wall) | ≤ 1.15× | {ratio:.2f}× | {_met(ratio <= 1.15)} |",
        f"| CPU time with / without (all threads) | ≤ 1.15× | {cpu_ratio:.2f}× | {_met(cpu_ratio <= 1.15)} |",
    ]
    if rss is not None:
        (plain, plain_s), (diarized, diarized_s) = rss
        lines.append(
            f"| peak RSS, {args.hours:g} h mix, with − without | ≤ 100 MB | {diarized - plain:+.0f} MB "
            f"({diarized:.0f} vs {plain:.0f} MB; {diarized_s:.0f} s vs {plain_s:.0f} s) | "
            f"{_met(diarized - plain <= 100)} |"
        )
    return "\n".join(lines)


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


if __name__ == "__main__":
    raise SystemExit(main())
