"""Gathers items from every caller of a model into batches, and hands each caller its own results.

Batching is what makes Whisper fast on any device: one encoder pass and one beam search over eight
chunks cost far less than eight separate ones. Callers (a sync request, an async task, a CLI run) each
`submit` chunks and get futures; dispatcher threads — one per parallel engine call the engine allows —
take up to `max_batch` queued chunks once that many are waiting or the oldest has waited `max_wait_s`,
and no more than their share when other dispatchers are free to take the rest.

Interactive work (sync requests, streaming) goes before bulk work (async tasks) and is never batched
with it: a streaming caller waits at most for batches already running, not for everyone else's queue.
An engine error fails only the chunks it belongs to: a failed batch is retried chunk by chunk.

`Batcher` is the mechanism, for any model that takes a batch of items and returns one result per item
(the emotion classifier uses it too); `BatchingEngine` is a recognition engine behind one. `EngineFront`
is what callers hold: a `BatchingEngine` in this process, or the same interface over engine actors on a
Ray cluster (`runtime/ray_pool.py`).
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Generic, Protocol, TypeVar

from openasr.core.errors import EngineUnavailableError
from openasr.core.options import TokenCounter, count_context_tokens
from openasr.engines.base import Engine, EngineCapabilities, Recognition, RecognitionItem


class Priority(IntEnum):
    """Lower goes first. `PARTIAL` is a live caption's draft decode: after every waiting interactive
    chunk (a realtime final, a sync request), before bulk work, never batched with either, on one
    dispatcher at a time, and on none while interactive work runs (`Batcher._head`)."""

    INTERACTIVE = 0
    PARTIAL = 1
    BULK = 2


ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

DEFAULT_MAX_BATCH = 4
DEFAULT_MAX_WAIT_S = 0.02


@dataclass(frozen=True)
class BatchStats:
    """What the batcher has done so far: how full its batches are is how much batching is paying off.

    Cumulative counts, read by whoever wants them (metrics are scraped from here, so recognition itself
    never touches a metrics library): `batch_sizes[n]` batches held n chunks, the engine spent `busy_s`
    seconds in recognition calls, and `queued` chunks wait per priority right now.
    """

    batches: int
    chunks: int
    batch_sizes: Mapping[int, int] = field(default_factory=dict)
    busy_s: float = 0.0
    queued: Mapping[Priority, int] = field(default_factory=dict)

    @property
    def mean_batch(self) -> float:
        return self.chunks / self.batches if self.batches else 0.0


def add_stats(first: BatchStats, second: BatchStats) -> BatchStats:
    """Two batchers' statistics as one (a model's loads one after another, or its Ray actors)."""
    sizes = dict(first.batch_sizes)
    for size, count in second.batch_sizes.items():
        sizes[size] = sizes.get(size, 0) + count
    queued = {p: first.queued.get(p, 0) + second.queued.get(p, 0) for p in Priority}
    return BatchStats(
        first.batches + second.batches, first.chunks + second.chunks, sizes, first.busy_s + second.busy_s, queued
    )


@dataclass(order=True)
class _Queued(Generic[ItemT, ResultT]):
    """One caller's item waiting for a batch, with the future its result goes to."""

    priority: int
    seq: int
    queued_at: float = field(compare=False)
    item: ItemT = field(compare=False)
    future: Future[ResultT] = field(compare=False)


_open_batchers: weakref.WeakSet[Batcher[Any, Any]] = weakref.WeakSet()


@atexit.register
def _close_open_batchers() -> None:
    """A process must not finish while CTranslate2 decodes in a dispatcher (a daemon thread): teardown
    stops the thread mid-call and the C++ runtime aborts the whole process ("terminate called", exit
    134), e.g. after a realtime client left mid-final. atexit runs once non-daemon threads have been
    joined and before teardown: each batcher finishes its running batch and stops."""
    for batcher in list(_open_batchers):
        batcher.close()


