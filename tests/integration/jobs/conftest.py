"""Fixtures of the job integration tests: the real whisper-base engine (loaded once per session), a job
environment per test, and a local HTTP file server per module. Helpers live in `jobs_testkit`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs_testkit import DATA, MODEL, FileServer, JobEnv

from openasr.jobs.database import sqlite_url
from openasr.jobs.results import ResultStore
from openasr.jobs.secrets import load_or_create_secret
from openasr.jobs.store import TaskStore
from openasr.jobs.worker import WorkerConfig, async_source_policy
from openasr.runtime.engine_pool import EnginePool
from openasr.storage import LocalBlobStore


@pytest.fixture(scope="session")
def engines(engine_pool: EnginePool) -> EnginePool:
    """The session's engine pool (tests/conftest.py), with whisper-base loaded."""
    engine_pool.get(MODEL)
    return engine_pool


@pytest.fixture
def job_env(tmp_path: Path, engines: EnginePool) -> Iterator[JobEnv]:
    data_dir = tmp_path / "data"
    store = TaskStore(sqlite_url(data_dir))
    results = ResultStore(LocalBlobStore(data_dir / "results"), load_or_create_secret(data_dir))
    config = WorkerConfig(
        data_dir=data_dir,
        policy=async_source_policy(allow_private_urls=True, file_roots=(tmp_path, DATA)),
        heartbeat_s=0.5,
        idle_sleep_s=0.05,
        cleanup_every_s=None,
    )
    yield JobEnv(tmp_path, store, results, config, engines)
    store.close()


@pytest.fixture(scope="module")
def file_server() -> Iterator[FileServer]:
    server = FileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
