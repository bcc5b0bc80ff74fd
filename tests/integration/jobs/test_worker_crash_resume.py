"""Crash recovery: a worker process is killed with SIGKILL in the middle of a ~3-minute file; a new worker
recovers the task and finishes it from its checkpoints, with exactly the result of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from jobs_testkit import MODEL, JobEnv, clip, normalise, write_wav

from openasr.engines.base import Engine, EngineCapabilities, Recognition, RecognitionItem
from openasr.jobs.records import TaskStatus
from openasr.jobs.worker import TaskWorker
from openasr.runtime.batcher import BatchingEngine
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings

CLIPS = [
    "en/sense_and_sensibility_01_austen_64kb-0870.wav",
    "en/cards_001.wav",
    "en/sense_and_sensibility_01_austen_64kb-0880.wav",
    "en/cards_002.wav",
    "en/two_cities.flac",
    "en/sense_and_sensibility_01_austen_64kb-0890.wav",
    "en/cards_003.wav",
    "en/beckett.wav",
    "en/sense_and_sensibility_01_austen_64kb-0920.wav",
    "en/cards_004.wav",
    "en/goforward.raw",
    "en/sense_and_sensibility_01_austen_64kb-0930.wav",
    "en/cards_005.wav",
    "en/beckett.wav",
    "en/sense_and_sensibility_01_austen_64kb-0870.wav",
    "en/sense_and_sensibility_01_austen_64kb-0890.wav",
    "en/sense_and_sensibility_01_austen_64kb-0920.wav",
]
"""Real clips with 3 s of silence after each: 171 s of audio, 19 recognition chunks."""


class _CountingEngine:
    """The real engine, counting the chunks it is asked to recognise."""

    def __init__(self, engine: Engine) -> None:  # the Whisper engine inside the pool's batching front
        self._engine = engine
        self.name: str = engine.name
        self.capabilities: EngineCapabilities = engine.capabilities
        self.chunks = 0

    def recognize(self, items: Sequence[RecognitionItem]) -> list[Recognition]:
        self.chunks += len(items)
        return self._engine.recognize(items)


class _CountingPool(EnginePool):
    def __init__(self, inner: EnginePool) -> None:  # shares the inner pool's loaded engines
        self.engine = _CountingEngine(inner.get(MODEL).inner)
        self.batching = BatchingEngine(self.engine)

    def get(self, model: str) -> BatchingEngine:
        assert model == MODEL
        return self.batching

    def emotion(self) -> None:  # no emotion classifier, like the worker process it is compared with
        return None


def _long_file(path: Path) -> Path:
    parts = []
    for name in CLIPS:
        parts += [clip(name), np.zeros(3 * 16_000, dtype=np.float32)]
    return write_wav(path, [np.concatenate(parts)])


def _start_worker(env: JobEnv, log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m openasr.cli.worker` on the test's data directory, with the engine settings of the
    in-process pool (same cache, same CTranslate2 thread count), so both recognise chunks alike."""
    settings = Settings()
    command = [
        sys.executable,
        "-m",
        "openasr.cli.worker",
        "--data-dir",
        str(env.config.data_dir),
        "--file-root",
        str(env.root),
        "--cache-dir",
        str(settings.cache_dir),
        "--cpu-threads",
        str(settings.cpu_threads),
        "--heartbeat-s",
        "1",
    ]
    with log_path.open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def test_killed_worker_process_is_resumed_from_checkpoints(job_env: JobEnv, engines: EnginePool) -> None:
    audio = _long_file(job_env.root / "long.wav")
    task_id = job_env.submit(str(audio), words=True)
    log_path = job_env.root / "worker.log"
    process = _start_worker(job_env, log_path)
    try:
        deadline = time.monotonic() + 300
        while True:
            record = job_env.store.get(task_id)
            assert record is not None
            if record.status is TaskStatus.RUNNING and len(job_env.store.load_checkpoints(task_id)) >= 6:
                break
            assert record.status in (TaskStatus.PENDING, TaskStatus.RUNNING), (record, log_path.read_text())
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the worker process never checkpointed"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    orphan = job_env.store.get(task_id)
    assert orphan is not None and orphan.status is TaskStatus.RUNNING  # nobody finished it
    kept = len(job_env.store.load_checkpoints(task_id))
    assert 0 < orphan.progress < 1

    # A new server starts: with the database to itself it takes back every RUNNING task.
    assert job_env.store.recover_orphans(0).requeued == (task_id,)
    resumed_pool = _CountingPool(engines)
    started = time.monotonic()
    resumed = TaskWorker(job_env.store, job_env.results, resumed_pool, job_env.config).run_once()
    resume_s = time.monotonic() - started
    assert resumed is not None and resumed.task_id == task_id
    assert resumed.status is TaskStatus.SUCCEEDED, (resumed.code, resumed.message)
    assert resumed.attempts == 2 and resumed.scheduled_time_ms == orphan.scheduled_time_ms

    # The same file, uninterrupted, in this process.
    reference_id = job_env.submit(str(audio), words=True)
    full_pool = _CountingPool(engines)
    started = time.monotonic()
    full = TaskWorker(job_env.store, job_env.results, full_pool, job_env.config).run_once()
    full_s = time.monotonic() - started
    assert full is not None and full.task_id == reference_id and full.status is TaskStatus.SUCCEEDED

    total_chunks = full_pool.engine.chunks
    print(
        f"\ncrash-resume: {kept} of {total_chunks} chunks checkpointed before SIGKILL; resumed run recognised "
        f"{resumed_pool.engine.chunks} chunks in {resume_s:.1f} s; uninterrupted run {full_s:.1f} s"
    )
    assert resumed_pool.engine.chunks == total_chunks - kept  # nothing recognised twice, nothing skipped
    resumed_doc = job_env.results.read(task_id)
    full_doc = job_env.results.read(reference_id)
    assert normalise(resumed_doc["transcripts"][0]["text"]) == normalise(full_doc["transcripts"][0]["text"])
    assert resumed_doc["transcripts"] == full_doc["transcripts"]  # sentences, ids and word timings too
    assert resumed.usage_seconds == full.usage_seconds == 171


@pytest.mark.parametrize("signal_name", ["SIGTERM"])
def test_terminated_worker_process_releases_its_task(job_env: JobEnv, signal_name: str) -> None:
    """A clean shutdown (SIGTERM) hands the task back at once: PENDING, checkpoints kept, no attempt used."""
    audio = _long_file(job_env.root / "long.wav")
    task_id = job_env.submit(str(audio))
    log_path = job_env.root / "worker.log"
    process = _start_worker(job_env, log_path)
    try:
        deadline = time.monotonic() + 300
        while len(job_env.store.load_checkpoints(task_id)) < 1:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(getattr(signal, signal_name))
        assert process.wait(timeout=120) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    record = job_env.store.get(task_id)
    assert record is not None
    assert (record.status, record.attempts, record.claimed_by) == (TaskStatus.PENDING, 0, None)
    assert len(job_env.store.load_checkpoints(task_id)) >= 1
    assert "released on shutdown" in log_path.read_text()
