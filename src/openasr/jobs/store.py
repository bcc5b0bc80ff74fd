"""Durable state of async transcription tasks: one row per task, one checkpoint row per recognised chunk.

SQLAlchemy Core over SQLite (default: one file in the data directory, WAL mode) or PostgreSQL (several
machines). The schema uses portable types only: strings, integers, doubles and JSON; times are UTC epoch
milliseconds in BIGINT columns, so ordering and windows are plain integer comparisons on every backend.

Every status change is one guarded UPDATE (`jobs.transitions`), so two writers can never both win: two
workers never claim the same task, a cancel racing a claim leaves the task either CANCELED or RUNNING,
and a worker whose task was recovered by another one (its heartbeat went stale) has every later write
refused with `LeaseLostError`. A claim hands out a fresh *lease* token (stored in ``claimed_by``) that
the worker quotes on each write.

Opening the database (SQLite or PostgreSQL) is `jobs.database`; the records it returns are
`jobs.records`; usage rows are `jobs.usage`.
"""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from openasr.core.options import TranscribeOptions
from openasr.jobs import transitions
from openasr.jobs.checkpoints import chunk_values
from openasr.jobs.database import READ_ONLY, create_engine
from openasr.jobs.errors import LeaseLostError, TaskNotCancelableError, TaskNotFoundError
from openasr.jobs.records import (
    FINISHED,
    Checkpoint,
    Recovery,
    TaskFilter,
    TaskRecord,
    TaskStatus,
    checkpoint,
    task_params_json,
    task_record,
)
from openasr.jobs.schema import checkpoints, current_revision, tasks, upgrade
from openasr.jobs.usage import Usage, UsageTotal, usage_row, usage_totals
from openasr.pipeline import ChunkResult


