"""Per-item latencies of a realtime session for `/metrics`: start of speech → first caption, commit →
final. Every WebSocket surface that drives a `RealtimeSession` (the realtime connection, run-task) feeds
its session's events through one of these, so their numbers mean the same."""

from __future__ import annotations

import time
from collections.abc import Callable

from openasr.realtime.events import Committed, Event, Final, Partial, SpeechStarted
from openasr.server.metrics import Metrics


class ItemLatencies:
    """`model` is asked at each observation: a session may change its model mid-way."""

    def __init__(self, metrics: Metrics | None, surface: str, model: Callable[[], str]) -> None:
        self._metrics = metrics
        self._surface = surface
        self._model = model
        self._spoken: dict[str, float] = {}
        self._committed: dict[str, float] = {}

    def observe(self, event: Event) -> None:
        now = time.monotonic()
        if isinstance(event, SpeechStarted):
            self._spoken[event.item_id] = now
        elif isinstance(event, Partial) and event.item_id in self._spoken:
            started = self._spoken.pop(event.item_id)
            if self._metrics is not None:
                self._metrics.observe_first_partial(self._surface, self._model(), now - started)
        elif isinstance(event, Committed):
            self._spoken.pop(event.item_id, None)
            self._committed[event.item_id] = now
        elif isinstance(event, Final):
            committed = self._committed.pop(event.item_id, None)
            if self._metrics is not None and committed is not None:
                self._metrics.observe_final_latency(self._surface, self._model(), now - committed)
