"""Checkpoints keep each side stage's data of their chunk (emotion estimates …), so a resumed task
finishes every stage from what the chunks before the interruption kept.

Rows written before it have NULL there: a task interrupted across the upgrade resumes as it did before.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("checkpoints")}
    if "stage_data" not in columns:  # a database from before migrations made its tables from today's metadata
        op.add_column("checkpoints", sa.Column("stage_data", sa.JSON))


def downgrade() -> None:
    op.drop_column("checkpoints", "stage_data")
