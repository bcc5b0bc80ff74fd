"""The Qwen3-ASR backend: which models are its, its settings, and loading (torch only then).

A Qwen3-ASR directory says so in its `config.json` (`model_type: qwen3_asr`); a hub id says so in its
name. The engine itself (`qwen3.py`) is imported when a model loads, so listing models or serving
Whisper never imports torch.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from openasr.core.errors import ModelUnavailableError
from openasr.engines.backend import ModelStatus, capability_labels
from openasr.engines.base import Engine
from openasr.engines.qwen3_capabilities import DEFAULT_POSITIONS, qwen3_capabilities
from openasr.engines.qwen3_languages import ALIGNER_LANGUAGES
from openasr.engines.weights import qwen3_config, resolve_qwen3_source

QWEN3_LANGUAGES = "30 languages and 22 Chinese dialects (Qwen3-ASR)"


@dataclass(frozen=True)
class Qwen3Config:
    """torch settings of the Qwen3-ASR backend (`Settings.device`, `dtype`, `aligner_model`)."""

    device: str = "auto"
    dtype: str = "auto"
    aligner_model: str | None = None
    max_new_tokens: int | None = None
    """A cap on the tokens a chunk may produce; None: the budget scaled with the chunk's duration
    (`engines/qwen3_budget`, 526 for 30 s)."""


class Qwen3Backend:
    """Qwen3-ASR through transformers' native classes, with Qwen3-ForcedAligner when one is configured."""

    name: ClassVar[str] = "qwen3"
    config_type: ClassVar[type] = Qwen3Config
    holds_weights: ClassVar[bool] = True
    needs_config: ClassVar[bool] = False

    def __init__(self, config: Qwen3Config) -> None:
        self._config = config

    def recognises(self, model: str) -> bool:
        path = Path(model).expanduser()
        if path.is_dir():
            return qwen3_config(path) is not None
        return "/" in model and "qwen3-asr" in model.lower()

    def load(self, model: str, cache_dir: Path) -> Engine:
        from openasr.engines.qwen3 import Qwen3AsrEngine
        from openasr.engines.qwen3_aligner import ForcedAligner
        from openasr.engines.qwen3_torch import torch_placement

        config = self._config
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

    def status(self, model: str, cache_dir: Path, emotion_model: str | None = None) -> ModelStatus:
        """Read from the model's config only: no torch, no weights."""
        path = Path(model).expanduser()
        positions, size = DEFAULT_POSITIONS, 0
        status, detail = "hub", ""
        if path.is_dir():
            config = qwen3_config(path) or {}
            text = config.get("text_config")
            positions = int(text.get("max_position_embeddings", positions)) if isinstance(text, dict) else positions
            size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
            status = "ready"
            if "thinker_config" in config:
                status, detail = "unavailable", "original checkpoint layout: convert it (convert_qwen3_asr_to_hf.py)"
        if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None:
            status, detail = "unavailable", 'needs the qwen3 extra: pip install "openasr[qwen3]"'
        aligner = ALIGNER_LANGUAGES if self._config.aligner_model else None
        on, off = capability_labels(qwen3_capabilities(positions, aligner), emotion_model)
        if aligner is not None:
            on = (*on, f"aligner {self._config.aligner_model} ({len(aligner)} languages; others chunk-level times)")
        return ModelStatus(model, status, size, QWEN3_LANGUAGES, on, off, detail)
