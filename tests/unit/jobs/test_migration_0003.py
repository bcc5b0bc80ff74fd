"""Revision 0003 on real SQLite and PostgreSQL: tasks stored with DashScope's parameter names before it
come back in `TranscribeOptions`' terms after it, and a downgrade restores the old names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from openasr.core.options import TranscribeOptions
from openasr.jobs.database import create_engine
from openasr.jobs.schema import MIGRATIONS, tasks
from openasr.jobs.store import TaskStore
from unit.jobs.clock import Clock

T0 = 1_767_261_600.0

OLD_PARAMS = {
    "language": "en",
    "enable_itn": True,
    "enable_words": True,
    "context": "Dashwood",
    "channel_id": [1, 0],
    "oss_resolve": True,
}


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    e = create_engine(store_url)
    yield e
    e.dispose()


def _migrate(engine: sa.Engine, to: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, to)


def _insert_task(engine: sa.Engine, task_id: str, params: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(
            tasks.insert().values(
                task_id=task_id,
                request_id="req",
                model_name="qwen3-asr-flash-filetrans",
                engine_model="whisper-base",
                api_key_id="key-a",
                file_url="oss://dashscope-instant/k/a.wav",
                params=params,
                status="PENDING",
                submit_time_ms=int(T0 * 1000),
                attempts=0,
                done_s=0.0,
            )
        )


def _params(engine: sa.Engine, task_id: str) -> Any:
    with engine.begin() as conn:
        return conn.execute(sa.select(tasks.c.params).where(tasks.c.task_id == task_id)).scalar_one()


def test_tasks_stored_with_wire_names_are_rewritten_in_domain_terms(engine: sa.Engine, store_url: str) -> None:
    _migrate(engine, "0002")
    _insert_task(engine, "old", OLD_PARAMS)
    _insert_task(engine, "defaults", {})  # a row with no parameters keeps its defaults

    store = TaskStore(store_url, clock=Clock(T0))  # opening upgrades to head
    try:
        old = store.get("old")
        defaults = store.get("defaults")
    finally:
        store.close()
    assert old is not None and defaults is not None
    assert old.options == TranscribeOptions(
        model="whisper-base", language="en", itn=True, context="Dashwood", words=True, channels=(1, 0)
    )
    assert old.oss_resolve
    assert _params(engine, "old") == {
        "language": "en",
        "itn": True,
        "words": True,
        "context": "Dashwood",
        "channels": [1, 0],
        "oss_resolve": True,
    }
    assert defaults.options == TranscribeOptions(model="whisper-base") and not defaults.oss_resolve


def test_a_downgrade_restores_the_wire_names(engine: sa.Engine) -> None:
    _migrate(engine, "0002")
    _insert_task(engine, "t", OLD_PARAMS)
    _migrate(engine, "0003")
    assert "channels" in _params(engine, "t")
    _migrate(engine, "0002", down=True)
    assert _params(engine, "t") == OLD_PARAMS
