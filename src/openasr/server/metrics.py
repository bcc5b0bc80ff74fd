"""Prometheus metrics of one server process, at `GET /metrics`.

Two kinds of source, neither on the request path:
* per request and per task: counters and histograms updated once when a request or task has ended
  (`observe_request`, `observe_task`; a few microseconds each, after the response has been sent);
* engine and task-store state: read only when Prometheus scrapes (`_EngineCollector`,
  `_TaskCollector`), from the batchers' cumulative `BatchStats` and one COUNT query, so recognition
  never touches a metrics object.

Labels stay low-cardinality: surface, route template, model name (only after the catalog accepted it),
status code, priority, task state. API keys, request ids and task ids never appear in a label.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from openasr.jobs.records import TaskRecord, TaskStatus
from openasr.jobs.store import TaskStore
from openasr.runtime.batcher import Priority
from openasr.runtime.engine_pool import EnginePool
from openasr.server.observe import Observation

log = logging.getLogger("openasr.server")

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Request latency: health checks take milliseconds, a 5-minute sync file tens of seconds on a CPU."""
TASK_BUCKETS_S = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0)
"""Async tasks run up to 12 h of audio."""
REALTIME_BUCKETS_S = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
"""Realtime latencies: targets are around a second (spec §5.5)."""


class Metrics:
    """The registry of one app (not the process-global one, so several apps in one process stay apart)."""

    def __init__(self, engines: EnginePool, store: TaskStore | None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._requests = Counter(
            "openasr_requests",
            "HTTP requests and WebSocket sessions answered (a session by its handshake: 101 once accepted).",
            ["surface", "route", "model", "status"],
            registry=r,
        )
        self._latency = Histogram(
            "openasr_request_duration_seconds",
            "Time from a request's arrival to the end of its response (whole stream for SSE, whole WebSocket session).",
            ["surface", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self._first_delta = Histogram(
            "openasr_stream_first_delta_seconds",
            "Time from a streamed request's arrival to its first text delta.",
            ["surface", "model"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self._audio = Counter(
            "openasr_audio_recognised_seconds",
            "Seconds of audio recognised (all channels; an abandoned stream counts what was recognised).",
            ["surface", "model"],
            registry=r,
        )
        self._upload = Counter(
            "openasr_upload_bytes",
            "Request body bytes received (uploads, multipart files, JSON).",
            ["surface"],
            registry=r,
        )
        self._throttled = Counter(
            "openasr_rate_limited_requests",
            "Requests refused by the per-key rate limit (429).",
            ["surface"],
            registry=r,
        )
        self._task_duration = Histogram(
            "openasr_task_duration_seconds",
            "Async tasks: submit to end (queueing included), by final state.",
            ["status"],
            buckets=TASK_BUCKETS_S,
            registry=r,
        )
        self._realtime_metrics(r)
        r.register(_EngineCollector(engines))
        if store is not None:
            r.register(_TaskCollector(store))

    def _realtime_metrics(self, r: CollectorRegistry) -> None:
        """Open sessions, and per item the time to its first caption and to its final."""
        self._sessions = Gauge("openasr_realtime_sessions_open", "Realtime WebSocket sessions open now.", registry=r)
        self._first_partial = Histogram(
            "openasr_realtime_first_partial_seconds",
            "Realtime items: from the start of speech to its first caption.",
            ["surface", "model"],
            buckets=REALTIME_BUCKETS_S,
            registry=r,
        )
        self._final_latency = Histogram(
            "openasr_realtime_final_latency_seconds",
            "Realtime items: from the commit (end of speech, a commit, a finish) to the final transcript.",
            ["surface", "model"],
            buckets=REALTIME_BUCKETS_S,
            registry=r,
        )

    def observe_request(self, obs: Observation, status: int, elapsed_s: float) -> None:
        self._requests.labels(obs.surface, obs.route, obs.model, str(status)).inc()
        self._latency.labels(obs.surface, obs.route).observe(elapsed_s)
        if obs.first_delta_s is not None:
            self._first_delta.labels(obs.surface, obs.model).observe(obs.first_delta_s)
        if obs.audio_s > 0:
            self._audio.labels(obs.surface, obs.model).inc(obs.audio_s)
        if obs.body_bytes:
            self._upload.labels(obs.surface).inc(obs.body_bytes)
        if status == 429:
            self._throttled.labels(obs.surface).inc()

    def watch_sessions(self, count: Callable[[], int]) -> None:
        """Read the open realtime sessions from `count` at scrape time."""
        self._sessions.set_function(count)

    def observe_first_partial(self, surface: str, model: str, seconds: float) -> None:
        self._first_partial.labels(surface, model).observe(seconds)

    def observe_final_latency(self, surface: str, model: str, seconds: float) -> None:
        self._final_latency.labels(surface, model).observe(seconds)

    def observe_task(self, task: TaskRecord) -> None:
        if task.end_time_ms is not None:
            self._task_duration.labels(task.status.value).observe((task.end_time_ms - task.submit_time_ms) / 1000)
        if task.status is TaskStatus.SUCCEEDED and task.total_s:
            self._audio.labels("task", task.model_name).inc(task.total_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _EngineCollector(Collector):
    """Queue depth, batch sizes and busy time of every model's batcher (cumulative over its loads), and
    whether it is loaded now, read at scrape time."""

    def __init__(self, engines: EnginePool) -> None:
        self._engines = engines

    def collect(self) -> Iterable[Metric]:
        queued = GaugeMetricFamily(
            "openasr_engine_queued_chunks", "Chunks waiting for the engine, by priority.", labels=["model", "priority"]
        )
        busy = CounterMetricFamily(
            "openasr_engine_busy_seconds",
            "Seconds the engine spent recognising batches (summed over its workers).",
            labels=["model"],
        )
        sizes = HistogramMetricFamily(
            "openasr_engine_batch_size_chunks", "Chunks per recognised batch.", labels=["model"]
        )
        loaded = GaugeMetricFamily(
            "openasr_engine_loaded",
            "1 while the model's weights are in memory; 0 once unloaded after OPENASR_MODEL_IDLE_S unused.",
            labels=["model"],
        )
        for model, engine in self._engines.opened().items():
            loaded.add_metric([model], 1 if self._engines.is_loaded(model) else 0)
            stats = engine.stats
            for priority in Priority:
                queued.add_metric([model, priority.name.lower()], stats.queued.get(priority, 0))
            busy.add_metric([model], stats.busy_s)
            sizes.add_metric([model], list(_cumulative(stats.batch_sizes, engine.max_batch)), sum_value=stats.chunks)
        yield from (queued, busy, sizes, loaded)


def _cumulative(counts: Mapping[int, int], max_batch: int) -> Iterator[tuple[str, float]]:
    """Histogram buckets (le=1 … max_batch, +Inf) from the count of batches of each size."""
    running = 0
    for size in range(1, max_batch + 1):
        running += counts.get(size, 0)
        yield str(float(size)), running
    yield "+Inf", sum(counts.values())


class _TaskCollector(Collector):
    """Tasks per state, one GROUP BY at scrape time; a store outage leaves the metric out, not the scrape."""

    def __init__(self, store: TaskStore) -> None:
        self._store = store

    def collect(self) -> Iterable[Metric]:
        try:
            counts = self._store.count_by_status()
        except Exception:
            log.exception("metrics: the task store could not be read")
            return
        gauge = GaugeMetricFamily("openasr_tasks", "Async tasks in the store, by state.", labels=["state"])
        for status, count in counts.items():
            gauge.add_metric([status.value], count)
        yield gauge
