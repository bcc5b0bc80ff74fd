"""Crash recovery with diarization on: a worker process is killed with SIGKILL part-way through a file of
three speakers; its checkpoints hold each chunk's speaker windows (owned times and CAM++ embeddings), and
the task resumed from them ends with exactly the speakers of an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from jobs_testkit import JobEnv, clip, kill_worker_after_checkpoints, write_wav

from openasr import pipeline
from openasr.jobs.records import TaskStatus
from openasr.jobs.worker import TaskWorker
from openasr.pipeline.diarization_stage import DIARIZATION
from openasr.postprocess.formats import render_json
from openasr.runtime.engine_pool import EnginePool

CLIPS = [
    "en/sense_and_sensibility_01_austen_64kb-0880.wav",
    "zh/aishell1_BAC009S0724W0121.wav",
    "en/cards_005.wav",
    "en/sense_and_sensibility_01_austen_64kb-0930.wav",
    "zh/aishell1_BAC009S0724W0121.wav",
    "en/sense_and_sensibility_01_austen_64kb-0890.wav",
]
"""Real clips of three speakers with 3 s of silence after each: one chunk per clip."""


def _file(path: Path) -> Path:
    parts = []
    for name in CLIPS:
        parts += [clip(name), np.zeros(3 * 16_000, dtype=np.float32)]
    return write_wav(path, [np.concatenate(parts)])


def test_a_task_killed_with_diarization_on_resumes_with_the_same_speakers(job_env: JobEnv, engines: EnginePool) -> None:
    audio = _file(job_env.root / "speakers.wav")
    task_id = job_env.submit(str(audio), diarize=True)
    kill_worker_after_checkpoints(job_env, task_id)
    kept = [c.chunk for c in job_env.store.load_checkpoints(task_id)]
    assert 3 <= len(kept) < len(CLIPS)

    # The same file, uninterrupted, in this process.
    task = job_env.store.get(task_id)
    assert task is not None and task.status is TaskStatus.RUNNING and task.options.diarize
    reference = pipeline.start(audio, task.options, engines)
    chunks = [c.resolved() for c in reference.stream(0)]
    transcript = reference.assemble([chunks])
    speakers = [s.speaker_id for s in transcript.channels[0].sentences]
    assert None not in speakers and len(set(speakers)) == 3, speakers

    # Each checkpoint holds its chunk's windows exactly as the uninterrupted run has them.
    for saved, uninterrupted in zip(kept, chunks, strict=False):
        assert saved.stage_data.keys() == {DIARIZATION}
        assert saved.stage_data[DIARIZATION] == uninterrupted.stage_data[DIARIZATION]

    # A new worker takes the task back and finishes it from the checkpoints: the same speakers.
    assert job_env.store.recover_orphans(0).requeued == (task_id,)
    resumed = TaskWorker(job_env.store, job_env.results, engines, job_env.config).run_once()
    assert resumed is not None and resumed.task_id == task_id
    assert resumed.status is TaskStatus.SUCCEEDED, (resumed.code, resumed.message)
    document = job_env.results.read(task_id)
    assert document == render_json(transcript, file_url=task.file_url)
    assert [s["speaker_id"] for s in document["transcripts"][0]["sentences"]] == speakers
