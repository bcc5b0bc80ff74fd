"""Admission of sync work by the audio already waiting for the engine, so accepted requests finish in time.

A sync request (DashScope sync and stream, chat, OpenAI transcription) reserves its audio seconds on its
engine model once its duration is known, and releases them when it ends. While the reserved seconds of a
model are over `max_queued_s`, new sync requests are refused with `ServerBusyError` and a `Retry-After`
computed from the queue: the audio waiting now divided by the rate at which this server has been
finishing audio lately, i.e. when what waits now will have been recognised. (The moment just enough has
drained for this one request would be sooner, but every refused client would come back then at once.)
A request is always admitted onto an empty queue, so one 5-minute file is never refused. Async tasks
are not counted: they wait durably in the task store, at a lower priority.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from openasr.core.errors import ServerBusyError

RATE_WINDOW_S = 60.0
"""The recent finishes that the drain rate is measured over."""
DEFAULT_RATE = 8.0
"""Audio seconds finished per second assumed before any request has finished: whisper-base on one
CPU core with batching (README, performance)."""


class Admission:
    """Reserved sync audio seconds per engine model; `max_queued_s` 0 admits everything."""

    def __init__(self, max_queued_s: float, on_idle: Callable[[], None] | None = None) -> None:
        """`on_idle` runs (outside the lock, on the finishing thread) whenever the last sync request of
        every model has ended: the moment to give a burst's memory back."""
        self.max_queued_s = max_queued_s
        self._on_idle = on_idle
        self._queued: dict[str, float] = {}
        self._finished: deque[tuple[float, float]] = deque()  # (when, audio seconds)
        self._lock = threading.Lock()

    def queued_s(self, model: str) -> float:
        with self._lock:
            return self._queued.get(model, 0.0)

    def check(self, model: str) -> None:
        """Refuse before a request's body is read when its model's queue is already over the bound."""
        with self._lock:
            queued = self._queued.get(model, 0.0)
            if self.max_queued_s > 0 and queued > self.max_queued_s:
                raise self._busy(queued)

    @contextmanager
    def reserve(self, model: str, seconds: float) -> Iterator[None]:
        """Hold `seconds` of `model`'s queue while the caller recognises them."""
        with self._lock:
            queued = self._queued.get(model, 0.0)
            if self.max_queued_s > 0 and queued > 0 and queued + seconds > self.max_queued_s:
                raise self._busy(queued)
            self._queued[model] = queued + seconds
        try:
            yield
        finally:
            with self._lock:
                left = self._queued[model] - seconds
                if left <= 1e-6:
                    del self._queued[model]
                else:
                    self._queued[model] = left
                self._finished.append((time.monotonic(), seconds))
                idle = not self._queued
            if idle and self._on_idle is not None:
                self._on_idle()

    def _busy(self, queued: float) -> ServerBusyError:
        retry = max(1, math.ceil(queued / self._rate()))
        return ServerBusyError(
            f"the server is busy: {queued:.0f} s of audio wait for recognition; retry after {retry} s",
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
