"""A task worker process: runs async transcription tasks next to (or instead of) the API servers.

``python -m openasr.cli.worker [--data-dir DIR] [--database-url URL]`` claims tasks from the same store as
the servers (a shared PostgreSQL, or the data directory's SQLite) and stops cleanly on SIGTERM/SIGINT.
It reads every ``OPENASR_*`` setting as `openasr serve` does and builds the same system
(`openasr.system`): storage, the signing secret, engines (idle unload included) and the workers' leases;
an option given here overrides its setting. The crash-recovery tests kill it with -9 mid-task.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from openasr.settings import Settings
from openasr.system import build_system

log = logging.getLogger("openasr.jobs.worker")


def parse_settings(argv: Sequence[str] | None = None) -> tuple[Settings, argparse.Namespace]:
    """The environment's settings with the options given on the command line laid over them."""
    parser = argparse.ArgumentParser(prog="python -m openasr.cli.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, help="default: OPENASR_DATA_DIR")
    parser.add_argument("--database-url", help="default: OPENASR_DATABASE_URL, else sqlite in the data directory")
    parser.add_argument("--cache-dir", type=Path, help="default: OPENASR_CACHE_DIR")
    parser.add_argument("--threads", type=int, default=1, help="worker threads")
    parser.add_argument("--cpu-threads", type=int, help="CTranslate2 threads per engine worker (0: auto)")
    parser.add_argument("--allow-private-urls", action="store_true", default=None)
    parser.add_argument("--file-root", type=Path, action="append", help="default: OPENASR_FILE_ROOTS")
    parser.add_argument("--recover-all", action="store_true", help="requeue every RUNNING task at start")
    parser.add_argument("--storage-url", help="s3://bucket/prefix; default: OPENASR_STORAGE_URL, else the data dir")
    parser.add_argument("--heartbeat-s", type=float, help="default: OPENASR_TASK_HEARTBEAT_S")
    parser.add_argument("--stale-after-s", type=float, help="default: OPENASR_TASK_STALE_AFTER_S")
    args = parser.parse_args(argv)
    given = {
        "data_dir": args.data_dir.expanduser().resolve() if args.data_dir else None,
        "database_url": args.database_url,
        "cache_dir": args.cache_dir,
        "cpu_threads": args.cpu_threads,
        "allow_private_urls": args.allow_private_urls,
        "file_roots": tuple(p.expanduser().resolve() for p in args.file_root) if args.file_root else None,
        "storage_url": args.storage_url,
        "task_heartbeat_s": args.heartbeat_s,
        "task_stale_after_s": args.stale_after_s,
    }
    return Settings(**{name: value for name, value in given.items() if value is not None}), args


def main(argv: Sequence[str] | None = None) -> int:
    """Run workers in this process until SIGTERM/SIGINT (see the module docstring)."""
    settings, args = parse_settings(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    system = build_system(settings)
    if args.recover_all:
        system.store.recover_orphans(0)
    stopping = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    workers = system.start_workers(max(1, args.threads))
    log.info("%d worker(s) running on %s", len(workers), system.store.dialect)
    while not stopping.wait(1.0):
        pass
    for worker in workers:
        worker.stop()
    system.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
