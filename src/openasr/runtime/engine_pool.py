"""Loads each engine once per process and hands every caller the same batching front of it.

Loading is guarded per model, so two first requests do not load the weights twice. Recognition is
shared, not serialised: every caller's chunks meet in the model's `BatchingEngine`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from openasr.engines.registry import resolve_model_dir
from openasr.engines.whisper import WhisperEngine
from openasr.runtime.batcher import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_S, BatchingEngine


@dataclass(frozen=True)
class EngineConfig:
    """CTranslate2 and batching settings (`Settings.engine_config` builds it; the defaults and why are there)."""

    cpu_threads: int = 0
    workers: int = 2
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    timestamp_tokens: bool = True

    @classmethod
    def resolve(
        cls,
        *,
        cpu_threads: int = 0,
        workers: int = 2,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        timestamp_tokens: bool = True,
    ) -> EngineConfig:
        """A config for this machine: `cpu_threads` 0 divides the cores among the workers."""
        workers = max(1, workers)
        return cls(
            cpu_threads=cpu_threads or max(1, (os.cpu_count() or 1) // workers),
            workers=workers,
            max_batch=max(1, max_batch),
            max_wait_s=max_wait_s,
            timestamp_tokens=timestamp_tokens,
        )


class EnginePool:
    def __init__(self, cache_dir: Path, config: EngineConfig | None = None) -> None:
        self._cache_dir = cache_dir
        self._config = config or EngineConfig()
        self._engines: dict[str, BatchingEngine] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, model: str) -> BatchingEngine:
        engine = self._engines.get(model)
        if engine is not None:
            return engine
        with self._guard:
            lock = self._locks.setdefault(model, threading.Lock())
        with lock:
            if model not in self._engines:
                config = self._config
                directory = resolve_model_dir(model, self._cache_dir)
                whisper = WhisperEngine(
                    model,
                    directory,
                    cpu_threads=config.cpu_threads,
                    workers=config.workers,
                    timestamp_tokens=config.timestamp_tokens,
                )
                self._engines[model] = BatchingEngine(whisper, max_batch=config.max_batch, max_wait_s=config.max_wait_s)
            return self._engines[model]

    def loaded(self) -> list[str]:
        return list(self._engines)

    def loaded_engines(self) -> dict[str, BatchingEngine]:
        """The engines loaded so far, by model name (metrics read their batchers' stats)."""
        return dict(self._engines)

    def close(self) -> None:
        """Let running batches finish and stop the dispatchers: a process must not exit while CTranslate2
        is still decoding in a thread (it crashes at interpreter teardown)."""
        for engine in self._engines.values():
            engine.close()
