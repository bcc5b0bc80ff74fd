"""Proof that a running task's worker is alive: a side thread beats while the task runs.

The beat goes on through long downloads and long chunks, so a busy worker is not mistaken for a dead
one; when the store says the lease is gone (another worker took the task over), the task loop learns it
at its next chunk (`check`) and abandons the run.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from openasr.jobs.errors import LeaseLostError
from openasr.jobs.store import TaskStore

log = logging.getLogger("openasr.jobs.worker")  # the worker's log, where a failing beat is looked for


class Heartbeat:
    """Beats every `interval_s` in a side thread while a task runs, also through long downloads and
    chunks; remembers when the lease was lost so the task loop can stop at the next chunk."""

    def __init__(self, store: TaskStore, task_id: str, lease: str, interval_s: float) -> None:
        self._store = store
        self._task_id = task_id
        self._lease = lease
        self._interval_s = interval_s
        self._done = threading.Event()
        self._lost = False
        self._thread = threading.Thread(target=self._run, name=f"openasr-heartbeat-{task_id[:8]}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        self._thread.join()

    def check(self) -> None:
        if self._lost:
            raise LeaseLostError(self._task_id)

    def _run(self) -> None:
        while not self._done.wait(self._interval_s):
            try:
                self._store.heartbeat(self._task_id, self._lease)
            except LeaseLostError:
                self._lost = True
                return
            except Exception:
                log.exception("task %s: heartbeat failed; retrying", self._task_id)
