"""Loads each engine once per process and hands the same instance to every caller.

Loading is guarded per model, so two first requests do not load the weights twice; recognition itself
is not serialised here: a CTranslate2 engine runs `concurrent_calls` decodes in parallel.
"""

from __future__ import annotations

import threading
from pathlib import Path

from openasr.engines.base import Engine
from openasr.engines.registry import resolve_model_dir
from openasr.engines.whisper import WhisperEngine


class EnginePool:
    def __init__(self, cache_dir: Path, *, cpu_threads: int = 0, workers: int = 1) -> None:
        self._cache_dir = cache_dir
        self._cpu_threads = cpu_threads
        self._workers = workers
        self._engines: dict[str, Engine] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, model: str) -> Engine:
        engine = self._engines.get(model)
        if engine is not None:
            return engine
        with self._guard:
            lock = self._locks.setdefault(model, threading.Lock())
        with lock:
            if model not in self._engines:
                directory = resolve_model_dir(model, self._cache_dir)
                self._engines[model] = WhisperEngine(
                    model, directory, cpu_threads=self._cpu_threads, workers=self._workers
                )
            return self._engines[model]

    def loaded(self) -> list[str]:
        return list(self._engines)