class Batcher(Generic[ItemT, ResultT]):
    """Items from all callers, run together by `run_batch` (one result per item, in order) on
    `threads` dispatcher threads."""

    def __init__(
        self,
        name: str,
        run_batch: Callable[[list[ItemT]], list[ResultT]],
        *,
        threads: int = 1,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
    ) -> None:
        self.max_batch = max_batch
        self._run_batch = run_batch
        self._max_wait_s = max_wait_s
        self._queue: list[_Queued[ItemT, ResultT]] = []
        self._seq = itertools.count()
        self._ready = threading.Condition()
        self._closed = False
        self._batches = 0
        self._chunks = 0
        self._batch_sizes: dict[int, int] = {}
        self._busy_s = 0.0
        self._running: list[int | None] = [None] * max(1, threads)
        """The priority each dispatcher is running a batch of; None while it waits for one."""
        self._threads = [
            threading.Thread(target=self._dispatch, args=(i,), name=f"batcher-{name}-{i}", daemon=True)
            for i in range(max(1, threads))
        ]
        for thread in self._threads:
            thread.start()
        _open_batchers.add(self)

    def submit(self, item: ItemT, priority: Priority = Priority.BULK) -> Future[ResultT]:
        future: Future[ResultT] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("engine is closed")
            heapq.heappush(self._queue, _Queued(priority, next(self._seq), time.monotonic(), item, future))
            self._ready.notify()
        return future

    @property
    def stats(self) -> BatchStats:
        with self._ready:
            queued = {p: 0 for p in Priority}
            for job in self._queue:
                queued[Priority(job.priority)] += 1
            return BatchStats(self._batches, self._chunks, dict(self._batch_sizes), self._busy_s, queued)

    def close(self) -> None:
        """Let the running batches finish, fail what is still queued (nobody waits forever on a closed
        engine) and stop the dispatchers."""
        with self._ready:
            self._closed = True
            queued, self._queue = self._queue, []
            self._ready.notify_all()
        for job in queued:
            if job.future.set_running_or_notify_cancel():  # False: its caller cancelled it already
                job.future.set_exception(RuntimeError("engine is closed"))
        for thread in self._threads:
            thread.join()

    def _dispatch(self, index: int) -> None:
        while (batch := self._next_batch(index)) is not None:
            jobs = [job for job in batch if job.future.set_running_or_notify_cancel()]
            if jobs:
                self._run(jobs)

    def _next_batch(self, index: int) -> list[_Queued[ItemT, ResultT]] | None:
        """Wait for work, then for a full batch or the oldest job's deadline; take jobs of the most
        urgent priority only, oldest first, and no more than this dispatcher's share of them.

        The share: what waits, divided among the dispatchers that are free or running less urgent work
        (which they finish soon). Four realtime finals that arrive together go out two and two, not all
        four to the first dispatcher that frees up while the other finishes a caption (bench/realtime.py,
        four sessions); a dispatcher that comes back to a long queue while the others run batches as
        urgent still takes a full batch."""
        with self._ready:
            if self._running[index] in (Priority.INTERACTIVE, Priority.PARTIAL):
                self._ready.notify_all()  # captions may go out again, to any dispatcher
            self._running[index] = None
            while True:
                if self._closed:
                    return None
                if not self._queue:
                    self._ready.wait()
                    continue
                head = self._head()
                if head is None:  # only captions, and another dispatcher is running captions
                    self._ready.wait()
                    continue
                waiting = sum(1 for job in self._queue if job.priority == head.priority)
                wait_s = head.queued_at + self._max_wait_s - time.monotonic()
                if waiting >= self.max_batch or wait_s <= 0:
                    break
                self._ready.wait(wait_s)
            sharing = sum(1 for p in self._running if p is None or p > head.priority)
            share = min(self.max_batch, -(-waiting // sharing))
            self._running[index] = head.priority
            batch = heapq.nsmallest(share, (job for job in self._queue if job.priority == head.priority))
            self._queue = [job for job in self._queue if job not in batch]
            heapq.heapify(self._queue)
            if self._queue:
                self._ready.notify()  # the rest is another free dispatcher's
            self._batches += 1
            self._chunks += len(batch)
            self._batch_sizes[len(batch)] = self._batch_sizes.get(len(batch), 0) + 1
            return batch

    def _head(self) -> _Queued[ItemT, ResultT] | None:
        """The oldest job of the most urgent priority a dispatcher may take now. Live captions run on
        one dispatcher at a time, and on none while interactive work (a final, a sync request) runs:
        the others stay free for the finals and requests that follow them (four realtime sessions'
        captions would otherwise keep every dispatcher busy, and each final would wait for a caption to
        finish), and a running final keeps the cores its worker's threads can use (with every worker on
        every core, a caption beside a final halves the final's speed: bench/realtime.py, 4 sessions
        started apart)."""
        held = Priority.INTERACTIVE in self._running or (len(self._running) > 1 and Priority.PARTIAL in self._running)
        takeable = [job for job in self._queue if not (held and job.priority == Priority.PARTIAL)]
        return min(takeable, default=None)

    def _run(self, jobs: list[_Queued[ItemT, ResultT]]) -> None:
        started = time.monotonic()
        try:
            results = self._run_batch([job.item for job in jobs])
        except Exception as error:
            self._add_busy(time.monotonic() - started)
            if len(jobs) == 1 or isinstance(error, EngineUnavailableError):
                # an unreachable engine fails every chunk alike: one by one would wait out the outage again
                for job in jobs:
                    job.future.set_exception(error)
                return
            for job in jobs:
                self._run([job])
            return
        self._add_busy(time.monotonic() - started)
        for job, result in zip(jobs, results, strict=True):
            job.future.set_result(result)

    def _add_busy(self, seconds: float) -> None:
        with self._ready:
            self._busy_s += seconds


class EngineFront(Protocol):
    """A model's shared recognition queue, as the pipeline, the service and the task worker use it.

    `max_batch` is how many chunks it recognises at once, so a caller that keeps twice that many in
    flight keeps it busy; `stats` is read by metrics and `/ready`."""

    name: str
    capabilities: EngineCapabilities
    count_tokens: TokenCounter

    @property
    def max_batch(self) -> int: ...

    @property
    def stats(self) -> BatchStats: ...

    def submit(self, item: RecognitionItem, priority: Priority = Priority.BULK) -> Future[Recognition]: ...

    def close(self) -> None: ...


class BatchingEngine(Batcher[RecognitionItem, Recognition]):
    """An `Engine` whose chunks from all callers are recognised together."""

    def __init__(
        self, engine: Engine, *, max_batch: int = DEFAULT_MAX_BATCH, max_wait_s: float = DEFAULT_MAX_WAIT_S
    ) -> None:
        self.name = engine.name
        self.capabilities = engine.capabilities
        self.inner = engine
        self.count_tokens: TokenCounter = getattr(engine, "count_tokens", count_context_tokens)
        """Text tokens as this engine counts them (its tokenizer), for the usage it reports."""
        super().__init__(
            engine.name,
            engine.recognize,
            threads=engine.capabilities.concurrent_calls,
            max_batch=max_batch,
            max_wait_s=max_wait_s,
        )

    def recognize(self, items: Sequence[RecognitionItem], priority: Priority = Priority.BULK) -> list[Recognition]:
        futures = [self.submit(item, priority) for item in items]
        return [f.result() for f in futures]
