"""Loads each engine once per process and hands every caller the same batching front of it.

Loading is guarded per model, so two first requests do not load the weights twice. Recognition is
shared, not serialised: every caller's chunks meet in the model's `BatchingEngine`. The emotion
classifier, when configured, is loaded once too and batched the same way (the pipeline's emotion stage
uses it; `pipeline.stages` adds its capability to what a recognition can do, the engine's stay its own).

With a Ray cluster configured (`EngineConfig.ray`), the models load in engine actors on the cluster
instead, and each front is a `RayEngine` over them (`runtime/ray_pool.py`, Ray imported only then); a
remote engine (`engine_url`) stays in this process, as an HTTP client has nothing to place.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from openasr.core.errors import ModelUnavailableError
from openasr.emotion.loading import load_emotion_classifier
from openasr.engines.base import Engine
from openasr.engines.registry import model_backend, resolve_model_dir, resolve_qwen3_source
from openasr.engines.remote import RemoteConfig, RemoteEngine
from openasr.engines.whisper import WhisperEngine
from openasr.runtime.batcher import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_S, BatchingEngine, EngineFront
from openasr.runtime.emotion_batcher import EmotionBatcher, emotion_batcher

if TYPE_CHECKING:
    from openasr.runtime.ray_pool import ActorPool


@dataclass(frozen=True)
class RayConfig:
    """Where the engine actors run (`Settings.ray_*` builds it; what each field means is there)."""

    address: str
    actors: int = 0
    actor_cpus: float = 1.0
    namespace: str = "openasr"
    max_restarts: int = -1


@dataclass(frozen=True)
class EngineConfig:
    """CTranslate2, torch and batching settings (`Settings.engine_config` builds it; the defaults and why
    are there)."""

    cpu_threads: int = 0
    workers: int = 2
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    timestamp_tokens: bool = True
    device: str = "auto"
    dtype: str = "auto"
    aligner_model: str | None = None
    max_new_tokens: int | None = None
    """A cap on the tokens a Qwen3-ASR chunk may produce; None: the budget scaled with the chunk's
    duration (`engines/qwen3_budget`, 526 for 30 s)."""
    remote: RemoteConfig | None = None
    remote_model: str | None = None
    """The model name that the remote engine serves (the default model)."""
    emotion_model: str | None = None
    ray: RayConfig | None = None
    """Engines as actors on this Ray cluster; None: in this process."""

    @classmethod
    def resolve(
        cls,
        *,
        cpu_threads: int = 0,
        workers: int = 2,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        timestamp_tokens: bool = True,
        device: str = "auto",
        dtype: str = "auto",
        aligner_model: str | None = None,
        remote: RemoteConfig | None = None,
        remote_model: str | None = None,
        emotion_model: str | None = None,
        ray: RayConfig | None = None,
    ) -> EngineConfig:
        """A config for this machine, or for each engine actor: `cpu_threads` 0 divides the cores (an
        actor's: `ray.actor_cpus`) among the workers."""
        workers = max(1, workers)
        cores = int(ray.actor_cpus) if ray is not None else os.cpu_count()
        return cls(
            cpu_threads=cpu_threads or max(1, (cores or 1) // workers),
            workers=workers,
            max_batch=max(1, max_batch),
            max_wait_s=max_wait_s,
            timestamp_tokens=timestamp_tokens,
            device=device,
            dtype=dtype,
            aligner_model=aligner_model,
            remote=remote,
            remote_model=remote_model,
            emotion_model=emotion_model,
            ray=ray,
        )


class EnginePool:
    def __init__(self, cache_dir: Path, config: EngineConfig | None = None) -> None:
        self._cache_dir = cache_dir
        self._config = config or EngineConfig()
        self._engines: dict[str, EngineFront] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._emotion: EmotionBatcher | None = None
        self._emotion_lock = threading.Lock()
        self._actors: ActorPool | None = None

    def get(self, model: str) -> EngineFront:
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
        config = self._config
        if config.ray is not None and not (config.remote is not None and model == config.remote_model):
            return self._actor_pool(config.ray).engine(model)
        return BatchingEngine(self._load(model), max_batch=config.max_batch, max_wait_s=config.max_wait_s)

    def _actor_pool(self, ray: RayConfig) -> ActorPool:
        """Connects to the cluster and starts (or finds) the engine actors, once per process."""
        with self._guard:
            if self._actors is None:
                from openasr.runtime.ray_pool import ActorPool

                self._actors = ActorPool(self._cache_dir, replace(self._config, ray=None), ray)
            return self._actors

    def _load(self, model: str) -> Engine:
        """The backend is read from the model itself (registry.model_backend): a name, directory or hub id."""
        config = self._config
        if config.remote is not None and model == config.remote_model:
            return RemoteEngine(model, config.remote)
        if model_backend(model) == "qwen3":
            return load_qwen3(model, config, self._cache_dir)
        return WhisperEngine(
            model,
            resolve_model_dir(model, self._cache_dir),
            cpu_threads=config.cpu_threads,
            workers=config.workers,
            timestamp_tokens=config.timestamp_tokens,
        )

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

    def loaded(self) -> list[str]:
        return list(self._engines)

    def loaded_engines(self) -> dict[str, EngineFront]:
        """The engines loaded so far, by model name (metrics read their batchers' stats)."""
        return dict(self._engines)

    def close(self) -> None:
        """Let running batches finish and stop the dispatchers: a process must not exit while CTranslate2
        is still decoding in a thread (it crashes at interpreter teardown)."""
        for engine in self._engines.values():
            engine.close()
        if self._emotion is not None:
            self._emotion.close()
        if self._actors is not None:
            self._actors.close()


def load_qwen3(model: str, config: EngineConfig, cache_dir: Path) -> Engine:
    """Qwen3-ASR with its forced aligner, when one is configured (imports torch only here)."""
    from openasr.engines.qwen3 import Qwen3AsrEngine
    from openasr.engines.qwen3_aligner import ForcedAligner
    from openasr.engines.qwen3_torch import torch_placement

    placement = torch_placement(config.device, config.dtype)
    hub_cache = cache_dir / "hub"
    try:
        aligner = (
            ForcedAligner(resolve_qwen3_source(config.aligner_model, "aligner"), placement, hub_cache)
            if config.aligner_model
            else None
        )
        return Qwen3AsrEngine(
            model,
            resolve_qwen3_source(model),
            placement,
            aligner=aligner,
            max_new_tokens=config.max_new_tokens,
            cache_dir=hub_cache,
        )
    except OSError as exc:  # transformers' "not a model / not on the hub / no hub" errors
        raise ModelUnavailableError(f"could not load Qwen3 model {model!r}: {exc}") from exc
