"""The task store's tables, and the Alembic migrations that bring any database up to them.

The tables here are what the code reads and writes; `migrations/versions/` holds each change as a
revision, so a running deployment's database is upgraded in place (`openasr db upgrade`, or any store
opening it: `TaskStore` upgrades under a lock). A change to a table here needs a new revision there
(`alembic revision` with `script_location = openasr.jobs:migrations`).

Databases made before migrations existed (tables created straight from this metadata) are adopted: the
first revisions create only the tables that are missing.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")

metadata = sa.MetaData()

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("task_id", sa.String(36), primary_key=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("model_name", sa.String(128), nullable=False),
    sa.Column("engine_model", sa.String(256), nullable=False),
    sa.Column("api_key_id", sa.String(32), nullable=False),
    sa.Column("file_url", sa.Text, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("code", sa.String(64)),
    sa.Column("message", sa.Text),
    sa.Column("submit_time_ms", sa.BigInteger, nullable=False),
    sa.Column("scheduled_time_ms", sa.BigInteger),
    sa.Column("end_time_ms", sa.BigInteger),
    sa.Column("claimed_by", sa.String(160)),
    sa.Column("heartbeat_ms", sa.BigInteger),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("audio_seconds", sa.Double),
    sa.Column("done_s", sa.Double, nullable=False, default=0.0),
    sa.Column("total_s", sa.Double),
    sa.Column("result_key", sa.String(128)),
    sa.Column("usage_seconds", sa.Integer),
    sa.Index("ix_tasks_status_submit", "status", "submit_time_ms"),
    sa.Index("ix_tasks_submit", "submit_time_ms"),
    sa.Index("ix_tasks_api_key_submit", "api_key_id", "submit_time_ms"),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("task_id", sa.String(36), sa.ForeignKey("tasks.task_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("channel_id", sa.Integer, primary_key=True),
    sa.Column("chunk_index", sa.Integer, primary_key=True),
    sa.Column("start_s", sa.Double, nullable=False),
    sa.Column("end_s", sa.Double, nullable=False),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("language_probability", sa.Double),
    sa.Column("sentences", sa.JSON, nullable=False),
    sa.Column("stage_data", sa.JSON),
)
"""One row per recognised chunk of a running task (`jobs.checkpoints` maps a chunk to a row and back);
`stage_data` is each side stage's kept data, by stage name (NULL in rows from before revision 0005)."""

usage = sa.Table(
    "usage",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("api_key_id", sa.String(32), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("surface", sa.String(32), nullable=False),
    sa.Column("seconds", sa.Integer, nullable=False),
    sa.Column("input_tokens", sa.Integer, nullable=False),
    sa.Column("output_tokens", sa.Integer, nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Index("ix_usage_day_key", "day", "api_key_id"),
)
"""One row per billable call (sync, stream, OpenAI, task), written when the call ends. `day` is the UTC
date (YYYY-MM-DD) of `time_ms`, stored so that totals per day are a plain GROUP BY on every backend."""

rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("slot_ms", sa.BigInteger, primary_key=True),
    sa.Column("hits", sa.Integer, nullable=False),
)
"""Requests per API key (its id) per slot of the rate-limit window, shared by every API node
(`jobs/rate_limits.py` explains the design). `slot_ms` is the slot's start, epoch milliseconds."""


def upgrade(connection: sa.Connection) -> str:
    """Apply every revision the database lacks, inside the caller's transaction; returns the head."""
    config = _config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return head_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the migrations directory has revisions"
    return head


def current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
