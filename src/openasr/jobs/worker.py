"""Workers that run async transcription tasks: claim → fetch → transcribe chunk by chunk → result.

A `TaskWorker` is one thread inside the server process (``OPENASR_WORKERS`` of them). It claims the
oldest PENDING task, downloads its audio once into its work files, ``<task_id>/source<ext>`` in a
`storage.BlobStore` (``data_dir/work/`` or the shared S3 store; kept until the task ends, so a resumed
task does not download again, on whichever node resumes it), and runs the pipeline channel by channel,
writing a
checkpoint per recognised chunk. A killed process loses at most the chunk in flight: its tasks are
recovered (back to PENDING with their checkpoints) and the next run skips every checkpointed chunk
(`pipeline.Transcription.stream(earlier=…)`), producing the same result as an uninterrupted run.

Failure rules: an `AsrError` ends the task FAILED with its ``task_code`` and message; anything else
ends it FAILED ``INTERNAL_ERROR`` with a generic message and the traceback in the log. A worker thread
never dies of a task, and a task never stays RUNNING because of one: if even the store fails, the
heartbeat goes stale and `TaskStore.recover_orphans` puts the task back.

Run standalone (a worker process next to the API servers, or the crash-recovery test) with
``python -m openasr.cli.worker --data-dir DIR``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from openasr import pipeline
from openasr.audio.sources import SourcePolicy, UploadResolver
from openasr.core.billing import charge
from openasr.core.errors import AsrError, EngineUnavailableError
from openasr.jobs.errors import LeaseLostError
from openasr.jobs.heartbeat import Heartbeat
from openasr.jobs.records import Checkpoint, TaskRecord
from openasr.jobs.results import ResultStore
from openasr.jobs.store import TaskStore
from openasr.jobs.work_files import WorkFiles
from openasr.pipeline import ChunkResult
from openasr.postprocess.formats import render_json
from openasr.runtime.engine_pool import EnginePool
from openasr.storage import BlobStore, LocalBlobStore

log = logging.getLogger(__name__)

ASYNC_MAX_SIZE_BYTES = 2 * 1024**3
"""2 GB per file (spec §11, qwen3-asr-flash-filetrans); counted in GiB, the lenient reading."""
ASYNC_MAX_DURATION_S = 12 * 3600.0
"""12 h per file (spec §11)."""
INTERNAL_ERROR_MESSAGE = "internal error while transcribing the file; the server log has the details"


def async_source_policy(*, allow_private_urls: bool = False, file_roots: tuple[Path, ...] = ()) -> SourcePolicy:
    """The source limits of async tasks: 2 GB, a long download timeout, the server's SSRF/roots rules."""
    return SourcePolicy(
        max_size_bytes=ASYNC_MAX_SIZE_BYTES,
        allow_private_urls=allow_private_urls,
        file_roots=file_roots,
        timeout_s=60.0,
    )


class UploadOwners(Protocol):
    """Gives the `UploadResolver` that reads ``oss://`` keys as one owner (an API key id): a task keeps
    only its key's id, never the key (`openasr.jobs.uploads.UploadStore.for_owner` is one)."""

    def for_owner(self, owner: str) -> UploadResolver: ...


@dataclass(frozen=True)
class WorkerConfig:
    """How workers run; the server builds it from `Settings` (jobs never read settings themselves).

    `heartbeat_s`: how often a running task proves its worker alive. `stale_after_s`: a RUNNING task
    whose heartbeat is older is taken over (several heartbeats, so a busy machine is not mistaken for a
    dead one). `max_attempts`: claims before a task that keeps killing its worker is failed.
    `cleanup_every_s`: period of `cleanup` (results and task records past their retention); None: never.
    """

    data_dir: Path
    policy: SourcePolicy = field(default_factory=async_source_policy)
    max_duration_s: float = ASYNC_MAX_DURATION_S
    heartbeat_s: float = 5.0
    stale_after_s: float = 60.0
    max_attempts: int = 3
    idle_sleep_s: float = 0.5
    recover_every_s: float = 30.0
    cleanup_every_s: float | None = 3600.0
    result_retention_s: float = 24 * 3600.0
    task_retention_s: float = 24 * 3600.0

    @property
    def work_dir(self) -> Path:
        """The work files' directory when they are local (the default `LocalBlobStore`)."""
        return self.data_dir / "work"

    @property
    def scratch_dir(self) -> Path:
        """Where downloads land before they are kept in the work files (node-local)."""
        return self.data_dir / "tmp"


@dataclass(frozen=True)
class CleanupReport:
    tasks: int
    results: int
    work_dirs: int


