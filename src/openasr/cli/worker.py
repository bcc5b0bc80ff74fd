"""A task worker process: runs async transcription tasks next to (or instead of) the API servers.

``python -m openasr.cli.worker --data-dir DIR [--database-url URL]`` claims tasks from the same store as
the servers (a shared PostgreSQL, or the data directory's SQLite), recognises them with the engine settings
of the environment (``OPENASR_*``, as `openasr serve` reads them) and stops cleanly on SIGTERM/SIGINT. The
crash-recovery tests kill it with -9 mid-task.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from openasr.jobs.database import sqlite_url
from openasr.jobs.results import ResultStore
from openasr.jobs.secrets import load_or_create_secret, load_or_create_store_secret
from openasr.jobs.store import TaskStore
from openasr.jobs.uploads import UploadStore
from openasr.jobs.worker import TaskWorker, WorkerConfig, async_source_policy
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings
from openasr.storage import open_store

log = logging.getLogger("openasr.jobs.worker")


def main(argv: Sequence[str] | None = None) -> int:
    """Run workers in this process until SIGTERM/SIGINT (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m openasr.cli.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", help="default: sqlite in the data directory")
    parser.add_argument("--cache-dir", type=Path, default=Path("~/.cache/openasr").expanduser())
    parser.add_argument("--threads", type=int, default=1, help="worker threads")
    parser.add_argument("--cpu-threads", type=int, default=0, help="CTranslate2 threads per engine worker (0: auto)")
    parser.add_argument("--allow-private-urls", action="store_true")
    parser.add_argument("--file-root", type=Path, action="append", default=[])
    parser.add_argument("--recover-all", action="store_true", help="requeue every RUNNING task at start")
    parser.add_argument("--storage-url", help="s3://bucket/prefix; default: OPENASR_STORAGE_URL, else the data dir")
    parser.add_argument("--heartbeat-s", type=float, default=5.0)
    parser.add_argument("--stale-after-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    data_dir: Path = args.data_dir.expanduser().resolve()
    store = TaskStore(args.database_url or sqlite_url(data_dir))
    settings = Settings(cpu_threads=args.cpu_threads, data_dir=data_dir)
    if args.storage_url:
        settings = settings.model_copy(update={"storage_url": args.storage_url})
    blobs = open_store(settings.storage_config())
    secret = load_or_create_store_secret(blobs) if settings.storage_url else load_or_create_secret(data_dir)
    results = ResultStore(blobs.child("results"), secret)
    uploads = UploadStore(blobs.child("uploads"), secret, retention_s=settings.upload_retention_hours * 3600)
    engines = EnginePool(args.cache_dir, settings.engine_config())
    config = WorkerConfig(
        data_dir=data_dir,
        policy=async_source_policy(
            allow_private_urls=args.allow_private_urls,
            file_roots=tuple(p.expanduser().resolve() for p in args.file_root),
        ),
        heartbeat_s=args.heartbeat_s,
        stale_after_s=args.stale_after_s,
    )
    if args.recover_all:
        store.recover_orphans(0)
    workers = [
        TaskWorker(store, results, engines, config, uploads=uploads, work_blobs=blobs.child("work"))
        for _ in range(max(1, args.threads))
    ]
    stopping = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    for worker in workers:
        worker.start()
    log.info("%d worker(s) running on %s", len(workers), store.dialect)
    while not stopping.wait(1.0):
        pass
    for worker in workers:
        worker.stop()
    engines.close()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
