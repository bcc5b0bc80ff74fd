"""Crash recovery with a side stage on: a worker process with an emotion classifier (a tiny real model,
tests/emotion_models.py) is killed with SIGKILL part-way through a file; its checkpoints hold each
chunk's emotion estimates, and the task resumed from them ends with the result of an uninterrupted run,
the emotions of the chunks recognised before the crash included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="needs openasr[emotion] (torch and transformers)")
pytest.importorskip("transformers", reason="needs openasr[emotion] (torch and transformers)")

from jobs_testkit import JobEnv, clip, kill_worker_after_checkpoints, write_wav

from emotion_models import tiny_transformers_model
from openasr import pipeline
from openasr.jobs.records import TaskStatus
from openasr.jobs.worker import TaskWorker
from openasr.pipeline.emotion_stage import EMOTION, EmotionStage
from openasr.postprocess.formats import render_json
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings

pytestmark = pytest.mark.extras
CLIPS = [
    "en/sense_and_sensibility_01_austen_64kb-0870.wav",
    "en/cards_001.wav",
    "en/sense_and_sensibility_01_austen_64kb-0880.wav",
    "en/beckett.wav",
    "en/sense_and_sensibility_01_austen_64kb-0890.wav",
    "en/cards_003.wav",
    "en/sense_and_sensibility_01_austen_64kb-0920.wav",
    "en/goforward.raw",
]
"""Real clips with 3 s of silence after each: one chunk per clip."""


@pytest.fixture(scope="module")
def emotion_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_transformers_model(tmp_path_factory.mktemp("emotion") / "tiny-seven")


@pytest.fixture(scope="module")
def emotion_engines(emotion_model: Path) -> Iterator[EnginePool]:
    """Engines as the worker process has them: the default settings, with the emotion classifier."""
    settings = Settings(emotion_model=str(emotion_model))
    pool = EnginePool(settings.cache_dir, settings.engine_config())
    yield pool
    pool.close()


def _file(path: Path) -> Path:
    parts = []
    for name in CLIPS:
        parts += [clip(name), np.zeros(3 * 16_000, dtype=np.float32)]
    return write_wav(path, [np.concatenate(parts)])


def test_a_task_killed_with_emotion_on_resumes_with_every_chunks_emotion(
    job_env: JobEnv, emotion_model: Path, emotion_engines: EnginePool
) -> None:
    audio = _file(job_env.root / "long.wav")
    task_id = job_env.submit(str(audio))
    kill_worker_after_checkpoints(job_env, task_id, {"OPENASR_EMOTION_MODEL": str(emotion_model)})
    kept = [c.chunk for c in job_env.store.load_checkpoints(task_id)]
    assert 3 <= len(kept) < len(CLIPS)

    # The same file, uninterrupted, in this process: each chunk's result and the transcript.
    task = job_env.store.get(task_id)
    assert task is not None and task.status is TaskStatus.RUNNING
    reference = pipeline.start(audio, task.options, emotion_engines)
    chunks = [c.resolved() for c in reference.stream(0)]
    transcript = reference.assemble([chunks])
    assert transcript.channels[0].emotion is not None

    # Each checkpoint holds its chunk's sentences and emotion estimates, as the uninterrupted run has them.
    for saved, uninterrupted in zip(kept, chunks, strict=False):
        assert saved.sentences == uninterrupted.sentences
        assert saved.stage_data.keys() == {EMOTION}
        assert [_span(e) for e in saved.stage_data[EMOTION]] == [_span(e) for e in uninterrupted.stage_data[EMOTION]]
        for got, expected in zip(saved.stage_data[EMOTION], uninterrupted.stage_data[EMOTION], strict=True):
            assert got["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)  # batch noise only
    stage = EmotionStage(emotion_engines.emotion())  # type: ignore[arg-type]
    resumed_data = [c.stage_data[EMOTION] for c in kept] + [c.stage_data[EMOTION] for c in chunks[len(kept) :]]
    assert stage.finish(transcript.channels[0], resumed_data, transcript.options) == transcript.channels[0]

    # A new server takes the task back and finishes it from the checkpoints.
    assert job_env.store.recover_orphans(0).requeued == (task_id,)
    resumed = TaskWorker(job_env.store, job_env.results, emotion_engines, job_env.config).run_once()
    assert resumed is not None and resumed.task_id == task_id
    assert resumed.status is TaskStatus.SUCCEEDED, (resumed.code, resumed.message)
    document = job_env.results.read(task_id)
    assert document == render_json(transcript, file_url=task.file_url)
    assert all(s["emotion"] for t in document["transcripts"] for s in t["sentences"])


def _span(estimate: dict[str, object]) -> tuple[object, object, object]:
    return estimate["begin_ms"], estimate["end_ms"], estimate["label"]
