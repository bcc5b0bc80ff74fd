"""The only orchestrator: source -> decode -> VAD -> chunks -> engine -> timeline -> postprocess -> stages.

A recognition (`transcription.Transcription`, made by `open` or, on every surface, `start`) reads a
source (`sources`: a probed file or live blocks), streams each channel chunk by chunk (`channel`), and
assembles the `Transcript`; side stages (`stage`, registered in `stages`: emotion and diarization) run beside it on
each chunk and once per channel at the end. Chunks go to the engine's batcher at most two batches ahead,
so memory is bounded and duration only costs time. This package's names are its public surface.
"""

from openasr.pipeline.chunks import LANGUAGE_SETTLED, LANGUAGE_VOTES, ChunkResult, join_texts, settled_language
from openasr.pipeline.sources import FileSource, Limits, LiveSource
from openasr.pipeline.stage import Stage
from openasr.pipeline.transcription import AudioInput, Models, Progress, Transcription, check_engine, open, run, start

__all__ = [
    "LANGUAGE_SETTLED",
    "LANGUAGE_VOTES",
    "AudioInput",
    "ChunkResult",
    "FileSource",
    "Limits",
    "LiveSource",
    "Models",
    "Progress",
    "Stage",
    "Transcription",
    "check_engine",
    "join_texts",
    "open",
    "run",
    "settled_language",
    "start",
]
