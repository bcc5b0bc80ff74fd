"""The guarded UPDATEs that move a task between states, and the WHERE clauses they share.

Every status change is one statement whose WHERE re-checks the state it starts from (``status =
'PENDING'``, or ``claimed_by = :lease`` for the holder of a claim), so two writers can never both win;
`TaskStore` runs them and turns "no row changed" into the right error.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from openasr.jobs.records import INTERRUPTED_MESSAGE, TaskFilter, TaskStatus
from openasr.jobs.schema import tasks

UNFINISHED = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)


def held(task_id: str, lease: str) -> Sequence[sa.ColumnElement[bool]]:
    """The task is RUNNING under `lease`."""
    return (
        tasks.c.task_id == task_id,
        tasks.c.status == TaskStatus.RUNNING.value,
        tasks.c.claimed_by == lease,
    )


def matching(f: TaskFilter) -> list[sa.ColumnElement[bool]]:
    """The E7 filter as WHERE conditions (none for "any")."""
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


def claim(lease: str, now_ms: int) -> sa.Update:
    """PENDING → RUNNING for the oldest PENDING task, under `lease`; returns the row.

    The subquery picks the oldest PENDING row and the UPDATE's own WHERE re-checks the status: SQLite
    runs it under the database write lock; PostgreSQL locks the picked row (``FOR UPDATE SKIP LOCKED``),
    so concurrent claimers take different rows instead of queueing on the same one.
    """
    pick = (
        sa.select(tasks.c.task_id)
        .where(tasks.c.status == TaskStatus.PENDING.value)
        .order_by(tasks.c.submit_time_ms, tasks.c.task_id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return (
        tasks.update()
        .where(tasks.c.task_id == pick, tasks.c.status == TaskStatus.PENDING.value)
        .values(
            status=TaskStatus.RUNNING.value,
            claimed_by=lease,
            heartbeat_ms=now_ms,
            attempts=tasks.c.attempts + 1,
            scheduled_time_ms=sa.func.coalesce(tasks.c.scheduled_time_ms, now_ms),
        )
        .returning(*tasks.c)
    )


def release(task_id: str, lease: str) -> sa.Update:
    """RUNNING → PENDING under the lease, without counting the attempt."""
    return (
        tasks.update()
        .where(*held(task_id, lease))
        .values(
            status=TaskStatus.PENDING.value,
            claimed_by=None,
            heartbeat_ms=None,
            attempts=sa.case((tasks.c.attempts > 0, tasks.c.attempts - 1), else_=0),
        )
    )


def give_up_stale(cutoff_ms: int, now_ms: int, max_attempts: int) -> sa.Update:
    """Stale RUNNING → FAILED for tasks already claimed `max_attempts` times; returns their ids."""
    return (
        tasks.update()
        .where(*_stale(cutoff_ms), tasks.c.attempts >= max_attempts)
        .values(status=TaskStatus.FAILED.value, end_time_ms=now_ms, code="INTERNAL_ERROR", message=INTERRUPTED_MESSAGE)
        .returning(tasks.c.task_id)
    )


def requeue_stale(cutoff_ms: int) -> sa.Update:
    """Stale RUNNING → PENDING (checkpoints stay); returns their ids."""
    return (
        tasks.update()
        .where(*_stale(cutoff_ms))
        .values(status=TaskStatus.PENDING.value, claimed_by=None, heartbeat_ms=None)
        .returning(tasks.c.task_id)
    )


def _stale(cutoff_ms: int) -> Sequence[sa.ColumnElement[bool]]:
    """RUNNING with no heartbeat since `cutoff_ms`."""
    return (
        tasks.c.status == TaskStatus.RUNNING.value,
        sa.or_(tasks.c.heartbeat_ms.is_(None), tasks.c.heartbeat_ms <= cutoff_ms),
    )
