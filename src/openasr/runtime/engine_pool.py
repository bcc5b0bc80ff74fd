"""Loads each engine once per process and hands every caller the same batching front of it.

Loading is guarded per model, so two first requests do not load the weights twice. Recognition is
shared, not serialised: every caller's chunks meet in the model's `BatchingEngine`. The emotion
classifier, when configured, is loaded once too and batched the same way; the engines served then
declare the `emotion` capability.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from openasr.emotion.batching import EmotionBatcher, emotion_batcher
from openasr.emotion.loading import load_emotion_classifier
from openasr.engines.registry import resolve_model_dir
from openasr.engines.whisper import WhisperEngine
from openasr.runtime.batcher import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_S, BatchingEngine
from openasr.settings import Settings


@dataclass(frozen=True)
class EngineConfig:
    """CTranslate2 and batching settings (see `Settings` for the defaults and why)."""

    cpu_threads: int = 0
    workers: int = 2
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    timestamp_tokens: bool = True
    emotion_model: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        workers = max(1, settings.engine_workers)
        return cls(
            cpu_threads=settings.cpu_threads or max(1, (os.cpu_count() or 1) // workers),
            workers=workers,
            max_batch=max(1, settings.batch_size),
            max_wait_s=settings.batch_wait_ms / 1000,
            timestamp_tokens=settings.timestamp_tokens,
            emotion_model=settings.emotion_model,
        )


class EnginePool:
    def __init__(self, cache_dir: Path, config: EngineConfig | None = None) -> None:
        self._cache_dir = cache_dir
        self._config = config or EngineConfig()
        self._engines: dict[str, BatchingEngine] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._emotion: EmotionBatcher | None = None
        self._emotion_lock = threading.Lock()

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
                engine = BatchingEngine(whisper, max_batch=config.max_batch, max_wait_s=config.max_wait_s)
                if config.emotion_model:
                    engine.capabilities = replace(engine.capabilities, emotion=True)
                self._engines[model] = engine
            return self._engines[model]

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

    def loaded_engines(self) -> dict[str, BatchingEngine]:
        """The engines loaded so far, by model name (metrics read their batchers' stats)."""
        return dict(self._engines)

    def close(self) -> None:
        """Let running batches finish and stop the dispatchers: a process must not exit while CTranslate2
        is still decoding in a thread (it crashes at interpreter teardown)."""
        for engine in self._engines.values():
            engine.close()
        if self._emotion is not None:
            self._emotion.close()
