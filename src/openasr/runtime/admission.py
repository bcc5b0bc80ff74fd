"""Admission of sync work by its predicted wait, so an accepted request is answered within a bound.

A sync request (DashScope sync and stream, chat, OpenAI transcription) is accepted only while its
predicted completion stays under `max_wait_s`: the audio queued ahead of it divided by the recognition
rate this server has measured (`RecognitionRate`), plus its own audio at that rate. Otherwise it is
refused with `ServerBusyError` and a `Retry-After` from the same prediction: when the audio waiting now
will have been recognised. (The moment just enough has drained for this one request would be sooner, but
every refused client would come back then at once.) An empty queue always admits, so one 5-minute file
is never refused. Async tasks are not counted: they wait durably in the task store, at a lower priority.

A request is counted twice over its life. From the moment its body is in (`enter`: never while a body
still trickles, so slow clients cannot take the room) it counts as the mean duration of recent requests,
because it may still wait for a thread of the server's pool before it is probed (40 threads: a burst of
200 clients would otherwise queue 160 requests where no count sees them; bench/load.py measured p95
276 s that way). Once probed (`reserve`) it counts as its own duration, less what has been recognised of
it so far (`Reservation.progress`), and each recognised chunk feeds the measured rate.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from openasr.core.errors import ServerBusyError

DEFAULT_RATE = 8.0
"""Audio seconds recognised per wall second assumed before any has been measured: whisper-base on one
CPU core with batching (README, performance); the first measurement replaces it."""
DEFAULT_REQUEST_S = 10.0
"""The duration a not yet probed request counts as, before any request has been reserved."""
RATE_WEIGHT = 0.3
"""How much each new measurement of the rate moves it (an exponentially weighted mean)."""
MIN_SPAN_S = 1.0
"""A measurement spans at least this much busy time: a batch finishes several chunks at one instant."""
_MIN_RATE = 0.1
_MEAN_WEIGHT = 0.1


class RecognitionRate:
    """Audio seconds recognised per wall second while the engine is busy, as an exponentially weighted
    mean of measurements each spanning at least `MIN_SPAN_S` of busy time.

    Only busy time counts: idle gaps between bursts would otherwise read as a slow engine. A measurement
    made while the engine was not backlogged (one request alone: its few chunks do not fill the
    batches) only bounds the capacity from below, so it may raise the rate but never lower it: a warm-up
    clip would otherwise halve the room of the burst after it (bench/load.py: a third fewer accepted,
    p95 half the bound). Times are passed in (`now`, monotonic seconds), so the arithmetic is tested
    without a clock."""

    def __init__(self, prior: float = DEFAULT_RATE) -> None:
        self.value = prior
        self._measured = False
        self._since: float | None = None
        self._audio_s = 0.0

    def busy(self, now: float) -> None:
        """Work started (or goes on): measurements span from here."""
        if self._since is None:
            self._since, self._audio_s = now, 0.0

    def idle(self) -> None:
        """Nothing is being recognised: the time until the next `busy` is not the engine's."""
        self._since = None

    def recognised(self, audio_s: float, now: float, backlogged: bool = True) -> None:
        """`audio_s` more seconds of audio were recognised by `now`; `backlogged`: other work waited."""
        self.busy(now)
        assert self._since is not None
        self._audio_s += audio_s
        span = now - self._since
        if span < MIN_SPAN_S:
            return
        sample = max(_MIN_RATE, self._audio_s / span)
        self._since, self._audio_s = now, 0.0
        if not backlogged and sample < self.value:
            return
        self.value = sample if not self._measured else self.value + RATE_WEIGHT * (sample - self.value)
        self._measured = True

    def wait_s(self, audio_s: float) -> float:
        """Predicted wall seconds to recognise `audio_s` of audio."""
        return audio_s / self.value


@dataclass
class _Queue:
    entered: int = 0
    """Sync requests whose body is in, not yet answered."""
    reserved: int = 0
    remaining_s: float = 0.0
    """Audio of the reserved requests not yet recognised."""

    def waiting_s(self, mean_s: float) -> float:
        return self.remaining_s + max(0, self.entered - self.reserved) * mean_s

    @property
    def empty(self) -> bool:
        return self.entered <= 0 and self.reserved <= 0


class Reservation:
    """A reserved request's audio; `progress` reports how far its recognition has come."""

    def __init__(self, seconds: float, on_recognised: Callable[[float], None]) -> None:
        self.seconds = seconds
        self.done_s = 0.0
        self._on_recognised = on_recognised

    def progress(self, done_s: float) -> None:
        """The request's audio up to `done_s` seconds is recognised (monotonic; capped at its duration)."""
        done_s = min(self.seconds, done_s)
        if done_s > self.done_s:
            self._on_recognised(done_s - self.done_s)
            self.done_s = done_s


