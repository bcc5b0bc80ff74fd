"""The engine actor: one per GPU or CPU slot of a Ray cluster, owning its models and their batchers.

It is an API process's in-process `ModelPool` moved into a Ray worker. Chunks arrive one remote call each
from the API nodes' dispatchers (`ray_pool.ActorPool`) and meet in the model's `BatchingEngine` here, so chunks
from every node batch together on each GPU, interactive ones first. The actor is threaded: every call
waits for its chunk in its own thread while the batcher's threads recognise. Models load on first use,
so an actor that Ray restarts after a crash comes back empty and loads again on its next chunk; with
`OPENASR_MODEL_IDLE_S` it unloads a model unused that long, and loads it again on its next chunk too.
"""

from __future__ import annotations

import os
from pathlib import Path

from openasr.core.options import count_context_tokens
from openasr.engines.base import EngineCapabilities, Recognition, RecognitionItem
from openasr.runtime.batcher import BatchStats, Priority
from openasr.runtime.engine_config import EngineConfig
from openasr.runtime.model_pool import ModelPool


class EngineActor:
    """Wrapped with `ray.remote` by the pool (Ray is imported there, not here)."""

    def __init__(self, cache_dir: Path, config: EngineConfig) -> None:
        _uncap_blas_threads()
        self._engines = ModelPool(cache_dir, config)

    def describe(self, model: str) -> tuple[str, EngineCapabilities, bool]:
        """Load `model` and say what the API node needs to know of it: its name, its capabilities, and
        whether counting tokens needs its tokenizer here (False: the tokenizer-free estimate will do)."""
        engine = self._engines.get(model)
        return engine.name, engine.capabilities, engine.count_tokens is not count_context_tokens

    def recognize(self, model: str, item: RecognitionItem, priority: Priority) -> Recognition:
        return self._engines.get(model).submit(item, priority).result()

    def count_tokens(self, model: str, text: str) -> int:
        return self._engines.get(model).count_tokens(text)

    def stats(self) -> dict[str, BatchStats]:
        """Each loaded model's batch statistics since this actor (re)started."""
        return {model: slot.stats for model, slot in self._engines.slots().items()}

    def pid(self) -> int:
        """The actor's process, for operators (and the test that kills it)."""
        return os.getpid()


def _uncap_blas_threads() -> None:
    """Give BLAS the node's cores again, as a plain process on this node has them.

    Ray starts an actor of N CPUs with OMP_NUM_THREADS=N, and OpenBLAS splits the Whisper feature
    extractor's mel product (`mel_filters @ magnitudes`) by its thread count: one thread and two give
    features that differ in the last bits, enough to flip a near-tie token ("Ever" against "ever" on
    beckett). The engine's own threads are set apart (`cpu_threads`) and the product takes about a
    millisecond a chunk, so the actor's CPU budget holds in effect; this makes a chunk decode here
    exactly as in the API node's own engine. numpy, and so OpenBLAS, is loaded by now (openasr.core
    imports it)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=os.cpu_count(), user_api="blas")
