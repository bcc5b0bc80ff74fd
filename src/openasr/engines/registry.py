"""Which backend serves a model: each backend recognises its own models, and the first that does loads it.

`BACKENDS` is where backends are registered; everything else about one (its settings, how it recognises
a model, its capabilities, how it loads and how `openasr models` shows it) lives in its own module.
Adding a backend is a module with a `Backend` class and a line here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openasr.engines.backend import Backend, ModelStatus
from openasr.engines.qwen3_backend import Qwen3Backend
from openasr.engines.remote import RemoteBackend
from openasr.engines.weights import BUNDLED
from openasr.engines.whisper import WhisperBackend

BACKENDS: tuple[type[Backend], ...] = (RemoteBackend, Qwen3Backend, WhisperBackend)
"""In the order they are asked: the remote engine claims only the one name it serves as, Qwen3-ASR its
directories and hub ids, Whisper everything else (bundled names, CTranslate2 directories, hub ids)."""


class Registry:
    """The backends built from their configs (one per backend type; a backend without one runs on its
    defaults, unless it `needs_config`)."""

    def __init__(self, configs: Sequence[object] = ()) -> None:
        by_type = {type(config): config for config in configs}
        self.backends: list[Backend] = []
        for backend in BACKENDS:
            config = by_type.get(backend.config_type)
            if config is None and not backend.needs_config:
                config = backend.config_type()
            if config is not None:
                self.backends.append(backend(config))

    def backend_for(self, model: str) -> Backend:
        """The first backend that recognises `model` (Whisper takes any model no other claims)."""
        return next(backend for backend in self.backends if backend.recognises(model))

    def statuses(self, cache_dir: Path, default_model: str, emotion_model: str | None = None) -> list[ModelStatus]:
        """The bundled models, then the default model when it is not one of them; nothing is loaded
        (bundled weights are hashed once, then only their sizes compared)."""
        names = [*BUNDLED, *([default_model] if default_model not in BUNDLED else [])]
        return [self.backend_for(name).status(name, cache_dir, emotion_model) for name in names]


def model_backend(model: str) -> str:
    """The name of the backend that serves `model` with default settings ("qwen3", "whisper" …)."""
    return Registry().backend_for(model).name
