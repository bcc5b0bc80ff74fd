"""Durable state of async transcription tasks: one row per task, one checkpoint row per recognised chunk.

SQLAlchemy Core over SQLite (default: one file in the data directory, WAL mode) or PostgreSQL (several
machines). The schema uses portable types only: strings, integers, doubles and JSON; times are UTC epoch
milliseconds in BIGINT columns, so ordering and windows are plain integer comparisons on every backend.

Every status change is one guarded UPDATE (``… WHERE status = 'PENDING'`` or ``… AND claimed_by =
:lease``), so two writers can never both win: two workers never claim the same task, a cancel racing a
claim leaves the task either CANCELED or RUNNING, and a worker whose task was recovered by another one
(its heartbeat went stale) has every later write refused with `LeaseLostError`. A claim hands out a
fresh *lease* token (stored in ``claimed_by``) that the worker quotes on each write.

SQLite notes: the driver's own transaction handling is switched off and write transactions start with
``BEGIN IMMEDIATE`` (reads with a deferred ``BEGIN``), so two processes never deadlock upgrading a read
lock; ``busy_timeout`` makes them queue instead of failing. See SQLAlchemy's pysqlite "Serializable
isolation / Savepoints / Transactional DDL" recipe.
"""

from __future__ import annotations

import builtins
import enum
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from openasr.core.options import TranscribeOptions
from openasr.core.types import Sentence, Word
from openasr.jobs.errors import LeaseLostError, TaskNotCancelableError, TaskNotFoundError
from openasr.jobs.schema import checkpoints, current_revision, tasks, upgrade, usage
from openasr.pipeline import ChunkResult

DATABASE_FILE = "openasr.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another one (a checkpoint write takes milliseconds)."""


class TaskStatus(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


FINISHED = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED})

INTERRUPTED_MESSAGE = "the task was interrupted too many times (its worker stopped while running it)"

# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class Usage:
    """What one call is billed: audio seconds (rounded up, per channel) and the tokens its response
    reported (input: audio at 25 tokens/s plus context text; output: recognised text)."""

    seconds: int
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class UsageTotal:
    """Usage summed over one UTC day, one key (by its id, never the key) and one model."""

    day: str
    api_key_id: str
    model: str
    requests: int
    seconds: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class TaskParams:
    """The E4 parameters a task runs with (spec §7.1), kept with the task as JSON.

    `channel_ids` defaults to ``(0,)`` like the service; `context` is the biasing text (``text`` /
    ``corpus.text``); `oss_resolve` records that the submit carried ``X-DashScope-OssResourceResolve``.
    """

    language: str | None = None
    enable_itn: bool = False
    enable_words: bool = False
    context: str = ""
    channel_ids: tuple[int, ...] = (0,)
    oss_resolve: bool = False

    def to_options(self, model: str) -> TranscribeOptions:
        """The pipeline options of this task; raises `InvalidParameterError` naming a bad parameter."""
        return TranscribeOptions(
            model=model,
            language=self.language,
            itn=self.enable_itn,
            context=self.context,
            words=self.enable_words,
            sentences=True,
            channels=self.channel_ids,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "enable_itn": self.enable_itn,
            "enable_words": self.enable_words,
            "context": self.context,
            "channel_id": list(self.channel_ids),
            "oss_resolve": self.oss_resolve,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskParams:
        return cls(
            language=data.get("language"),
            enable_itn=bool(data.get("enable_itn", False)),
            enable_words=bool(data.get("enable_words", False)),
            context=str(data.get("context") or ""),
            channel_ids=tuple(int(c) for c in data.get("channel_id", (0,))),
            oss_resolve=bool(data.get("oss_resolve", False)),
        )


@dataclass(frozen=True)
class TaskRecord:
    """One row of `tasks`. Times are UTC epoch milliseconds; `claimed_by` is the current lease."""

    task_id: str
    request_id: str
    model_name: str
    engine_model: str
    api_key_id: str
    file_url: str
    params: TaskParams
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


# --------------------------------------------------------------------------------------------- store


def sqlite_url(data_dir: Path) -> str:
    """The default database: ``openasr.db`` in the data directory."""
    return f"sqlite:///{(data_dir / DATABASE_FILE).expanduser().resolve()}"


class TaskStore:
    """Tasks and checkpoints in one SQL database; safe to share between threads and processes.

    `clock` returns epoch seconds (tests move time without sleeping).
    """

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._engine = _create_engine(url)
        self._reader = self._engine.execution_options(openasr_read_only=True)
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # processes starting together must not race on DDL
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            upgrade(conn)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

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
        engine_model: str,
        params: TaskParams,
        api_key_id: str,
        request_id: str = "",
        task_id: str | None = None,
    ) -> TaskRecord:
        """Insert a PENDING task and return it."""
        values = {
            "task_id": task_id or str(uuid.uuid4()),
            "request_id": request_id,
            "model_name": model_name,
            "engine_model": engine_model,
            "api_key_id": api_key_id,
            "file_url": file_url,
            "params": params.to_json(),
            "status": TaskStatus.PENDING.value,
            "submit_time_ms": self._now_ms(),
            "attempts": 0,
            "done_s": 0.0,
        }
        with self._write() as conn:
            row = conn.execute(tasks.insert().values(**values).returning(*tasks.c)).one()
        return _record(row)

    def get(self, task_id: str) -> TaskRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(tasks).where(tasks.c.task_id == task_id)).first()
        return _record(row) if row is not None else None

    def list(
        self, filters: TaskFilter, *, page_no: int = 1, page_size: int = 10
    ) -> tuple[int, builtins.list[TaskRecord]]:
        """(total matching, one page of them), newest first. `page_no` counts from 1."""
        if page_no < 1 or page_size < 1:
            raise ValueError("page_no and page_size start at 1")
        conditions = _conditions(filters)
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
        return total, [_record(r) for r in rows]

    # -- worker side

    def claim_next(self, worker_id: str) -> TaskRecord | None:
        """Atomically move the oldest PENDING task to RUNNING under a fresh lease, or return None.

        One UPDATE whose subquery picks the oldest PENDING row and whose own WHERE re-checks the status:
        SQLite runs it under the database write lock; PostgreSQL locks the picked row (``FOR UPDATE
        SKIP LOCKED``), so concurrent claimers take different rows instead of queueing on the same one.
        """
        lease = f"{worker_id}/{uuid.uuid4().hex[:12]}"
        pick = (
            sa.select(tasks.c.task_id)
            .where(tasks.c.status == TaskStatus.PENDING.value)
            .order_by(tasks.c.submit_time_ms, tasks.c.task_id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        for _ in range(3):  # a lost race on PostgreSQL returns no row although others are pending
            now = self._now_ms()
            statement = (
                tasks.update()
                .where(tasks.c.task_id == pick, tasks.c.status == TaskStatus.PENDING.value)
                .values(
                    status=TaskStatus.RUNNING.value,
                    claimed_by=lease,
                    heartbeat_ms=now,
                    attempts=tasks.c.attempts + 1,
                    scheduled_time_ms=sa.func.coalesce(tasks.c.scheduled_time_ms, now),
                )
                .returning(*tasks.c)
            )
            with self._write() as conn:
                row = conn.execute(statement).first()
            if row is not None:
                return _record(row)
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
            if conn.execute(tasks.update().where(*_held(task_id, lease)).values(**values)).rowcount != 1:
                raise LeaseLostError(task_id)

    def add_checkpoint(self, task_id: str, lease: str, chunk_index: int, chunk: ChunkResult, *, done_s: float) -> None:
        """Save one recognised chunk and the task's progress in one transaction (both or neither)."""
        with self._write() as conn:
            now = self._now_ms()
            guard = tasks.update().where(*_held(task_id, lease)).values(heartbeat_ms=now, done_s=done_s)
            if conn.execute(guard).rowcount != 1:
                raise LeaseLostError(task_id)
            conn.execute(
                checkpoints.insert().values(
                    task_id=task_id,
                    channel_id=chunk.channel_id,
                    chunk_index=chunk_index,
                    start_s=chunk.start_s,
                    end_s=chunk.end_s,
                    language=chunk.language,
                    language_probability=chunk.language_probability,
                    sentences=[_sentence_json(s) for s in chunk.sentences],
                )
            )

    def load_checkpoints(self, task_id: str) -> builtins.list[Checkpoint]:
        """Every checkpoint of the task, by channel then chunk order."""
        query = (
            sa.select(checkpoints)
            .where(checkpoints.c.task_id == task_id)
            .order_by(checkpoints.c.channel_id, checkpoints.c.chunk_index)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_checkpoint(r) for r in rows]

    def finish(
        self, task_id: str, lease: str, *, result_key: str, usage_seconds: int, tokens: tuple[int, int] = (0, 0)
    ) -> TaskRecord:
        """RUNNING → SUCCEEDED under the lease; the checkpoints go (the result file replaces them), and
        the task's usage (`tokens`: input, output) is recorded in the same transaction, exactly once."""
        statement = (
            tasks.update()
            .where(*_held(task_id, lease))
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
            record = _record(row)
            charge = Usage(usage_seconds, *tokens)
            conn.execute(self._usage_row(record.api_key_id, record.model_name, "task", charge, record.request_id))
        return record

    def fail(self, task_id: str, code: str, message: str, *, lease: str | None = None) -> TaskRecord | None:
        """PENDING/RUNNING → FAILED (under `lease` when given). None when nothing changed: the task is
        unknown, already finished, or held under another lease."""
        conditions = [tasks.c.task_id == task_id, tasks.c.status.in_(_UNFINISHED)]
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
        return _record(row) if row is not None else None

    def release(self, task_id: str, lease: str) -> None:
        """RUNNING → PENDING for a clean shutdown: checkpoints stay, the attempt does not count."""
        statement = (
            tasks.update()
            .where(*_held(task_id, lease))
            .values(
                status=TaskStatus.PENDING.value,
                claimed_by=None,
                heartbeat_ms=None,
                attempts=sa.case((tasks.c.attempts > 0, tasks.c.attempts - 1), else_=0),
            )
        )
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
            return _record(row)
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
        stale = [
            tasks.c.status == TaskStatus.RUNNING.value,
            sa.or_(tasks.c.heartbeat_ms.is_(None), tasks.c.heartbeat_ms <= cutoff),
        ]
        give_up = (
            tasks.update()
            .where(*stale, tasks.c.attempts >= max_attempts)
            .values(
                status=TaskStatus.FAILED.value,
                end_time_ms=now,
                code="INTERNAL_ERROR",
                message=INTERRUPTED_MESSAGE,
            )
            .returning(tasks.c.task_id)
        )
        requeue = (
            tasks.update()
            .where(*stale)
            .values(status=TaskStatus.PENDING.value, claimed_by=None, heartbeat_ms=None)
            .returning(tasks.c.task_id)
        )
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
        """Totals per day, key and model for the UTC days `start_day`..`end_day` (YYYY-MM-DD, inclusive);
        only `api_key_id`'s when given. Ordered by day, key, model."""
        columns = (usage.c.day, usage.c.api_key_id, usage.c.model)
        conditions = [usage.c.day >= start_day, usage.c.day <= end_day]
        if api_key_id is not None:
            conditions.append(usage.c.api_key_id == api_key_id)
        query = (
            sa.select(
                *columns,
                sa.func.count(),
                sa.func.sum(usage.c.seconds),
                sa.func.sum(usage.c.input_tokens),
                sa.func.sum(usage.c.output_tokens),
            )
            .where(*conditions)
            .group_by(*columns)
            .order_by(*columns)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [UsageTotal(r[0], r[1], r[2], *(int(v or 0) for v in r[3:])) for r in rows]

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
        now_ms = self._now_ms()
        day = time.strftime("%Y-%m-%d", time.gmtime(now_ms / 1000))
        return usage.insert().values(
            time_ms=now_ms,
            day=day,
            api_key_id=api_key_id,
            model=model,
            surface=surface,
            seconds=charge.seconds,
            input_tokens=charge.input_tokens,
            output_tokens=charge.output_tokens,
            request_id=request_id[:64],
        )

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


_UNFINISHED = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)
_SCHEMA_LOCK_KEY = 0x6F70656E617372  # "openasr"


def _held(task_id: str, lease: str) -> Sequence[sa.ColumnElement[bool]]:
    return (
        tasks.c.task_id == task_id,
        tasks.c.status == TaskStatus.RUNNING.value,
        tasks.c.claimed_by == lease,
    )


def _conditions(f: TaskFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if f.status is not None:
        conditions.append(tasks.c.status == TaskStatus(f.status).value)
    if f.model_name is not None:
        conditions.append(tasks.c.model_name == f.model_name)
    if f.api_key_id is not None:
        conditions.append(tasks.c.api_key_id == f.api_key_id)
    if f.task_id is not None:
        conditions.append(tasks.c.task_id == f.task_id)
    if f.start_ms is not None:
        conditions.append(tasks.c.submit_time_ms >= f.start_ms)
    if f.end_ms is not None:
        conditions.append(tasks.c.submit_time_ms <= f.end_ms)
    return conditions


def _create_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not SQLAlchemy's psycopg2 default
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        parsed, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see the module docstring)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("openasr_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


# ------------------------------------------------------------------------------------ row conversion


def _record(row: sa.Row[Any]) -> TaskRecord:
    m = row._mapping
    return TaskRecord(
        task_id=m["task_id"],
        request_id=m["request_id"],
        model_name=m["model_name"],
        engine_model=m["engine_model"],
        api_key_id=m["api_key_id"],
        file_url=m["file_url"],
        params=TaskParams.from_json(m["params"] or {}),
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


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _checkpoint(row: sa.Row[Any]) -> Checkpoint:
    m = row._mapping
    chunk = ChunkResult(
        channel_id=int(m["channel_id"]),
        start_s=float(m["start_s"]),
        end_s=float(m["end_s"]),
        language=m["language"],
        language_probability=m["language_probability"],
        sentences=tuple(_sentence(s) for s in m["sentences"]),
    )
    return Checkpoint(chunk_index=int(m["chunk_index"]), chunk=chunk)


def _sentence_json(s: Sentence) -> dict[str, Any]:
    return {
        "sentence_id": s.sentence_id,
        "begin_ms": s.begin_ms,
        "end_ms": s.end_ms,
        "text": s.text,
        "language": s.language,
        "emotion": s.emotion,
        "words": [[w.begin_ms, w.end_ms, w.text, w.punctuation, w.probability] for w in s.words],
    }


def _sentence(data: Mapping[str, Any]) -> Sentence:
    return Sentence(
        sentence_id=int(data["sentence_id"]),
        begin_ms=int(data["begin_ms"]),
        end_ms=int(data["end_ms"]),
        text=data["text"],
        language=data["language"],
        words=tuple(Word(int(b), int(e), t, p, prob) for b, e, t, p, prob in data.get("words", ())),
        emotion=data.get("emotion"),
    )
