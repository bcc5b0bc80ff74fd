"""One model's place in the pool: loaded on first use, unloaded when idle, loaded again when asked.

A `ModelSlot` is the `EngineFront` callers hold for a model for as long as they like (a 12 h task holds
it throughout). Behind it the weights come and go: every chunk submitted counts as in use until its
result is set, so a slot is only unloaded when nothing of it is queued or running (a running batch is
never cut) and it has been idle `idle_s`; the next chunk, or token count that needs the model's own
tokenizer, loads it again in the caller's thread. The name, capabilities and batch size of a model do
not change between loads, so they are read once, at the first.

Unloading closes the batcher (its threads end once the queue is empty) and the engine's `close` where it
has one (CTranslate2's `unload_model` frees Whisper's weights at once); the caller then gives the freed
heap back to the system (`memory.release_free_memory`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from openasr.core.options import TokenCounter, count_context_tokens
from openasr.engines.base import Engine, Recognition, RecognitionItem
from openasr.runtime.batcher import BatchingEngine, BatchStats, Priority, add_stats


class ModelSlot:
    """A model's `EngineFront` with a lifecycle; `load` builds a fresh batching engine each time."""

    def __init__(self, model: str, load: Callable[[], BatchingEngine]) -> None:
        self.model = model
        self._load = load
        self._lock = threading.Lock()
        front = load()  # the first use: a model that cannot load fails its first caller, as before
        self._front: BatchingEngine | None = front
        self.name = front.name
        self.capabilities = front.capabilities
        self._max_batch = front.max_batch
        self.count_tokens: TokenCounter = (
            count_context_tokens if front.count_tokens is count_context_tokens else self._count_tokens
        )
        """The tokenizer-free estimate needs no model; a model's own tokenizer loads the model."""
        self._in_use = 0
        self._last_used_s = time.monotonic()
        self._retired = BatchStats(0, 0)
        self.loads = 1

    @property
    def loaded(self) -> bool:
        return self._front is not None

    @property
    def max_batch(self) -> int:
        return self._max_batch

    @property
    def stats(self) -> BatchStats:
        """Cumulative over every load (a counter must not fall when a model unloads)."""
        front = self._front
        return add_stats(self._retired, front.stats) if front is not None else self._retired

    @property
    def inner(self) -> Engine:
        """The loaded engine itself (tools and tests that call it directly); loads it if needed."""
        front = self._acquire()
        self._release()
        return front.inner

    def submit(self, item: RecognitionItem, priority: Priority = Priority.BULK) -> Future[Recognition]:
        front = self._acquire()
        try:
            future = front.submit(item, priority)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _: self._release())
        return future

    def recognize(self, items: Sequence[RecognitionItem], priority: Priority = Priority.BULK) -> list[Recognition]:
        """Submit every item and wait for all (as `BatchingEngine.recognize`)."""
        futures = [self.submit(item, priority) for item in items]
        return [f.result() for f in futures]

    def unload_if_idle(self, idle_s: float) -> bool:
        """Unload when nothing is queued or running and the last use ended `idle_s` ago; True if it did.
        Holds the slot while the weights are freed, so a caller that comes meanwhile waits and loads a
        fresh copy after it: two copies never coexist (no chunk of it is left to need the slot)."""
        with self._lock:
            front = self._front
            if front is None or self._in_use or time.monotonic() - self._last_used_s < idle_s:
                return False
            self._retired = add_stats(self._retired, front.stats)
            _close(front)
            self._front = None
            return True

    def close(self) -> None:
        """Let running batches finish and stop the dispatchers (the weights go with the process). The slot
        is not held meanwhile: each finishing chunk takes it to count itself done."""
        with self._lock:
            front = self._front
        if front is not None:
            front.close()

    def _acquire(self) -> BatchingEngine:
        with self._lock:
            if self._front is None:
                self._front = self._load()
                self.loads += 1
            self._in_use += 1
            return self._front

    def _release(self) -> None:
        with self._lock:
            self._in_use -= 1
            self._last_used_s = time.monotonic()

    def _count_tokens(self, text: str) -> int:
        front = self._acquire()
        try:
            return front.count_tokens(text)
        finally:
            self._release()


def _close(front: BatchingEngine) -> None:
    front.close()
    close = getattr(front.inner, "close", None)
    if callable(close):
        close()
