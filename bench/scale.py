"""Scale-out on Ray: one long file fanned out over engine actors, and sync latency through the pool.

    python bench/scale.py [--minutes 10] [--rounds 1] [--runs 5]

Starts a real local Ray cluster (tests/ray_cluster.py: a head and a joined node on 127.0.0.1, two
logical CPUs each) and two engine pools on it as `openasr serve` builds them with `OPENASR_RAY_ADDRESS`:
one actor, and two actors, each actor one engine worker on one CPU thread. Then, in one run:

* fan-out: a recording of real English speech (the committed clips, bench/corpus.py) recognised as a task
  recognises it (`pipeline.run`, bulk priority) by each pool in turn, per round; the table gives the
  median wall time of each, their ratio (target ≤ 0.6) and whether the transcripts are identical;
* sync latency: five committed clips of 3–14 s, each `--runs` times after a warm-up, at interactive
  priority as the sync API runs them, through the two-actor pool on the idle cluster and through the
  single-node default (engines in this process, `openasr serve`'s default config); the sum of the
  per-clip medians and their ratio (target ≤ 1.2).

The two pools are timed on the same machine in the same run, so their ratio holds there; on a machine
with fewer free cores than actors the ratio says more about the machine than about the pool.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the local Ray cluster of the tests

from corpus import build_recording
from latency import CLIPS, DATA

from openasr import pipeline
from openasr.core.options import TranscribeOptions
from openasr.runtime.batcher import EngineFront, Priority
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings
from ray_cluster import local_ray_cluster

MODEL = "whisper-base"


def ray_pool(address: str, actors: int) -> EnginePool:
    settings = Settings(
        ray_address=address,
        ray_namespace=f"openasr-scale-{actors}",
        ray_actors=actors,
        ray_actor_cpus=1,
        engine_workers=1,
        cpu_threads=1,
    )
    return EnginePool(settings.cache_dir, settings.engine_config())


def timed(run: Callable[[], str]) -> tuple[float, str]:
    started = time.perf_counter()
    text = run()
    return time.perf_counter() - started, text


def fan_out(engines: dict[str, EngineFront], path: Path, rounds: int) -> tuple[dict[str, float], dict[str, str]]:
    """Median seconds of each engine on the recording, and its transcript (the same every round)."""
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    texts: dict[str, str] = {}
    for _ in range(rounds):
        for name, engine in engines.items():
            took, texts[name] = timed(lambda e=engine: pipeline.run(path, TranscribeOptions(), e).text)
            seconds[name].append(took)
            print(f"  {name}: {took:.1f} s", file=sys.stderr)
    return {name: statistics.median(s) for name, s in seconds.items()}, texts


def sync_latency(engines: list[EngineFront], runs: int) -> list[float]:
    """For each engine, the sum over the clips of the median seconds of one interactive request; the
    engines take turns request by request, so a change in the machine's load touches both alike."""
    options = TranscribeOptions(sentences=False)

    def once(engine: EngineFront, name: str) -> float:
        return timed(lambda: pipeline.run(DATA / name, options, engine, priority=Priority.INTERACTIVE).text)[0]

    for engine in engines:
        once(engine, CLIPS[0])
    totals = [0.0] * len(engines)
    for name in CLIPS:
        seconds: list[list[float]] = [[] for _ in engines]
        for _ in range(runs):
            for i, engine in enumerate(engines):
                seconds[i].append(once(engine, name))
        totals = [t + statistics.median(s) for t, s in zip(totals, seconds, strict=True)]
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp, local_ray_cluster(cpus_per_node=2, nodes=2) as address:
        recording = Path(tmp) / "recording.flac"
        build_recording(recording, args.minutes * 60)
        one, two = ray_pool(address, 1), ray_pool(address, 2)
        local = EnginePool(Settings().cache_dir, Settings().engine_config())
        try:
            engines = {"1 actor x 1 thread": one.get(MODEL), "2 actors x 1 thread": two.get(MODEL)}
            medians, texts = fan_out(engines, recording, args.rounds)
            pool_s, local_s = sync_latency([two.get(MODEL), local.get(MODEL)], args.runs)
        finally:
            for pool in (one, two, local):
                pool.close()

    (base_name, base_s), (name, s) = medians.items()
    table = Table(title=f"Fan-out: {args.minutes:g} min of speech, median of {args.rounds} round(s)")
    for column in ("engines", "seconds", "ratio to 1 actor", "transcript identical"):
        table.add_column(column)
    table.add_row(base_name, f"{base_s:.1f}", "1.00", "")
    table.add_row(name, f"{s:.1f}", f"{s / base_s:.2f} (target ≤ 0.60)", str(texts[name] == texts[base_name]))
    console.print(table)
    table = Table(title=f"Sync latency: {len(CLIPS)} clips, sum of medians of {args.runs} runs")
    for column in ("engines", "seconds", "ratio"):
        table.add_column(column)
    table.add_row("single node (in process)", f"{local_s:.2f}", "1.00")
    table.add_row("2 actors on Ray", f"{pool_s:.2f}", f"{pool_s / local_s:.2f} (target ≤ 1.20)")
    console.print(table)


if __name__ == "__main__":
    main()
