"""Task parameters stored under `TranscribeOptions`' names instead of DashScope's wire names.

``enable_itn`` → ``itn``, ``enable_words`` → ``words``, ``channel_id`` → ``channels`` in
``tasks.params``; the other keys (``language``, ``context``, ``oss_resolve``) keep their names. Rows are
rewritten one by one in Python, so the same code runs on SQLite and PostgreSQL (JSON functions differ).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RENAMED = {"enable_itn": "itn", "enable_words": "words", "channel_id": "channels"}

_tasks = sa.table("tasks", sa.column("task_id", sa.String), sa.column("params", sa.JSON))


def upgrade() -> None:
    _rewrite(RENAMED)


def downgrade() -> None:
    _rewrite({new: old for old, new in RENAMED.items()})


def _rewrite(names: Mapping[str, str]) -> None:
    conn = op.get_bind()
    for task_id, params in conn.execute(sa.select(_tasks.c.task_id, _tasks.c.params)).all():
        renamed = _renamed(params or {}, names)
        if renamed != params:
            conn.execute(_tasks.update().where(_tasks.c.task_id == task_id).values(params=renamed))


def _renamed(params: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    return {names.get(key, key): value for key, value in params.items()}
