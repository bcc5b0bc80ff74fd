"""Engines as Ray actors: each model's `EngineFront` over a pool of `EngineActor`s on a cluster.

With `OPENASR_RAY_ADDRESS` the server's engine pool hands out a `RayEngine` per model instead of a local
`BatchingEngine`, so the pipeline, sync requests, streams and task chunks reach the cluster unchanged.
Chunks wait here in one priority queue (interactive before bulk, then oldest first) and go, one remote
call each, to the least-loaded actor with room: at most `in_flight` per actor, two batches for each of
its engine workers, so every actor stays busy while the rest waits here, where priority still decides.
The actor batches what it holds; each call's ObjectRef becomes the caller's concurrent Future, and the
chunk's audio travels as a numpy array through the object store.

A long task fans out because `RayEngine.max_batch` counts one batch per actor: the pipeline keeps twice
that many chunks in flight, so N actors get chunks of the same file at once, and the pipeline still
yields (and the worker checkpoints) them in order.

Ray restarts an actor that dies (`max_restarts`); the chunks it held fail with `RayActorError` and are
sent again, to another actor where there is one. A chunk's recognition does not depend on where it
runs or what it was batched with, so the result is the same.

The actors are named and detached (`openasr-engine-0` … in the namespace `OPENASR_RAY_NAMESPACE`): every
API node attaches to the same ones, and they outlive the node that created them (`ray stop`, or
`ray.kill` by name, removes them).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from openasr.core.errors import EngineUnavailableError
from openasr.core.options import TokenCounter, count_context_tokens
from openasr.engines.base import EngineCapabilities, Recognition, RecognitionItem
from openasr.runtime.batcher import BatchStats, Priority, add_stats
from openasr.runtime.engine_config import EngineConfig, RayConfig
from openasr.runtime.ray_actor import EngineActor

log = logging.getLogger("openasr.ray")

ACTOR_NAME = "openasr-engine-{index}"
MAX_ATTEMPTS = 4
"""Sends of one chunk before it fails with `EngineUnavailableError`: actors that keep dying are an outage,
and a task then goes back to PENDING to resume from its checkpoints."""
STATS_TIMEOUT_S = 2.0
"""How long metrics and `/ready` wait for the actors' statistics; one that does not answer is left out."""


@dataclass(order=True)
class _Chunk:
    priority: int
    seq: int
    model: str = field(compare=False)
    item: RecognitionItem = field(compare=False)
    future: Future[Recognition] = field(compare=False)
    failed_on: set[int] = field(compare=False, default_factory=set)
    """Actors this chunk was lost on: a resend prefers the others."""
    losses: int = field(compare=False, default=0)


