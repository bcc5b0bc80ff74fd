"""Where side stages are registered: which stages a recognition runs, and what they add to the engine's
capabilities.

A surface never names a stage: it opens a recognition with `pipeline.start`, which runs every stage
listed here whose model is configured and whose options are on. Adding a stage means its own module
(a `pipeline.stage.Stage`), one entry in `configured_stages` (and the accessor of its model on the
models it loads from), and the wire converters that show its output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from openasr.engines.base import EngineCapabilities
from openasr.pipeline.diarization_stage import DiarizationStage
from openasr.pipeline.emotion_stage import EmotionStage
from openasr.pipeline.stage import Stage
from openasr.runtime.emotion_batcher import EmotionBatcher


class StageModels(Protocol):
    """Where the registered stages' models are loaded, once per process (`EnginePool` is it)."""

    def emotion(self) -> EmotionBatcher | None: ...


def configured_stages(models: StageModels) -> tuple[Stage, ...]:
    """Every registered stage whose model is configured, in the order they run (loading the models on
    first use). Diarization's model ships with the package: it is always there (loaded when first used)."""
    stages: list[Stage] = []
    if (classifier := models.emotion()) is not None:
        stages.append(EmotionStage(classifier))
    stages.append(DiarizationStage())
    return tuple(stages)


def with_stages(capabilities: EngineCapabilities, stages: Sequence[Stage]) -> EngineCapabilities:
    """What a recognition on this engine can do with these stages beside it: the engine's own
    capabilities, each stage's made true (a stage never writes onto the engine)."""
    made_true: dict[str, Any] = {stage.capability: True for stage in stages}
    return replace(capabilities, **made_true)
