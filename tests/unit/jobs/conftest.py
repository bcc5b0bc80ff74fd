"""Store backends for the job tests: a SQLite file in tmp_path, and a fresh database in the session's
throwaway PostgreSQL cluster (`postgres_cluster`, tests/conftest.py and tests/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openasr.jobs.database import sqlite_url
from openasr.jobs.store import TaskStore
from postgres import PostgresCluster
from unit.jobs.clock import Clock


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.new_database()


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> Clock:
    """Starts at the test module's `T0`."""
    return Clock(request.module.T0)


@pytest.fixture
def store(store_url: str, clock: Clock) -> Iterator[TaskStore]:
    s = TaskStore(store_url, clock=clock)
    yield s
    s.close()
