"""The engine pool's plain config: batching, lifecycle, where engines run, and each backend's own settings.

`Settings.engine_config` builds it at the top; nothing below reads the environment. Each backend's
settings are a frozen dataclass of its own (`WhisperConfig`, `Qwen3Config`, `RemoteConfig`), carried
here side by side and looked up by type, so adding a backend adds its config, not fields to this one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TypeVar

from openasr.engines.whisper import WhisperConfig
from openasr.runtime.batcher import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_S

ConfigT = TypeVar("ConfigT")


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
    """Batching and lifecycle for every model, plus each backend's settings (`Settings.engine_config`
    builds it; the defaults and why are there)."""

    backends: tuple[object, ...] = ()
    """One config per backend that has settings; a backend missing here runs with its defaults (the
    remote backend, whose config has no defaults, is then off)."""
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    idle_s: float = 0.0
    """A model unused this long is unloaded (its weights freed) and loads again on its next use; 0: never."""
    emotion_model: str | None = None
    ray: RayConfig | None = None
    """Engines as actors on this Ray cluster; None: in this process."""

    def backend(self, kind: type[ConfigT]) -> ConfigT | None:
        """The config of type `kind` among `backends`, or None."""
        return next((c for c in self.backends if isinstance(c, kind)), None)

    @property
    def workers(self) -> int:
        """Batches one engine runs in parallel (the Whisper backend's `workers`): a Ray actor keeps two
        batches in flight for each."""
        return (self.backend(WhisperConfig) or WhisperConfig()).workers

    @classmethod
    def resolve(
        cls,
        whisper: WhisperConfig,
        *others: object,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        idle_s: float = 0.0,
        emotion_model: str | None = None,
        ray: RayConfig | None = None,
    ) -> EngineConfig:
        """A config for this machine, or for each engine actor: Whisper's `cpu_threads` 0 gives each worker
        every core (an actor's: `ray.actor_cpus`). A lone batch (one sync request, one live final) then
        runs on all of them instead of its worker's share; when every worker is busy their threads share
        the cores, at about 6 % of a long file's speed (README, performance)."""
        workers = max(1, whisper.workers)
        cores = int(ray.actor_cpus) if ray is not None else os.cpu_count()
        threads = whisper.cpu_threads or max(1, cores or 1)
        return cls(
            backends=(replace(whisper, cpu_threads=threads, workers=workers), *others),
            max_batch=max(1, max_batch),
            max_wait_s=max_wait_s,
            idle_s=max(0.0, idle_s),
            emotion_model=emotion_model,
            ray=ray,
        )
