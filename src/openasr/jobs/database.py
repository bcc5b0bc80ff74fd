"""Opening the task database: SQLite (one WAL file in the data directory) or PostgreSQL (psycopg 3).

SQLite notes: the driver's own transaction handling is switched off and write transactions start with
``BEGIN IMMEDIATE`` (reads, marked with the ``openasr_read_only`` execution option, with a deferred
``BEGIN``), so two processes never deadlock upgrading a read lock; ``busy_timeout`` makes them queue
instead of failing. See SQLAlchemy's pysqlite "Serializable isolation / Savepoints / Transactional DDL"
recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

DATABASE_FILE = "openasr.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another one (a checkpoint write takes milliseconds)."""
READ_ONLY = "openasr_read_only"
"""Execution option that marks a read transaction (a deferred ``BEGIN`` on SQLite)."""


def sqlite_url(data_dir: Path) -> str:
    """The default database: ``openasr.db`` in the data directory."""
    return f"sqlite:///{(data_dir / DATABASE_FILE).expanduser().resolve()}"


def create_engine(url: str) -> sa.Engine:
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
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