class Admission:
    """Sync work waiting per engine model, admitted by predicted wait; `max_wait_s` 0 admits everything."""

    def __init__(
        self,
        max_wait_s: float,
        on_idle: Callable[[], None] | None = None,
        prior_rate: float = DEFAULT_RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`on_idle` runs (outside the lock, on the finishing thread) whenever the last sync request of
        every model has ended: the moment to give a burst's memory back."""
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._on_idle = on_idle
        self._prior_rate = prior_rate
        self._queues: dict[str, _Queue] = {}
        self._rates: dict[str, RecognitionRate] = {}
        self._mean_s = DEFAULT_REQUEST_S
        self._lock = threading.Lock()

    def queued_s(self, model: str) -> float:
        """Audio seconds waiting for `model`: reserved ones not yet recognised, and the mean for each
        request not yet probed."""
        with self._lock:
            queue = self._queues.get(model)
            return queue.waiting_s(self._mean_s) if queue else 0.0

    def rate(self, model: str) -> float:
        """The recognition rate `model`'s predictions use (audio seconds per wall second)."""
        with self._lock:
            return self._rate(model).value

    def predicted_wait_s(self, model: str, seconds: float | None = None) -> float:
        """When a request of `seconds` (None: the mean duration) admitted now would be answered."""
        with self._lock:
            queue = self._queues.get(model)
            ahead = queue.waiting_s(self._mean_s) if queue else 0.0
            return self._rate(model).wait_s(ahead + (self._mean_s if seconds is None else seconds))

    @contextmanager
    def enter(self, model: str) -> Iterator[None]:
        """Admit a sync request whose body is in, before its duration is known, and count it until it ends."""
        with self._lock:
            queue = self._queues.setdefault(model, _Queue())
            self._check(model, not queue.empty, queue.waiting_s(self._mean_s), self._mean_s)
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
    def reserve(self, model: str, seconds: float) -> Iterator[Reservation]:
        """Hold `seconds` of `model`'s queue while the caller recognises them (the request's duration is
        known now); refused when the audio reserved before it would make it wait too long."""
        with self._lock:
            queue = self._queues.setdefault(model, _Queue())
            self._check(model, queue.reserved > 0, queue.remaining_s, seconds)
            if not queue.reserved:
                self._rate(model).busy(self._clock())
            queue.reserved += 1
            queue.remaining_s += seconds
            self._mean_s += _MEAN_WEIGHT * (seconds - self._mean_s)
        reservation = Reservation(seconds, lambda audio_s: self._recognised(model, audio_s))
        try:
            yield reservation
        finally:
            with self._lock:
                queue.reserved -= 1
                queue.remaining_s = max(0.0, queue.remaining_s - (seconds - reservation.done_s))
                if not queue.reserved:
                    self._rate(model).idle()
                idle = self._forget_if_idle(model, queue)
            if idle and self._on_idle is not None:
                self._on_idle()

    def _recognised(self, model: str, audio_s: float) -> None:
        with self._lock:
            queue = self._queues.get(model)
            if queue is not None:
                queue.remaining_s = max(0.0, queue.remaining_s - audio_s)
            backlogged = queue is not None and queue.reserved > 1
            self._rate(model).recognised(audio_s, self._clock(), backlogged)

    def _check(self, model: str, queued: bool, ahead_s: float, own_s: float) -> None:
        """Refuse (under the lock) a request of `own_s` behind `ahead_s` of audio that would wait too long;
        onto an empty queue (`queued` False) every request is admitted."""
        if self.max_wait_s <= 0 or not queued:
            return
        rate = self._rate(model)
        if rate.wait_s(ahead_s + own_s) > self.max_wait_s:
            raise _busy(ahead_s, rate.wait_s(ahead_s))

    def _rate(self, model: str) -> RecognitionRate:
        """`model`'s measured rate (under the lock); it outlives the model's queue."""
        return self._rates.setdefault(model, RecognitionRate(self._prior_rate))

    def _forget_if_idle(self, model: str, queue: _Queue) -> bool:
        """Drop an empty queue (under the lock); True when no model has sync work left."""
        if queue.empty and self._queues.get(model) is queue:
            del self._queues[model]
        return not self._queues


def _busy(waiting_s: float, wait_s: float) -> ServerBusyError:
    retry = max(1, math.ceil(wait_s))
    return ServerBusyError(
        f"the server is busy: {waiting_s:.0f} s of audio wait for recognition, about {wait_s:.0f} s of work; "
        f"retry after {retry} s",
        retry_after_s=retry,
    )
