"""Tasks and their per-chunk checkpoints: the schema of the first releases, made without migrations.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = sa.inspect(op.get_bind()).get_table_names()
    if "tasks" not in existing:  # a database from before migrations already has it
        op.create_table(
            "tasks",
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
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("audio_seconds", sa.Double),
            sa.Column("done_s", sa.Double, nullable=False),
            sa.Column("total_s", sa.Double),
            sa.Column("result_key", sa.String(128)),
            sa.Column("usage_seconds", sa.Integer),
        )
        op.create_index("ix_tasks_status_submit", "tasks", ["status", "submit_time_ms"])
        op.create_index("ix_tasks_submit", "tasks", ["submit_time_ms"])
        op.create_index("ix_tasks_api_key_submit", "tasks", ["api_key_id", "submit_time_ms"])
    if "checkpoints" not in existing:
        op.create_table(
            "checkpoints",
            sa.Column("task_id", sa.String(36), sa.ForeignKey("tasks.task_id", ondelete="CASCADE"), primary_key=True),
            sa.Column("channel_id", sa.Integer, primary_key=True),
            sa.Column("chunk_index", sa.Integer, primary_key=True),
            sa.Column("start_s", sa.Double, nullable=False),
            sa.Column("end_s", sa.Double, nullable=False),
            sa.Column("language", sa.String(16), nullable=False),
            sa.Column("language_probability", sa.Double),
            sa.Column("sentences", sa.JSON, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("checkpoints")
    op.drop_table("tasks")
