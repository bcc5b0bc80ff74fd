"""A long recording through the in-process Qwen3-ASR engine (a tiny model on the CPU): peak memory does
not grow with duration, and chunks reach the model in full batches.

The model is scripted to write a long sentence for every chunk, so that recognising a chunk takes longer
than cutting the next one, as with a real model (a model faster than VAD never has company in a batch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from corpus import build_recording

_MEASURE = """
import json, sys
from pathlib import Path
from openasr import pipeline
from openasr.core.options import TranscribeOptions
from openasr.engines.qwen3_backend import Qwen3Config
from openasr.runtime.engine_config import EngineConfig
from openasr.runtime.engine_pool import EnginePool

def peak_kb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

model, cache, warm_up, *targets = sys.argv[1:]
engine = EnginePool(Path(cache), EngineConfig((Qwen3Config(device="cpu", max_new_tokens=64),))).get(model)
options = TranscribeOptions(model=model)
pipeline.run(Path(warm_up), options, engine)  # full batches set the peak first
for target in targets:  # the peak only rises: each target's is the peak after it, over all before it
    before = engine.stats
    transcript = pipeline.run(Path(target), options, engine)
    after = engine.stats
    mean_batch = (after.chunks - before.chunks) / max(1, after.batches - before.batches)
    print(json.dumps({"peak_kb": peak_kb(), "duration_s": transcript.audio.duration_s, "mean_batch": mean_batch,
                      "sentences": len(transcript.channels[0].sentences)}))
"""

READING = (
    "language English<asr_text>The quick brown fox jumps over a lazy dog while seven bright violet "
    "zebras quietly munch green apples beside the old stone bridge, and distant thunder rolls across "
    "empty fields toward our sleepy village."
)

MEMORY_GROWTH_LIMIT_MB = 60
"""8 more minutes are 31 MB as 16 kHz float32: holding the recording, or anything per second, shows up."""


def _measure(model: Path, cache: Path, warm_up: Path, *targets: Path) -> list[dict[str, Any]]:
    """Each target's peak RSS (after it, in one interpreter that ran `warm_up` first) and batching."""
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(model), str(cache), str(warm_up), *map(str, targets)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    measured = [json.loads(line) for line in result.stdout.strip().splitlines()[-len(targets) :]]
    assert len(measured) == len(targets), result.stdout
    return measured


@pytest.mark.slow
def test_ten_minutes_in_flat_memory_and_full_batches(tiny_qwen3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = tiny_qwen3.scripted(READING)
    short, long = tmp_path / "two.flac", tmp_path / "ten.flac"
    build_recording(short, 120.0)
    build_recording(long, 600.0)
    two, ten = _measure(model, tmp_path, short, short, long)
    assert two["duration_s"] <= 125 and ten["duration_s"] >= 595
    assert ten["sentences"] > two["sentences"] > 0
    growth_mb = (ten["peak_kb"] - two["peak_kb"]) / 1024
    assert growth_mb <= MEMORY_GROWTH_LIMIT_MB, f"peak RSS {two['peak_kb'] // 1024} -> {ten['peak_kb'] // 1024} MB"
    assert ten["mean_batch"] > 2, ten
