"""A model's lifecycle on the real whisper-tiny.en: loaded on first use, never unloaded under a running
batch, unloaded once idle, loaded again by the next chunk, which is recognised as before."""

from __future__ import annotations

import time
from pathlib import Path

from audio_files import load_clip
from openasr.engines.base import RecognitionItem, RecognitionRequest
from openasr.engines.whisper import WhisperConfig
from openasr.runtime.engine_config import EngineConfig
from openasr.runtime.model_pool import ModelPool
from speech_clips import clip

MODEL = "whisper-tiny.en"


def _item() -> RecognitionItem:
    return RecognitionItem(load_clip(clip("beckett").path), RecognitionRequest("en"))


def _text(pool: ModelPool) -> str:
    (result,) = pool.get(MODEL).recognize([_item()])
    return " ".join(s.text for s in result.segments)


def test_a_running_batch_is_never_cut_and_an_idle_model_unloads_and_loads_again(cache_dir: Path) -> None:
    pool = ModelPool(cache_dir, EngineConfig((WhisperConfig(cpu_threads=1, workers=1),)))  # no reaper: idle_s 0
    try:
        slot = pool.get(MODEL)
        assert slot.loaded and slot.loads == 1
        first = _text(pool)

        pending = slot.submit(_item())
        assert not slot.unload_if_idle(0.0)  # its chunk is queued or being recognised
        assert " ".join(s.text for s in pending.result().segments) == first
        assert not slot.unload_if_idle(60.0)  # used a moment ago
        batches = slot.stats.batches
        assert slot.unload_if_idle(0.0) and not slot.loaded
        assert slot.stats.batches == batches  # counters survive the unload

        assert _text(pool) == first  # the next chunk loads it again
        assert slot.loaded and slot.loads == 2 and slot.stats.batches == batches + 1
    finally:
        pool.close()


def test_the_reaper_unloads_after_idle_s(cache_dir: Path) -> None:
    pool = ModelPool(cache_dir, EngineConfig((WhisperConfig(cpu_threads=1, workers=1),), idle_s=0.5))
    try:
        _text(pool)
        slot = pool.get(MODEL)
        deadline = time.monotonic() + 10
        while slot.loaded:
            assert time.monotonic() < deadline, "still loaded 10 s after its last use"
            time.sleep(0.05)
        assert pool.slots() == {MODEL: slot}  # known, not loaded
    finally:
        pool.close()
