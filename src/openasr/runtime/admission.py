"""Admission of sync work by the audio already waiting for the engine, so accepted requests finish in time.

A sync request (DashScope sync and stream, chat, OpenAI transcription) reserves its audio seconds on its
engine model once its duration is known, and releases them when it ends. While the reserved seconds of a
model are over `max_queued_s`, new sync requests are refused with `ServerBusyError` and a `Retry-After`
computed from the queue: the audio waiting now divided by the rate at which this server has been
finishing audio lately, i.e. when what waits now will have been recognised. (The moment just enough has
drained for this one request would be sooner, but every refused client would come back then at once.)
A request is always admitted onto an empty queue, so one 5-minute file is never refused. Async tasks
are not counted: they wait durably in the task store, at a lower priority.

A request's duration is known only once its body is read and probed, but requests wait before that too:
for the body, and for a thread of the server's pool (40 threads: a burst of 200 clients would otherwise
queue 160 requests where no count sees them; bench/load.py measured p95 276 s that way). So the server
also counts sync requests from the moment their headers are admitted (`enter` … `leave`), and one not
yet reserved counts as the mean duration of recent requests.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from openasr.core.errors import ServerBusyError

RATE_WINDOW_S = 60.0
"""The recent finishes that the drain rate is measured over."""
DEFAULT_RATE = 8.0
"""Audio seconds finished per second assumed before any request has finished: whisper-base on one
CPU core with batching (README, performance)."""
DEFAULT_REQUEST_S = 10.0
"""The duration a not yet probed request counts as, before any request has been reserved."""
_MEAN_WEIGHT = 0.1


@dataclass
class _Queue:
    entered: int = 0
    """Sync requests in flight (admitted from their headers, not yet answered)."""
    reserved: int = 0
    reserved_s: float = 0.0

    def waiting_s(self, mean_s: float) -> float:
        return self.reserved_s + max(0, self.entered - self.reserved) * mean_s


class Admission:
    """Sync audio seconds waiting per engine model; `max_queued_s` 0 admits everything."""

    def __init__(self, max_queued_s: float, on_idle: Callable[[], None] | None = None) -> None:
        """`on_idle` runs (outside the lock, on the finishing thread) whenever the last sync request of
        every model has ended: the moment to give a burst's memory back."""
        self.max_queued_s = max_queued_s
        self._on_idle = on_idle
        self._queues: dict[str, _Queue] = {}
        self._mean_s = DEFAULT_REQUEST_S
        self._finished: deque[tuple[float, float]] = deque()  # (when, audio seconds)
        self._lock = threading.Lock()

    def queued_s(self, model: str) -> float:
        """Audio seconds waiting for `model`: reserved ones, and the mean for each request not yet probed."""
        with self._lock:
            queue = self._queues.get(model)
            return queue.waiting_s(self._mean_s) if queue else 0.0

    @contextmanager
    def enter(self, model: str) -> Iterator[None]:
        """Admit a sync request from its headers, before its body is read, and count it until it ends."""
        with self._lock:
            queue = self._queues.setdefault(model, _Queue())
            waiting = queue.waiting_s(self._mean_s)
            if self.max_queued_s > 0 and queue.entered and waiting + self._mean_s > self.max_queued_s:
                raise self._busy(waiting)
            queue.entered += 1
        try:
            yield
        finally:
            with self._lock:
                queue.entered -= 1
                idle = self._forget_if_idle(model, queue)
            if idle and self._on_idle is not None:
                self._on_idle()

    @contextmanager
    def reserve(self, model: str, seconds: float) -> Iterator[None]:
        """Hold `seconds` of `model`'s queue while the caller recognises them (the request's duration is
        known now); refused when the audio reserved before it leaves no room."""
        with self._lock:
            queue = self._queues.setdefault(model, _Queue())
            if self.max_queued_s > 0 and queue.reserved_s > 0 and queue.reserved_s + seconds > self.max_queued_s:
                self._forget_if_idle(model, queue)
                raise self._busy(queue.waiting_s(self._mean_s))
            queue.reserved += 1
            queue.reserved_s += seconds
            self._mean_s += _MEAN_WEIGHT * (seconds - self._mean_s)
        try:
            yield
        finally:
            with self._lock:
                queue.reserved -= 1
                queue.reserved_s = max(0.0, queue.reserved_s - seconds)
                self._finished.append((time.monotonic(), seconds))
                idle = self._forget_if_idle(model, queue)
            if idle and self._on_idle is not None:
                self._on_idle()

    def _forget_if_idle(self, model: str, queue: _Queue) -> bool:
        """Drop an empty queue (under the lock); True when no model has sync work left."""
        if queue.entered <= 0 and queue.reserved <= 0 and self._queues.get(model) is queue:
            del self._queues[model]
        return not self._queues

    def _busy(self, waiting_s: float) -> ServerBusyError:
        retry = max(1, math.ceil(waiting_s / self._rate()))
        return ServerBusyError(
            f"the server is busy: {waiting_s:.0f} s of audio wait for recognition; retry after {retry} s",
            retry_after_s=retry,
        )

    def _rate(self) -> float:
        """Audio seconds finished per second over the last minute (under the lock)."""
        now = time.monotonic()
        while self._finished and now - self._finished[0][0] > RATE_WINDOW_S:
            self._finished.popleft()
        if len(self._finished) < 2:
            return DEFAULT_RATE
        span = max(1.0, now - self._finished[0][0])
        return max(0.5, sum(s for _, s in self._finished) / span)
