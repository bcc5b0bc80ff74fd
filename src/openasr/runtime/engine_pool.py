"""Hands every caller the same front of each model: in this process, or over engine actors on Ray.

Recognition is shared, not serialised: every caller's chunks meet in the model's batcher. In-process
models live in a `ModelPool` (loaded on first use, unloaded when idle, `runtime/model_pool.py`). The
emotion classifier, when configured, is loaded once too and batched the same way (the pipeline's emotion
stage uses it; `pipeline.stages` adds its capability to what a recognition can do, the engine's stay its
own).

With a Ray cluster configured (`EngineConfig.ray`), the models load in engine actors on the cluster
instead, and each front is a `RayEngine` over them (`runtime/ray_pool.py`, Ray imported only then); a
backend that holds no weights (the remote engine: an HTTP client has nothing to place) stays in this
process. The actors unload their idle models themselves.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from openasr.emotion.loading import load_emotion_classifier
from openasr.runtime.batcher import EngineFront
from openasr.runtime.emotion_batcher import EmotionBatcher, emotion_batcher
from openasr.runtime.engine_config import EngineConfig, RayConfig
from openasr.runtime.model_pool import ModelPool
from openasr.runtime.model_slot import ModelSlot
from openasr.runtime.ray_pool import ActorPool


class EnginePool:
    def __init__(self, cache_dir: Path, config: EngineConfig | None = None) -> None:
        self._cache_dir = cache_dir
        self._config = config or EngineConfig()
        self._models = ModelPool(cache_dir, self._config)
        self._engines: dict[str, EngineFront] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._emotion: EmotionBatcher | None = None
        self._emotion_lock = threading.Lock()
        self._actors: ActorPool | None = None

    def get(self, model: str) -> EngineFront:
        """`model`'s front, loading the model on first use (or again, after it was unloaded idle)."""
        engine = self._engines.get(model)
        if engine is not None:
            return engine
        with self._guard:
            lock = self._locks.setdefault(model, threading.Lock())
        with lock:
            if model not in self._engines:
                self._engines[model] = self._front(model)
            return self._engines[model]

    def _front(self, model: str) -> EngineFront:
        ray = self._config.ray
        if ray is not None and self._models.registry.backend_for(model).holds_weights:
            return self._actor_pool(ray).engine(model)
        return self._models.get(model)

    def _actor_pool(self, ray: RayConfig) -> ActorPool:
        """Connects to the cluster and starts (or finds) the engine actors, once per process."""
        with self._guard:
            if self._actors is None:
                self._actors = ActorPool(self._cache_dir, replace(self._config, ray=None), ray)
            return self._actors

    def emotion(self) -> EmotionBatcher | None:
        """The configured emotion classifier behind its batcher, loaded on first use; None if not configured.
        A model that cannot be loaded or whose classes do not map raises `ModelUnavailableError`."""
        if self._config.emotion_model is None or self._emotion is not None:
            return self._emotion
        with self._emotion_lock:
            if self._emotion is None:
                classifier = load_emotion_classifier(self._config.emotion_model, self._cache_dir)
                self._emotion = emotion_batcher(
                    classifier, max_batch=self._config.max_batch, max_wait_s=self._config.max_wait_s
                )
            return self._emotion

    def opened(self) -> dict[str, EngineFront]:
        """Every model served so far, by name, loaded now or unloaded while idle (metrics read their
        batchers' stats; `/ready` counts a model opened once as servable)."""
        return dict(self._engines)

    def is_loaded(self, model: str) -> bool:
        """Whether `model`'s weights are in memory now (on a Ray cluster: in the actors, as far as this
        process knows)."""
        engine = self._engines.get(model)
        return engine is not None and (not isinstance(engine, ModelSlot) or engine.loaded)

    def close(self) -> None:
        """Let running batches finish and stop the dispatchers: a process must not exit while CTranslate2
        is still decoding in a thread (it crashes at interpreter teardown)."""
        self._models.close()
        if self._emotion is not None:
            self._emotion.close()
        if self._actors is not None:
            self._actors.close()
