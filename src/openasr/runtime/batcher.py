"""Gathers recognition chunks from every caller into batches for one engine.

Callers (sync requests, streams, async workers, the chunks of one long file) `submit` chunks and get a
future each. Dispatcher threads — as many as the engine runs in parallel — take the oldest pending
chunk, wait at most `max_wait_s` for more (never past `max_batch`), run them as one batch and hand each
caller its own result. Interactive work (streams) is taken before bulk work, so a stream's first chunk
never waits behind a queue of file transcription; it can wait for at most one batch already running.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from openasr.engines.base import Engine, EngineCapabilities, LanguageGuess, RecognitionItem, RecognizedSegment

log = logging.getLogger("openasr.batcher")

INTERACTIVE = 0
BULK = 1

Segments = tuple[RecognizedSegment, ...]


@dataclass(order=True)
class _Pending:
    priority: int
    seq: int
    item: RecognitionItem = field(compare=False)
    future: Future[Segments] = field(compare=False)


class BatchingEngine:
    """An `Engine` whose `recognize` calls, from any number of threads, are batched together."""

    def __init__(self, engine: Engine, *, max_batch: int = 8, max_wait_s: float = 0.02) -> None:
        self.engine = engine
        self.name = engine.name
        self.capabilities: EngineCapabilities = engine.capabilities
        self._max_batch = max(1, max_batch)
        self._max_wait_s = max_wait_s
        self._heap: list[_Pending] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._dispatch, name=f"batcher-{engine.name}-{i}", daemon=True)
            for i in range(max(1, engine.capabilities.concurrent_calls))
        ]
        for thread in self._threads:
            thread.start()

    def detect_language(self, samples: object) -> LanguageGuess:
        return self.engine.detect_language(samples)  # type: ignore[arg-type]

    def submit(self, item: RecognitionItem, *, priority: int = BULK) -> Future[Segments]:
        future: Future[Segments] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the engine is shut down")
            heapq.heappush(self._heap, _Pending(priority, next(self._seq), item, future))
            self._cond.notify()
        return future

    def recognize(self, items: Sequence[RecognitionItem]) -> list[Segments]:
        futures = [self.submit(item) for item in items]
        return [f.result() for f in futures]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def _next_batch(self) -> list[_Pending] | None:
        with self._cond:
            while not self._heap and not self._closed:
                self._cond.wait()
            if self._closed and not self._heap:
                return None
            batch = [heapq.heappop(self._heap)]
            deadline = time.monotonic() + self._max_wait_s
            while len(batch) < self._max_batch:
                if self._heap:
                    batch.append(heapq.heappop(self._heap))
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    break
            return batch

    def _dispatch(self) -> None:
        while (batch := self._next_batch()) is not None:
            live = [p for p in batch if p.future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                results = self.engine.recognize([p.item for p in live])
            except BaseException as exc:  # handed to every caller of the batch; the dispatcher lives on
                log.exception("batch of %d chunks failed", len(live))
                for p in live:
                    p.future.set_exception(exc)
                continue
            for p, result in zip(live, results, strict=True):
                p.future.set_result(result)
