"""The whole system built from `Settings` in one place: for `openasr serve` and for the standalone worker.

Storage, the signing secret, the task and result stores, uploads, engines and the task workers' config
are wired here, so a worker process (`python -m openasr.cli.worker`) and a server read the same settings
the same way: a result link a worker signs is one any server accepts, and the reverse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from openasr.jobs.database import sqlite_url
from openasr.jobs.records import TaskRecord
from openasr.jobs.results import ResultStore
from openasr.jobs.secrets import load_or_create_secret, load_or_create_store_secret
from openasr.jobs.store import TaskStore
from openasr.jobs.uploads import UploadStore
from openasr.jobs.worker import TaskWorker, WorkerConfig, async_source_policy
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings
from openasr.storage import BlobStore, open_store

log = logging.getLogger("openasr.system")


@dataclass
class System:
    """What a server and a worker share: built by `build_system`, closed by `close`."""

    settings: Settings
    engines: EnginePool
    blobs: BlobStore
    """The root blob store: uploads/, results/ and work/ are scoped from it."""
    store: TaskStore
    results: ResultStore
    uploads: UploadStore

    def worker_config(self) -> WorkerConfig:
        settings = self.settings
        return WorkerConfig(
            data_dir=settings.data_dir,
            policy=async_source_policy(allow_private_urls=settings.allow_private_urls, file_roots=settings.file_roots),
            result_retention_s=settings.result_retention_hours * 3600,
            task_retention_s=settings.task_retention_hours * 3600,
            heartbeat_s=settings.task_heartbeat_s,
            stale_after_s=settings.task_stale_after_s,
            recover_every_s=settings.task_recover_every_s,
            idle_sleep_s=settings.task_poll_s,
        )

    def start_workers(self, count: int, on_finished: Callable[[TaskRecord], None] | None = None) -> list[TaskWorker]:
        """`count` task worker threads, started."""
        config = self.worker_config()
        workers = [
            TaskWorker(
                self.store,
                self.results,
                self.engines,
                config,
                uploads=self.uploads,
                work_blobs=self.blobs.child("work"),
                on_finished=on_finished,
            )
            for _ in range(max(0, count))
        ]
        for worker in workers:
            worker.start()
        return workers

    def close(self) -> None:
        self.engines.close()
        self.store.close()


def build_system(settings: Settings, engines: EnginePool | None = None) -> System:
    """Every shared part from `settings`; `engines` replaces the pool (tests share one across servers)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    blobs = open_store(settings.storage_config())  # uploads/, results/, work/: local or S3
    log.info("blob storage: %s", blobs.location)
    secret = signing_secret(settings, blobs)
    return System(
        settings=settings,
        engines=engines or EnginePool(settings.cache_dir, settings.engine_config()),
        blobs=blobs,
        store=TaskStore(settings.database_url or sqlite_url(settings.data_dir)),
        results=ResultStore(blobs.child("results"), secret),
        uploads=UploadStore(blobs.child("uploads"), secret, retention_s=settings.upload_retention_hours * 3600),
    )


def signing_secret(settings: Settings, blobs: BlobStore) -> bytes:
    """One secret for every node, so any node verifies another's upload policies and result links: the
    configured one, else the one kept in a shared S3 store, else this data directory's."""
    if settings.signing_secret is not None:
        return bytes.fromhex(settings.signing_secret.get_secret_value())
    if settings.storage_url:
        return load_or_create_store_secret(blobs)
    return load_or_create_secret(settings.data_dir)