class TaskStore:
    """Tasks and checkpoints in one SQL database; safe to share between threads and processes.

    `clock` returns epoch seconds (tests move time without sleeping).
    """

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._engine = create_engine(url)
        self._reader = self._engine.execution_options(**{READ_ONLY: True})
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # processes starting together must not race on DDL
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            upgrade(conn)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @property
    def engine(self) -> sa.Engine:
        """The connection pool, for other tables of the same database (shared rate limits)."""
        return self._engine

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (the head once this store has opened it)."""
        with self._reader.connect() as conn:
            return current_revision(conn)

    def close(self) -> None:
        self._engine.dispose()

    # -- submit / read

    def create(
        self,
        *,
        file_url: str,
        model_name: str,
        options: TranscribeOptions,
        api_key_id: str,
        oss_resolve: bool = False,
        request_id: str = "",
        task_id: str | None = None,
    ) -> TaskRecord:
        """Insert a PENDING task that runs with `options` (its engine model is `options.model`)."""
        values = {
            "task_id": task_id or str(uuid.uuid4()),
            "request_id": request_id,
            "model_name": model_name,
            "engine_model": options.model,
            "api_key_id": api_key_id,
            "file_url": file_url,
            "params": task_params_json(options, oss_resolve=oss_resolve),
            "status": TaskStatus.PENDING.value,
            "submit_time_ms": self._now_ms(),
            "attempts": 0,
            "done_s": 0.0,
        }
        with self._write() as conn:
            row = conn.execute(tasks.insert().values(**values).returning(*tasks.c)).one()
        return task_record(row)

    def get(self, task_id: str) -> TaskRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(tasks).where(tasks.c.task_id == task_id)).first()
        return task_record(row) if row is not None else None

    def list(
        self, filters: TaskFilter, *, page_no: int = 1, page_size: int = 10
    ) -> tuple[int, builtins.list[TaskRecord]]:
        """(total matching, one page of them), newest first. `page_no` counts from 1."""
        if page_no < 1 or page_size < 1:
            raise ValueError("page_no and page_size start at 1")
        conditions = transitions.matching(filters)
        count = sa.select(sa.func.count()).select_from(tasks).where(*conditions)
        page = (
            sa.select(tasks)
            .where(*conditions)
            .order_by(tasks.c.submit_time_ms.desc(), tasks.c.task_id.desc())
            .offset((page_no - 1) * page_size)
            .limit(page_size)
        )
        with self._read() as conn:
            total = int(conn.execute(count).scalar_one())
            rows = conn.execute(page).all()
        return total, [task_record(r) for r in rows]

    # -- worker side

    def claim_next(self, worker_id: str) -> TaskRecord | None:
        """Atomically move the oldest PENDING task to RUNNING under a fresh lease (`transitions.claim`),
        or return None."""
        lease = f"{worker_id}/{uuid.uuid4().hex[:12]}"
        for _ in range(3):  # a lost race on PostgreSQL returns no row although others are pending
            statement = transitions.claim(lease, self._now_ms())
            with self._write() as conn:
                row = conn.execute(statement).first()
            if row is not None:
                return task_record(row)
            if not self._any_pending():
                return None
        return None

    def heartbeat(
        self,
        task_id: str,
        lease: str,
        *,
        done_s: float | None = None,
        audio_seconds: float | None = None,
        total_s: float | None = None,
    ) -> None:
        """Record that the lease holder is alive (and its progress); `LeaseLostError` if not held."""
        values: dict[str, Any] = {"heartbeat_ms": self._now_ms()}
        if done_s is not None:
            values["done_s"] = done_s
        if audio_seconds is not None:
            values["audio_seconds"] = audio_seconds
        if total_s is not None:
            values["total_s"] = total_s
        with self._write() as conn:
            if conn.execute(tasks.update().where(*transitions.held(task_id, lease)).values(**values)).rowcount != 1:
                raise LeaseLostError(task_id)

    def add_checkpoint(self, task_id: str, lease: str, chunk_index: int, chunk: ChunkResult, *, done_s: float) -> None:
        """Save one recognised chunk (`jobs.checkpoints`: its result and every stage's kept data) and the
        task's progress in one transaction (both or neither)."""
        with self._write() as conn:
            now = self._now_ms()
            guard = tasks.update().where(*transitions.held(task_id, lease)).values(heartbeat_ms=now, done_s=done_s)
            if conn.execute(guard).rowcount != 1:
                raise LeaseLostError(task_id)
            conn.execute(checkpoints.insert().values(task_id=task_id, chunk_index=chunk_index, **chunk_values(chunk)))

    def load_checkpoints(self, task_id: str) -> builtins.list[Checkpoint]:
        """Every checkpoint of the task, by channel then chunk order."""
        query = (
            sa.select(checkpoints)
            .where(checkpoints.c.task_id == task_id)
            .order_by(checkpoints.c.channel_id, checkpoints.c.chunk_index)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [checkpoint(r) for r in rows]

    def finish(
        self, task_id: str, lease: str, *, result_key: str, usage_seconds: int, tokens: tuple[int, int] = (0, 0)
    ) -> TaskRecord:
        """RUNNING → SUCCEEDED under the lease; the checkpoints go (the result file replaces them), and
        the task's usage (`tokens`: input, output) is recorded in the same transaction, exactly once."""
        statement = (
            tasks.update()
            .where(*transitions.held(task_id, lease))
            .values(
                status=TaskStatus.SUCCEEDED.value,
                end_time_ms=self._now_ms(),
                result_key=result_key,
                usage_seconds=usage_seconds,
                done_s=sa.func.coalesce(tasks.c.total_s, tasks.c.done_s),
                code=None,
                message=None,
            )
            .returning(*tasks.c)
        )
        with self._write() as conn:
            row = conn.execute(statement).first()
            if row is None:
                raise LeaseLostError(task_id)
            conn.execute(checkpoints.delete().where(checkpoints.c.task_id == task_id))
            record = task_record(row)
            charge = Usage(usage_seconds, *tokens)
            conn.execute(self._usage_row(record.api_key_id, record.model_name, "task", charge, record.request_id))
        return record

    def fail(self, task_id: str, code: str, message: str, *, lease: str | None = None) -> TaskRecord | None:
        """PENDING/RUNNING → FAILED (under `lease` when given). None when nothing changed: the task is
        unknown, already finished, or held under another lease."""
        conditions = [tasks.c.task_id == task_id, tasks.c.status.in_(transitions.UNFINISHED)]
        if lease is not None:
            conditions.append(tasks.c.claimed_by == lease)
        statement = (
            tasks.update()
            .where(*conditions)
            .values(status=TaskStatus.FAILED.value, end_time_ms=self._now_ms(), code=code, message=message)
            .returning(*tasks.c)
        )
        with self._write() as conn:
            row = conn.execute(statement).first()
            if row is not None:
                conn.execute(checkpoints.delete().where(checkpoints.c.task_id == task_id))
        return task_record(row) if row is not None else None

    def release(self, task_id: str, lease: str) -> None:
        """RUNNING → PENDING for a clean shutdown: checkpoints stay, the attempt does not count."""
        statement = transitions.release(task_id, lease)
        with self._write() as conn:
            if conn.execute(statement).rowcount != 1:
                raise LeaseLostError(task_id)

    # -- user actions and maintenance

    def cancel(self, task_id: str) -> TaskRecord:
        """PENDING → CANCELED. `TaskNotFoundError` for an unknown id, `TaskNotCancelableError` otherwise."""
        statement = (
            tasks.update()
            .where(tasks.c.task_id == task_id, tasks.c.status == TaskStatus.PENDING.value)
            .values(status=TaskStatus.CANCELED.value, end_time_ms=self._now_ms())
            .returning(*tasks.c)
        )
        with self._write() as conn:
            row = conn.execute(statement).first()
        if row is not None:
            return task_record(row)
        current = self.get(task_id)
        if current is None:
            raise TaskNotFoundError(f"task {task_id} does not exist", param="task_id")
        raise TaskNotCancelableError(
            f"task {task_id} is {current.status.value}; only PENDING tasks can be canceled",
            status=current.status.value,
        )

    def recover_orphans(self, stale_after_s: float, *, max_attempts: int = 3) -> Recovery:
        """Put RUNNING tasks whose heartbeat is older than `stale_after_s` back to PENDING, keeping their
        checkpoints; those already claimed `max_attempts` times fail instead (a file that kills its worker
        must not kill every worker in turn). ``stale_after_s=0`` recovers every RUNNING task: right at the
        start of a server that is the only one using the database.
        """
        now = self._now_ms()
        cutoff = now - int(stale_after_s * 1000)
        give_up = transitions.give_up_stale(cutoff, now, max_attempts)
        requeue = transitions.requeue_stale(cutoff)
        with self._write() as conn:
            failed = tuple(conn.execute(give_up).scalars())
            if failed:
                conn.execute(checkpoints.delete().where(checkpoints.c.task_id.in_(failed)))
            requeued = tuple(conn.execute(requeue).scalars())
        return Recovery(requeued=requeued, failed=failed)

    def purge(self, finished_before_s: float) -> int:
        """Delete finished tasks (and any checkpoints) that ended before `finished_before_s` (epoch s)."""
        cutoff = int(finished_before_s * 1000)
        old = [tasks.c.status.in_([s.value for s in FINISHED]), tasks.c.end_time_ms < cutoff]
        with self._write() as conn:
            ids = sa.select(tasks.c.task_id).where(*old)
            conn.execute(checkpoints.delete().where(checkpoints.c.task_id.in_(ids)))
            return int(conn.execute(tasks.delete().where(*old)).rowcount)

    # -- usage and counts

    def record_usage(self, *, api_key_id: str, model: str, surface: str, charge: Usage, request_id: str = "") -> None:
        with self._write() as conn:
            conn.execute(self._usage_row(api_key_id, model, surface, charge, request_id))

    def usage_totals(self, start_day: str, end_day: str, *, api_key_id: str | None = None) -> builtins.list[UsageTotal]:
        """Totals per day, key and model (see `jobs.usage.usage_totals`)."""
        with self._read() as conn:
            return usage_totals(conn, start_day, end_day, api_key_id)

    def count_by_status(self) -> dict[TaskStatus, int]:
        """How many tasks are in each state now (every state present, zero when none)."""
        query = sa.select(tasks.c.status, sa.func.count()).group_by(tasks.c.status)
        with self._read() as conn:
            found = {row[0]: int(row[1]) for row in conn.execute(query)}
        return {status: found.get(status.value, 0) for status in TaskStatus}

    def ping(self) -> None:
        """One round trip to the database; raises when it cannot be reached (readiness checks)."""
        with self._read() as conn:
            conn.execute(sa.text("SELECT 1"))

    def _usage_row(self, api_key_id: str, model: str, surface: str, charge: Usage, request_id: str) -> sa.Insert:
        return usage_row(self._now_ms(), api_key_id, model, surface, charge, request_id)

    # -- plumbing

    def _any_pending(self) -> bool:
        query = sa.select(tasks.c.task_id).where(tasks.c.status == TaskStatus.PENDING.value).limit(1)
        with self._read() as conn:
            return conn.execute(query).first() is not None

    def _now_ms(self) -> int:
        return round(self._clock() * 1000)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._reader.begin() as conn:
            yield conn


_SCHEMA_LOCK_KEY = 0x6F70656E617372  # "openasr"