class ActorPool:
    """The engine actors of one cluster and the dispatcher that feeds them, shared by every model."""

    def __init__(self, cache_dir: Path, config: EngineConfig, ray_config: RayConfig) -> None:
        # Ray's failure signal handler takes SIGTERM too and ends the process on it, so a server would skip
        # its graceful shutdown (open requests finished, tasks checkpointed and released). Read at import.
        os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
        try:
            import ray
        except ImportError as exc:
            raise EngineUnavailableError("OPENASR_RAY_ADDRESS needs Ray: pip install 'openasr[cluster]'") from exc

        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            try:
                ray.init(address=ray_config.address, namespace=ray_config.namespace, log_to_driver=False)
            except ConnectionError as exc:  # no cluster there (after Ray's own retries, about a minute)
                raise EngineUnavailableError(f"no Ray cluster at {ray_config.address!r}: {exc}") from exc
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = ray_config.actors or gpus or max(1, int(resources.get("CPU", 1) // ray_config.actor_cpus))
        self.in_flight = 2 * config.max_batch * config.workers
        """Chunks one actor holds at most: two batches for each of its engine workers."""
        self.batch_per_actor = config.max_batch
        actor_class = ray.remote(EngineActor)
        self.actors: list[Any] = [  # handles: their methods are typed without `.remote`
            actor_class.options(
                name=ACTOR_NAME.format(index=index),
                namespace=ray_config.namespace,
                lifetime="detached",
                get_if_exists=True,
                max_restarts=ray_config.max_restarts,
                max_task_retries=0,  # a lost chunk is resent here, to another actor
                max_concurrency=self.in_flight + 4,  # + describe, stats, pid beside a full load
                num_cpus=ray_config.actor_cpus,
                num_gpus=1 if gpus else 0,
                scheduling_strategy="SPREAD",
            ).remote(cache_dir, config)
            for index in range(count)
        ]
        self._load = [0] * count
        self._queue: list[_Chunk] = []
        self._seq = itertools.count()
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._dispatch, name="ray-dispatcher", daemon=True)
        self._thread.start()
        log.info("engine pool on Ray: %d actor(s) in namespace %r", count, ray_config.namespace)

    def engine(self, model: str) -> RayEngine:
        """Load `model` on every actor (a model that cannot load raises its `ModelUnavailableError` here,
        as in-process loading does) and return its front."""
        descriptions = self._get([actor.describe.remote(model) for actor in self.actors])
        name, capabilities, own_tokenizer = descriptions[0]
        return RayEngine(self, model, name, capabilities, own_tokenizer)

    def submit(self, model: str, item: RecognitionItem, priority: Priority) -> Future[Recognition]:
        future: Future[Recognition] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("engine pool is closed")
            heapq.heappush(self._queue, _Chunk(priority, next(self._seq), model, item, future))
            self._ready.notify()
        return future

    def count_tokens(self, model: str, text: str) -> int:
        return int(self._get(self._least_loaded_actor().count_tokens.remote(model, text)))

    def stats(self, model: str) -> BatchStats:
        """`model`'s batches summed over the actors that answer within `STATS_TIMEOUT_S` (an actor's
        counts restart with it), plus the chunks still waiting here for an actor."""
        import ray

        refs = [actor.stats.remote() for actor in self.actors]
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=STATS_TIMEOUT_S)
        parts: list[BatchStats] = []
        for ref in done:
            try:
                parts.append(ray.get(ref)[model])
            except (KeyError, ray.exceptions.RayError):
                continue
        with self._ready:
            waiting = [Priority(chunk.priority) for chunk in self._queue if chunk.model == model]
        return _sum_stats(parts, waiting)

    def close(self) -> None:
        """Stop dispatching and fail what still waits; the detached actors stay for the other nodes."""
        import ray

        with self._ready:
            self._closed = True
            waiting, self._queue = self._queue, []
            self._ready.notify_all()
        for chunk in waiting:
            if not chunk.future.cancel():  # a resent chunk: its caller is already waiting for it
                chunk.future.set_exception(EngineUnavailableError("engine pool is closed"))
        self._thread.join()
        if self._owns_ray:
            ray.shutdown()

    def _get(self, refs: Any) -> Any:
        """`ray.get`, with an engine error raised as itself rather than wrapped in Ray's task error."""
        import ray

        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as exc:
            raise (exc.cause or exc) from None

    def _least_loaded_actor(self) -> Any:
        with self._ready:
            return self.actors[min(range(len(self.actors)), key=self._load.__getitem__)]

    def _dispatch(self) -> None:
        while (sent := self._next()) is not None:
            chunk, index = sent
            ref = self.actors[index].recognize.remote(chunk.model, chunk.item, Priority(chunk.priority))
            ref.future().add_done_callback(lambda done, c=chunk, i=index: self._finished(c, i, done))

    def _next(self) -> tuple[_Chunk, int] | None:
        """Wait for a chunk and an actor with room; take the most urgent chunk, for the least-loaded
        actor it was not lost on (any with room if it was lost on all of those)."""
        with self._ready:
            while True:
                if self._closed:
                    return None
                free = [i for i, load in enumerate(self._load) if load < self.in_flight]
                if self._queue and free:
                    chunk = heapq.heappop(self._queue)
                    if not chunk.losses and not chunk.future.set_running_or_notify_cancel():
                        continue  # its caller gave up while it waited
                    index = min(free, key=lambda i: (i in chunk.failed_on, self._load[i]))
                    self._load[index] += 1
                    return chunk, index
                self._ready.wait()

    def _finished(self, chunk: _Chunk, index: int, done: Future[Any]) -> None:
        import ray

        with self._ready:
            self._load[index] -= 1
            self._ready.notify()
        try:
            result = done.result()
        except ray.exceptions.RayActorError as exc:
            self._resend(chunk, index, exc)
        except ray.exceptions.RayTaskError as exc:
            chunk.future.set_exception(exc.cause or exc)
        except BaseException as exc:
            chunk.future.set_exception(exc)
        else:
            chunk.future.set_result(result)

    def _resend(self, chunk: _Chunk, index: int, error: BaseException) -> None:
        chunk.failed_on.add(index)
        chunk.losses += 1
        if chunk.losses >= MAX_ATTEMPTS:  # a chunk that kills every actor it reaches must not loop forever
            chunk.future.set_exception(EngineUnavailableError(f"engine actors keep failing: {error}"))
            return
        log.warning("engine actor %d lost a chunk (%s); sending it again", index, type(error).__name__)
        with self._ready:
            if self._closed:
                chunk.future.set_exception(EngineUnavailableError("engine pool is closed"))
                return
            heapq.heappush(self._queue, chunk)
            self._ready.notify()


class RayEngine:
    """One model's `EngineFront` on the actor pool: the interface of a local `BatchingEngine`."""

    def __init__(
        self, pool: ActorPool, model: str, name: str, capabilities: EngineCapabilities, own_tokenizer: bool
    ) -> None:
        self.name = name
        self.capabilities = capabilities
        self._pool = pool
        self._model = model
        self.count_tokens: TokenCounter = self._count_remotely if own_tokenizer else count_context_tokens

    @property
    def max_batch(self) -> int:
        """One batch per actor: a caller keeping twice this in flight keeps every actor busy."""
        return self._pool.batch_per_actor * len(self._pool.actors)

    @property
    def stats(self) -> BatchStats:
        return self._pool.stats(self._model)

    def submit(self, item: RecognitionItem, priority: Priority = Priority.BULK) -> Future[Recognition]:
        return self._pool.submit(self._model, item, priority)

    def close(self) -> None:
        """The actor pool is closed once, by the engine pool that opened it."""

    def _count_remotely(self, text: str) -> int:
        return self._pool.count_tokens(self._model, text)


def _sum_stats(parts: list[BatchStats], waiting: list[Priority]) -> BatchStats:
    total = BatchStats(0, 0)
    for part in parts:
        total = add_stats(total, part)
    queued = dict(total.queued)
    for priority in waiting:
        queued[priority] = queued.get(priority, 0) + 1
    return replace(total, queued=queued)
