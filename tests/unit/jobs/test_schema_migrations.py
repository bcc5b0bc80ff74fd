"""Schema migrations (Alembic) on real SQLite and PostgreSQL: new databases, databases from before
migrations, and `openasr db upgrade`."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa

from openasr.core.options import TranscribeOptions
from openasr.core.types import Sentence
from openasr.jobs.schema import head_revision
from openasr.jobs.store import TaskStore
from openasr.pipeline import ChunkResult
from unit.jobs.clock import Clock

T0 = 1_767_261_600.0


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_new_database_is_made_at_the_head_revision(store: TaskStore, store_url: str) -> None:
    assert store.schema_revision() == head_revision() == "0005"
    assert {"tasks", "checkpoints", "usage", "rate_limits", "alembic_version"} <= _tables(store_url)


def test_a_database_from_before_migrations_is_adopted_with_its_tasks(store_url: str) -> None:
    """An early release made `tasks` and `checkpoints` straight from the metadata, with no version table
    and no `usage` or `rate_limits`: opening it adds what is missing and keeps every task."""
    first = TaskStore(store_url, clock=Clock(T0))
    task = first.create(
        file_url="https://example.org/a.wav",
        model_name="qwen3-asr-flash-filetrans",
        options=TranscribeOptions(model="whisper-base", channels=(0,)),
        api_key_id="key-a",
    )
    first.close()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE usage"))
        conn.execute(sa.text("DROP TABLE rate_limits"))
        conn.execute(sa.text("DROP TABLE alembic_version"))
    engine.dispose()
    assert _tables(store_url) == {"tasks", "checkpoints"}

    reopened = TaskStore(store_url, clock=Clock(T0))
    try:
        assert reopened.schema_revision() == head_revision()
        assert {"usage", "rate_limits"} <= _tables(store_url)
        again = reopened.get(task.task_id)
        assert again is not None and again.file_url == task.file_url
    finally:
        reopened.close()


def test_openasr_db_upgrade_brings_the_database_to_head_and_can_run_again(store_url: str) -> None:
    command = [sys.executable, "-m", "openasr.cli.main", "db", "upgrade", "--database-url", store_url]
    for _ in range(2):
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"schema revision {head_revision()} (head)" in done.stdout
    assert "usage" in _tables(store_url)


def test_checkpoints_written_before_stage_data_still_resume(store_url: str) -> None:
    """Revision 0005 adds the stages' kept data to checkpoints: a task interrupted across the upgrade
    keeps its checkpoints, read back with no stage data (as that release resumed them)."""
    first = TaskStore(store_url, clock=Clock(T0))
    task = first.create(
        file_url="https://example.org/a.wav",
        model_name="qwen3-asr-flash-filetrans",
        options=TranscribeOptions(model="whisper-base", channels=(0,)),
        api_key_id="key-a",
    )
    claimed = first.claim_next("w")
    assert claimed is not None and claimed.claimed_by is not None
    sentence = Sentence(0, 250, 1800, "Hello.", "en", emotion="happy")
    first.add_checkpoint(
        task.task_id, claimed.claimed_by, 0, ChunkResult(0, 0.0, 2.0, "en", 0.99, (sentence,)), done_s=2.0
    )
    first.close()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:  # the database as revision 0004 left it
        conn.execute(sa.text("ALTER TABLE checkpoints DROP COLUMN stage_data"))
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0004'"))
    engine.dispose()

    reopened = TaskStore(store_url, clock=Clock(T0))
    try:
        assert reopened.schema_revision() == head_revision()
        (saved,) = reopened.load_checkpoints(task.task_id)
        assert saved.chunk == ChunkResult(0, 0.0, 2.0, "en", 0.99, (sentence,)) and saved.chunk.stage_data == {}
    finally:
        reopened.close()
