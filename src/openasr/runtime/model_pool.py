"""The models this process loads, each in its `ModelSlot`, and the reaper that unloads idle ones.

Which backend loads a model is the registry's answer (`engines/registry.py`), from the model itself;
each model is loaded once, guarded per model, so two first requests do not load the weights twice.
With `EngineConfig.idle_s` set, one daemon thread looks a few times per idle period for slots idle that
long, unloads them, and gives the freed heap back to the system: GPU and host memory are shared with
whatever else runs on the machine. The engine actors of a Ray cluster hold one of these too.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from openasr.engines.backend import Backend
from openasr.engines.registry import Registry
from openasr.runtime.batcher import BatchingEngine
from openasr.runtime.engine_config import EngineConfig
from openasr.runtime.memory import release_free_memory
from openasr.runtime.model_slot import ModelSlot

log = logging.getLogger("openasr.runtime")

REAP_CHECKS_PER_IDLE = 4
"""How often per idle period the reaper looks: a model goes within 1.25 × `idle_s` of its last use."""


class ModelPool:
    """In-process models by name; `get` loads on first use, the reaper unloads after `idle_s` unused."""

    def __init__(self, cache_dir: Path, config: EngineConfig) -> None:
        self._cache_dir = cache_dir
        self._config = config
        self.registry = Registry(config.backends)
        self._slots: dict[str, ModelSlot] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        if config.idle_s > 0:
            self._reaper = threading.Thread(target=self._reap, name="model-reaper", daemon=True)
            self._reaper.start()

    def get(self, model: str) -> ModelSlot:
        """`model`'s slot, loading the model on its first use (its backend's errors raise here)."""
        slot = self._slots.get(model)
        if slot is not None:
            return slot
        with self._guard:
            lock = self._locks.setdefault(model, threading.Lock())
        with lock:
            if model not in self._slots:
                backend = self.registry.backend_for(model)
                self._slots[model] = ModelSlot(model, lambda: self._load(backend, model))
            return self._slots[model]

    def slots(self) -> dict[str, ModelSlot]:
        """Every model opened so far, loaded now or not."""
        return dict(self._slots)

    def close(self) -> None:
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join()
        for slot in self._slots.values():
            slot.close()

    def _load(self, backend: Backend, model: str) -> BatchingEngine:
        engine = backend.load(model, self._cache_dir)
        log.info("model %s loaded (%s)", model, backend.name)
        return BatchingEngine(engine, max_batch=self._config.max_batch, max_wait_s=self._config.max_wait_s)

    def _reap(self) -> None:
        idle_s = self._config.idle_s
        while not self._stop.wait(idle_s / REAP_CHECKS_PER_IDLE):
            unloaded = [slot.model for slot in list(self._slots.values()) if slot.unload_if_idle(idle_s)]
            if unloaded:
                release_free_memory()
                log.info("unloaded after %.0f s unused: %s", idle_s, ", ".join(unloaded))