def cleanup(
    store: TaskStore,
    results: ResultStore,
    config: WorkerConfig,
    *,
    work_files: WorkFiles | None = None,
    now_s: float | None = None,
) -> CleanupReport:
    """Drop what is past its retention: task records (+checkpoints), result files, and the work files
    of tasks that are finished or gone (`work_files`, by default ``config.work_dir``). Idempotent; safe
    to run from every worker."""
    now = time.time() if now_s is None else now_s
    removed_results = results.purge(now - config.result_retention_s)
    removed_tasks = store.purge(now - config.task_retention_s)
    work = work_files or WorkFiles(LocalBlobStore(config.work_dir), config.scratch_dir)
    removed_dirs = work.sweep(lambda task_id: (task := store.get(task_id)) is None or task.finished)
    return CleanupReport(tasks=removed_tasks, results=removed_results, work_dirs=removed_dirs)


class _Stopped(Exception):
    """The worker was asked to stop between two chunks; the task goes back to PENDING."""


class TaskWorker:
    """One worker thread: claim → run → claim …, sleeping `idle_sleep_s` when nothing is pending."""

    def __init__(
        self,
        store: TaskStore,
        results: ResultStore,
        engines: EnginePool,
        config: WorkerConfig,
        *,
        uploads: UploadOwners | None = None,
        work_blobs: BlobStore | None = None,
        worker_id: str | None = None,
        on_finished: Callable[[TaskRecord], None] | None = None,
    ) -> None:
        self.store = store
        self.results = results
        self.engines = engines
        self.config = config
        self.uploads = uploads
        self.work_files = WorkFiles(work_blobs or LocalBlobStore(config.work_dir), config.scratch_dir)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._on_finished = on_finished
        self._stop = threading.Event()
        self._engine_down = threading.Event()
        """Set when a task was put back because its engine was unreachable: the loop backs off."""
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("worker already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name=f"openasr-worker-{self.worker_id}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to end without waiting (so that several workers stop in parallel)."""
        self._stop.set()

    def stop(self, timeout_s: float | None = 30.0) -> bool:
        """Ask the loop to end; a running task is released (PENDING, checkpoints kept) after its
        current chunk. Returns False if the thread is still running after `timeout_s`."""
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        alive = self._thread.is_alive()
        if not alive:
            self._thread = None
        return not alive

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_forever(self) -> None:
        """The thread body. Never raises: store outages are logged and retried with backoff."""
        next_recovery = next_cleanup = 0.0
        failures = engine_waits = 0
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                if now >= next_recovery:
                    self._recover()
                    next_recovery = now + self.config.recover_every_s
                if self.config.cleanup_every_s is not None and now >= next_cleanup:
                    cleanup(self.store, self.results, self.config, work_files=self.work_files)
                    next_cleanup = now + self.config.cleanup_every_s
                ran = self.run_once() is not None
                failures = 0
                if self._engine_down.is_set():  # a task was put back: wait for the engine before the next claim
                    self._engine_down.clear()
                    engine_waits += 1
                    ran = False
                    failures = engine_waits
                else:
                    engine_waits = 0
            except Exception:
                failures += 1
                log.exception("worker %s: loop iteration failed (%d in a row)", self.worker_id, failures)
                ran = False
            if not ran:
                self._stop.wait(min(30.0, self.config.idle_sleep_s * 2 ** min(failures, 6)))

    def run_once(self) -> TaskRecord | None:
        """Claim one task and run it to its end; the task as it ended, or None if nothing was pending."""
        task = self.store.claim_next(self.worker_id)
        if task is None:
            return None
        self.run_task(task)
        return self.store.get(task.task_id)

    def _recover(self) -> None:
        recovery = self.store.recover_orphans(self.config.stale_after_s, max_attempts=self.config.max_attempts)
        for task_id in recovery.requeued:
            log.warning("task %s: its worker stopped responding; put back to PENDING", task_id)
        for task_id in recovery.failed:
            log.error("task %s: interrupted %d times; FAILED", task_id, self.config.max_attempts)

    # -- one task

    def run_task(self, task: TaskRecord) -> None:
        """Run a claimed task to SUCCEEDED/FAILED (or release it on stop). Never raises."""
        lease = task.claimed_by
        if lease is None:
            raise ValueError("run_task needs a claimed task")
        keep_work_dir = False
        try:
            with (
                Heartbeat(self.store, task.task_id, lease, self.config.heartbeat_s) as heartbeat,
                contextlib.ExitStack() as files,
            ):
                self._transcribe(task, lease, files, heartbeat)
        except _Stopped:
            keep_work_dir = True
            self._release(task, lease)
        except LeaseLostError:
            keep_work_dir = True  # whoever holds the task now may be using the directory
            log.warning("task %s: taken over by another worker; abandoning this run", task.task_id)
        except EngineUnavailableError as exc:
            keep_work_dir = True
            log.warning("task %s: %s; released, it resumes from its checkpoints", task.task_id, exc.message)
            self._release(task, lease)
            self._engine_down.set()
        except AsrError as exc:
            log.info("task %s: FAILED %s: %s", task.task_id, exc.task_code, exc.message)
            self._fail(task, lease, exc.task_code, exc.message)
        except Exception:
            log.exception("task %s: unexpected failure", task.task_id)
            self._fail(task, lease, "INTERNAL_ERROR", INTERNAL_ERROR_MESSAGE)
        if not keep_work_dir:
            self.work_files.drop(task.task_id)
            self._report(task.task_id)

    def _report(self, task_id: str) -> None:
        """Hand the finished task to `on_finished` (metrics); a failing observer never fails the task."""
        if self._on_finished is None:
            return
        try:
            record = self.store.get(task_id)
            if record is not None and record.finished:
                self._on_finished(record)
        except Exception:
            log.exception("task %s: on_finished failed", task_id)

    def _transcribe(self, task: TaskRecord, lease: str, files: contextlib.ExitStack, heartbeat: Heartbeat) -> None:
        transcription = self._open(task, lease, files)
        for index, channel in enumerate(transcription.channels):
            self._recognize_channel(task, lease, transcription, index, channel, heartbeat)
        done = _by_channel(self.store.load_checkpoints(task.task_id))
        transcript = transcription.assemble([done.get(c or 0, []) for c in transcription.channels])
        key = task.task_id
        self.results.write(key, render_json(transcript, file_url=task.file_url))
        billed = charge(
            transcript.audio.duration_s,
            context=transcription.options.context,
            text=transcript.text,
            count=transcription.engine.count_tokens,
            channels=max(1, len(transcript.channels)),
        )
        tokens = (billed.input_tokens, billed.output_tokens)
        self.store.finish(task.task_id, lease, result_key=key, usage_seconds=billed.seconds, tokens=tokens)
        duration_s, channels = transcription.audio.duration_s, len(transcription.channels)
        log.info("task %s: SUCCEEDED, %.1f s × %d channel(s)", task.task_id, duration_s, channels)

    def _open(self, task: TaskRecord, lease: str, files: contextlib.ExitStack) -> pipeline.Transcription:
        """The task's recognition: its local audio (downloaded once into its work files; the download
        already stops at the size limit) opened with the async limits; the store learns the audio's length.
        The engine is loaded first, so a task for a model that cannot load fails before any download."""
        self.engines.get(task.options.model)
        path = files.enter_context(
            self.work_files.audio(
                task.task_id,
                task.file_url,
                self.config.policy,
                uploads=self.uploads.for_owner(task.api_key_id) if self.uploads is not None else None,
                oss_resolve=task.oss_resolve,
            )
        )
        limits = pipeline.Limits(self.config.policy.max_size_bytes, self.config.max_duration_s)
        transcription = pipeline.start(path, task.options, self.engines, limits=limits)
        info = transcription.audio
        self.store.heartbeat(task.task_id, lease, audio_seconds=info.duration_s, total_s=transcription.total_s)
        return transcription

    def _recognize_channel(
        self,
        task: TaskRecord,
        lease: str,
        transcription: pipeline.Transcription,
        index: int,
        channel: int | None,
        heartbeat: Heartbeat,
    ) -> None:
        """Recognise one channel chunk by chunk, checkpointing each; skips what a previous run saved."""
        channel_id = channel or 0
        prior = [c.chunk for c in self.store.load_checkpoints(task.task_id) if c.chunk.channel_id == channel_id]
        offset_s = index * transcription.audio.duration_s
        for chunk_index, pending in enumerate(transcription.stream(channel, earlier=prior), start=len(prior)):
            chunk = pending.resolved()  # a checkpoint holds what every stage kept of the chunk
            self.store.add_checkpoint(task.task_id, lease, chunk_index, chunk, done_s=offset_s + chunk.end_s)
            heartbeat.check()
            if self._stop.is_set():
                raise _Stopped
        self.store.heartbeat(task.task_id, lease, done_s=offset_s + transcription.audio.duration_s)

    def _fail(self, task: TaskRecord, lease: str, code: str, message: str) -> None:
        try:
            if self.store.fail(task.task_id, code, message, lease=lease) is None:
                log.warning("task %s: could not be marked FAILED (no longer held by this worker)", task.task_id)
        except Exception:
            log.exception("task %s: could not be marked FAILED; recovery will retry it", task.task_id)

    def _release(self, task: TaskRecord, lease: str) -> None:
        try:
            self.store.release(task.task_id, lease)
            log.info("task %s: released on shutdown; it resumes from its checkpoints", task.task_id)
        except Exception:
            log.exception("task %s: could not be released; recovery will requeue it", task.task_id)


def _by_channel(saved: Sequence[Checkpoint]) -> dict[int, list[ChunkResult]]:
    channels: dict[int, list[ChunkResult]] = {}
    for checkpoint in saved:
        channels.setdefault(checkpoint.chunk.channel_id, []).append(checkpoint.chunk)
    return channels
