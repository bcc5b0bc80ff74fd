"""What the task store holds, in domain terms: task records, checkpoints, filters, and their JSON.

A task keeps the `TranscribeOptions` it runs with (stored as JSON under `TranscribeOptions`' own field
names, so a task and a sync request speak one vocabulary); wire spellings such as ``enable_itn`` or
``channel_id`` live only in `server/*/protocol.py`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from openasr.core.options import TranscribeOptions
from openasr.jobs.checkpoints import chunk_from_values
from openasr.pipeline import ChunkResult


class TaskStatus(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


FINISHED = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED})

INTERRUPTED_MESSAGE = "the task was interrupted too many times (its worker stopped while running it)"


@dataclass(frozen=True)
class TaskRecord:
    """One row of `tasks`. Times are UTC epoch milliseconds; `claimed_by` is the current lease.

    `options.model` is the engine model that runs the task (`model_name` is the public name it was
    submitted under); `oss_resolve` records that the submit allowed ``oss://`` upload keys.
    """

    task_id: str
    request_id: str
    model_name: str
    api_key_id: str
    file_url: str
    options: TranscribeOptions
    oss_resolve: bool
    status: TaskStatus
    code: str | None
    message: str | None
    submit_time_ms: int
    scheduled_time_ms: int | None
    end_time_ms: int | None
    claimed_by: str | None
    heartbeat_ms: int | None
    attempts: int
    audio_seconds: float | None
    done_s: float
    total_s: float | None
    result_key: str | None
    usage_seconds: int | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def progress(self) -> float:
        """Share of the audio (all requested channels) recognised so far, 0–1."""
        if self.status is TaskStatus.SUCCEEDED:
            return 1.0
        if not self.total_s:
            return 0.0
        return max(0.0, min(1.0, self.done_s / self.total_s))


@dataclass(frozen=True)
class Checkpoint:
    """A recognised chunk saved for a task: everything a resumed run needs to skip it."""

    chunk_index: int
    chunk: ChunkResult


@dataclass(frozen=True)
class TaskFilter:
    """E7 filters (spec §7.4); None means "any". The time window applies to the submit time."""

    status: TaskStatus | None = None
    model_name: str | None = None
    api_key_id: str | None = None
    task_id: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass(frozen=True)
class Recovery:
    """What `recover_orphans` did: tasks put back to PENDING, and tasks failed for too many attempts."""

    requeued: tuple[str, ...]
    failed: tuple[str, ...]


# ------------------------------------------------------------------------------------- JSON columns


def task_params_json(options: TranscribeOptions, *, oss_resolve: bool) -> dict[str, Any]:
    """The `params` column: the options a task runs with (the model has its own column, `engine_model`;
    `sentences` is always on for tasks and limits are the worker's), plus the ``oss://`` permission.
    Diarization's keys are there only when it is on (a task without it is stored as before)."""
    params: dict[str, Any] = {
        "language": options.language,
        "itn": options.itn,
        "words": options.words,
        "context": options.context,
        "channels": None if options.channels is None else list(options.channels),
        "oss_resolve": oss_resolve,
    }
    if options.diarize:
        params |= {"diarize": True, "speaker_count": options.speaker_count}
    return params


def task_options(data: Mapping[str, Any], model: str) -> TranscribeOptions:
    """The inverse of `task_params_json` (without `oss_resolve`)."""
    channels = data.get("channels")
    return TranscribeOptions(
        model=model,
        language=data.get("language"),
        itn=bool(data.get("itn", False)),
        context=str(data.get("context") or ""),
        words=bool(data.get("words", False)),
        sentences=True,
        channels=None if channels is None else tuple(int(c) for c in channels),
        diarize=bool(data.get("diarize", False)),
        speaker_count=data.get("speaker_count"),
    )


# ------------------------------------------------------------------------------------ row conversion


def task_record(row: sa.Row[Any]) -> TaskRecord:
    m = row._mapping
    params = m["params"] or {}
    return TaskRecord(
        task_id=m["task_id"],
        request_id=m["request_id"],
        model_name=m["model_name"],
        api_key_id=m["api_key_id"],
        file_url=m["file_url"],
        options=task_options(params, m["engine_model"]),
        oss_resolve=bool(params.get("oss_resolve", False)),
        status=TaskStatus(m["status"]),
        code=m["code"],
        message=m["message"],
        submit_time_ms=int(m["submit_time_ms"]),
        scheduled_time_ms=_int_or_none(m["scheduled_time_ms"]),
        end_time_ms=_int_or_none(m["end_time_ms"]),
        claimed_by=m["claimed_by"],
        heartbeat_ms=_int_or_none(m["heartbeat_ms"]),
        attempts=int(m["attempts"]),
        audio_seconds=m["audio_seconds"],
        done_s=float(m["done_s"]),
        total_s=m["total_s"],
        result_key=m["result_key"],
        usage_seconds=_int_or_none(m["usage_seconds"]),
    )


def checkpoint(row: sa.Row[Any]) -> Checkpoint:
    m = row._mapping
    return Checkpoint(chunk_index=int(m["chunk_index"]), chunk=chunk_from_values(dict(m)))


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
